/**
 * Path resources (Ranger's RangerPathResourceMatcher, used by HDFS, Hive URLs,
 * S3 object paths ...). A non-recursive policy value matches like any other
 * value; a recursive one (isRecursive) also matches everything below it:
 * `/a/b` covers `/a/b` and `/a/b/...`; with wildcards, the path or any of its
 * ancestors must match the pattern; a recursive value ending in the separator
 * gets a `*` appended, and a path ending in the separator matches it. URL
 * resources (RangerURLResourceMatcher) do the same on `scheme://...` values,
 * keeping the scheme, and match no other value recursively with wildcards.
 * The separator is matcherOptions.pathSeparatorChar (default `/`).
 */
import type { PolicyResource, ResourceDef } from './model.ts';
import { ResourceElementMatcher, ValueMatcher, defaultValueMatcher, matcherOptions, type MatcherOptions } from './resource-matcher.ts';

/** Ranger's class names of path-aware matchers. */
export const PATH_MATCHER_CLASSES: ReadonlySet<string> = new Set([
  'org.apache.ranger.plugin.resourcematcher.RangerPathResourceMatcher',
  'org.apache.ranger.plugin.resourcematcher.RangerURLResourceMatcher',
]);

const URL_MATCHER = 'org.apache.ranger.plugin.resourcematcher.RangerURLResourceMatcher';

/** Compiles one value of a path (or, with `url`, URL) resource. */
export function pathValueMatcher(policyValue: string, opts: MatcherOptions, recursive: boolean, url = false): ValueMatcher {
  if (!recursive) return defaultValueMatcher(policyValue, opts).markPath();
  const caseMode = opts.ignoreCase ? 'insensitive' : 'sensitive';
  if (opts.wildCard && policyValue === '*') return new ValueMatcher('recursive', '', opts, caseMode);
  let v = policyValue;
  if (opts.wildCard && v.endsWith(opts.pathSeparator)) v += '*';
  const wild = opts.wildCard && /[*?]/.test(v);
  const m = new ValueMatcher(wild ? 'recursiveWildcard' : 'recursive', v, opts, caseMode);
  return url ? m.markUrl() : m.markPath();
}

/** Builds the element matcher for a resource definition (default or path, by matcher class). */
export function createElementMatcher(def: ResourceDef | undefined, resource: PolicyResource): ResourceElementMatcher {
  const opts = matcherOptions(def);
  const isPath = def !== undefined && PATH_MATCHER_CLASSES.has(def.matcher);
  if (isPath) {
    const url = def.matcher === URL_MATCHER;
    return new ResourceElementMatcher(def, resource, (v) => pathValueMatcher(v, opts, resource.isRecursive, url));
  }
  return new ResourceElementMatcher(def, resource, (v) => defaultValueMatcher(v, opts));
}
