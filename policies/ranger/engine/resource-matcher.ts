/**
 * Matching one resource element (database, table, path ...) of a request
 * against the values a policy lists for it: Ranger's RangerDefaultResourceMatcher
 * and RangerAbstractResourceMatcher. matcherOptions and their defaults:
 * wildCard=true, ignoreCase=true, quotedCaseSensitive=false (quoteChars `"`),
 * replaceTokens=true with `{` `}` `\` and no prefix, replaceReqExpressions=true.
 * Each policy value becomes the cheapest matcher that fits it (equals,
 * starts-with, ends-with, wildcard); `*` alone (or no value) matches anything;
 * isExcludes flips the result except when every value is requested and the
 * policy is not match-any. Path resources (RangerPathResourceMatcher) add
 * recursion, in path-matcher.ts.
 */
import type { PolicyResource, ResourceDef } from './model.ts';
import { hasRequestExpressions, hasTokens, replaceTokens, resolveRequestExpressions, type MatchEnv, type TokenSyntax } from './token-replacer.ts';
import { wildcardMatch, wildcardPrefixMatch } from './wildcard.ts';

/** RangerAccessRequest.ResourceElementMatchingScope. */
export type ElementMatchingScope = 'SELF' | 'SELF_OR_CHILD' | 'SELF_OR_PREFIX';

/** A requested value: one string, several (any may match), or nothing (all values). */
export type RequestedValue = string | readonly string[] | undefined;

/** How a matcher compares case. */
export type CaseMode = 'sensitive' | 'insensitive' | 'quoted';

/** The matcherOptions of one resource definition, parsed with Ranger's defaults. */
export interface MatcherOptions {
  readonly wildCard: boolean;
  readonly ignoreCase: boolean;
  readonly quotedCaseSensitive: boolean;
  readonly quoteChars: string;
  readonly replaceTokens: boolean;
  readonly replaceReqExpressions: boolean;
  readonly tokens: TokenSyntax;
  readonly pathSeparator: string;
}

function boolOption(o: Readonly<Record<string, string>>, name: string, dflt: boolean): boolean {
  const v = o[name];
  if (v === undefined || v === '') return dflt;
  return v.trim().toLowerCase() === 'true';
}

function charOption(o: Readonly<Record<string, string>>, name: string, dflt: string): string {
  const v = o[name];
  return v === undefined || v.length === 0 ? dflt : v[0];
}

/** Parses matcherOptions (ServiceDefUtil.getBooleanOption/getCharOption). */
export function matcherOptions(def: ResourceDef | undefined): MatcherOptions {
  const o = def?.matcherOptions ?? {};
  let replace = boolOption(o, 'replaceTokens', true);
  const tokens = { start: charOption(o, 'tokenDelimiterStart', '{'), end: charOption(o, 'tokenDelimiterEnd', '}'), escape: charOption(o, 'tokenDelimiterEscape', '\\'), prefix: o.tokenDelimiterPrefix ?? '' };
  if (tokens.escape === tokens.start || tokens.escape === tokens.end || tokens.prefix.includes(tokens.escape) || tokens.prefix.includes(tokens.start) || tokens.prefix.includes(tokens.end)) replace = false;
  return {
    wildCard: boolOption(o, 'wildCard', true),
    ignoreCase: boolOption(o, 'ignoreCase', true),
    quotedCaseSensitive: boolOption(o, 'quotedCaseSensitive', false),
    quoteChars: o.quoteChars ?? '"',
    replaceTokens: replace,
    replaceReqExpressions: boolOption(o, 'replaceReqExpressions', true),
    tokens,
    pathSeparator: charOption(o, 'pathSeparatorChar', '/'),
  };
}

/** The kind of comparison a policy value needs. */
export type ValueKind = 'equals' | 'startsWith' | 'endsWith' | 'wildcard' | 'recursive' | 'recursiveWildcard';

const PRIORITY: Record<ValueKind, number> = { equals: 1, startsWith: 3, endsWith: 3, wildcard: 5, recursive: 7, recursiveWildcard: 7 };

/** One policy value compiled to a comparison (Ranger's ResourceMatcher subclasses). */
export class ValueMatcher {
  readonly kind: ValueKind;
  readonly caseMode: CaseMode;
  /** The operand: the whole value, or the part around the `*` run for starts/ends-with. */
  readonly value: string;
  readonly #lower: string;
  readonly #opts: MatcherOptions;
  readonly #tokens: boolean;
  readonly #exprs: boolean;
  readonly priority: number;

  constructor(kind: ValueKind, value: string, opts: MatcherOptions, caseMode: CaseMode) {
    this.kind = kind;
    this.value = value;
    this.#lower = value.toLowerCase();
    this.#opts = opts;
    this.caseMode = caseMode;
    this.#exprs = opts.replaceReqExpressions && hasRequestExpressions(value);
    this.#tokens = opts.replaceTokens && hasTokens(value, opts.tokens);
    this.priority = PRIORITY[kind] + (caseMode === 'sensitive' ? 0 : 1) + (this.dynamic ? 8 : 0);
  }

  /** True when the value depends on the request (tokens or request expressions). */
  get dynamic(): boolean {
    return this.#tokens || this.#exprs;
  }

  /** Ranger's ResourceMatcher.isMatchAny: an empty operand (from `*`). */
  get isMatchAny(): boolean {
    return this.value.length === 0 && (this.kind === 'endsWith' || this.kind === 'startsWith' || this.kind === 'recursive');
  }

  /** The literal this matcher accepts, for indexing; undefined if not a plain literal. */
  get literal(): string | undefined {
    return this.kind === 'equals' && !this.dynamic && this.caseMode !== 'quoted' ? (this.caseMode === 'insensitive' ? this.#lower : this.value) : undefined;
  }

  #expanded(env: MatchEnv): string {
    let v = this.value;
    if (this.#exprs) v = resolveRequestExpressions(v, env);
    if (this.#tokens) v = replaceTokens(v, this.#opts.tokens, env);
    return v;
  }

  #insensitive(resource: string): boolean {
    if (this.caseMode === 'quoted') return !startsWithAnyChar(resource, this.#opts.quoteChars);
    return this.caseMode === 'insensitive';
  }

  /** Both sides in the case the comparison is made. */
  #operands(resource: string, env: MatchEnv): [string, string] {
    const ci = this.#insensitive(resource);
    if (this.dynamic) {
      const v = this.#expanded(env);
      return ci ? [resource.toLowerCase(), v.toLowerCase()] : [resource, v];
    }
    return ci ? [resource.toLowerCase(), this.#lower] : [resource, this.value];
  }

  /** Does `resource` match this value? */
  isMatch(resource: string, env: MatchEnv): boolean {
    const [r, v] = this.#operands(resource, env);
    switch (this.kind) {
      case 'equals': return r === v;
      case 'startsWith': return r.startsWith(v);
      case 'endsWith': return r.endsWith(v);
      case 'wildcard': return wildcardMatch(r, v);
      case 'recursive': {
        const sep = this.#opts.pathSeparator;
        const noSep = v.length > 0 && v.endsWith(sep) ? v.slice(0, -1) : v;
        return r === noSep || r.startsWith(noSep + sep);
      }
      case 'recursiveWildcard': return this.#url ? urlRecursiveWildcardMatch(r, v, this.#opts.pathSeparator) : recursiveWildcardMatch(r, v, this.#opts.pathSeparator);
    }
  }

  /** Could a value under `resource` (a prefix of it) match? (isPrefixMatch) */
  isPrefixMatch(resource: string, env: MatchEnv): boolean {
    const [r, v] = this.#operands(resource, env);
    switch (this.kind) {
      case 'endsWith': return true;
      case 'wildcard':
      case 'recursiveWildcard': return wildcardPrefixMatch(r, v);
      default: return v.startsWith(r);
    }
  }

  /** Is this value an immediate child of path `resource`? (path resources only) */
  isChildMatch(resource: string, env: MatchEnv): boolean {
    if (this.kind !== 'recursive' && this.kind !== 'recursiveWildcard' && !this.#path) return false;
    const [r, v] = this.#operands(resource, env);
    const sep = this.#opts.pathSeparator;
    const parent = r.endsWith(sep) ? r : r + sep;
    const full = this.kind === 'startsWith' ? v + '*' : this.kind === 'endsWith' ? '*' + v : v;
    if (!full.startsWith(parent)) return false;
    let rest = full.slice(parent.length);
    if (rest.endsWith(sep)) rest = rest.slice(0, -1);
    return rest.length > 0 && !rest.includes(sep);
  }

  /** Set for path resources, whose child-match is meaningful. */
  #path = false;
  /** Marks this matcher as matching path values. */
  markPath(): this {
    this.#path = true;
    return this;
  }

  /** Set for URL resources (RangerURLResourceMatcher): recursive wildcards keep the scheme. */
  #url = false;
  /** Marks this matcher as matching URL values. */
  markUrl(): this {
    this.#url = true;
    return this.markPath();
  }
}

/**
 * RangerPathResourceMatcher.isRecursiveWildCardMatch: the path or any of its ancestors matches;
 * a path ending in the separator is finally tried with it (`/home/` matches `/home/*`).
 */
export function recursiveWildcardMatch(path: string, pattern: string, sep: string): boolean {
  if (path.length === 0) return false;
  return ancestorsMatch(path.startsWith(sep) ? sep : '', path, pattern, sep);
}

/**
 * RangerURLResourceMatcher.isRecursiveWildCardMatch: as for paths, but only for values that
 * look like URLs (`scheme://`, not `scheme:///`), whose `scheme://` is kept in front of every
 * ancestor tried.
 */
export function urlRecursiveWildcardMatch(value: string, pattern: string, sep: string): boolean {
  const url = value.trim();
  if (url.length === 0 || !/:\/\//.test(url) || /:\/{3,}/.test(url)) return false;
  const colon = url.indexOf(':');
  const scheme = url.slice(0, colon + 3);
  const path = url.slice(colon + 2);
  if (!path.split(sep).some((p) => p.length > 0)) return wildcardMatch(value, pattern);
  return ancestorsMatch(scheme + (value.startsWith(sep) ? sep : ''), path, pattern, sep, url.endsWith(sep));
}

/** Tries `prefix` + each ancestor of `path` (elements joined by `sep`), then the whole path with its trailing separator. */
function ancestorsMatch(prefix: string, path: string, pattern: string, sep: string, endsWithSep = path.endsWith(sep)): boolean {
  const parts = path.split(sep).filter((p) => p.length > 0);
  if (parts.length === 0) return wildcardMatch(path, pattern);
  let sb = prefix;
  for (const p of parts) {
    sb += p;
    if (wildcardMatch(sb, pattern)) return true;
    sb += sep;
  }
  return endsWithSep && wildcardMatch(sb, pattern);
}

/** True when `s` starts with one of `chars`. */
export function startsWithAnyChar(s: string, chars: string): boolean {
  return s.length > 0 && chars.includes(s[0]);
}

/** Compiles one value as RangerAbstractResourceMatcher.getMatcher does. */
export function defaultValueMatcher(policyValue: string, opts: MatcherOptions): ValueMatcher {
  const caseMode: CaseMode = opts.ignoreCase ? (opts.quotedCaseSensitive ? 'quoted' : 'insensitive') : 'sensitive';
  let start = -1, end = -1, needWildcard = false;
  if (opts.wildCard) {
    for (let i = 0; i < policyValue.length; i++) {
      const c = policyValue[i];
      if (c === '?') {
        needWildcard = true;
        break;
      } else if (c === '*') {
        if (end === -1 || end === i - 1) {
          end = i;
          if (start === -1) start = i;
        } else {
          needWildcard = true;
          break;
        }
      }
    }
  }
  if (needWildcard) return new ValueMatcher('wildcard', policyValue, opts, caseMode);
  if (start === -1) return new ValueMatcher('equals', policyValue, opts, caseMode);
  if (start === 0) return new ValueMatcher('endsWith', policyValue.slice(end + 1), opts, caseMode);
  if (end !== policyValue.length - 1) return new ValueMatcher('wildcard', policyValue, opts, caseMode);
  return new ValueMatcher('startsWith', policyValue.slice(0, start), opts, caseMode);
}

/** The matcher of one resource element of one policy. */
export class ResourceElementMatcher {
  readonly def: ResourceDef | undefined;
  readonly isExcludes: boolean;
  readonly isMatchAny: boolean;
  readonly matchers: readonly ValueMatcher[];
  readonly policyValues: readonly string[];
  readonly #ignoreCase: boolean;

  constructor(def: ResourceDef | undefined, resource: PolicyResource, compile: (value: string) => ValueMatcher) {
    this.def = def;
    this.isExcludes = resource.isExcludes;
    this.policyValues = resource.values.filter((v) => v.length > 0);
    this.#ignoreCase = matcherOptions(def).ignoreCase;
    const list: ValueMatcher[] = [];
    let any = false;
    for (const v of this.policyValues) {
      const m = compile(v);
      if (m.isMatchAny) {
        any = true;
        break;
      }
      list.push(m);
    }
    this.matchers = any ? [] : list.sort((a, b) => a.priority - b.priority);
    this.isMatchAny = this.matchers.length === 0;
  }

  /** True when some value needs the request to be evaluated. */
  get needsDynamicEval(): boolean {
    return this.matchers.some((m) => m.dynamic);
  }

  /** RangerDefaultResourceMatcher.isMatch with an element matching scope. */
  isMatch(resource: RequestedValue, scope: ElementMatchingScope, env: MatchEnv): boolean {
    const allValuesRequested = resource === undefined || resource === '' || resource === '*';
    let ret: boolean;
    if (this.isMatchAny || (allValuesRequested && scope !== 'SELF_OR_PREFIX')) {
      ret = this.isMatchAny;
    } else if (typeof resource === 'string') {
      ret = this.#matchOne(resource, scope, env);
    } else {
      ret = (resource ?? []).some((v) => this.#matchOne(v, scope, env));
    }
    if (!this.isExcludes) return ret;
    if (allValuesRequested && !this.isMatchAny) return ret;
    return !ret;
  }

  #matchOne(value: string, scope: ElementMatchingScope, env: MatchEnv): boolean {
    for (const m of this.matchers) {
      if (m.isMatch(value, env)) return true;
      if (scope === 'SELF_OR_CHILD' && m.isChildMatch(value, env)) return true;
      if (scope === 'SELF_OR_PREFIX' && m.isPrefixMatch(value, env)) return true;
    }
    return false;
  }

  /** RangerAbstractResourceMatcher.isCompleteMatch (the policy names exactly this value). */
  isCompleteMatch(resource: string | undefined): boolean {
    let ret = false;
    if (this.policyValues.length === 0) return !resource;
    if (this.policyValues.length === 1) {
      if (this.isMatchAny) ret = !resource || /^\*+$/.test(resource);
      else ret = this.#ignoreCase ? resource?.toLowerCase() === this.policyValues[0].toLowerCase() : resource === this.policyValues[0];
      if (this.isExcludes) ret = !ret;
    }
    return ret;
  }
}
