/**
 * Fuzz: random RBAC messages (valid shapes mutated with wrong types, unknown
 * fields and deep nesting) either compile or throw a ConfigError with a
 * path, never anything else; what compiles evaluates without throwing on
 * random attributes. Seeded, so a failure reproduces.
 */
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import { NO_ENTRIES, type RbacAttributes } from '../../../../policies/rbac/rbac-attributes.ts';
import { evaluateRbac, parseRbac } from '../../../../policies/rbac/rbac-engine.ts';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const rnd = prng(20261127);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const junk = (): unknown => pick([undefined, null, 0, -1, 65536, 'x', '', true, false, [], {}, [{}], { regex: '(' }, '10.0.0.0', 1.5]);

function stringMatcher(): unknown {
  return rnd() < 0.2 ? junk() : { [pick(['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'custom', 'bogus'])]: pick(['a', '/x', { regex: 'a.*' }, { regex: '(' }, 3]) , ...(rnd() < 0.2 ? { ignore_case: true } : {}) };
}

function permission(depth: number): unknown {
  if (rnd() < 0.05) return junk();
  const kinds = depth > 3 ? ['any', 'header', 'url_path', 'destination_port', 'destination_ip', 'requested_server_name', 'metadata'] : ['and_rules', 'or_rules', 'not_rule', 'any', 'header', 'url_path', 'destination_port', 'destination_port_range', 'destination_ip', 'requested_server_name', 'metadata', 'matcher', 'uri_template'];
  const k = pick(kinds);
  switch (k) {
    case 'and_rules': case 'or_rules': return { [k]: { rules: Array.from({ length: Math.floor(rnd() * 3) }, () => permission(depth + 1)) } };
    case 'not_rule': return { not_rule: permission(depth + 1) };
    case 'any': return { any: pick([true, false, 1]) };
    case 'header': return { header: { name: pick([':path', 'x-a', '', 3]), [pick(['exact_match', 'prefix_match', 'present_match', 'safe_regex_match', 'string_match', 'range_match'])]: pick(['v', true, { regex: 'v+' }, { start: 1, end: 5 }, stringMatcher()]), invert_match: rnd() < 0.3 } };
    case 'url_path': return { url_path: { path: stringMatcher() } };
    case 'destination_port': return { destination_port: pick([80, 0, 70000, '443', -3]) };
    case 'destination_port_range': return { destination_port_range: { start: pick([1, 100, '5']), end: pick([0, 200]) } };
    case 'destination_ip': return { destination_ip: { address_prefix: pick(['10.0.0.0', '::', 'nope', '']), prefix_len: pick([0, 8, 33, 129, -1]) } };
    case 'requested_server_name': return { requested_server_name: stringMatcher() };
    case 'metadata': return { metadata: { filter: pick(['f', '']), path: pick([[{ key: 'a' }], [], [{}]]), value: pick([{ string_match: stringMatcher() }, { present_match: true }, { list_match: { one_of: { bool_match: true } } }, {}, { or_match: { value_matchers: [] } }]) } };
    default: return { [k]: {} };
  }
}

function principal(depth: number): unknown {
  if (rnd() < 0.05) return junk();
  const k = pick(depth > 3 ? ['any', 'authenticated', 'remote_ip', 'filter_state'] : ['and_ids', 'or_ids', 'not_id', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'filter_state', 'custom']);
  switch (k) {
    case 'and_ids': case 'or_ids': return { [k]: { ids: Array.from({ length: Math.floor(rnd() * 3) }, () => principal(depth + 1)) } };
    case 'not_id': return { not_id: principal(depth + 1) };
    case 'any': return { any: true };
    case 'authenticated': return { authenticated: rnd() < 0.3 ? {} : { principal_name: stringMatcher() } };
    case 'filter_state': return { filter_state: { key: pick(['io.istio.peer_principal', 'k', '']), string_match: stringMatcher() } };
    case 'header': return { header: { name: 'x-a', present_match: true } };
    case 'custom': return { custom: {} };
    default: return { [k]: { address_prefix: pick(['127.0.0.1', '::1', 'x']), prefix_len: pick([8, 32, 200]) } };
  }
}

function attrs(): RbacAttributes {
  return {
    headers: rnd() < 0.2 ? undefined : { ':path': pick(['/', '/x?y', '', '#']), 'x-a': pick(['v', ['v', 'w'], undefined]) as string },
    destinationIp: pick(['10.0.0.1', '::1', '::ffff:10.0.0.1', 'garbage']),
    destinationPort: pick([80, 443, 0]),
    directRemoteIp: pick(['127.0.0.1', '::1']),
    remoteIp: pick(['127.0.0.1', '']),
    sourceIp: '127.0.0.1',
    peer: rnd() < 0.5 ? undefined : { uriSans: ['spiffe://a/b'], dnsSans: [], subject: 'CN=x' },
    requestedServerName: pick(['', 'a']),
    metadata: rnd() < 0.5 ? NO_ENTRIES : new Map([['f', { a: pick(['x', 1, true, null, ['x']]) }]]),
    filterState: NO_ENTRIES,
  };
}

test('2000 random RBAC messages: compile or ConfigError; compiled engines evaluate', () => {
  let compiled = 0;
  for (let i = 0; i < 2000; i++) {
    const msg = rnd() < 0.03 ? junk() : {
      action: pick(['ALLOW', 'DENY', 'LOG', 'BOGUS', undefined]),
      policies: rnd() < 0.05 ? junk() : Object.fromEntries(Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, j) => [`p${j}`, { permissions: Array.from({ length: Math.floor(rnd() * 3) }, () => permission(0)), principals: Array.from({ length: Math.floor(rnd() * 3) }, () => principal(0)) }])),
    };
    let engine;
    try {
      engine = parseRbac(msg, 'rules');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(msg)}: ${String(e)}`);
      expect(e.path.startsWith('rules')).toBe(true);
      continue;
    }
    compiled++;
    for (let k = 0; k < 5; k++) expect(typeof evaluateRbac(engine, attrs()).allowed).toBe('boolean');
  }
  expect(compiled).toBeGreaterThan(50);
});
