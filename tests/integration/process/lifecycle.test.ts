/**
 * Lifecycle of the real process: SIGTERM with 50 slow requests in flight
 * (all complete, new connections refused, exit 0), /quitquitquit the same
 * way, HTTP/1.1 keep-alive connections told `Connection: close` while
 * draining, HTTP/2 connections sent GOAWAY, and the admin endpoints that
 * pilot-agent and operators read.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { freePort, proxyBootstrap, startProcess, tempFile, type SidecarProcess } from '../../support/process.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

function get(port: number, path: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      // Accepted by the kernel backlog of a closed server is impossible; a
      // connection that is immediately closed counts as refused service.
      s.once('close', () => resolve(true));
      s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      s.once('data', () => { s.destroy(); resolve(false); });
    });
    s.once('error', () => resolve(true));
  });
}

let up: TestUpstream;
beforeAll(async () => {
  up = await startHttpUpstream('slow');
});
afterAll(async () => {
  await up?.close();
});

async function start(extra: string[] = []): Promise<{ p: SidecarProcess; port: number }> {
  const port = await freePort();
  const admin = await freePort();
  const p = await startProcess(tempFile('b.yaml', proxyBootstrap({ listenPort: port, adminPort: admin, upstreamPort: up.port })), admin, ['--drain-time-s', '10', ...extra]);
  return { p, port };
}

test('SIGTERM: 50 in-flight slow requests complete, new connections are refused, exit 0', async () => {
  const { p, port } = await start();
  const inflight = Array.from({ length: 50 }, () => get(port, '/slow', { 'x-test-delay-ms': '1500' }));
  // Wait until all 50 requests reached the sidecar (they wait at the upstream).
  const deadline = Date.now() + 10000;
  for (;;) {
    const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=downstream_rq_active`)).text();
    const m = /http\.ingress\.downstream_rq_active: (\d+)/.exec(stats);
    if (m && Number(m[1]) >= 50) break;
    if (Date.now() > deadline) throw new Error(`not all requests in flight: ${stats}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  p.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  expect(await connectRefused(port)).toBe(true);
  const results = await Promise.all(inflight);
  expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
  // HTTP/1.1 responses during the drain ask the client to close.
  expect(results.every((r) => r.headers['connection'] === 'close')).toBe(true);
  expect(await p.exited).toBe(0);
}, 30000);

test('/quitquitquit drains an HTTP/2 connection with GOAWAY and exits', async () => {
  const { p, port } = await start();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const goaway = new Promise<void>((r) => session.once('goaway', () => r()));
  session.on('error', () => undefined);
  const stream = session.request({ ':path': '/h2', 'x-test-delay-ms': '500' });
  let status = 0;
  stream.on('response', (h) => (status = Number(h[':status'])));
  const done = new Promise<void>((r) => stream.on('close', () => r()));
  stream.resume();
  await new Promise((r) => setTimeout(r, 100));
  const q = await fetch(`http://127.0.0.1:${p.adminPort}/quitquitquit`, { method: 'POST' });
  expect(q.status).toBe(200);
  await goaway;
  await done;
  expect(status).toBe(200);
  session.close();
  expect(await p.exited).toBe(0);
}, 30000);

test('curl drives the sidecar over HTTP/1.1 and h2c prior knowledge', async () => {
  const { execFile } = await import('node:child_process');
  const curl = (args: string[]): Promise<string> => new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-S', '--max-time', '10', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  const { p, port } = await start();
  const h1 = await curl(['-w', '\n%{http_version} %{http_code}', `http://127.0.0.1:${port}/via-curl`]);
  expect(h1).toMatch(/"path":"\/via-curl"/);
  expect(h1.trim().split('\n').pop()).toBe('1.1 200');
  const h2 = await curl(['--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${port}/`]);
  expect(h2).toBe('2 200');
  const posted = await curl(['--data-binary', 'hello curl', `http://127.0.0.1:${port}/upload`]);
  expect(posted).toMatch(/"bodyBytes":10/);
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}, 30000);

test('admin: /ready, /stats filters, /server_info, /clusters, /config_dump, prometheus, POST-only', async () => {
  const { p, port } = await start();
  const a = `http://127.0.0.1:${p.adminPort}`;
  expect((await get(port, '/x')).status).toBe(200);
  const ready = await fetch(`${a}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.text()).toBe('LIVE\n');
  // pilot-agent's readiness query
  const s = await (await fetch(`${a}/stats?usedonly&filter=^(server\\.state|listener_manager\\.workers_started)`)).text();
  expect(s).toMatch(/^listener_manager\.workers_started: 1$/m);
  expect(s).toMatch(/^server\.state: 0$/m);
  const info = (await (await fetch(`${a}/server_info`)).json()) as Record<string, unknown>;
  expect(info['state']).toBe('LIVE');
  const clusters = await (await fetch(`${a}/clusters`)).text();
  expect(clusters).toMatch(new RegExp(`^up::127\\.0\\.0\\.1:${up.port}::health_flags::healthy$`, 'm'));
  const dump = (await (await fetch(`${a}/config_dump`)).json()) as { configs: Array<Record<string, unknown>> };
  expect(dump.configs.map((c) => c['@type'])).toEqual([
    'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
    'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
    'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
    'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  ]);
  const prom = await (await fetch(`${a}/stats/prometheus`)).text();
  expect(prom).toMatch(/^envoy_cluster_upstream_rq_total\{envoy_cluster_name="up"\} 1$/m);
  expect(prom).toMatch(/envoy_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"\} 1/);
  expect((await fetch(`${a}/healthcheck/fail`)).status).toBe(405);
  expect((await fetch(`${a}/healthcheck/fail`, { method: 'POST' })).status).toBe(200);
  expect((await fetch(`${a}/ready`)).status).toBe(503);
  expect((await fetch(`${a}/healthcheck/ok`, { method: 'POST' })).status).toBe(200);
  expect((await fetch(`${a}/ready`)).status).toBe(200);
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}, 30000);
