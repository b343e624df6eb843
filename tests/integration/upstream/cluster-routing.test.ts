/**
 * The cluster manager on the data path: active health checking takes a
 * failing host out of rotation, RING_HASH and MAGLEV keep a hash_policy key
 * on one host, LEAST_REQUEST and RANDOM spread load, and use_remote_address /
 * xff_num_trusted_hops decide the address source_ip hashing sees.
 */
import { send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let a: TestUpstream, b: TestUpstream, c: TestUpstream, sc: TestSidecar;

beforeAll(async () => {
  [a, b, c] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b'), startHttpUpstream('c')]);
  const dead = await freePort();
  const three = [a.port, b.port, c.port];
  sc = await startSidecar(bootstrap({
    routes: `
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - match: { prefix: "/hc" }
    route: { cluster: checked }
  - match: { prefix: "/ring" }
    route: { cluster: ring, hash_policy: [{ header: { header_name: x-user } }] }
  - match: { prefix: "/maglev" }
    route: { cluster: maglev, hash_policy: [{ cookie: { name: session } }] }
  - match: { prefix: "/srcip" }
    route: { cluster: ring, hash_policy: [{ connection_properties: { source_ip: true } }] }
  - match: { prefix: "/least" }
    route: { cluster: least }
  - match: { prefix: "/random" }
    route: { cluster: random }
`,
    clusters: [
      staticCluster('checked', [a.port, dead, b.port], 'health_checks: [{ timeout: 0.5s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /healthz } }]'),
      staticCluster('ring', three, 'lb_policy: RING_HASH'),
      staticCluster('maglev', three, 'lb_policy: MAGLEV'),
      staticCluster('least', three, 'lb_policy: LEAST_REQUEST'),
      staticCluster('random', three, 'lb_policy: RANDOM'),
    ].join('\n'),
    hcmExtra: 'use_remote_address: false\nxff_num_trusted_hops: 1',
  }));
});

afterAll(async () => {
  await sc?.stop();
  await Promise.all([a.close(), b.close(), c.close()]);
});

async function upstreamOf(path: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await send('h1', sc.port(), { path, headers });
  expect(r.status).toBe(200);
  return r.json()['upstream'] as string;
}

test('active health checking removes the failing host from rotation', async () => {
  expect(sc.stat('cluster.checked.membership_total')).toBe(3);
  expect(sc.stat('cluster.checked.membership_healthy')).toBe(2);
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) seen.add(await upstreamOf('/hc'));
  expect([...seen].sort()).toEqual(['a', 'b']);
  expect(sc.stat('cluster.checked.health_check.failure')).toBeGreaterThan(0);
});

test('RING_HASH keeps a header key on one host and spreads different keys', async () => {
  const hosts = new Set<string>();
  for (let u = 0; u < 20; u++) {
    const first = await upstreamOf('/ring', { 'x-user': `user-${u}` });
    for (let i = 0; i < 3; i++) expect(await upstreamOf('/ring', { 'x-user': `user-${u}` })).toBe(first);
    hosts.add(first);
  }
  expect(hosts.size).toBeGreaterThan(1);
});

test('MAGLEV keeps a cookie key on one host', async () => {
  const first = await upstreamOf('/maglev', { cookie: 'a=1; session=abc123' });
  for (let i = 0; i < 5; i++) expect(await upstreamOf('/maglev', { cookie: 'session=abc123; z=2' })).toBe(first);
});

test('source_ip hashing uses the XFF address selected by xff_num_trusted_hops', async () => {
  // With one trusted hop, the client is the second-to-last XFF entry.
  const viaX = await upstreamOf('/srcip', { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' });
  for (let i = 0; i < 4; i++) expect(await upstreamOf('/srcip', { 'x-forwarded-for': `203.0.113.7, 10.0.0.${i + 2}` })).toBe(viaX);
});

test('LEAST_REQUEST and RANDOM use every host', async () => {
  for (const path of ['/least', '/random']) {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await upstreamOf(path));
    expect(seen.size).toBe(3);
  }
});
