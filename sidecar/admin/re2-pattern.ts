/**
 * RE2 patterns from admin query parameters (`/stats?filter=`,
 * `/config_dump?name_regex=`) compiled to JavaScript RegExps. RE2 refuses
 * what JavaScript would accept (lookaround, backreferences), so those are
 * refused here too; RE2's leading inline flags `(?i)` `(?s)` `(?m)` and its
 * `(?P<name>` groups are translated.
 */

/** A compiled pattern, or the reason it was refused. */
export type Re2Result = { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly reason: string };

const UNSUPPORTED: ReadonlyArray<readonly [RegExp, string]> = [
  [/\(\?<?[=!]/, 'invalid perl operator: lookaround is not supported'],
  [/(^|[^\\])(\\\\)*\\[1-9]/, 'invalid escape sequence: backreferences are not supported'],
  [/(^|[^\\])(\\\\)*\\k</, 'invalid escape sequence: backreferences are not supported'],
];

/**
 * Compiles an RE2 pattern. `fullMatch` anchors it at both ends (Envoy's
 * `RegexMatcher` does a full match; the stats filter searches).
 */
export function compileRe2(pattern: string, fullMatch: boolean): Re2Result {
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead !== null) {
    for (const f of lead[1]!) if (f !== 'U' && !flags.includes(f)) flags += f;
    src = src.slice(lead[0].length);
  }
  for (const [re, reason] of UNSUPPORTED) if (re.test(src)) return { ok: false, reason };
  src = src.replace(/\(\?P</g, '(?<');
  try {
    return { ok: true, regex: new RegExp(fullMatch ? `^(?:${src})$` : src, flags) };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}
