/**
 * Wildcard matching as Apache Commons IO FilenameUtils.wildcardMatch, which
 * Ranger's resource matchers use: `*` matches any run of characters (also
 * none), `?` exactly one; everything else literally. Iterative with one
 * backtrack point, so hostile patterns stay linear-ish (no regex, no ReDoS).
 */

/** True when `text` matches `pattern`; pass lower-cased inputs for a case-insensitive match. */
export function wildcardMatch(text: string, pattern: string): boolean {
  let t = 0, p = 0, starP = -1, starT = 0;
  const tl = text.length, pl = pattern.length;
  while (t < tl) {
    const pc = p < pl ? pattern.charCodeAt(p) : -1;
    if (pc === 42 /* * */) {
      starP = p++;
      starT = t;
    } else if (pc !== -1 && (pc === 63 /* ? */ || pc === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (starP !== -1) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pl && pattern.charCodeAt(p) === 42) p++;
  return p === pl;
}

/**
 * Ranger's ResourceMatcher.wildcardPrefixMatch: could some string that starts
 * with `prefix` match `pattern`? (A prefix walks the pattern; `*` accepts the rest.)
 */
export function wildcardPrefixMatch(prefix: string, pattern: string): boolean {
  let i = 0;
  for (let p = 0; p < pattern.length; p++) {
    const c = pattern[p];
    if (c === '*') return true;
    if (i >= prefix.length) return true;
    if (c !== '?' && c !== prefix[i]) return false;
    i++;
  }
  return i >= prefix.length;
}
