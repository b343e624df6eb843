/**
 * The Ranger HTTP filter's config (every error with its field path, as a
 * NACK carries them) and its request mapping: resource paths (dot-segments,
 * percent-encoding, segments to levels), trusted hops, JWT payload shapes.
 * End-to-end behaviour is in tests/integration/policies/ranger-http.test.ts.
 */
import { RANGER_FILTER_TYPE, parseRangerFilter, type RangerFilterConfig } from '../../../../protocols/http/filters/ranger/config.ts';
import { RangerPolicySources } from '../../../../protocols/http/filters/ranger/policy-sources.ts';
import { inRanges, jwtPayload, requestResource, resourcePath, setup } from '../../../../protocols/http/filters/ranger/ranger-filter.ts';
import { RangerAuthorizer, type RangerEngineLike } from '../../../../policies/ranger/authorizer.ts';
import { ExtensionRegistry, type HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type HeaderMap, type HttpFilter, type HttpFilterCallbacks, type LocalReplySpec } from '../../../../sidecar/contracts/http-filter.ts';
import type { StatsScope } from '../../../../sidecar/contracts/stats.ts';
import { StatsStore } from '../../../../sidecar/stats/store.ts';
import { bootstrapErrors } from '../../../support/sidecar.ts';

const P = 'http_filters[0].typed_config';

function errors(cfg: Record<string, unknown>): string[] {
  return parseRangerFilter(cfg, P).errors.map((e) => e.message);
}

describe('config', () => {
  test('a minimal Admin config gets Ranger\'s defaults', () => {
    const r = parseRangerFilter({ service_name: 'cm_hbase', admin: { url: 'http://ranger:6080' } }, P);
    expect(r.errors).toEqual([]);
    expect(r.config).toMatchObject({
      serviceName: 'cm_hbase',
      admin: { url: 'http://ranger:6080', pollIntervalMs: 30_000, timeoutMs: 10_000, secure: false, downloadRoles: true },
      resource: { kind: 'path', name: 'path' },
      accessType: { kind: 'methods', methods: { GET: 'read', POST: 'write' } },
      user: [{ kind: 'jwt_claim', claim: ['sub'] }, { kind: 'peer_principal' }],
      trustedHops: [],
      cache: { maxEntries: 10_000, ttlMs: 5000 },
    });
    expect(r.config!.admin!.pluginId).toMatch(/^themis-sidecar@.+-cm_hbase$/);
    expect(Object.isFrozen(r.config)).toBe(true);
  });

  test('a full config', () => {
    const r = parseRangerFilter({
      service_name: 'hive',
      policy_file: '/etc/ranger/hive.json',
      super_users: ['admin'],
      resource: { segments: { prefix: '/db/', levels: ['database', 'table', 'column'] }, static: { kind: 'x' } },
      access_type: { header: 'X-Ranger-Access' },
      user: [{ header: 'x-user' }, { jwt_claim: 'preferred_username' }],
      groups: [{ jwt_claim: 'realm_access.roles' }, { header: 'x-groups', separator: ';' }],
      trusted_hops: [{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: '::1' }],
      audit: { path: '/dev/stdout', repo_type: 3 },
      decision_cache: { max_entries: 0, ttl: '1s' },
      anonymous_user: 'anonymous',
    }, P);
    expect(r.errors).toEqual([]);
    expect(r.config).toMatchObject({
      resource: { kind: 'segments', prefix: '/db', levels: ['database', 'table', 'column'], static: { kind: 'x' } },
      accessType: { kind: 'header', name: 'x-ranger-access' },
      groups: [{ kind: 'jwt_claim', claim: ['realm_access', 'roles'] }, { kind: 'header', name: 'x-groups', separator: ';' }],
      principalHeaders: ['x-ranger-access', 'x-user', 'x-groups'],
      trustedHops: [{ family: 4, prefixLen: 8 }, { family: 6, prefixLen: 128 }],
      audit: { path: '/dev/stdout', repoType: 3, agentId: 'themis-sidecar' },
      cache: { maxEntries: 0, ttlMs: 1000 },
      anonymousUser: 'anonymous',
      superUsers: ['admin'],
    });
  });

  test('every error at once, each with its field path', () => {
    expect(errors({})).toEqual([`${P}.value.service_name: service_name is required`, `${P}.value: one of admin or policy_file is required`]);
    expect(errors({ service_name: 's', admin: { url: 'ftp://x' }, policy_file: '/f' })).toEqual([
      `${P}.value: admin and policy_file are exclusive`,
      `${P}.value.admin.url: 'ftp://x' is not an http(s) URL of a Ranger Admin`,
    ]);
    expect(errors({
      service_name: 's', admin: { url: 'http://a', poll_interval: '0s', timeout: 'soon', bogus: 1 }, extra: true,
      resource: { segments: { levels: [] } }, access_type: { methods: { GET: '' } },
      user: [{ jwt_claim: 'sub', header: 'x' }, { cookie: 'c' }, { header: 'bad header' }],
      trusted_hops: [{ address_prefix: '10.0.0.0', prefix_len: 33 }, { address_prefix: 'host' }],
      audit: {}, decision_cache: { max_entries: -1 }, super_users: 'root',
    })).toEqual([
      `${P}.value.extra: unknown field`,
      `${P}.value.admin.bogus: unknown field`,
      `${P}.value.admin.poll_interval: must be at least 0.01s`,
      `${P}.value.admin.timeout: invalid duration "soon"`,
      `${P}.value.resource.segments.levels: at least one resource level is required`,
      `${P}.value.access_type.methods: must map HTTP methods to access types`,
      `${P}.value.user[0]: exactly one of jwt_claim, peer_principal, header is required`,
      `${P}.value.user[1].cookie: unknown principal source (jwt_claim, peer_principal, header are)`,
      `${P}.value.user[2].header: 'bad header' is not a header name`,
      `${P}.value.trusted_hops[0].prefix_len: prefix length 33 out of range for IPv4`,
      `${P}.value.trusted_hops[1].address_prefix: 'host' is not an IP address`,
      `${P}.value.audit.path: a file path or /dev/stdout is required`,
      `${P}.value.decision_cache.max_entries: must be a non-negative integer`,
      `${P}.value.super_users: must be a list of strings`,
    ]);
  });

  test('a bad Ranger filter in a bootstrap is refused with its path (NACK)', async () => {
    const errs = await bootstrapErrors(`
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] }
          http_filters:
          - name: ranger
            typed_config:
              "@type": type.googleapis.com/xds.type.v3.TypedStruct
              type_url: type.googleapis.com/themis.sidecar.filters.ranger.v1.Ranger
              value: { service_name: "", admin: { url: "http://127.0.0.1:1" } }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`);
    expect(errs.join('\n')).toMatch(/http_filters\[0\]\.typed_config\.value\.service_name: service_name is required/);
  });
});

describe('request mapping', () => {
  test('resource paths: query dropped, dot-segments resolved, decoded; ambiguous paths refused', () => {
    expect(resourcePath('/a/b?x=1')).toBe('/a/b');
    expect(resourcePath('/public/../secret')).toBe('/secret');
    expect(resourcePath('/public/%2e%2e/secret')).toBe('/secret');
    expect(resourcePath('/a%20b/c')).toBe('/a b/c');
    expect(resourcePath('//admin/x')).toBe('//admin/x');
    for (const bad of ['/a%2F..%2Fsecret', '/a/%2e%2e%2fb', '/%E0%A4%A', '/a\\..\\b', 'a/b', '*', '/a#b', '/a%00b']) expect(resourcePath(bad)).toBeUndefined();
  });

  test('segments map to resource levels under a prefix', () => {
    const cfg = { kind: 'segments', prefix: '/db', levels: ['database', 'table', 'column'], static: { zone: 'z' } } as const;
    expect(requestResource(cfg, '/db/sales/orders/amount/extra')).toEqual({ zone: 'z', database: 'sales', table: 'orders', column: 'amount' });
    expect(requestResource(cfg, '/db/sales')).toEqual({ zone: 'z', database: 'sales' });
    expect(requestResource(cfg, '/dbx/sales')).toBeUndefined();
    expect(requestResource(cfg, '/other')).toBeUndefined();
    expect(requestResource({ kind: 'path', name: 'path', static: {} }, '/x/y')).toEqual({ path: '/x/y' });
  });

  test('trusted hops', () => {
    const hops = parseRangerFilter({ service_name: 's', policy_file: '/f', trusted_hops: [{ address_prefix: '10.1.0.0', prefix_len: 16 }, { address_prefix: 'fd00::', prefix_len: 8 }] }, P).config!.trustedHops;
    expect(inRanges('10.1.2.3', hops)).toBe(true);
    expect(inRanges('::ffff:10.1.2.3', hops)).toBe(true);
    expect(inRanges('10.2.0.1', hops)).toBe(false);
    expect(inRanges('fd12::1', hops)).toBe(true);
    expect(inRanges('fe80::1', hops)).toBe(false);
    expect(inRanges('10.1.2.3', [])).toBe(false);
    expect(inRanges('', hops)).toBe(false);
  });

  test('JWT payload shapes in filter state', () => {
    const payload = { sub: 'alice', iss: 'i', groups: ['g'] };
    expect(jwtPayload(payload)).toBe(payload);
    expect(jwtPayload({ payload })).toBe(payload);
    expect(jwtPayload({ my_provider: payload })).toBe(payload);
    expect(jwtPayload(undefined)).toBeUndefined();
    expect(jwtPayload('x')).toBeUndefined();
  });
});

describe('filter (stand-in engine, fake stream callbacks)', () => {
  type Req = Parameters<RangerEngineLike['isAccessAllowed']>[0];
  const seen: Req[] = [];
  const engine: RangerEngineLike = {
    serviceName: 's',
    policyVersion: 1,
    isAccessAllowed(r) {
      seen.push(r);
      const ok = r.userGroups.includes('ok') || r.user === 'spiffe://td/ns/a/sa/ok';
      return { isAllowed: ok, isAccessDetermined: true, isAudited: false, isAuditedDetermined: true, policyId: ok ? 1 : 2 };
    },
  };
  class StubSources extends RangerPolicySources {
    override authorizer(_cfg: RangerFilterConfig, hcm: StatsScope): { authorizer: RangerAuthorizer; release: () => void } {
      const snap = { engine, loaded: true, generation: 1, policyVersion: 1 };
      return { release: () => undefined, authorizer: new RangerAuthorizer({ source: { snapshot: () => snap, start: async () => undefined, stop: () => undefined }, stats: hcm.scope('ranger.s'), cache: { maxEntries: 0, ttlMs: 0 }, identity: { serviceName: 's', repoType: 0, agentId: 'a', agentHost: 'h', clusterName: '' } }) };
    }
  }

  function factory(value: Record<string, unknown>): { create: (cb: HttpFilterCallbacks) => HttpFilter; stats: StatsStore } {
    const registry = new ExtensionRegistry();
    setup(registry, new StubSources());
    const ext = registry.byTypeName('envoy.filters.http', RANGER_FILTER_TYPE) as HttpFilterExtension<RangerFilterConfig>;
    const parsed = ext.parse({ service_name: 's', policy_file: '/nonexistent', ...value }, { path: 'f', warn: () => undefined });
    if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join());
    const stats = new StatsStore();
    return { create: ext.createFactory(parsed.config, { stats: stats.scope('http.ingress') }).create, stats };
  }

  function stream(remoteAddress: string, state: Record<string, unknown> = {}, peerPrincipal?: string): HttpFilterCallbacks & { replies: LocalReplySpec[] } {
    const replies: LocalReplySpec[] = [];
    return {
      replies,
      connection: { remoteAddress, remotePort: 1, localAddress: '127.0.0.1', localPort: 2, scheme: 'http', peerPrincipal },
      filterState: new Map(Object.entries(state)),
      continueDecoding: () => undefined,
      sendLocalReply: (r) => replies.push(r),
    };
  }

  test('headers from trusted hops are believed; from others they are ignored and stripped', () => {
    const f = factory({ user: [{ header: 'x-user' }], groups: [{ header: 'x-groups' }], trusted_hops: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] });
    const h1 = { ':method': 'GET', ':path': '/a', 'x-user': 'alice', 'x-groups': 'ok,other' };
    const cb1 = stream('10.1.1.1');
    expect(f.create(cb1).decodeHeaders(h1, true)).toBe(Continue);
    expect(seen.at(-1)).toMatchObject({ user: 'alice', userGroups: ['ok', 'other'], resource: { path: '/a' }, accessType: 'read', clientIPAddress: '10.1.1.1', action: 'GET' });
    expect(h1['x-user']).toBe('alice');
    const h2: HeaderMap = { ':method': 'GET', ':path': '/a', 'x-user': 'alice', 'x-groups': 'ok' };
    const cb2 = stream('::ffff:192.168.1.1');
    expect(f.create(cb2).decodeHeaders(h2, true)).toBe(StopIteration);
    expect(cb2.replies).toEqual([expect.objectContaining({ status: 403, body: 'Ranger: access denied', grpcStatus: 7, details: 'ranger_access_denied{no_principal}' })]);
    expect(h2['x-user']).toBeUndefined();
    expect(h2['x-groups']).toBeUndefined();
    expect(f.stats.counter('http.ingress.ranger.denied').value()).toBe(1);
    expect(f.stats.counter('http.ingress.ranger.allowed').value()).toBe(1);
  });

  test('the JWT payload from jwt_authn and the peer SPIFFE id', () => {
    const f = factory({ user: [{ jwt_claim: 'preferred_username' }, { peer_principal: {} }], groups: [{ jwt_claim: 'realm_access.roles' }] });
    const cb = stream('1.2.3.4', { 'envoy.filters.http.jwt_authn': { provider: { preferred_username: 'bob', realm_access: { roles: ['ok'] } } } });
    expect(f.create(cb).decodeHeaders({ ':method': 'DELETE', ':path': '/x/y' }, true)).toBe(Continue);
    expect(seen.at(-1)).toMatchObject({ user: 'bob', userGroups: ['ok'], accessType: 'write' });
    const cb2 = stream('1.2.3.4', {}, 'spiffe://td/ns/a/sa/ok');
    expect(f.create(cb2).decodeHeaders({ ':method': 'GET', ':path': '/x' }, true)).toBe(Continue);
    expect(seen.at(-1)).toMatchObject({ user: 'spiffe://td/ns/a/sa/ok', userGroups: [] });
    expect((seen.at(-1)!.context as Record<string, unknown>)['spiffeId']).toBe('spiffe://td/ns/a/sa/ok');
  });

  test('unmapped methods and paths are denied without asking the engine', () => {
    const f = factory({ user: [{ peer_principal: {} }], access_type: { methods: { GET: 'read' } } });
    const n = seen.length;
    const cb = stream('1.2.3.4', {}, 'spiffe://td/ns/a/sa/ok');
    expect(f.create(cb).decodeHeaders({ ':method': 'POST', ':path': '/x' }, true)).toBe(StopIteration);
    expect(f.create(cb).decodeHeaders({ ':method': 'GET', ':path': '/a/%2e%2e%2fb' }, true)).toBe(StopIteration);
    expect(cb.replies.map((r) => r.details)).toEqual(['ranger_access_denied{no_access_type}', 'ranger_access_denied{unmapped_path}']);
    expect(seen.length).toBe(n);
  });
});
