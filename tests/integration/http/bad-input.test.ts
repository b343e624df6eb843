/**
 * Bad input never crashes the sidecar and never affects other connections:
 * request smuggling shapes, invalid header bytes, oversize headers (431),
 * garbage on an h2c port (GOAWAY), and an upstream that resets mid-body
 * (downstream reset, UR). After each, a normal request on another
 * connection still succeeds.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let up: TestUpstream, sc: TestSidecar, h2only: TestSidecar;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  const routes = `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`;
  sc = await startSidecar(bootstrap({ routes, clusters: staticCluster('up', [up.port]), hcmExtra: 'max_request_headers_kb: 8' }));
  h2only = await startSidecar(bootstrap({ routes, clusters: staticCluster('up', [up.port]), hcmExtra: 'codec_type: HTTP2' }));
});

afterAll(async () => {
  await sc?.stop();
  await h2only?.stop();
  await up?.close();
});

/**
 * Sends raw bytes on a new connection; resolves with everything read until
 * close, or until `ms` have passed (then the connection is destroyed). The
 * timer goes with the connection: left pending, it kept the jest worker alive
 * for up to `ms` after the last test, and jest force-exited it.
 */
function raw(port: number, bytes: string | Buffer, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (c: Buffer) => (out += c.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', () => undefined);
    s.write(bytes);
  });
}

async function stillServing(): Promise<void> {
  expect((await send('h1', sc.port(), { path: '/ok' })).status).toBe(200);
  expect((await send('h2', sc.port(), { path: '/ok' })).status).toBe(200);
}

test('Content-Length with Transfer-Encoding is refused (400) and not forwarded', async () => {
  const seen = up.seen.length;
  const r = await raw(sc.port(), 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
  expect(r).toMatch(/^HTTP\/1\.1 400 /);
  expect(up.seen.slice(seen).some((s) => s.path === '/admin')).toBe(false);
  await stillServing();
});

test('two different Content-Length values are refused (400)', async () => {
  const r = await raw(sc.port(), 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  expect(r).toMatch(/^HTTP\/1\.1 400 /);
  await stillServing();
});

test('invalid header bytes are refused (400)', async () => {
  const r = await raw(sc.port(), 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n');
  expect(r).toMatch(/^HTTP\/1\.1 400 /);
  const r2 = await raw(sc.port(), 'GET / HTTP/1.1\r\nHo st: x\r\n\r\n');
  expect(r2).toMatch(/^HTTP\/1\.1 400 /);
  await stillServing();
});

test('headers over max_request_headers_kb get 431', async () => {
  const r = await raw(sc.port(), `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`);
  expect(r).toMatch(/^HTTP\/1\.1 431 /);
  expect(sc.stat('http.ingress.downstream_cx_protocol_error')).toBeGreaterThan(0);
  await stillServing();
});

test('garbage on an HTTP/2-only port gets GOAWAY, others unaffected', async () => {
  const r = await raw(h2only.port(), Buffer.from('this is not the HTTP/2 preface, not at all\r\n\r\n'));
  // A GOAWAY frame: 9-byte header with type 0x7.
  const bytes = Buffer.from(r, 'latin1');
  let foundGoaway = false;
  for (let i = 0; i + 9 <= bytes.length;) {
    const len = bytes.readUIntBE(i, 3);
    if (bytes[i + 3] === 0x7) foundGoaway = true;
    i += 9 + len;
  }
  expect(foundGoaway).toBe(true);
  const session = http2.connect(`http://127.0.0.1:${h2only.port()}`);
  const status = await new Promise<number>((resolve, reject) => {
    const s = session.request({ ':path': '/ok' });
    s.on('response', (h) => resolve(Number(h[':status'])));
    s.on('error', reject);
    s.resume();
  });
  session.close();
  expect(status).toBe(200);
});

test('garbage on an AUTO port is answered 400 by the HTTP/1 codec', async () => {
  const r = await raw(sc.port(), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
  expect(r).toMatch(/^HTTP\/1\.1 400 /);
  await stillServing();
});

test('upstream reset mid-body resets the downstream (UR), h1 and h2', async () => {
  const before = sc.stat('cluster.up.upstream_rq_rx_reset');
  await expect(send('h1', sc.port(), { path: '/mid', headers: { 'x-test-bytes': String(4 * 1024 * 1024), 'x-test-reset': 'body' } })).rejects.toThrow();
  await expect(send('h2', sc.port(), { path: '/mid', headers: { 'x-test-bytes': String(4 * 1024 * 1024), 'x-test-reset': 'body' } })).rejects.toThrow();
  expect(sc.stat('cluster.up.upstream_rq_rx_reset')).toBe(before + 2);
  await stillServing();
});

test('a client that disconnects mid-request does not disturb others', async () => {
  const s = net.connect(sc.port(), '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial');
  await new Promise((r) => setTimeout(r, 50));
  s.destroy();
  await stillServing();
});
