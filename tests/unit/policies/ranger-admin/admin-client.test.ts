/**
 * The Ranger Admin client and policy refresher against a real local HTTP
 * Admin serving Ranger's real download payloads
 * (hbase-test-policies.json, updated-hbase-test-policies.json): 200, 304,
 * 204, 404, malformed JSON, a hanging Admin with a timeout, the cache file
 * written atomically and used when the Admin is down at start, and the
 * stats.
 */
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RangerAdminClient } from '../../../../policies/ranger/admin/admin-client.ts';
import { rolesCachePath } from '../../../../policies/ranger/admin/cache-file.ts';
import { PolicyRefresher, type TimerHandle } from '../../../../policies/ranger/admin/policy-refresher.ts';
import { FilePolicySource } from '../../../../policies/ranger/admin/policy-file.ts';
import { StatsStore } from '../../../../sidecar/stats/store.ts';
import { rangerFixture, startRangerAdmin, type TestRangerAdmin } from './ranger-admin-server.ts';

/** A stand-in engine builder: accepts what has a service name and a policies array, like the engine's own checks. */
interface FakeEngine {
  readonly serviceName: string;
  readonly policyVersion: number | undefined;
  readonly policyIds: number[];
  readonly roleVersion: number | undefined;
}
function build(p: Record<string, unknown>, roles: Record<string, unknown> | undefined): { engine: FakeEngine; warnings: string[] } {
  if (typeof p['serviceName'] !== 'string' || !Array.isArray(p['policies'])) throw new Error('malformed ServicePolicies');
  return {
    engine: { serviceName: p['serviceName'], policyVersion: p['policyVersion'] as number, policyIds: (p['policies'] as Array<{ id: number }>).map((x) => x.id), roleVersion: roles?.['roleVersion'] as number | undefined },
    warnings: [],
  };
}

const HBASE = rangerFixture('hbase-test-policies.json');
/** Ranger's delta payload for the same service (policy 821 changed), as Ranger Admin sends to plugins that support deltas. */
const DELTAS = rangerFixture('updated-hbase-test-policies.json');
/** The complete policy set after that delta, at the next version (what a plugin without delta support downloads). */
const UPDATED = applyDeltas(HBASE, DELTAS);

function applyDeltas(base: Record<string, unknown>, deltas: Record<string, unknown>): Record<string, unknown> {
  let policies = [...(base['policies'] as Array<{ id: number }>)];
  for (const d of deltas['policyDeltas'] as Array<{ changeType: number; policy: { id: number } }>) {
    policies = policies.filter((p) => p.id !== d.policy.id);
    if (d.changeType !== 3) policies.push(d.policy); // 1 create, 2 update, 3 delete
  }
  return { ...base, policyVersion: (base['policyVersion'] as number) + 1, policies };
}
const SERVICE = String(HBASE['serviceName']);

let admin: TestRangerAdmin;
beforeEach(async () => {
  admin = await startRangerAdmin();
});
afterEach(async () => {
  await admin.close();
});

function client(opts: { timeoutMs?: number; secure?: boolean; url?: string } = {}): RangerAdminClient {
  return new RangerAdminClient({ adminUrl: opts.url ?? `${admin.url}/`, serviceName: SERVICE, pluginId: `themis-sidecar@host-${SERVICE}`, clusterName: 'c1', timeoutMs: opts.timeoutMs ?? 2000, secure: opts.secure });
}

/** A schedule that never fires: tests drive refresh() themselves. */
const manual = (): TimerHandle => ({ cancel: () => undefined });

function refresher(stats: StatsStore, opts: { cacheFile?: string; timeoutMs?: number; now?: () => number } = {}): PolicyRefresher<FakeEngine> {
  return new PolicyRefresher<FakeEngine>({ client: client({ timeoutMs: opts.timeoutMs }), serviceName: SERVICE, build, pollIntervalMs: 30_000, cacheFile: opts.cacheFile, stats: stats.scope(`ranger.${SERVICE}`), schedule: manual, now: opts.now });
}

describe('RangerAdminClient', () => {
  test('asks with Ranger\'s path and query parameters (plain and secure)', async () => {
    admin.policies.set(SERVICE, HBASE);
    const r = await client().downloadPolicies(-1, 0);
    expect(r.kind).toBe('updated');
    await client({ secure: true }).downloadPolicies(5, 1234);
    await client().downloadRoles(-1, 0);
    await client({ secure: true }).downloadRoles(3, 99);
    expect(admin.requests.map((q) => q.path)).toEqual([
      `/service/plugins/policies/download/${SERVICE}`,
      `/service/plugins/secure/policies/download/${SERVICE}`,
      `/service/roles/download/${SERVICE}`,
      `/service/roles/secure/download/${SERVICE}`,
    ]);
    const q = admin.requests[1]!.query;
    expect(Object.fromEntries(q)).toEqual({ lastKnownVersion: '5', lastActivationTime: '1234', pluginId: `themis-sidecar@host-${SERVICE}`, clusterName: 'c1', supportsPolicyDeltas: 'false' });
    expect(Object.fromEntries(admin.requests[3]!.query)).toEqual({ lastKnownRoleVersion: '3', lastActivationTime: '99', pluginId: `themis-sidecar@host-${SERVICE}`, clusterName: 'c1' });
  });

  test('200 carries the payload; 304 and 204 are unchanged; 404 is service not found', async () => {
    admin.policies.set(SERVICE, HBASE);
    const ok = await client().downloadPolicies(-1, 0);
    expect(ok.kind === 'updated' && ok.body['policyVersion']).toBe(HBASE['policyVersion']);
    expect(await client().downloadPolicies(HBASE['policyVersion'] as number, 1)).toEqual({ kind: 'unchanged', status: 304 });
    admin.forceStatus = 204;
    expect(await client().downloadPolicies(1, 1)).toEqual({ kind: 'unchanged', status: 204 });
    admin.forceStatus = undefined;
    admin.policies.clear();
    const nf = await client().downloadPolicies(1, 1);
    expect(nf.kind).toBe('not_found');
    admin.forceStatus = 500;
    expect(await client().downloadPolicies(1, 1)).toEqual({ kind: 'failed', reason: 'HTTP 500' });
  });

  test('malformed JSON and non-object bodies are failures', async () => {
    admin.policies.set(SERVICE, '{"serviceName": "cm_hbase", "policies": [');
    const r = await client().downloadPolicies(-1, 0);
    expect(r.kind).toBe('failed');
    expect(r.kind === 'failed' && r.reason).toMatch(/malformed JSON/);
    admin.policies.set(SERVICE, '[1,2]');
    expect((await client().downloadPolicies(-1, 0)).kind).toBe('failed');
  });

  test('a hanging Admin times out; a closed port fails', async () => {
    admin.hang = true;
    const t0 = Date.now();
    const r = await client({ timeoutMs: 200 }).downloadPolicies(-1, 0);
    expect(r).toEqual({ kind: 'failed', reason: 'timed out after 200 ms' });
    expect(Date.now() - t0).toBeLessThan(2000);
    const closed = await startRangerAdmin();
    const url = closed.url;
    await closed.close();
    const r2 = await client({ url }).downloadPolicies(-1, 0);
    expect(r2.kind).toBe('failed');
  });
});

describe('PolicyRefresher', () => {
  test('loads, keeps on 304, swaps on a new version, writes the cache file atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-cache-'));
    const cacheFile = join(dir, `sidecar_${SERVICE}.json`);
    const stats = new StatsStore();
    admin.policies.set(SERVICE, HBASE);
    admin.roles.set(SERVICE, { serviceName: SERVICE, roleVersion: 4, rangerRoles: [] });
    let now = 1_700_000_000_000;
    const r = refresher(stats, { cacheFile, now: () => now });
    expect(r.snapshot().loaded).toBe(false);
    await r.start();
    const s1 = r.snapshot();
    expect(s1.loaded).toBe(true);
    expect(s1.engine!.policyVersion).toBe(HBASE['policyVersion']);
    expect(s1.engine!.roleVersion).toBe(4);
    expect(stats.gauge(`ranger.${SERVICE}.policy_version`).value()).toBe(HBASE['policyVersion']);
    expect(stats.gauge(`ranger.${SERVICE}.role_version`).value()).toBe(4);
    expect(stats.gauge(`ranger.${SERVICE}.last_success_time`).value()).toBe(now);
    expect(stats.counter(`ranger.${SERVICE}.download_success`).value()).toBe(1);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))).toEqual(HBASE);
    expect(JSON.parse(readFileSync(rolesCachePath(cacheFile), 'utf8'))['roleVersion']).toBe(4);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // Unchanged: the same snapshot object stays, the Admin was asked with the known versions.
    now += 1000;
    await r.refresh();
    expect(r.snapshot()).toBe(s1);
    const last = admin.requests.filter((q) => q.path.includes('/policies/')).at(-1)!;
    expect(last.query.get('lastKnownVersion')).toBe(String(HBASE['policyVersion']));
    expect(last.query.get('lastActivationTime')).toBe(String(now - 1000));
    expect(admin.requests.filter((q) => q.path.includes('/roles/')).at(-1)!.query.get('lastKnownRoleVersion')).toBe('4');
    expect(stats.counter(`ranger.${SERVICE}.download_not_modified`).value()).toBe(1);
    expect(stats.gauge(`ranger.${SERVICE}.last_success_time`).value()).toBe(now);

    // A new version: built, then swapped whole; the generation moves.
    admin.policies.set(SERVICE, UPDATED);
    await r.refresh();
    const s2 = r.snapshot();
    expect(s2).not.toBe(s1);
    expect(s2.generation).toBe(s1.generation + 1);
    expect(s2.engine!.policyVersion).toBe(UPDATED['policyVersion']);
    expect(s1.engine!.policyVersion).toBe(HBASE['policyVersion']); // the old snapshot is untouched
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))['policyVersion']).toBe(UPDATED['policyVersion']);
    r.stop();
  });

  test('204 changes nothing; a role change alone rebuilds', async () => {
    const stats = new StatsStore();
    admin.policies.set(SERVICE, HBASE);
    const r = refresher(stats);
    await r.start();
    const s1 = r.snapshot();
    admin.forceStatus = 204;
    await r.refresh();
    expect(r.snapshot()).toBe(s1);
    admin.forceStatus = undefined;
    admin.roles.set(SERVICE, { serviceName: SERVICE, roleVersion: 9, rangerRoles: [] });
    await r.refresh();
    expect(r.snapshot().generation).toBe(s1.generation + 1);
    expect(r.snapshot().engine!.roleVersion).toBe(9);
    expect(r.snapshot().engine!.policyVersion).toBe(HBASE['policyVersion']);
  });

  test('malformed downloads keep the last good policies and count failures', async () => {
    const stats = new StatsStore();
    admin.policies.set(SERVICE, HBASE);
    const r = refresher(stats);
    await r.start();
    const good = r.snapshot();
    admin.policies.set(SERVICE, '{not json');
    await r.refresh();
    expect(r.snapshot()).toBe(good);
    // Valid JSON that the engine refuses.
    admin.policies.set(SERVICE, { serviceName: SERVICE, policyVersion: 99999, policies: 'oops' });
    await r.refresh();
    expect(r.snapshot()).toBe(good);
    // A delta payload, though we asked with supportsPolicyDeltas=false.
    admin.policies.set(SERVICE, { ...DELTAS, policyVersion: 99998 });
    await r.refresh();
    expect(r.snapshot()).toBe(good);
    expect(stats.counter(`ranger.${SERVICE}.download_failures`).value()).toBe(3);
    expect(stats.counter(`ranger.${SERVICE}.malformed_policies`).value()).toBe(2);
    expect(stats.gauge(`ranger.${SERVICE}.policy_version`).value()).toBe(HBASE['policyVersion']);
    // The known version was not advanced: the next good download is taken.
    expect(admin.requests.filter((q) => q.path.includes('/policies/')).at(-1)!.query.get('lastKnownVersion')).toBe(String(HBASE['policyVersion']));
    admin.policies.set(SERVICE, UPDATED);
    await r.refresh();
    expect(r.snapshot().engine!.policyVersion).toBe(UPDATED['policyVersion']);
  });

  test('404: policies cleared (loaded, no engine), cache file moved aside, version reset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-cache-'));
    const cacheFile = join(dir, 'p.json');
    const stats = new StatsStore();
    admin.policies.set(SERVICE, HBASE);
    const r = refresher(stats, { cacheFile });
    await r.start();
    expect(existsSync(cacheFile)).toBe(true);
    admin.policies.delete(SERVICE);
    await r.refresh();
    expect(r.snapshot()).toMatchObject({ loaded: true, engine: undefined });
    expect(stats.counter(`ranger.${SERVICE}.service_not_found`).value()).toBe(1);
    expect(stats.gauge(`ranger.${SERVICE}.policy_version`).value()).toBe(-1);
    expect(existsSync(cacheFile)).toBe(false);
    expect(readdirSync(dir).some((f) => f.startsWith('p.json_'))).toBe(true);
    admin.policies.set(SERVICE, UPDATED);
    await r.refresh();
    expect(admin.requests.filter((q) => q.path.includes('/policies/')).at(-1)!.query.get('lastKnownVersion')).toBe('-1');
    expect(r.snapshot().engine!.policyVersion).toBe(UPDATED['policyVersion']);
  });

  test('Admin down at start: the cache file is loaded; Admin back: it takes over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-cache-'));
    const cacheFile = join(dir, 'p.json');
    await writeFile(cacheFile, JSON.stringify(HBASE));
    const stats = new StatsStore();
    admin.forceStatus = 503;
    const r = refresher(stats, { cacheFile });
    await r.start();
    expect(r.snapshot().loaded).toBe(true);
    expect(r.snapshot().engine!.policyVersion).toBe(HBASE['policyVersion']);
    expect(stats.counter(`ranger.${SERVICE}.cache_file_loaded`).value()).toBe(1);
    expect(stats.counter(`ranger.${SERVICE}.download_failures`).value()).toBe(1);
    expect(stats.counter(`ranger.${SERVICE}.download_success`).value()).toBe(0);
    // Later failures do not reload the cache over policies in force.
    await r.refresh();
    expect(stats.counter(`ranger.${SERVICE}.cache_file_loaded`).value()).toBe(1);
    admin.forceStatus = undefined;
    admin.policies.set(SERVICE, UPDATED);
    await r.refresh();
    expect(admin.requests.filter((q) => q.path.includes('/policies/')).at(-1)!.query.get('lastKnownVersion')).toBe(String(HBASE['policyVersion']));
    expect(r.snapshot().engine!.policyVersion).toBe(UPDATED['policyVersion']);
  });

  test('a hanging Admin at start with no cache: not loaded after the timeout; a garbage cache file is not used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-cache-'));
    const cacheFile = join(dir, 'p.json');
    await writeFile(cacheFile, '{"serviceName": "cm_hbase", "poli');
    admin.hang = true;
    const stats = new StatsStore();
    const r = refresher(stats, { cacheFile, timeoutMs: 150 });
    await r.start();
    expect(r.snapshot().loaded).toBe(false);
    expect(stats.counter(`ranger.${SERVICE}.role_download_failures`).value()).toBe(1);
    expect(stats.counter(`ranger.${SERVICE}.download_failures`).value()).toBe(1);
  });

  test('polls on its own every interval and stops', async () => {
    const stats = new StatsStore();
    admin.policies.set(SERVICE, HBASE);
    const r = new PolicyRefresher<FakeEngine>({ client: client(), serviceName: SERVICE, build, pollIntervalMs: 20, roles: false, stats: stats.scope(`ranger.${SERVICE}`) });
    await r.start();
    admin.policies.set(SERVICE, UPDATED);
    const t0 = Date.now();
    while (r.snapshot().policyVersion !== UPDATED['policyVersion'] && Date.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 10));
    expect(r.snapshot().policyVersion).toBe(UPDATED['policyVersion']);
    expect(admin.requests.every((q) => q.path.includes('/policies/'))).toBe(true);
    r.stop();
    const n = admin.requests.length;
    await new Promise((res) => setTimeout(res, 100));
    expect(admin.requests.length).toBeLessThanOrEqual(n + 1);
  });
});

describe('FilePolicySource', () => {
  test('loads a ServicePolicies file once; a missing or bad file stays unloaded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-file-'));
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(HBASE));
    const stats = new StatsStore();
    const s = new FilePolicySource<FakeEngine>({ path: good, build, stats: stats.scope('ranger.f') });
    await s.start();
    expect(s.snapshot().engine!.policyVersion).toBe(HBASE['policyVersion']);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ serviceName: 'x', policies: 3 }));
    for (const path of [bad, join(dir, 'missing.json')]) {
      const b = new FilePolicySource<FakeEngine>({ path, build, stats: stats.scope('ranger.b') });
      await b.start();
      expect(b.snapshot().loaded).toBe(false);
    }
    expect(stats.counter('ranger.b.policy_file_failures').value()).toBe(2);
  });
});
