/**
 * Apache Ranger through the sidecar, end to end on real sockets: a local
 * Ranger Admin (a real HTTP server) serves Ranger's real HBase download
 * payload; the Ranger HTTP filter maps /hbase/<table>/<column-family>/<column>
 * to HBase resources and the method to the access type. GET is allowed for
 * one group and denied for another; the policy is changed on the Admin and
 * the decision flips within one poll interval without a restart; the audit
 * log shows both decisions. Bad input: a malformed download keeps the last
 * good policies enforcing; a deleted service denies everything; an
 * untrusted peer's principal headers are not believed; gRPC gets
 * PERMISSION_DENIED. Over HTTP/1.1 and h2c.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOLS, send, type Protocol } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';
import { rangerFixture, startRangerAdmin, type TestRangerAdmin } from '../../unit/policies/ranger-admin/ranger-admin-server.ts';

const POLL_MS = 300;
const HBASE = rangerFixture('hbase-test-policies.json');
const SERVICE = 'cm_hbase';
const V1 = HBASE['policyVersion'] as number;

/** Policy 4 with its read/execute item granted to other groups, at the next version. */
function changedPolicies(version: number, readGroups: string[]): Record<string, unknown> {
  const policies = structuredClone(HBASE['policies']) as Array<{ id: number; policyItems: Array<{ groups?: string[]; accesses: Array<{ type: string }> }> }>;
  const p4 = policies.find((p) => p.id === 4)!;
  p4.policyItems[2]!.groups = readGroups;
  return { ...HBASE, policyVersion: version, policies };
}

function rangerFilter(adminUrl: string, cacheFile: string, auditFile: string, trusted: string): string {
  return `- name: themis.filters.http.ranger
  typed_config:
    "@type": type.googleapis.com/xds.type.v3.TypedStruct
    type_url: type.googleapis.com/themis.sidecar.filters.ranger.v1.Ranger
    value:
      service_name: ${SERVICE}
      admin: { url: "${adminUrl}", poll_interval: ${POLL_MS / 1000}s, timeout: 1s, cache_file: "${cacheFile}" }
      resource: { segments: { prefix: /hbase, levels: [table, column-family, column] } }
      user: [ { header: x-user } ]
      groups: [ { header: x-groups } ]
      trusted_hops: [ { address_prefix: ${trusted}, prefix_len: 32 } ]
      audit: { path: "${auditFile}", cluster_name: test-cluster }
      decision_cache: { max_entries: 1000, ttl: 60s }`;
}

function sidecarYaml(up: number, filter: string): string {
  return bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`,
    clusters: staticCluster('up', [up]),
  }).replace(/          http_filters:\n/, `          http_filters:\n${filter.replace(/^/gm, '          ')}\n`);
}

let admin: TestRangerAdmin, up: TestUpstream, sc: TestSidecar, auditFile: string, cacheFile: string;
const stat = (n: string): number => sc.stat(`http.ingress.ranger.${n}`);

beforeAll(async () => {
  admin = await startRangerAdmin();
  admin.policies.set(SERVICE, HBASE);
  up = await startHttpUpstream('up');
  const dir = mkdtempSync(join(tmpdir(), 'ranger-it-'));
  auditFile = join(dir, 'ranger-audit.log');
  cacheFile = join(dir, `themis_${SERVICE}.json`);
  sc = await startSidecar(sidecarYaml(up.port, rangerFilter(admin.url, cacheFile, auditFile, '127.0.0.1')));
  await until(() => stat(`${SERVICE}.policy_version`) === V1, 5000, 'first policy download');
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
  await admin?.close();
});

function get(proto: Protocol, group: string, path = '/hbase/prospects/cf1/c1', method = 'GET'): ReturnType<typeof send> {
  return send(proto, sc.port(), { method, path, headers: { 'x-user': `user-${group}`, 'x-groups': group } });
}

function auditEvents(): Array<Record<string, unknown>> {
  return readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.each(PROTOCOLS)('Ranger filter over %s', (proto) => {
  test('GET allowed for qqsens, denied for another group; write denied to a read-only group', async () => {
    const ok = await get(proto, 'qqsens');
    expect(ok.status).toBe(200);
    expect(ok.json()['upstream']).toBe('up');
    const no = await get(proto, 'guests');
    expect(no.status).toBe(403);
    expect(no.text()).toBe('Ranger: access denied');
    expect((await get(proto, 'qqsens', '/hbase/prospects/cf1/c1', 'POST')).status).toBe(403);
    // Another table that only other groups may read.
    expect((await get(proto, 'qqsens', '/hbase/atlas_janus/cf/c')).status).toBe(403);
    // Paths that do not map to a resource are denied.
    expect((await get(proto, 'qqsens', '/elsewhere')).status).toBe(403);
  });
});

test('gRPC requests get PERMISSION_DENIED', async () => {
  const session = http2.connect(`http://127.0.0.1:${sc.port()}`);
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const s = session.request({ ':method': 'POST', ':path': '/hbase/prospects/cf/c', 'content-type': 'application/grpc', te: 'trailers', 'x-user': 'u', 'x-groups': 'guests' });
    s.on('response', (h) => resolve(h));
    s.on('error', reject);
    s.end();
  });
  session.close();
  expect(headers[':status']).toBe(200);
  expect(headers['grpc-status']).toBe('7');
});

test('the policy changes on the Admin: the decision flips within one poll interval, audited both ways', async () => {
  expect((await get('h1', 'qqsens')).status).toBe(200);
  expect((await get('h1', 'guests')).status).toBe(403);
  const changedAt = Date.now();
  admin.policies.set(SERVICE, changedPolicies(V1 + 1, ['guests']));
  await until(() => stat(`${SERVICE}.policy_version`) === V1 + 1, 5000, 'the new policy version');
  const took = Date.now() - changedAt;
  expect(took).toBeLessThan(POLL_MS + 1000); // one poll interval plus the download
  expect((await get('h1', 'qqsens')).status).toBe(403);
  expect((await get('h1', 'guests')).status).toBe(200);
  await until(() => auditEvents().some((e) => e['policy_version'] === V1 + 1 && e['result'] === 1), 2000, 'audit after the change');
  const events = auditEvents();
  const pick = (user: string, version: number): Array<unknown> => events.filter((e) => e['reqUser'] === user && e['policy_version'] === version).map((e) => e['result']);
  expect(pick('user-qqsens', V1)).toContain(1);
  expect(pick('user-guests', V1)).toContain(0);
  expect(pick('user-qqsens', V1 + 1)).toContain(0);
  expect(pick('user-guests', V1 + 1)).toContain(1);
  const allowed = events.find((e) => e['reqUser'] === 'user-guests' && e['result'] === 1)!;
  expect(allowed).toMatchObject({ repo: SERVICE, access: 'read', action: 'GET', resource: 'prospects/cf1/c1', resType: 'column', policy: 4, enforcer: 'ranger-acl', logType: 'RangerAudit', cliIP: '127.0.0.1', cluster_name: 'test-cluster', cliType: 'http' });
  // The cache file follows the Admin.
  expect(JSON.parse(readFileSync(cacheFile, 'utf8'))['policyVersion']).toBe(V1 + 1);
  expect(stat('allowed')).toBeGreaterThan(0);
  expect(stat('denied')).toBeGreaterThan(0);
});

test('a malformed download keeps the last good policies enforcing; a deleted service denies everything', async () => {
  const failures = stat(`${SERVICE}.download_failures`);
  admin.policies.set(SERVICE, '{"serviceName":"cm_hbase","policyVersion":999999,"policies":[{"id":4,');
  await until(() => stat(`${SERVICE}.download_failures`) >= failures + 2, 5000, 'failed downloads');
  expect(stat(`${SERVICE}.policy_version`)).toBe(V1 + 1);
  expect((await get('h1', 'guests')).status).toBe(200);
  expect((await get('h1', 'qqsens')).status).toBe(403);
  expect((await get('h1', 'nobody')).status).toBe(403);
  // Valid JSON the engine cannot build from: same.
  admin.policies.set(SERVICE, { serviceName: SERVICE, policyVersion: 999999, policies: [{ id: 4, resources: 'everything' }], serviceDef: 'none' });
  const malformed = stat(`${SERVICE}.malformed_policies`);
  await until(() => stat(`${SERVICE}.malformed_policies`) > malformed, 5000, 'refused policies');
  expect((await get('h1', 'guests')).status).toBe(200);
  expect((await get('h1', 'qqsens')).status).toBe(403);
  // The service is deleted in Ranger Admin: nothing is allowed.
  admin.policies.delete(SERVICE);
  await until(() => stat(`${SERVICE}.service_not_found`) > 0, 5000, 'service not found');
  expect((await get('h1', 'guests')).status).toBe(403);
  expect((await get('h1', 'qqsens')).status).toBe(403);
});

test('principal headers from an untrusted peer are not believed', async () => {
  const admin2 = await startRangerAdmin();
  admin2.policies.set(SERVICE, HBASE);
  const dir = mkdtempSync(join(tmpdir(), 'ranger-it-'));
  const sc2 = await startSidecar(sidecarYaml(up.port, rangerFilter(admin2.url, join(dir, 'c.json'), join(dir, 'a.log'), '10.9.9.9')));
  try {
    await until(() => sc2.stat(`http.ingress.ranger.${SERVICE}.policy_version`) === V1, 5000, 'policies');
    const r = await send('h1', sc2.port(), { path: '/hbase/prospects/cf1/c1', headers: { 'x-user': 'hbase', 'x-groups': 'qqsens' } });
    expect(r.status).toBe(403);
    expect(sc2.stat('http.ingress.ranger.denied')).toBe(1);
  } finally {
    await sc2.stop();
    await admin2.close();
  }
});

test('a sidecar that shut down stops polling the Admin (the filter releases its poller with its chain)', async () => {
  const admin3 = await startRangerAdmin();
  admin3.policies.set(SERVICE, HBASE);
  const dir = mkdtempSync(join(tmpdir(), 'ranger-it-'));
  const sc5 = await startSidecar(sidecarYaml(up.port, rangerFilter(admin3.url, join(dir, 'c.json'), join(dir, 'a.log'), '127.0.0.1')));
  try {
    await until(() => admin3.requests.length >= 2, 5000, 'two polls');
  } finally {
    await sc5.stop();
  }
  const after = admin3.requests.length;
  await new Promise((r) => setTimeout(r, POLL_MS * 3));
  expect(admin3.requests.length).toBe(after);
  await admin3.close();
});

test('Admin down at start: the cache file enforces the last good policies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ranger-it-'));
  const cache = join(dir, 'cache.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(cache, JSON.stringify(HBASE));
  const down = await startRangerAdmin();
  const url = down.url;
  await down.close();
  const sc3 = await startSidecar(sidecarYaml(up.port, rangerFilter(url, cache, join(dir, 'a.log'), '127.0.0.1')));
  try {
    await until(() => sc3.stat(`http.ingress.ranger.${SERVICE}.cache_file_loaded`) === 1, 5000, 'cache file');
    expect((await send('h1', sc3.port(), { path: '/hbase/prospects/cf1/c1', headers: { 'x-user': 'u', 'x-groups': 'qqsens' } })).status).toBe(200);
    expect((await send('h1', sc3.port(), { path: '/hbase/prospects/cf1/c1', headers: { 'x-user': 'u', 'x-groups': 'guests' } })).status).toBe(403);
  } finally {
    await sc3.stop();
  }
});

test('nothing loaded (Admin down, no cache): 503, never allowed', async () => {
  const down = await startRangerAdmin();
  const url = down.url;
  await down.close();
  const dir = mkdtempSync(join(tmpdir(), 'ranger-it-'));
  const sc4 = await startSidecar(sidecarYaml(up.port, rangerFilter(url, join(dir, 'none.json'), join(dir, 'a.log'), '127.0.0.1')));
  try {
    await until(() => sc4.stat(`http.ingress.ranger.${SERVICE}.download_failures`) >= 1, 5000, 'a failed download');
    const r = await send('h1', sc4.port(), { path: '/hbase/prospects/cf1/c1', headers: { 'x-user': 'hbase', 'x-groups': 'qqsens' } });
    expect(r.status).toBe(503);
    expect(r.text()).toBe('Ranger: policies not loaded');
  } finally {
    await sc4.stop();
  }
});
