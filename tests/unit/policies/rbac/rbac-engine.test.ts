/**
 * The RBAC engine (policies/rbac): every Permission and Principal rule we
 * implement, ALLOW / DENY / LOG with the effective policy, refusal of what
 * we do not implement (named by field), the Istio AuthorizationPolicy
 * configs of the shared fixtures, and the network RBAC parse and evaluator.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import type { Counter, Gauge, Histogram, StatsScope } from '../../../../sidecar/contracts/stats.ts';
import { fromFixtures } from '../../../../sidecar/paths.ts';
import { NO_ENTRIES, type RbacAttributes } from '../../../../policies/rbac/rbac-attributes.ts';
import { evaluateRbac, parseRbac, rbacDeniedDetails } from '../../../../policies/rbac/rbac-engine.ts';
import { NetworkRbacEvaluator, parseNetworkRbac } from '../../../../policies/rbac/network-rbac.ts';
import { parseHttpRbac, requestAttributes } from '../../../../protocols/http/filters/rbac/rbac-filter.ts';
import type { HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';

function attrs(over: Partial<RbacAttributes> = {}): RbacAttributes {
  return {
    headers: { ':method': 'GET', ':path': '/api/items?x=1', ':authority': 'svc', 'x-user': 'alice' },
    destinationIp: '10.0.0.5',
    destinationPort: 8080,
    directRemoteIp: '192.168.1.10',
    remoteIp: '203.0.113.7',
    sourceIp: '192.168.1.10',
    peer: undefined,
    requestedServerName: '',
    metadata: NO_ENTRIES,
    filterState: NO_ENTRIES,
    ...over,
  };
}

/** One ALLOW policy with a permission and a principal. */
function allow(permission: unknown, principal: unknown = { any: true }): ReturnType<typeof parseRbac> {
  return parseRbac({ action: 'ALLOW', policies: { p: { permissions: [permission], principals: [principal] } } }, 'rules');
}

const ok = (permission: unknown, a: RbacAttributes = attrs(), principal?: unknown): boolean => evaluateRbac(allow(permission, principal), a).allowed;

describe('permissions', () => {
  test('any, header (exact, prefix, regex, present, invert, multi-valued), url_path without query', () => {
    expect(ok({ any: true })).toBe(true);
    expect(ok({ header: { name: ':method', exact_match: 'GET' } })).toBe(true);
    expect(ok({ header: { name: ':method', exact_match: 'POST' } })).toBe(false);
    expect(ok({ header: { name: 'X-User', string_match: { prefix: 'ali' } } })).toBe(true);
    expect(ok({ header: { name: 'x-user', safe_regex_match: { google_re2: {}, regex: 'a.*e' } } })).toBe(true);
    expect(ok({ header: { name: 'x-user', safe_regex_match: { regex: 'lic' } } })).toBe(false); // anchored
    expect(ok({ header: { name: 'x-missing', present_match: false } })).toBe(true);
    expect(ok({ header: { name: 'x-missing', exact_match: 'a', invert_match: true } })).toBe(false);
    expect(ok({ header: { name: 'x-user', exact_match: 'bob', invert_match: true } })).toBe(true);
    expect(ok({ header: { name: 'x-multi', exact_match: 'a,b' } }, attrs({ headers: { 'x-multi': ['a', 'b'] } }))).toBe(true);
    expect(ok({ url_path: { path: { exact: '/api/items' } } })).toBe(true);
    expect(ok({ url_path: { path: { prefix: '/api/' } } })).toBe(true);
    expect(ok({ url_path: { path: { exact: '/api/items?x=1' } } })).toBe(false);
    expect(ok({ url_path: { path: { exact: '/api/items', ignore_case: true } } }, attrs({ headers: { ':path': '/API/Items' } }))).toBe(true);
  });

  test('destination ip / port / port range, SNI, and / or / not', () => {
    expect(ok({ destination_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } })).toBe(true);
    expect(ok({ destination_ip: { address_prefix: '10.1.0.0', prefix_len: 16 } })).toBe(false);
    expect(ok({ destination_ip: { address_prefix: '10.0.0.5', prefix_len: 32 } }, attrs({ destinationIp: '::ffff:10.0.0.5' }))).toBe(true);
    expect(ok({ destination_ip: { address_prefix: '::1', prefix_len: 128 } }, attrs({ destinationIp: '::1' }))).toBe(true);
    expect(ok({ destination_ip: { address_prefix: '::', prefix_len: 0 } })).toBe(false); // v6 range, v4 address
    expect(ok({ destination_port: 8080 })).toBe(true);
    expect(ok({ destination_port: 80 })).toBe(false);
    expect(ok({ destination_port_range: { start: 8000, end: 8081 } })).toBe(true);
    expect(ok({ destination_port_range: { start: 8000, end: 8080 } })).toBe(false); // end exclusive
    expect(ok({ requested_server_name: { exact: 'db.example' } }, attrs({ requestedServerName: 'db.example' }))).toBe(true);
    expect(ok({ requested_server_name: { exact: 'db.example' } })).toBe(false);
    expect(ok({ and_rules: { rules: [{ destination_port: 8080 }, { header: { name: ':method', exact_match: 'GET' } }] } })).toBe(true);
    expect(ok({ and_rules: { rules: [{ destination_port: 8080 }, { header: { name: ':method', exact_match: 'PUT' } }] } })).toBe(false);
    expect(ok({ or_rules: { rules: [{ destination_port: 1 }, { destination_port: 8080 }] } })).toBe(true);
    expect(ok({ not_rule: { destination_port: 8080 } })).toBe(false);
    expect(ok({ not_rule: { destination_port: 1 } })).toBe(true);
  });

  test('metadata: string, list one_of, present, invert, bool, double', () => {
    const md = new Map<string, unknown>([['envoy.filters.http.jwt_authn', { jwt: { sub: 'alice', groups: ['dev', 'ops'], admin: false, level: 3 } }]]);
    const a = attrs({ metadata: md });
    const m = (path: string[], value: unknown, invert = false): unknown => ({ metadata: { filter: 'envoy.filters.http.jwt_authn', path: path.map((key) => ({ key })), value, invert } });
    expect(ok(m(['jwt', 'sub'], { string_match: { exact: 'alice' } }), a)).toBe(true);
    expect(ok(m(['jwt', 'sub'], { string_match: { exact: 'bob' } }), a)).toBe(false);
    expect(ok(m(['jwt', 'sub'], { string_match: { exact: 'bob' } }, true), a)).toBe(true);
    expect(ok(m(['jwt', 'groups'], { list_match: { one_of: { string_match: { exact: 'ops' } } } }), a)).toBe(true);
    expect(ok(m(['jwt', 'groups'], { list_match: { one_of: { string_match: { exact: 'qa' } } } }), a)).toBe(false);
    expect(ok(m(['jwt', 'nope'], { present_match: true }), a)).toBe(false);
    expect(ok(m(['jwt', 'sub'], { present_match: true }), a)).toBe(true);
    expect(ok(m(['jwt', 'admin'], { bool_match: false }), a)).toBe(true);
    expect(ok(m(['jwt', 'level'], { double_match: { range: { start: 1, end: 5 } } }), a)).toBe(true);
    expect(ok(m(['jwt', 'level'], { or_match: { value_matchers: [{ double_match: { exact: 9 } }, { double_match: { exact: 3 } }] } }), a)).toBe(true);
    expect(ok(m(['jwt', 'sub'], { string_match: { exact: 'alice' } }))).toBe(false); // no metadata
  });
});

describe('principals', () => {
  const p = (principal: unknown, a: RbacAttributes = attrs()): boolean => ok({ any: true }, a, principal);

  test('direct_remote_ip, remote_ip (XFF-derived), source_ip', () => {
    expect(p({ direct_remote_ip: { address_prefix: '192.168.0.0', prefix_len: 16 } })).toBe(true);
    expect(p({ direct_remote_ip: { address_prefix: '203.0.113.0', prefix_len: 24 } })).toBe(false);
    expect(p({ remote_ip: { address_prefix: '203.0.113.0', prefix_len: 24 } })).toBe(true);
    expect(p({ source_ip: { address_prefix: '192.168.1.10', prefix_len: 32 } })).toBe(true);
  });

  test('authenticated principal_name: URI SANs, then DNS SANs, then the subject; plaintext never', () => {
    const tls = attrs({ peer: { uriSans: ['spiffe://cluster.local/ns/db/sa/app'], dnsSans: ['app.db.svc'], subject: 'CN=app,O=example' } });
    expect(p({ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/db/sa/app' } } }, tls)).toBe(true);
    expect(p({ authenticated: { principal_name: { exact: 'app.db.svc' } } }, tls)).toBe(true);
    expect(p({ authenticated: { principal_name: { exact: 'CN=app,O=example' } } }, tls)).toBe(true);
    expect(p({ authenticated: { principal_name: { safe_regex: { regex: 'spiffe://cluster.local/ns/db/.*' } } } }, tls)).toBe(true);
    expect(p({ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/other/sa/x' } } }, tls)).toBe(false);
    expect(p({ authenticated: {} }, tls)).toBe(true);
    expect(p({ authenticated: {} })).toBe(false);
    expect(p({ authenticated: { principal_name: { exact: '' } } })).toBe(false);
  });

  test('a synthetic connection with peerPrincipal (no TLS object) gives principal_name and io.istio.peer_principal', () => {
    const cb = { connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, scheme: 'http', peerPrincipal: 'spiffe://td/ns/a/sa/b' }, filterState: new Map(), continueDecoding: () => undefined, sendLocalReply: () => undefined } satisfies HttpFilterCallbacks;
    const a = requestAttributes({ ':path': '/' }, cb);
    expect(p({ authenticated: { principal_name: { exact: 'spiffe://td/ns/a/sa/b' } } }, a)).toBe(true);
    expect(p({ filter_state: { key: 'io.istio.peer_principal', string_match: { exact: 'spiffe://td/ns/a/sa/b' } } }, a)).toBe(true);
    cb.filterState.set('io.istio.peer_principal', 'spiffe://td/ns/other/sa/c');
    expect(p({ filter_state: { key: 'io.istio.peer_principal', string_match: { exact: 'spiffe://td/ns/a/sa/b' } } }, requestAttributes({}, cb))).toBe(false);
  });

  test('requestAttributes: remote_ip is the last X-Forwarded-For entry, direct_remote_ip the peer', () => {
    const cb = { connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.2', localPort: 80, scheme: 'http' }, filterState: new Map(), continueDecoding: () => undefined, sendLocalReply: () => undefined } satisfies HttpFilterCallbacks;
    const a = requestAttributes({ 'x-forwarded-for': '1.1.1.1, 2.2.2.2' }, cb);
    expect([a.remoteIp, a.directRemoteIp, a.sourceIp, a.destinationIp, a.destinationPort, a.peer]).toEqual(['2.2.2.2', '127.0.0.1', '127.0.0.1', '127.0.0.2', 80, undefined]);
    cb.filterState.set('envoy.downstream.remote_address', '9.9.9.9');
    expect(requestAttributes({ 'x-forwarded-for': '1.1.1.1' }, cb).remoteIp).toBe('9.9.9.9');
  });

  test('header, url_path, not_id, and_ids / or_ids', () => {
    expect(p({ header: { name: 'x-user', exact_match: 'alice' } })).toBe(true);
    expect(p({ url_path: { path: { prefix: '/api' } } })).toBe(true);
    expect(p({ not_id: { header: { name: 'x-user', exact_match: 'alice' } } })).toBe(false);
    expect(p({ and_ids: { ids: [{ any: true }, { header: { name: 'x-user', exact_match: 'alice' } }] } })).toBe(true);
    expect(p({ or_ids: { ids: [{ header: { name: 'x-user', exact_match: 'bob' } }, { remote_ip: { address_prefix: '203.0.113.7', prefix_len: 32 } }] } })).toBe(true);
  });
});

describe('actions and the effective policy', () => {
  const rules = (action: string): ReturnType<typeof parseRbac> => parseRbac({
    action,
    policies: {
      'z-admins': { permissions: [{ any: true }], principals: [{ header: { name: 'x-user', exact_match: 'alice' } }] },
      'a-gets': { permissions: [{ header: { name: ':method', exact_match: 'GET' } }], principals: [{ any: true }] },
      'm-none': { permissions: [{ destination_port: 1 }], principals: [{ any: true }] },
    },
  }, 'rules');

  test('ALLOW: the first matching policy in name order; none -> denied [none]', () => {
    expect(evaluateRbac(rules('ALLOW'), attrs())).toEqual({ allowed: true, matchedPolicy: 'a-gets', logged: false });
    const r = evaluateRbac(rules('ALLOW'), attrs({ headers: { ':method': 'PUT' } }));
    expect(r).toEqual({ allowed: false, matchedPolicy: undefined, logged: false });
    expect(rbacDeniedDetails(r.matchedPolicy)).toBe('rbac_access_denied_matched_policy[none]');
  });

  test('DENY: denied when a policy matches, with its id', () => {
    const r = evaluateRbac(rules('DENY'), attrs({ headers: { ':method': 'PUT', 'x-user': 'alice' } }));
    expect(r).toEqual({ allowed: false, matchedPolicy: 'z-admins', logged: false });
    expect(rbacDeniedDetails('ns[a] policy')).toBe('rbac_access_denied_matched_policy[ns[a]_policy]');
    expect(evaluateRbac(rules('DENY'), attrs({ headers: { ':method': 'PUT' } })).allowed).toBe(true);
  });

  test('LOG: always allowed, logged when a policy matches', () => {
    expect(evaluateRbac(rules('LOG'), attrs())).toEqual({ allowed: true, matchedPolicy: 'a-gets', logged: true });
    expect(evaluateRbac(rules('LOG'), attrs({ headers: {} })).logged).toBe(false);
  });

  test('an empty ALLOW denies everything; the engine is frozen', () => {
    const e = parseRbac({}, 'rules');
    expect(evaluateRbac(e, attrs()).allowed).toBe(false);
    expect(Object.isFrozen(rules('ALLOW'))).toBe(true);
    expect(Object.isFrozen(rules('ALLOW').policies[0]!.permissions[0])).toBe(true);
  });
});

describe('refusals name the field', () => {
  const err = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  const pol = (perm: unknown, prin: unknown = { any: true }, extra: object = {}): unknown => ({ policies: { p: { permissions: [perm], principals: [prin], ...extra } } });

  test.each([
    [pol({ matcher: { name: 'm', typed_config: {} } }), 'rules.policies["p"].permissions[0].matcher: extension matchers'],
    [pol({ uri_template: { name: 'u' } }), 'rules.policies["p"].permissions[0].uri_template: uri_template matching is not supported'],
    [pol({ sourced_metadata: {} }), 'permissions[0].sourced_metadata: sourced_metadata is not supported'],
    [pol({ any: true }, { custom: { name: 'c' } }), 'principals[0].custom: custom principal extensions are not supported'],
    [pol({ any: true }, { sourced_metadata: {} }), 'principals[0].sourced_metadata'],
    [pol({ any: true }, { filter_state: { key: 'k', address_match: {} } }), 'principals[0].filter_state.address_match'],
    [pol({ any: true }, { any: true }, { condition: { call_expr: {} } }), 'rules.policies["p"].condition: CEL conditions are not supported'],
    [pol({ any: true }, { any: true }, { checked_condition: {} }), 'checked_condition'],
    [{ action: 'ALLOW', audit_logging_options: {} }, 'rules.audit_logging_options'],
    [pol({ header: { name: 'x', string_match: { custom: {} } } }), 'permissions[0].header.string_match.custom'],
    [pol({ and_rules: { rules: [{ url_path: { path: { exact: '/' } } }, { any: true, destination_port: 1 }] } }), 'permissions[0].and_rules.rules[1]: a permission sets exactly one rule'],
    [pol({ destination_ip: { address_prefix: 'nope', prefix_len: 8 } }), 'permissions[0].destination_ip.address_prefix: invalid IP address'],
    [pol({ header: { name: 'x', safe_regex_match: { regex: '(' } } }), 'permissions[0].header.safe_regex_match.regex: invalid regex'],
    [{ policies: { p: { permissions: [], principals: [{ any: true }] } } }, 'rules.policies["p"].permissions: at least one permission'],
  ])('%j', (json, message) => {
    expect(err(() => parseRbac(json, 'rules'))).toContain(message);
  });

  test('HTTP and network filters refuse the matcher API and per-rule stats', () => {
    expect(err(() => parseHttpRbac({ matcher: {} }, 'f'))).toBe('f.matcher: the matcher API for RBAC is not supported; use rules / shadow_rules');
    expect(err(() => parseHttpRbac({ shadow_matcher: {} }, 'f'))).toContain('f.shadow_matcher');
    expect(err(() => parseHttpRbac({ track_per_rule_stats: true }, 'f'))).toContain('f.track_per_rule_stats');
    expect(err(() => parseNetworkRbac({ stat_prefix: 't', matcher: {} }, 'n'))).toContain('n.matcher');
    expect(err(() => parseNetworkRbac({ rules: {} }, 'n'))).toBe('n.stat_prefix: stat_prefix is required');
  });
});

/** Every RBAC filter config (HTTP and network) in a config dump. */
function rbacConfigs(o: unknown, out: { type: string; config: Record<string, unknown> }[] = []): typeof out {
  if (Array.isArray(o)) for (const x of o) rbacConfigs(x, out);
  else if (o && typeof o === 'object') {
    const r = o as Record<string, unknown>;
    const tc = r['typed_config'] as Record<string, unknown> | undefined;
    const type = String(tc?.['@type'] ?? '');
    if (/\.rbac\.v3\.RBAC$/.test(type)) out.push({ type, config: tc! });
    for (const v of Object.values(r)) rbacConfigs(v, out);
  }
  return out;
}

describe('Istio AuthorizationPolicy configs (../shared/fixtures/istio/configdump)', () => {
  const dump = parseYaml(readFileSync(fromFixtures('istio', 'configdump', 'sidecar-listeners.yaml'), 'utf8')) as unknown;
  const found = rbacConfigs(dump);

  test('every HTTP and network RBAC filter parses', () => {
    expect(found.filter((f) => f.type.includes('.http.')).length).toBeGreaterThanOrEqual(10);
    expect(found.filter((f) => f.type.includes('.network.')).length).toBeGreaterThanOrEqual(3);
    for (const f of found) {
      const { '@type': _t, ...cfg } = f.config;
      if (f.type.includes('.http.')) parseHttpRbac(cfg, 'rbac');
      else parseNetworkRbac(cfg, 'rbac');
    }
  });

  test('the httpbin policy: GET /info from the sleep identity with a Google-issued JWT', () => {
    const http = found.find((f) => f.type.includes('.http.') && f.config['rules'] !== undefined)!;
    const cfg = parseHttpRbac(http.config, 'rbac');
    const jwt = new Map<string, unknown>([['istio_authn', { 'request.auth.claims': { iss: ['https://accounts.google.com'] } }]]);
    const sleep = { uriSans: ['spiffe://cluster.local/ns/default/sa/sleep'], dnsSans: [], subject: '' };
    const req = (method: string, path: string, peer = sleep, metadata = jwt): RbacAttributes => attrs({ headers: { ':method': method, ':path': path }, peer, metadata });
    expect(evaluateRbac(cfg.rules!, req('GET', '/info/x'))).toMatchObject({ allowed: true, matchedPolicy: 'ns[default]-policy[httpbin]-rule[0]' });
    expect(evaluateRbac(cfg.rules!, req('POST', '/data')).allowed).toBe(true);
    expect(evaluateRbac(cfg.rules!, req('POST', '/info')).allowed).toBe(false);
    expect(evaluateRbac(cfg.rules!, req('GET', '/info', { ...sleep, uriSans: ['spiffe://cluster.local/ns/prod/sa/x'] })).allowed).toBe(false);
    expect(evaluateRbac(cfg.rules!, req('GET', '/info', { ...sleep, uriSans: ['spiffe://cluster.local/ns/test/sa/x'] })).allowed).toBe(true);
    expect(evaluateRbac(cfg.rules!, req('GET', '/info', sleep, new Map())).allowed).toBe(false);
  });

  test('the network filter with rules: {} denies every connection and counts under tcp.rbac.', () => {
    const net = found.find((f) => f.type.includes('.network.'))!;
    const cfg = parseNetworkRbac(net.config, 'rbac');
    const stats = new TestStats();
    const ev = new NetworkRbacEvaluator(cfg, stats);
    const d = ev.evaluate({ remoteAddress: '10.0.0.1', localAddress: '10.0.0.2', localPort: 9000 });
    expect(d).toEqual({ allowed: false, matchedPolicy: undefined, details: 'rbac_access_denied_matched_policy[none]', shadow: undefined });
    expect(stats.values.get('tcp.rbac.denied')).toBe(1);
  });
});

/** A stats scope that records counter values by full name. */
class TestStats implements StatsScope {
  readonly prefix = '';
  readonly values = new Map<string, number>();
  counter(name: string): Counter {
    const values = this.values;
    return { inc: (by = 1) => void values.set(name, (values.get(name) ?? 0) + by), value: () => values.get(name) ?? 0 };
  }
  gauge(): Gauge { throw new Error('unused'); }
  histogram(): Histogram { throw new Error('unused'); }
  scope(): StatsScope { throw new Error('unused'); }
}

describe('network RBAC', () => {
  test('connection attributes: source ip, destination port, SNI, TLS principal; shadow counted, not enforced', () => {
    const cfg = parseNetworkRbac({
      stat_prefix: 'pg',
      shadow_rules_stat_prefix: 'dry_',
      rules: {
        action: 'ALLOW',
        policies: {
          clients: {
            permissions: [{ and_rules: { rules: [{ destination_port: 5432 }, { requested_server_name: { suffix: '.db' } }] } }],
            principals: [{ authenticated: { principal_name: { exact: 'spiffe://td/ns/app/sa/web' } } }, { source_ip: { address_prefix: '10.1.0.0', prefix_len: 16 } }],
          },
        },
      },
      shadow_rules: { action: 'DENY', policies: { 'all-http': { permissions: [{ header: { name: ':method', present_match: true } }], principals: [{ any: true }] } } },
      delay_deny: '0.5s',
    }, 'n');
    expect(cfg.delayDenyMs).toBe(500);
    expect(cfg.enforcementType).toBe('ONE_TIME_ON_FIRST_BYTE');
    const stats = new TestStats();
    const ev = new NetworkRbacEvaluator(cfg, stats);
    const base = { remoteAddress: '10.9.0.1', localAddress: '10.0.0.2', localPort: 5432, serverName: 'main.db' };
    expect(ev.evaluate(base).allowed).toBe(false);
    expect(ev.evaluate({ ...base, peerPrincipal: 'spiffe://td/ns/app/sa/web' })).toMatchObject({ allowed: true, matchedPolicy: 'clients', shadow: { allowed: true } });
    expect(ev.evaluate({ ...base, remoteAddress: '::ffff:10.1.2.3' }).allowed).toBe(true);
    expect(ev.evaluate({ ...base, remoteAddress: '10.1.2.3', serverName: 'x.web' }).allowed).toBe(false);
    expect(ev.evaluate({ ...base, remoteAddress: '10.1.2.3', localPort: 5433 }).allowed).toBe(false);
    const tls = { version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', sni: 'replica.db', peer: { uriSans: ['spiffe://td/ns/app/sa/web'], dnsSans: [], subject: 'CN=web', issuer: '', serial: '', sha256: '', validFrom: new Date(), validTo: new Date() } };
    expect(ev.evaluate({ remoteAddress: '10.9.0.1', localAddress: '10.0.0.2', localPort: 5432, tls }).allowed).toBe(true);
    expect(stats.values.get('pg.rbac.allowed')).toBe(3);
    expect(stats.values.get('pg.rbac.denied')).toBe(3);
    expect(stats.values.get('pg.rbac.dry_shadow_allowed')).toBe(6); // no headers on a connection: nothing matched
    expect(parseNetworkRbac({ stat_prefix: 'x' }, 'n').rules).toBeUndefined();
  });
});
