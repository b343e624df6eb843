/**
 * Streams, not buffers: 200 MB (and 600 MB) downloads and a 200 MB upload
 * through the real sidecar process, with its resident memory sampled
 * throughout. Backpressure keeps at most one 64 KiB chunk queued per stream
 * (measured); what RSS shows on top is garbage awaiting V8's GC, which V8
 * collects once external memory grows by tens of MB. So the budget is a
 * fixed number that a body three times larger must also fit: growth that
 * scaled with the body would fail the 600 MB case.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { freePort, proxyBootstrap, rssBytes, startProcess, tempFile, type SidecarProcess } from '../../support/process.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const SIZE = 200 * 1024 * 1024;
/** RSS growth budget during a transfer, whatever its size. */
const RSS_BUDGET = 128 * 1024 * 1024;

let up: TestUpstream, p: SidecarProcess, port: number;

beforeAll(async () => {
  up = await startHttpUpstream('big');
  port = await freePort();
  const admin = await freePort();
  p = await startProcess(tempFile('s.yaml', proxyBootstrap({ listenPort: port, adminPort: admin, upstreamPort: up.port, routeExtra: 'timeout: 0s' })), admin);
}, 30000);

afterAll(async () => {
  p.child.kill('SIGTERM');
  await p?.exited;
  await up?.close();
});

function sampler(pid: number): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await rssBytes(pid));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { stop: async () => { running = false; await loop; return max; } };
}

test.each([SIZE, 3 * SIZE])('%d-byte download streams with bounded RSS', async (size) => {
  const base = await rssBytes(p.child.pid!);
  const s = sampler(p.child.pid!);
  const received = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/big', headers: { 'x-test-bytes': String(size) }, agent: false }, (res) => {
      let n = 0;
      // A slow-ish reader: pause now and then so backpressure has to work.
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n % (16 * 1024 * 1024) < c.length) { res.pause(); setTimeout(() => res.resume(), 20); }
      });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
  const max = await s.stop();
  expect(received).toBe(size);
  expect(max - base).toBeLessThan(RSS_BUDGET);
}, 60000);

test('200 MB upload streams with bounded RSS', async () => {
  const base = await rssBytes(p.child.pid!);
  const s = sampler(p.child.pid!);
  const chunk = Buffer.alloc(256 * 1024, 98);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= SIZE) { this.push(null); return; }
      sent += chunk.length;
      this.push(chunk);
    },
  });
  const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false, headers: { 'content-length': String(SIZE) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    });
    req.on('error', reject);
    body.pipe(req);
  });
  const max = await s.stop();
  expect(result['bodyBytes']).toBe(SIZE);
  expect(max - base).toBeLessThan(RSS_BUDGET);
}, 60000);
