/**
 * The Ranger authorizer over a policy source with a stand-in engine (the
 * engine's own behaviour is tested with Ranger's fixtures elsewhere), and
 * once with the real engine on Ranger's HBase payload:
 * outcomes before load, after service-not-found, allow/deny/not-determined,
 * engine exceptions, the decision cache across a policy swap, and audit
 * only for audited results (cache hits included).
 */
import { PassThrough } from 'node:stream';
import type { AuthzRequest } from '../../../../policies/authz/authorizer.ts';
import { NOT_LOADED, type PolicySnapshot, type PolicySource } from '../../../../policies/ranger/admin/policy-source.ts';
import { AuditSink } from '../../../../policies/ranger/audit/audit-sink.ts';
import { RangerAuthorizer, toRangerRequest, type RangerEngineLike } from '../../../../policies/ranger/authorizer.ts';
import { RangerPolicyEngine } from '../../../../policies/ranger/engine/engine.ts';
import { StatsStore } from '../../../../sidecar/stats/store.ts';
import { rangerFixture } from '../ranger-admin/ranger-admin-server.ts';

type Req = Parameters<RangerEngineLike['isAccessAllowed']>[0];
type Res = ReturnType<RangerEngineLike['isAccessAllowed']>;

class StubSource implements PolicySource<RangerEngineLike> {
  snap: PolicySnapshot<RangerEngineLike> = NOT_LOADED;
  snapshot(): PolicySnapshot<RangerEngineLike> {
    return this.snap;
  }
  async start(): Promise<void> {}
  stop(): void {}
  install(engine: RangerEngineLike | undefined): void {
    this.snap = { engine, loaded: true, generation: this.snap.generation + 1, policyVersion: engine?.policyVersion };
  }
}

function engine(version: number, decide: (r: Req) => Partial<Res>): RangerEngineLike & { calls: number } {
  const e = {
    serviceName: 'svc',
    policyVersion: version,
    calls: 0,
    isAccessAllowed(r: Req): Res {
      e.calls++;
      return { isAllowed: false, isAccessDetermined: true, isAudited: true, isAuditedDetermined: true, policyId: -1, ...decide(r) };
    },
  };
  return e;
}

function req(user: string, groups: string[] = [], path = '/data'): AuthzRequest {
  return { principal: { user, groups, roles: ['r1'] }, resource: { path }, accessType: 'read', context: { clientIp: '10.0.0.9', action: 'GET', protocol: 'http', requestData: path } };
}

function setup(): { src: StubSource; az: RangerAuthorizer; stats: StatsStore; lines: () => Array<Record<string, unknown>>; sink: AuditSink } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const stats = new StatsStore();
  const sink = new AuditSink({ path: 'unused', out, stats: stats.scope('audit') });
  const src = new StubSource();
  const az = new RangerAuthorizer({ source: src, stats: stats.scope('ranger.svc'), cache: { maxEntries: 100, ttlMs: 0 }, audit: sink, identity: { serviceName: 'svc', repoType: 1, agentId: 'themis-sidecar', agentHost: 'h', clusterName: 'c' } });
  return { src, az, stats, sink, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('not loaded: unavailable, nothing audited; service not found: denied', async () => {
  const { src, az, stats, lines } = setup();
  expect(az.ready()).toBe(false);
  expect(az.authorize(req('alice'))).toMatchObject({ allowed: false, unavailable: true });
  src.install(undefined);
  expect(az.ready()).toBe(true);
  const d = az.authorize(req('alice'));
  expect(d).toMatchObject({ allowed: false, determined: false });
  expect(d.unavailable).toBeUndefined();
  await tick();
  expect(lines()).toEqual([]);
  expect(stats.counter('ranger.svc.unavailable').value()).toBe(1);
  expect(stats.counter('ranger.svc.denied').value()).toBe(1);
});

test('decisions from the engine; the request is mapped field by field', async () => {
  const { src, az, lines } = setup();
  const seen: Req[] = [];
  src.install(engine(7, (r) => {
    seen.push(r);
    return r.userGroups.includes('analysts') ? { isAllowed: true, policyId: 10 } : { isAllowed: false, policyId: 11, isAudited: r.user !== 'quiet' };
  }));
  expect(az.authorize(req('alice', ['analysts']))).toMatchObject({ allowed: true, determined: true, audited: true, policyId: 10, policyVersion: 7 });
  expect(az.authorize(req('bob', ['guests']))).toMatchObject({ allowed: false, policyId: 11 });
  expect(az.authorize(req('quiet'))).toMatchObject({ allowed: false, audited: false });
  expect(seen[0]).toMatchObject({ resource: { path: '/data' }, accessType: 'read', user: 'alice', userGroups: ['analysts'], userRoles: ['r1'], clientIPAddress: '10.0.0.9', action: 'GET', context: { protocol: 'http' } });
  await tick();
  expect(lines().map((l) => [l['reqUser'], l['result'], l['policy'], l['policy_version'], l['repo'], l['enforcer']])).toEqual([
    ['alice', 1, 10, 7, 'svc', 'ranger-acl'],
    ['bob', 0, 11, 7, 'svc', 'ranger-acl'],
  ]);
});

test('an allow that is not determined is a deny; an engine exception is a deny', () => {
  const { src, az, stats } = setup();
  src.install(engine(1, () => ({ isAllowed: true, isAccessDetermined: false })));
  expect(az.authorize(req('a')).allowed).toBe(false);
  src.install({ serviceName: 'svc', policyVersion: 2, isAccessAllowed: () => { throw new Error('boom'); } });
  expect(az.authorize(req('a'))).toMatchObject({ allowed: false, reason: 'policy engine error' });
  expect(stats.counter('ranger.svc.engine_errors').value()).toBe(1);
});

test('cached per (principal, resource, access); a policy swap invalidates; hits are still audited', async () => {
  const { src, az, lines, stats } = setup();
  const e1 = engine(1, () => ({ isAllowed: true, policyId: 1 }));
  src.install(e1);
  for (let i = 0; i < 5; i++) expect(az.authorize(req('alice')).allowed).toBe(true);
  expect(e1.calls).toBe(1);
  az.authorize(req('alice', [], '/other'));
  expect(e1.calls).toBe(2);
  const e2 = engine(2, () => ({ isAllowed: false, policyId: 2 }));
  src.install(e2);
  expect(az.authorize(req('alice')).allowed).toBe(false);
  expect(e2.calls).toBe(1);
  await tick();
  expect(lines()).toHaveLength(7);
  expect(stats.counter('ranger.svc.decision_cache.hits').value()).toBe(4);
});

test('toRangerRequest carries SPIFFE id and claims in the context', () => {
  const r = toRangerRequest({ principal: { user: 'u', groups: [], roles: [], spiffeId: 'spiffe://td/ns/x/sa/y', claims: { sub: 'u' } }, resource: { path: '/' }, accessType: 'read', context: { attributes: { method: 'GET' } } });
  expect(r.context).toEqual({ method: 'GET', spiffeId: 'spiffe://td/ns/x/sa/y', claims: { sub: 'u' } });
});

test('with the real engine on Ranger\'s HBase download payload', async () => {
  const { src, az, lines } = setup();
  src.install(RangerPolicyEngine.create(rangerFixture('hbase-test-policies.json')).engine);
  const hb = (user: string, groups: string[], table: string, access = 'read'): AuthzRequest => ({
    principal: { user, groups, roles: [] }, resource: { table, 'column-family': 'cf', column: 'c' }, accessType: access, context: { clientIp: '10.0.0.1', action: access },
  });
  expect(az.authorize(hb('u', ['qqsens'], 'prospects'))).toMatchObject({ allowed: true, determined: true, policyId: 4, policyVersion: 7141 });
  expect(az.authorize(hb('u', ['qqsens'], 'prospects', 'write')).allowed).toBe(false);
  expect(az.authorize(hb('u', ['guests'], 'prospects')).allowed).toBe(false);
  // Policy 5 has isAuditEnabled: false.
  expect(az.authorize(hb('atlas', [], 'atlas_janus', 'admin'))).toMatchObject({ allowed: true, policyId: 5, audited: false });
  expect(az.authorize(hb('u', ['fb00_xda017'], 'fb00_123da017x'))).toMatchObject({ allowed: true, policyId: 821 });
  await tick();
  expect(lines().map((l) => [l['reqUser'], l['result'], l['policy']])).toEqual([['u', 1, 4], ['u', 0, -1], ['u', 0, -1], ['u', 1, 821]]);
});
