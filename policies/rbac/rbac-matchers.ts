/**
 * The leaf matchers of Envoy's RBAC (envoy.config.rbac.v3), compiled from
 * canonical proto JSON into predicates over RbacAttributes: HeaderMatcher
 * (the one shared with routes, xds/translate/header-matcher.ts), PathMatcher
 * (the path without query and fragment), CidrRange, Int32Range,
 * MetadataMatcher with ValueMatcher, and filter_state string matching.
 * Every field we do not implement is refused with its path.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { ipBits } from '../../sidecar/contracts/ip-address.ts';
import { compileHeaderMatcher, headerValue, matchesHeaders } from '../../xds/translate/header-matcher.ts';
import { int, list, msg, str, stringMatcher, type Json, type StringMatch } from '../../xds/translate/proto-values.ts';
import type { RbacAttributes } from './rbac-attributes.ts';

/** A compiled predicate over the attributes. */
export type AttributeTest = (a: RbacAttributes) => boolean;

/** Compiles an envoy.config.route.v3.HeaderMatcher over the request headers. */
export function headerMatcher(h: Json, p: string): AttributeTest {
  const m = compileHeaderMatcher(h, p);
  return (a) => matchesHeaders(m, a.headers);
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
  const len = int(c['prefix_len'], 0, `${p}.prefix_len`);
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
