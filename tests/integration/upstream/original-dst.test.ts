/**
 * ORIGINAL_DST clusters: with use_http_header the x-envoy-original-dst-host header (ip:port)
 * names the upstream, hosts are made on demand and swept after cleanup_interval; without a
 * usable header the destination is the downstream connection's local address, which (Node.js
 * cannot read SO_ORIGINAL_DST) is this very listener: refused with 503 UH, never looped. Config:
 * lb_policy must be CLUSTER_PROVIDED, no load_assignment.
 */
import { PROTOCOLS, send } from '../../support/client.ts';
import { bootstrap, bootstrapErrors, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let a: TestUpstream, b: TestUpstream, sc: TestSidecar;

function odCluster(name: string, extra: string): string {
  return `- name: ${name}
  type: ORIGINAL_DST
  lb_policy: CLUSTER_PROVIDED
  connect_timeout: 0.5s
${extra.split('\n').map((l) => `  ${l}`).join('\n')}`;
}

const ROUTES = `virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - match: { prefix: "/hdr" }
    route: { cluster: by_header }
  - match: { prefix: "/local" }
    route: { cluster: by_local }
  - match: { prefix: "/port" }
    route: { cluster: port_override }`;

beforeAll(async () => {
  [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
  sc = await startSidecar(bootstrap({
    routes: ROUTES,
    clusters: [
      odCluster('by_header', 'original_dst_lb_config: { use_http_header: true }\ncleanup_interval: 0.3s'),
      odCluster('by_local', 'cleanup_interval: 5s'),
      odCluster('port_override', `original_dst_lb_config: { use_http_header: true, http_header_name: X-Dest, upstream_port_override: ${b.port} }`),
    ].join('\n'),
  }));
});

afterAll(async () => {
  await sc?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

const dst = (port: number): Record<string, string> => ({ 'x-envoy-original-dst-host': `127.0.0.1:${port}` });

describe.each(PROTOCOLS)('use_http_header over %s', (proto) => {
  test('the header names the upstream; one host per destination', async () => {
    const ra = await send(proto, sc.port(), { path: '/hdr', headers: dst(a.port) });
    expect(ra.status).toBe(200);
    expect(ra.json()['upstream']).toBe('a');
    const rb = await send(proto, sc.port(), { path: '/hdr', headers: dst(b.port) });
    expect(rb.json()['upstream']).toBe('b');
    expect(sc.stat('cluster.by_header.membership_total')).toBe(2);
  });

  test('a missing header falls back to the local address, this listener: 503, not a loop', async () => {
    const before = sc.stat('http.ingress.downstream_rq_total');
    const r = await send(proto, sc.port(), { path: '/hdr' });
    expect(r.status).toBe(503);
    expect(r.text()).toBe('no healthy upstream');
    expect(sc.stat('http.ingress.downstream_rq_total') - before).toBe(1);
  });

  test('an invalid header (a name, no port, a bad port) is counted and refused', async () => {
    const invalid = sc.stat('cluster.by_header.original_dst_host_invalid');
    for (const v of ['localhost:8080', '127.0.0.1', '127.0.0.1:99999', '::1:80']) {
      expect((await send(proto, sc.port(), { path: '/hdr', headers: { 'x-envoy-original-dst-host': v } })).status).toBe(503);
    }
    expect(sc.stat('cluster.by_header.original_dst_host_invalid') - invalid).toBe(4);
  });

  test('a header naming this listener itself is refused, not looped', async () => {
    const before = sc.stat('http.ingress.downstream_rq_total');
    const r = await send(proto, sc.port(), { path: '/hdr', headers: dst(sc.port()) });
    expect(r.status).toBe(503);
    expect(sc.stat('http.ingress.downstream_rq_total') - before).toBe(1);
  });
});

test('without use_http_header the destination is the local address: always this listener, refused', async () => {
  const before = sc.stat('http.ingress.downstream_rq_total');
  const r = await send('h1', sc.port(), { path: '/local', headers: dst(a.port) });
  expect(r.status).toBe(503);
  expect(sc.stat('http.ingress.downstream_rq_total') - before).toBe(1);
  expect(a.seen.some((s) => s.path === '/local')).toBe(false);
});

test('http_header_name and upstream_port_override', async () => {
  const r = await send('h1', sc.port(), { path: '/port', headers: { 'x-dest': `127.0.0.1:${a.port}` } });
  expect(r.status).toBe(200);
  expect(r.json()['upstream']).toBe('b');
});

test('hosts unused for a cleanup_interval are removed', async () => {
  expect((await send('h1', sc.port(), { path: '/hdr', headers: dst(a.port) })).status).toBe(200);
  expect(sc.stat('cluster.by_header.membership_total')).toBeGreaterThan(0);
  // Two sweeps (0.3 s apart) remove a host unused since the first.
  for (let i = 0; i < 40 && sc.stat('cluster.by_header.membership_total') > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(sc.stat('cluster.by_header.membership_total')).toBe(0);
  // And it comes back on demand.
  expect((await send('h1', sc.port(), { path: '/hdr', headers: dst(a.port) })).json()['upstream']).toBe('a');
});

test('refused: another lb_policy, CLUSTER_PROVIDED elsewhere, a load_assignment, metadata_key', async () => {
  const one = (c: string): string => bootstrap({ routes: ROUTES, clusters: c });
  expect((await bootstrapErrors(one(odCluster('x', 'cleanup_interval: 1s').replace('CLUSTER_PROVIDED', 'ROUND_ROBIN')))).join('\n'))
    .toMatch(/LB policy ROUND_ROBIN is not valid for cluster type ORIGINAL_DST/);
  expect((await bootstrapErrors(one(`- name: x
  type: STATIC
  lb_policy: CLUSTER_PROVIDED
  load_assignment: { cluster_name: x, endpoints: [] }`))).join('\n')).toMatch(/CLUSTER_PROVIDED is not valid for cluster type STATIC/);
  expect((await bootstrapErrors(one(odCluster('x', 'load_assignment: { cluster_name: x, endpoints: [] }')))).join('\n'))
    .toMatch(/ORIGINAL_DST clusters must have no load assignment configured/);
  expect((await bootstrapErrors(one(odCluster('x', 'original_dst_lb_config: { metadata_key: { key: k, path: [{ key: a }] } }')))).join('\n'))
    .toMatch(/metadata_key/);
});
