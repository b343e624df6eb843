/**
 * Istio's generated bootstrap (../shared/fixtures/istio/bootstrap/
 * default_golden.json) starts the real sidecar process against the test
 * management server on a Unix socket, as pilot-agent runs Envoy: paths and
 * ports are rewritten to a temporary directory and free loopback ports. It
 * reaches LIVE, passes pilot-agent's readiness query, and serves Istio's
 * stats listener (15090: /stats/prometheus through the compressor filters
 * to the admin API).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { fromRepo } from '../../../sidecar/paths.ts';
import { freePort, startProcess, type SidecarProcess } from '../../support/process.ts';
import { CLUSTER, LISTENER, startXdsServer, type XdsServer } from '../../support/xds-server.ts';

let xds: XdsServer, p: SidecarProcess, statsPort: number, dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'themis-istio-'));
  xds = await startXdsServer({ address: `unix:${join(dir, 'XDS')}` });
  xds.setResources(CLUSTER, {}, 'c0');
  xds.setResources(LISTENER, {}, 'l0');
  const admin = await freePort();
  statsPort = await freePort();
  const readyPort = await freePort();
  const text = readFileSync(fromRepo('..', 'shared', 'fixtures', 'istio', 'bootstrap', 'default_golden.json'), 'utf8')
    .replaceAll('"/tmp/XDS"', JSON.stringify(join(dir, 'XDS')))
    .replaceAll('./var/run/secrets/workload-spiffe-uds/test.sock', join(dir, 'sds.sock'))
    .replaceAll('"port_value": 15000', `"port_value": ${admin}`)
    .replaceAll('"port_value": 15090', `"port_value": ${statsPort}`)
    .replaceAll('"port_value": 15021', `"port_value": ${readyPort}`)
    .replaceAll('"address": "0.0.0.0"', '"address": "127.0.0.1"')
    .replaceAll('/var/lib/istio/data/envoy.prof', join(dir, 'envoy.prof'));
  const file = join(dir, 'envoy-rev.json');
  writeFileSync(file, text);
  // pilot-agent's flags for Envoy.
  p = await startProcess(file, admin, ['--drain-time-s', '2', '--drain-strategy', 'immediate', '--local-address-ip-version', 'v4', '--file-flush-interval-msec', '1000', '--disable-hot-restart', '--allow-unknown-static-fields', '--log-format', '%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t', '-l', 'warning', '--component-log-level', 'misc:error']);
}, 30000);

afterAll(async () => {
  p?.child.kill('SIGTERM');
  await p?.exited;
  await xds?.close();
});

test('LIVE with the initial (empty) CDS and LDS ACKed over a Unix socket, delta protocol', async () => {
  const ready = await fetch(`http://127.0.0.1:${p.adminPort}/ready`);
  expect(ready.status).toBe(200);
  expect(xds.acks(CLUSTER).length).toBeGreaterThan(0);
  expect(xds.acks(LISTENER).length).toBeGreaterThan(0);
  expect(xds.requests.every((r) => r.kind === 'delta')).toBe(true);
  const node = xds.nodes()[0] as Record<string, unknown>;
  expect(node['id']).toBe('sidecar~1.2.3.4~foo~bar');
  expect((node['metadata'] as Record<string, unknown>)['ISTIO_VERSION']).toBe('binary-1.0');
});

test("pilot-agent's readiness query", async () => {
  const r = await fetch(`http://127.0.0.1:${p.adminPort}/stats?usedonly&filter=${encodeURIComponent('^(server\\.state|listener_manager\\.workers_started)')}`);
  const text = await r.text();
  expect(text).toMatch(/^server\.state: 0$/m);
  expect(text).toMatch(/^listener_manager\.workers_started: 1$/m);
});

test("Istio's stats listener serves compressed Prometheus stats from the admin API", async () => {
  const { status, encoding, body } = await new Promise<{ status: number; encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: statsPort, path: '/stats/prometheus', headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  expect(status).toBe(200);
  expect(encoding).toBe('gzip');
  expect(zlib.gunzipSync(body).toString('utf8')).toMatch(/^envoy_server_state(\{[^}]*\})? 0$/m);
});
