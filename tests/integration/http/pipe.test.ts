/**
 * Unix domain sockets on both sides: a listener on a `pipe` address (with its
 * mode applied) and a STATIC cluster whose endpoint is a pipe.
 */
import { mkdtempSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';

let dir: string, upstream: http.Server, sc: TestSidecar;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'themis-pipe-'));
  upstream = http.createServer((req, res) => res.end(`via pipe ${req.url}`));
  await new Promise<void>((r) => upstream.listen(join(dir, 'up.sock'), r));
  sc = await startSidecar(`
static_resources:
  listeners:
  - name: unix
    address: { pipe: { path: ${join(dir, 'listen.sock')}, mode: 384 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: unix
          route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }] }
          http_filters: [{ name: envoy.filters.http.router }]
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: ${join(dir, 'up.sock')} } } } }] }] }
`);
});

afterAll(async () => {
  await sc?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('HTTP/1.1 over a pipe listener to a pipe upstream; the socket mode is applied', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ socketPath: join(dir, 'listen.sock'), path: '/x', agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  expect(body).toBe('via pipe /x');
  expect(statSync(join(dir, 'listen.sock')).mode & 0o777).toBe(0o600);
  expect(sc.stat('cluster.up.upstream_rq_200')).toBe(1);
});
