/**
 * The leaf matchers of Envoy's RBAC (envoy.config.rbac.v3), compiled from
 * canonical proto JSON into predicates over RbacAttributes: HeaderMatcher
 * (Envoy's HeaderUtility semantics: values of a repeated header joined with
 * ',', a missing header matches only `present_match: false`), PathMatcher
 * (the path without query and fragment), CidrRange, Int32Range,
 * MetadataMatcher with ValueMatcher, and filter_state string matching.
 * Every field we do not implement is refused with its path.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { ipBits } from '../../sidecar/contracts/ip-address.ts';
import { int, list, msg, regexMatcher, str, stringMatcher, type Json, type StringMatch } from '../../xds/translate/proto-values.ts';
import type { RbacAttributes, RbacHeaders } from './rbac-attributes.ts';

/** A compiled predicate over the attributes. */
export type AttributeTest = (a: RbacAttributes) => boolean;

/** A header's value as Envoy's matchers see it: repeated values joined with ','. */
export function headerValue(h: RbacHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** Compiles an envoy.config.route.v3.HeaderMatcher. */
export function headerMatcher(h: Json, p: string): AttributeTest {
  const name = str(h['name']).toLowerCase();
  if (!name) throw new ConfigError(`${p}.name`, 'header name is required');
  const invert = h['invert_match'] === true;
  const missingEmpty = h['treat_missing_header_as_empty'] === true;
  let base: (v: string) => boolean;
  let presence: boolean | undefined;
  if (typeof h['exact_match'] === 'string') { const x = h['exact_match']; base = (v) => v === x; }
  else if (h['safe_regex_match'] !== undefined) { const re = regexMatcher(h['safe_regex_match'], `${p}.safe_regex_match`); base = (v) => re.test(v); }
  else if (h['range_match'] !== undefined) {
    const rm = msg(h['range_match']) ?? {};
    const start = int(rm['start'], 0), end = int(rm['end'], 0);
    base = (v) => /^-?\d+$/.test(v) && Number(v) >= start && Number(v) < end;
  } else if (typeof h['present_match'] === 'boolean') { presence = h['present_match']; base = () => true; }
  else if (typeof h['prefix_match'] === 'string') { const x = h['prefix_match']; base = (v) => v.startsWith(x); }
  else if (typeof h['suffix_match'] === 'string') { const x = h['suffix_match']; base = (v) => v.endsWith(x); }
  else if (typeof h['contains_match'] === 'string') { const x = h['contains_match']; base = (v) => v.includes(x); }
  else if (h['string_match'] !== undefined) base = stringMatcher(h['string_match'], `${p}.string_match`);
  else { presence = true; base = () => true; } // no specifier: the header must be present
  return (a) => {
    let v = headerValue(a.headers, name);
    if (v === undefined && missingEmpty) v = '';
    if (presence !== undefined) return (v !== undefined) === (presence !== invert);
    if (v === undefined) return false; // a missing header never matches, inverted or not
    return base(v) !== invert;
  };
}

/** Compiles an envoy.type.matcher.v3.PathMatcher: the :path without query and fragment. */
export function pathMatcher(m: Json, p: string): AttributeTest {
  const sm = stringMatcher(m['path'], `${p}.path`);
  return (a) => {
    const raw = headerValue(a.headers, ':path');
    if (raw === undefined) return false;
    const q = raw.search(/[?#]/);
    return sm(q < 0 ? raw : raw.slice(0, q));
  };
}

/** A compiled CidrRange. */
export type CidrTest = (address: string) => boolean;

/** Compiles an envoy.config.core.v3.CidrRange (IPv4-mapped IPv6 addresses compare as IPv4). */
export function cidrRange(c: Json, p: string): CidrTest {
  const prefix = str(c['address_prefix']);
  const family = isIP(prefix);
  if (!family) throw new ConfigError(`${p}.address_prefix`, `invalid IP address '${prefix}'`);
  const width = family === 4 ? 32 : 128;
  const len = int(c['prefix_len'], 0);
  if (len < 0 || len > width) throw new ConfigError(`${p}.prefix_len`, `must be in [0, ${width}] for an IPv${family} prefix`);
  const shift = BigInt(width - len);
  const want = ipBits(prefix) >> shift;
  return (address) => {
    const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    if (isIP(a) !== family) return false;
    return ipBits(a) >> shift === want;
  };
}

/** Compiles a ValueMatcher (null, double, string, bool, present, list, or). */
function valueMatcher(v: unknown, p: string): (x: unknown) => boolean {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'value matcher is required');
  if (m['null_match'] !== undefined) return (x) => x === null;
  if (m['double_match'] !== undefined) {
    const d = msg(m['double_match']) ?? {};
    if (typeof d['exact'] === 'number') { const e = d['exact']; return (x) => typeof x === 'number' && x === e; }
    const r = msg(d['range']);
    if (r) {
      const start = typeof r['start'] === 'number' ? r['start'] : -Infinity, end = typeof r['end'] === 'number' ? r['end'] : Infinity;
      return (x) => typeof x === 'number' && x >= start && x < end;
    }
    throw new ConfigError(`${p}.double_match`, 'one of range, exact is required');
  }
  if (m['string_match'] !== undefined) { const sm = stringMatcher(m['string_match'], `${p}.string_match`); return (x) => typeof x === 'string' && sm(x); }
  if (typeof m['bool_match'] === 'boolean') { const b = m['bool_match']; return (x) => x === b; }
  if (typeof m['present_match'] === 'boolean') { const want = m['present_match']; return (x) => (x !== undefined) === want; }
  if (m['list_match'] !== undefined) {
    const one = valueMatcher(msg(m['list_match'])?.['one_of'], `${p}.list_match.one_of`);
    return (x) => Array.isArray(x) && x.some(one);
  }
  if (m['or_match'] !== undefined) {
    const ms = list(msg(m['or_match'])?.['value_matchers']).map((x, i) => valueMatcher(x, `${p}.or_match.value_matchers[${i}]`));
    if (ms.length < 2) throw new ConfigError(`${p}.or_match.value_matchers`, 'at least two value matchers are required');
    return (x) => ms.some((f) => f(x));
  }
  throw new ConfigError(p, 'value matcher needs one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match');
}

/** Compiles an envoy.type.matcher.v3.MetadataMatcher against dynamic metadata. */
export function metadataMatcher(m: Json, p: string): AttributeTest {
  const filter = str(m['filter']);
  if (!filter) throw new ConfigError(`${p}.filter`, 'filter is required');
  const path = list(m['path']).map((s, i) => {
    if (typeof s['key'] !== 'string' || !s['key']) throw new ConfigError(`${p}.path[${i}].key`, 'key is required');
    return s['key'];
  });
  if (path.length === 0) throw new ConfigError(`${p}.path`, 'at least one path segment is required');
  const test = valueMatcher(m['value'], `${p}.value`);
  const invert = m['invert'] === true;
  return (a) => {
    let v: unknown = a.metadata.get(filter);
    for (const k of path) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    return test(v) !== invert;
  };
}

/**
 * The filter-state key Istio's policies use for the peer identity: its
 * value is the peer's principal (URI SAN), which is what we give when no
 * filter put a value under that key.
 */
export const ISTIO_PEER_PRINCIPAL = 'io.istio.peer_principal';

/** Compiles an envoy.type.matcher.v3.FilterStateMatcher (string_match). */
export function filterStateMatcher(m: Json, p: string): AttributeTest {
  const key = str(m['key']);
  if (!key) throw new ConfigError(`${p}.key`, 'key is required');
  if (m['address_match'] !== undefined) throw new ConfigError(`${p}.address_match`, 'filter_state address_match is not supported');
  if (m['string_match'] === undefined) throw new ConfigError(p, 'filter_state needs string_match');
  const sm: StringMatch = stringMatcher(m['string_match'], `${p}.string_match`);
  return (a) => {
    let v = a.filterState.get(key);
    if (v === undefined && key === ISTIO_PEER_PRINCIPAL) v = a.peer?.uriSans[0];
    return typeof v === 'string' && sm(v);
  };
}
