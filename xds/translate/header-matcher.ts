/**
 * Envoy's HeaderMatcher (envoy.config.route.v3.HeaderMatcher), compiled once from canonical JSON
 * and shared by every place that matches request headers: routes, RBAC, jwt_authn rules, the
 * fault filter and access-log header filters. Semantics are Envoy's HeaderUtility::matchHeaders:
 *
 * - the value is all of the header's values joined with ',' (`headerValue`);
 * - a missing header matches only `present_match: false` (or, inverted, `present_match: true`),
 *   unless treat_missing_header_as_empty makes it "" (and present);
 * - otherwise the specifier's result, inverted by invert_match: exact_match ("" matches any
 *   value), safe_regex_match (whole value), range_match (an int64 as absl::SimpleAtoi reads it,
 *   in [start, end)), present_match, prefix/suffix/contains_match, string_match; no specifier is
 *   `present_match: true`.
 *
 * `test` runs per request: it allocates nothing (a range_match value of more than 15 digits is
 * the one exception).
 */

import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { msg, regexMatcher, str, stringMatcher, type Json } from './proto-values.ts';

/** Request headers as the data path holds them: a name maps to one value or several. */
export type HeaderValues = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A compiled HeaderMatcher. */
export interface HeaderMatcher {
  /** The header name, lower-cased. */
  readonly name: string;
  /** Whether the header's value (`headerValue`: values joined with ','; undefined when absent) matches. */
  readonly test: (value: string | undefined) => boolean;
}

/** A header's value as Envoy's matchers see it: repeated values joined with ','. */
export function headerValue(headers: HeaderValues | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** True when `m` matches `headers` (Envoy's HeaderUtility::matchHeaders for one matcher). */
export function matchesHeaders(m: HeaderMatcher, headers: HeaderValues | undefined): boolean {
  return m.test(headerValue(headers, m.name));
}

/** Compiles an envoy.config.route.v3.HeaderMatcher; throws ConfigError with the field path. */
export function compileHeaderMatcher(h: Json, p: string): HeaderMatcher {
  const name = str(h['name']).toLowerCase();
  if (!name) throw new ConfigError(`${p}.name`, 'header name is required');
  const invert = h['invert_match'] === true;
  const missingEmpty = h['treat_missing_header_as_empty'] === true;
  let base: (v: string) => boolean;
  let presence: boolean | undefined;
  if (typeof h['exact_match'] === 'string') {
    const x = h['exact_match'];
    // Envoy: an empty exact_match matches any value (HeaderMatchType::Value, `value_.empty() ||`).
    base = x === '' ? () => true : (v) => v === x;
  } else if (h['safe_regex_match'] !== undefined) {
    const re = regexMatcher(h['safe_regex_match'], `${p}.safe_regex_match`);
    base = (v) => re.test(v);
  } else if (h['range_match'] !== undefined) {
    const rm = msg(h['range_match']) ?? {};
    base = int64InRange(int64(rm['start'], `${p}.range_match.start`), int64(rm['end'], `${p}.range_match.end`));
  } else if (typeof h['present_match'] === 'boolean') {
    presence = h['present_match'];
    base = () => true;
  } else if (typeof h['prefix_match'] === 'string') {
    const x = h['prefix_match'];
    base = (v) => v.startsWith(x);
  } else if (typeof h['suffix_match'] === 'string') {
    const x = h['suffix_match'];
    base = (v) => v.endsWith(x);
  } else if (typeof h['contains_match'] === 'string') {
    const x = h['contains_match'];
    base = (v) => v.includes(x);
  } else if (h['string_match'] !== undefined) {
    base = stringMatcher(h['string_match'], `${p}.string_match`);
  } else {
    presence = true; // no specifier: the header must be present
    base = () => true;
  }
  const test = (raw: string | undefined): boolean => {
    let v = raw;
    if (v === undefined && missingEmpty) v = '';
    if (presence !== undefined) return (v !== undefined) === (presence !== invert);
    if (v === undefined) return false; // a missing header never matches, inverted or not
    return base(v) !== invert;
  };
  return Object.freeze({ name, test });
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An Int64Range bound (a number, or an int64 string in canonical JSON; 0 when absent). */
function int64(v: unknown, p: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = BigInt(v);
    if (n >= INT64_MIN && n <= INT64_MAX) return n;
  }
  throw new ConfigError(p, `must be an int64, got ${JSON.stringify(v)}`);
}

/** absl's ascii_isspace: space, \t, \n, \v, \f, \r. */
function isAsciiSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * A test for "the value, read as absl::SimpleAtoi reads an int64 (ASCII whitespace around it
 * allowed, an optional sign, decimal digits, no overflow), lies in [start, end)".
 */
function int64InRange(start: bigint, end: bigint): (v: string) => boolean {
  const s = Number(start);
  const e = Number(end);
  const exact = Number.isSafeInteger(s) && Number.isSafeInteger(e);
  return (v) => {
    let i = 0;
    let n = v.length;
    while (i < n && isAsciiSpace(v.charCodeAt(i))) i++;
    while (n > i && isAsciiSpace(v.charCodeAt(n - 1))) n--;
    let negative = false;
    const sign = v.charCodeAt(i);
    if (sign === 45 || sign === 43) {
      negative = sign === 45;
      i++;
    }
    if (i >= n) return false;
    for (let j = i; j < n; j++) {
      const c = v.charCodeAt(j);
      if (c < 48 || c > 57) return false;
    }
    if (exact && n - i <= 15) {
      // Up to 15 digits is exact in a double: no allocation on this path.
      let x = 0;
      for (let j = i; j < n; j++) x = x * 10 + (v.charCodeAt(j) - 48);
      if (negative) x = -x;
      return x >= s && x < e;
    }
    let x = BigInt(v.slice(i, n));
    if (negative) x = -x;
    if (x < INT64_MIN || x > INT64_MAX) return false;
    return x >= start && x < end;
  };
}
