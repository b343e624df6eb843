/**
 * STRICT_DNS and LOGICAL_DNS clusters resolve names with the system
 * resolver (`localhost`), and auto_host_rewrite sends the DNS name as Host.
 */
import { send } from '../../support/client.ts';
import { bootstrap, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let up: TestUpstream, sc: TestSidecar;

function dnsCluster(name: string, type: string, port: number): string {
  return `- name: ${name}
  type: ${type}
  connect_timeout: 1s
  dns_lookup_family: V4_ONLY
  dns_refresh_rate: 0.2s
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: localhost, port_value: ${port} } } }`;
}

beforeAll(async () => {
  up = await startHttpUpstream('dns');
  sc = await startSidecar(bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/strict" }, route: { cluster: strict, auto_host_rewrite: true } }, { match: { prefix: "/logical" }, route: { cluster: logical } }] }]`,
    clusters: [dnsCluster('strict', 'STRICT_DNS', up.port), dnsCluster('logical', 'LOGICAL_DNS', up.port)].join('\n'),
  }));
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
});

test('STRICT_DNS resolves localhost; auto_host_rewrite uses the DNS name', async () => {
  const r = await send('h1', sc.port(), { path: '/strict' });
  expect(r.status).toBe(200);
  expect((r.json()['headers'] as Record<string, string>)['host']).toBe(`localhost:${up.port}`);
  expect(sc.stat('cluster.strict.membership_total')).toBe(1);
});

test('LOGICAL_DNS resolves and keeps serving across refreshes', async () => {
  for (let i = 0; i < 3; i++) {
    expect((await send('h1', sc.port(), { path: '/logical' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test('a STRICT_DNS name that does not resolve is a config that starts with no hosts (503 UH)', async () => {
  const sc2 = await startSidecar(bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: nx } }] }]`,
    clusters: dnsCluster('nx', 'STRICT_DNS', 80).replace('localhost', 'does-not-exist.invalid'),
  }));
  const r = await send('h1', sc2.port(), { path: '/' });
  expect(r.status).toBe(503);
  expect(r.text()).toBe('no healthy upstream');
  await sc2.stop();
});
