/**
 * Dynamic policy values. Ranger's StringTokenReplacer expands `{USER}`,
 * `{OWNER}` (and any `token:NAME` the request context carries) with
 * configurable delimiters, escape character and token prefix; a token the
 * context does not have stays as written. Request expressions `${{...}}`
 * (RangerRequestExprResolver) are evaluated by the safe script evaluator
 * before tokens are replaced.
 */

/** What a dynamic value is expanded against. */
export interface MatchEnv {
  /** The value of token NAME (Ranger's `token:NAME` context entry), or undefined. */
  token(name: string): unknown;
  /** Evaluates a `${{...}}` request expression; undefined when it cannot be. */
  expr?(source: string): unknown;
}

/** An environment with no tokens and no expressions. */
export const EMPTY_ENV: MatchEnv = { token: () => undefined };

/** Token delimiters of a resource definition (matcherOptions). */
export interface TokenSyntax {
  readonly start: string;
  readonly end: string;
  readonly escape: string;
  readonly prefix: string;
}

/** True when `value` needs token replacement under `syntax` (ResourceMatcher.setDelimiters). */
export function hasTokens(value: string, syntax: TokenSyntax): boolean {
  return value.includes(syntax.escape) || (value.includes(syntax.start) && value.includes(syntax.end));
}

/** Expands tokens in `value` (StringTokenReplacer.replaceTokens). */
export function replaceTokens(value: string, syntax: TokenSyntax, env: MatchEnv): string {
  const { start, end, escape, prefix } = syntax;
  let out = '';
  let token: string | undefined;
  for (let i = 0; i < value.length; i++) {
    let c = value[i];
    if (c === escape) {
      i++;
      if (i < value.length) {
        c = value[i];
        if (token !== undefined) {
          if (c !== escape && c !== end) token += escape;
          token += c;
        } else {
          if (c !== escape && c !== start) out += escape;
          out += c;
        }
      } else if (token !== undefined) token += escape;
      else out += escape;
      continue;
    }
    if (token === undefined) {
      if (c === start) token = '';
      else out += c;
    } else if (c === end) {
      let replaced: unknown;
      if (prefix.length === 0 || token.startsWith(prefix)) replaced = env.token(token.slice(prefix.length));
      out += replaced === undefined || replaced === null ? start + token + end : String(replaced);
      token = undefined;
    } else {
      token += c;
    }
  }
  if (token !== undefined) out += start + token;
  return out;
}

/** True when `value` holds a `${{...}}` request expression. */
export function hasRequestExpressions(value: string): boolean {
  return value.includes('${{');
}

/**
 * Replaces every `${{expr}}` with the value of expr (RangerRequestExprResolver);
 * an expression that cannot be evaluated leaves the text as written.
 */
export function resolveRequestExpressions(value: string, env: MatchEnv): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const s = value.indexOf('${{', i);
    if (s === -1) break;
    const e = value.indexOf('}}', s + 3);
    if (e === -1) break;
    out += value.slice(i, s);
    const v = env.expr?.(value.slice(s + 3, e));
    out += v === undefined || v === null ? '' : String(v);
    i = e + 2;
  }
  return out + value.slice(i);
}
