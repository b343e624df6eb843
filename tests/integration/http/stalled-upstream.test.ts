/**
 * An upstream that sends response headers and then stalls the body: the
 * per-try timeout must not retry a response that has started, the route
 * timeout answers 504 (the held headers were never written), and every
 * request counts exactly one response code. Regression for a review finding.
 */
import net from 'node:net';
import { send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';

let server: net.Server, port: number, sc: TestSidecar;

beforeAll(async () => {
  // Headers of a 5-byte body, then nothing.
  server = net.createServer((s) => {
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\n'));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  sc = await startSidecar(bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: stall, timeout: 0.6s, retry_policy: { retry_on: 5xx, num_retries: 1, per_try_timeout: 0.2s, retry_back_off: { base_interval: 0.005s } } } }] }]`,
    clusters: staticCluster('stall', [port]),
  }));
});

afterAll(async () => {
  await sc?.stop();
  await new Promise<void>((r) => server.close(() => r()));
});

test.each(['h1', 'h2'] as const)('%s: a stalled body after headers is a 504, not a retry, counted once', async (proto) => {
  const ok = sc.stat('http.ingress.downstream_rq_2xx');
  const bad = sc.stat('http.ingress.downstream_rq_5xx');
  const retries = sc.stat('cluster.stall.upstream_rq_retry');
  const r = await send(proto, sc.port(), { path: '/' });
  expect(r.status).toBe(504);
  expect(r.text()).toBe('upstream request timeout');
  expect(sc.stat('cluster.stall.upstream_rq_retry')).toBe(retries);
  expect(sc.stat('http.ingress.downstream_rq_2xx')).toBe(ok);
  expect(sc.stat('http.ingress.downstream_rq_5xx')).toBe(bad + 1);
  expect(sc.stat('http.ingress.downstream_rq_active')).toBe(0);
  expect(sc.stat('cluster.stall.upstream_rq_active')).toBe(0);
});
