/**
 * Path resources (Ranger's RangerPathResourceMatcher, used by HDFS, Hive URLs,
 * S3 object paths ...). A non-recursive policy value matches like any other
 * value; a recursive one (isRecursive) also matches everything below it:
 * `/a/b` covers `/a/b` and `/a/b/...`; with wildcards, the path or any of its
 * ancestors must match the pattern; a recursive value ending in the separator
 * gets a `*` appended. The separator is matcherOptions.pathSeparatorChar
 * (default `/`).
 */
import type { PolicyResource, ResourceDef } from './model.ts';
import { ResourceElementMatcher, ValueMatcher, defaultValueMatcher, matcherOptions, type MatcherOptions } from './resource-matcher.ts';

/** Ranger's class names of path-aware matchers. */
export const PATH_MATCHER_CLASSES: ReadonlySet<string> = new Set([
  'org.apache.ranger.plugin.resourcematcher.RangerPathResourceMatcher',
  'org.apache.ranger.plugin.resourcematcher.RangerURLResourceMatcher',
]);

/** Compiles one value of a path resource. */
export function pathValueMatcher(policyValue: string, opts: MatcherOptions, recursive: boolean): ValueMatcher {
  if (!recursive) return defaultValueMatcher(policyValue, opts).markPath();
  const caseMode = opts.ignoreCase ? 'insensitive' : 'sensitive';
  if (opts.wildCard && policyValue === '*') return new ValueMatcher('recursive', '', opts, caseMode);
  let v = policyValue;
  if (opts.wildCard && v.endsWith(opts.pathSeparator)) v += '*';
  const wild = opts.wildCard && /[*?]/.test(v);
  return new ValueMatcher(wild ? 'recursiveWildcard' : 'recursive', v, opts, caseMode).markPath();
}

/** Builds the element matcher for a resource definition (default or path, by matcher class). */
export function createElementMatcher(def: ResourceDef | undefined, resource: PolicyResource): ResourceElementMatcher {
  const opts = matcherOptions(def);
  const isPath = def !== undefined && PATH_MATCHER_CLASSES.has(def.matcher);
  if (isPath) return new ResourceElementMatcher(def, resource, (v) => pathValueMatcher(v, opts, resource.isRecursive));
  return new ResourceElementMatcher(def, resource, (v) => defaultValueMatcher(v, opts));
}
