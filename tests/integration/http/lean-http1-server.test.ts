/**
 * serveLeanHttp1 on real sockets: a net.Server whose connections are served
 * by the lean codec and a small echo handler written against the Downstream
 * API, driven by node:http (keep-alive), curl, and raw sockets (pipelining,
 * 100-continue, smuggling shapes, bad bytes, oversize headers, disconnects,
 * timeouts), plus a 50 MB response to a slow reader (write() returns false).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { Http1Downstream } from '../../../protocols/http/connection-manager/downstream.ts';
import { serveLeanHttp1, type LeanHttp1Downstream, type LeanHttp1Options } from '../../../protocols/http/connection-manager/http1-server.ts';

const run = promisify(execFile);

interface TestServer {
  port: number;
  connections: number;
  protocolErrors: { status: number; reason: string }[];
  /** Paths of requests the handler saw, in order, with response-end markers. */
  events: string[];
  aborts: string[];
  backpressure: { sawFalse: boolean; drains: number; written: number };
  close(): Promise<void>;
}

function first(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v[0]! : v ?? '';
}

/** The echo handler: only the Downstream API. */
function handler(t: TestServer, ds: LeanHttp1Downstream): void {
  const url = new URL(first(ds.headers[':path']), 'http://x');
  t.events.push(`req ${url.pathname}`);
  const done = (): void => { t.events.push(`end ${url.pathname}`); };
  ds.onAbort(() => t.aborts.push(url.pathname));
  switch (url.pathname) {
    case '/headers':
      ds.respond(200, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(ds.headers)));
      return done();
    case '/delay':
      setTimeout(() => { ds.respond(200, {}, Buffer.from(`delayed ${url.search}`)); done(); }, Number(url.searchParams.get('ms') ?? 20));
      return;
    case '/early':
      // Answers without reading the body.
      ds.respond(200, {}, Buffer.from('early'));
      return done();
    case '/trailers':
      ds.sendHeaders(200, { 'x-before': '1' }, false);
      ds.write(Buffer.from('part1,'));
      ds.write(Buffer.from('part2'));
      ds.end({ 'x-checksum': 'abc' });
      return done();
    case '/nobody':
      ds.sendHeaders(204, { 'x-empty': '1' }, true);
      return done();
    case '/count': {
      // Reads the body late and slowly, then reports how much arrived.
      let n = 0;
      const body = ds.body!;
      setTimeout(() => {
        body.on('data', (c: Buffer) => {
          n += c.length;
          body.pause();
          setImmediate(() => body.resume());
        });
      }, 100);
      body.on('end', () => { ds.respond(200, {}, Buffer.from(String(n))); done(); });
      return;
    }
    case '/big': {
      const total = Number(url.searchParams.get('bytes'));
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      ds.sendHeaders(200, { 'content-length': String(total) }, false);
      const pump = (): void => {
        while (t.backpressure.written < total) {
          const n = Math.min(chunk.length, total - t.backpressure.written);
          t.backpressure.written += n;
          if (!ds.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            t.backpressure.sawFalse = true;
            ds.onDrain(() => { t.backpressure.drains++; pump(); });
            return;
          }
        }
        ds.end();
        done();
      };
      pump();
      return;
    }
    default: {
      // /echo: streams the request body back (chunked), echoing request trailers.
      const body = ds.body;
      if (body === null) {
        ds.respond(200, { 'x-method': first(ds.headers[':method']) }, Buffer.from(`no body ${url.pathname}`));
        return done();
      }
      ds.sendHeaders(200, { 'x-method': first(ds.headers[':method']), 'content-type': 'text/plain' }, false);
      body.on('data', (c: Buffer) => ds.write(c));
      body.on('end', () => { ds.end(ds.requestTrailers); done(); });
    }
  }
}

async function startServer(over: Partial<LeanHttp1Options> = {}): Promise<TestServer> {
  const opts: LeanHttp1Options = { maxRequestHeadersKb: 8, maxHeadersCount: 100, keepAliveTimeoutMs: 60_000, headersTimeoutMs: 0, ...over };
  const t: TestServer = {
    port: 0, connections: 0, protocolErrors: [], events: [], aborts: [],
    backpressure: { sawFalse: false, drains: 0, written: 0 },
    close: async () => undefined,
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    t.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveLeanHttp1(socket, opts, (ds) => handler(t, ds), { onProtocolError: (status, reason) => t.protocolErrors.push({ status, reason }) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.port = (server.address() as AddressInfo).port;
  t.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return t;
}

/** Writes `bytes` on a new connection; resolves with everything read until the server closes it. */
function raw(port: number, bytes: string | Buffer | (string | Buffer)[], ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString('latin1')));
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('error', () => undefined);
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) s.write(b);
    const timer = setTimeout(() => s.destroy(), ms);
  });
}

/** Resolves once `s` has received text matching `re` (all text so far). */
function readUntil(s: net.Socket, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString('latin1');
      if (re.test(out)) { s.off('data', onData); s.off('close', onClose); resolve(out); }
    };
    const onClose = (): void => reject(new Error(`closed before ${re}: ${JSON.stringify(out)}`));
    s.on('data', onData);
    s.once('close', onClose);
  });
}

function request(port: number, agent: http.Agent | false, opts: http.RequestOptions & { body?: string | Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, ...opts }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

let t: TestServer;

beforeAll(async () => { t = await startServer(); });
afterAll(async () => { await t.close(); });

describe('well-formed traffic', () => {
  test('node:http keep-alive: 100 sequential requests share one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = t.connections;
    for (let i = 0; i < 100; i++) {
      const r = i % 2 === 0
        ? await request(t.port, agent, { path: `/n${i}` })
        : await request(t.port, agent, { path: `/echo${i}`, method: 'POST', body: `body-${i}` });
      expect(r.status).toBe(200);
      expect(r.body).toBe(i % 2 === 0 ? `no body /n${i}` : `body-${i}`);
      expect(r.headers['date']).toEqual(expect.any(String));
    }
    expect(t.connections - before).toBe(1);
    agent.destroy();
  });

  test('the header map matches Http1Downstream over node:http for the same bytes', async () => {
    const bytes = 'GET /h?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1\r\nCookie: b=2\r\nTE: trailers\r\n'
      + 'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nUpgrade: foo\r\nContent-Length: 0\r\nUser-Agent: raw\r\n\r\n';
    let nodeHeaders: HeaderMap | undefined;
    const ref = http.createServer((req, res) => {
      nodeHeaders = new Http1Downstream(req, res, 'http').headers;
      res.end();
    });
    await new Promise<void>((r) => ref.listen(0, '127.0.0.1', r));
    const s = net.connect((ref.address() as AddressInfo).port, '127.0.0.1');
    s.write(bytes);
    await readUntil(s, /\r\n\r\n/);
    s.destroy();
    ref.close();
    const lean = await raw(t.port, bytes.replace('/h?q=1', '/headers').replace('keep-alive', 'close'));
    const json = JSON.parse(lean.slice(lean.indexOf('\r\n\r\n') + 4)) as HeaderMap;
    expect({ ...json, ':path': '/h?q=1' }).toEqual(nodeHeaders);
  });

  test('curl: GET, POST, chunked upload, HEAD, HTTP/1.0, connection reuse', async () => {
    const base = `http://127.0.0.1:${t.port}`;
    const get = await run('curl', ['-s', '-i', `${base}/plain`]);
    expect(get.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(get.stdout).toMatch(/content-length: 14\r\n/);
    expect(get.stdout.endsWith('no body /plain')).toBe(true);

    const post = await run('curl', ['-s', '-d', 'hello=world', `${base}/echo`]);
    expect(post.stdout).toBe('hello=world');

    const up = await run('bash', ['-c', `head -c 300000 /dev/zero | tr '\\0' z | curl -s -T - -H 'Transfer-Encoding: chunked' -X POST ${base}/echo | wc -c`]);
    expect(up.stdout.trim()).toBe('300000');

    const head = await run('curl', ['-s', '-I', `${base}/plain`]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head.stdout).toMatch(/content-length: 14\r\n/);

    const ten = await run('curl', ['-s', '-i', '--http1.0', `${base}/trailers`]);
    // No content-length and HTTP/1.0: close-delimited, never chunked.
    expect(ten.stdout).toMatch(/connection: close\r\n/);
    expect(ten.stdout).not.toMatch(/transfer-encoding/i);
    expect(ten.stdout.endsWith('part1,part2')).toBe(true);

    const reuse = await run('curl', ['-sv', `${base}/a`, `${base}/b`]);
    expect(reuse.stdout).toBe('no body /ano body /b');
    expect(reuse.stderr).toMatch(/Re-using existing connection/);
  });

  test('chunked response with trailers; 204 has no body', async () => {
    const r = await request(t.port, false, { path: '/trailers' });
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body).toBe('part1,part2');
    expect(r.trailers).toEqual({ 'x-checksum': 'abc' });
    const n = await raw(t.port, 'GET /nobody HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(n).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(n).not.toMatch(/content-length|transfer-encoding/);
  });

  test('request trailers reach the handler', async () => {
    const r = await raw(t.port, 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n');
    expect(r).toMatch(/\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n$/);
  });

  test('pipelined requests are answered in order, one at a time', async () => {
    const start = t.events.length;
    const r = await raw(t.port,
      'GET /delay?ms=40 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /delay?ms=1 HTTP/1.1\r\nConnection: close\r\n\r\n');
    const statuses = r.match(/HTTP\/1\.1 200 OK/g);
    expect(statuses).toHaveLength(3);
    expect(r.indexOf('delayed ?ms=40')).toBeLessThan(r.indexOf('hello'));
    expect(r.indexOf('hello')).toBeLessThan(r.indexOf('delayed ?ms=1'));
    expect(t.events.slice(start)).toEqual(['req /delay', 'end /delay', 'req /echo', 'end /echo', 'req /delay', 'end /delay']);
  });

  test('Expect: 100-continue gets 100 Continue when the body is read', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    // /count reads the body (100 ms later) before it answers.
    s.write('POST /count HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    const got = await readUntil(s, /\r\n\r\n/);
    expect(got).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    s.write('data');
    const rest = await readUntil(s, /\r\n\r\n4$/);
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    s.destroy();
  });

  test('a response before the body arrived closes the connection afterwards; a body already here keeps it', async () => {
    const closed = await raw(t.port, 'POST /early HTTP/1.1\r\nContent-Length: 100000\r\n\r\npartial');
    expect(closed).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nearly$/);
    const kept = await raw(t.port, 'POST /early HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(kept.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(kept.endsWith('no body /x')).toBe(true);
  });

  test('a slowly read request body arrives whole (backpressure on the request side)', async () => {
    const size = 8 * 1024 * 1024;
    const r = await request(t.port, false, { path: '/count', method: 'POST', body: Buffer.alloc(size, 0x62) });
    expect(r.body).toBe(String(size));
  });
});

describe('malformed input', () => {
  test('Content-Length with Transfer-Encoding is refused (400), the smuggled request never runs', async () => {
    const start = t.events.length;
    const r = await raw(t.port, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r).toBe('HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nBad Request');
    expect(t.events.slice(start)).toEqual([]);
    expect(t.protocolErrors.at(-1)).toEqual({ status: 400, reason: 'both content-length and transfer-encoding' });
  });

  test('two Content-Length headers are refused (400)', async () => {
    expect(await raw(t.port, 'POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(t.port, 'POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab')).toMatch(/^HTTP\/1\.1 400 /);
  });

  test('bad bytes, bad request lines and versions are refused', async () => {
    expect(await raw(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(t.port, 'GET / HTTP/1.1\r\nHo st: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(t.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]))).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(t.port, 'GET / HTTP/2.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/);
    expect(await raw(t.port, 'POST /count HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });

  test('a bad chunk after the response started resets the connection (the response never completes)', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    s.write('POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    const got = await readUntil(s, /abc\r\n$/);
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    let after = '';
    s.on('data', (c: Buffer) => (after += c.toString('latin1')));
    s.write('zz\r\n');
    await closed;
    expect(after).toBe('');
  });

  test('a bad chunk in the same packet as the head: the unsent response head is replaced by 400', async () => {
    const r = await raw(t.port, 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n');
    expect(r).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  test('a bad chunk after the request was handed over: 400 if no response started, the handler is told (abort)', async () => {
    const aborts = t.aborts.length;
    const s = net.connect(t.port, '127.0.0.1');
    s.write('POST /count HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await new Promise((r) => setTimeout(r, 30));
    s.write('zz\r\n');
    const out = await readUntil(s, /Bad Request$/);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(t.aborts.slice(aborts)).toEqual(['/count']);
    s.destroy();
  });

  test('headers over max_request_headers_kb get 431', async () => {
    const r = await raw(t.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`);
    expect(r).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*connection: close\r\n/);
    expect(t.protocolErrors.at(-1)?.status).toBe(431);
  });

  test('a client that disconnects mid-body aborts its stream and disturbs nobody', async () => {
    const aborts = t.aborts.length;
    const s = net.connect(t.port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write('POST /echo-abort HTTP/1.1\r\nContent-Length: 100000\r\n\r\npartial');
    await new Promise((r) => setTimeout(r, 50));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.destroy();
    await closed;
    for (let i = 0; i < 50 && t.aborts.length === aborts; i++) await new Promise((r) => setTimeout(r, 10));
    expect(t.aborts.slice(aborts)).toEqual(['/echo-abort']);
    expect((await request(t.port, false, { path: '/ok' })).status).toBe(200);
  });

  test('every refused request left the server serving', async () => {
    expect((await request(t.port, false, { path: '/still' })).body).toBe('no body /still');
  });
});

describe('flow control and timeouts', () => {
  test('a slow reader of a 50 MB response makes write() return false; all bytes arrive', async () => {
    const size = 50 * 1024 * 1024;
    t.backpressure = { sawFalse: false, drains: 0, written: 0 };
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: t.port, path: `/big?bytes=${size}`, agent: false }, (res) => {
        res.pause();
        let n = 0;
        const wait = setInterval(() => {
          if (!t.backpressure.sawFalse) return;
          clearInterval(wait);
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.resume();
        }, 10);
      });
      req.on('error', reject);
    });
    expect(t.backpressure.sawFalse).toBe(true);
    expect(t.backpressure.drains).toBeGreaterThan(0);
    expect(received).toBe(size);
  });

  test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async () => {
    const s2 = await startServer({ keepAliveTimeoutMs: 150 });
    const s = net.connect(s2.port, '127.0.0.1');
    s.write('GET /a HTTP/1.1\r\n\r\n');
    await readUntil(s, /no body \/a$/);
    const t0 = Date.now();
    await new Promise<void>((r) => s.once('close', () => r()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    await s2.close();
  });

  test('a request head slower than headersTimeoutMs gets 408', async () => {
    const s2 = await startServer({ headersTimeoutMs: 150 });
    const r = await raw(s2.port, 'GET / HTTP/1.1\r\nHost: slow');
    expect(r).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*connection: close\r\n/);
    expect(s2.protocolErrors).toEqual([{ status: 408, reason: 'request headers timeout' }]);
    await s2.close();
  });

  test('many pipelined requests sent at once (more than 64 KiB) are all answered', async () => {
    const n = 2000;
    const one = 'GET /p HTTP/1.1\r\nX-Pad: ' + 'p'.repeat(60) + '\r\n\r\n';
    const r = await raw(t.port, one.repeat(n) + 'GET /last HTTP/1.1\r\nConnection: close\r\n\r\n', 20_000);
    expect(r.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(n + 1);
    expect(r.endsWith('no body /last')).toBe(true);
  });
});
