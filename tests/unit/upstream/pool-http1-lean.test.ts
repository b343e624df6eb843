/**
 * LeanHttp1Pool against real sockets: node:http servers and raw net servers
 * on 127.0.0.1:0 (and a unix socket), plus the response parser on its own
 * (every split point of valid responses, random bytes).
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { CounterImpl, GaugeImpl } from '../../../sidecar/stats/metrics.ts';
import { Http1ResponseParser, type Http1ResponseSink } from '../../../sidecar/upstream/http1-response-parser.ts';
import { LeanHttp1Pool } from '../../../sidecar/upstream/pool-http1-lean.ts';
import type { Http1PoolOptions } from '../../../sidecar/upstream/pool-http1.ts';
import type { UpstreamBody, UpstreamFailure, UpstreamRequest, UpstreamResponseHandler } from '../../../sidecar/upstream/upstream-request.ts';

// --- fixtures ------------------------------------------------------------------

function poolOptions(over: Partial<Omit<Http1PoolOptions, 'stats'>> = {}): Http1PoolOptions {
  return {
    connectTimeoutMs: 2000,
    idleTimeoutMs: 60_000,
    maxRequestsPerConnection: 0,
    ...over,
    stats: { cxTotal: new CounterImpl('cx_total'), cxActive: new GaugeImpl('cx_active'), cxConnectFail: new CounterImpl('cx_connect_fail') },
  };
}

interface Outcome {
  status?: number;
  headers?: HeaderMap;
  body: Buffer;
  trailers?: HeaderMap;
  error?: { kind: UpstreamFailure; detail: string; afterHeaders: boolean };
}

/** A handler that records everything and resolves when the request ends or fails. */
function collector(): { handler: UpstreamResponseHandler; done: Promise<Outcome>; events: string[] } {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  const out: Outcome = { body: Buffer.alloc(0) };
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => { resolve = r; });
  const handler: UpstreamResponseHandler = {
    onHeaders(status, headers) { events.push('headers'); out.status = status; out.headers = headers; },
    onData(chunk) { events.push('data'); chunks.push(Buffer.from(chunk)); return true; },
    onEnd(trailers) { events.push('end'); out.trailers = trailers; out.body = Buffer.concat(chunks); resolve(out); },
    onError(kind, detail, afterHeaders) { events.push('error'); out.error = { kind, detail, afterHeaders }; out.body = Buffer.concat(chunks); resolve(out); },
  };
  return { handler, done, events };
}

function send(pool: LeanHttp1Pool, opts: { method?: string; path?: string; headers?: HeaderMap; body?: UpstreamBody } = {}): Promise<Outcome> {
  const c = collector();
  pool.request({ method: opts.method ?? 'GET', path: opts.path ?? '/', authority: 'upstream.test', headers: opts.headers ?? {}, body: opts.body ?? null }, c.handler);
  return c.done;
}

function listen(server: net.Server, at?: string): Promise<void> {
  return new Promise((resolve) => {
    if (at) server.listen(at, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as http.Server).closeAllConnections?.();
    server.close(() => resolve());
  });
}

const servers: net.Server[] = [];
const pools: LeanHttp1Pool[] = [];

async function httpServer(fn: http.RequestListener, at?: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(fn);
  servers.push(server);
  await listen(server, at);
  return { server, port: at ? 0 : (server.address() as AddressInfo).port };
}

/** A raw TCP server: `onRequest` gets each received chunk with its socket. */
async function rawServer(onData: (socket: net.Socket, data: Buffer, index: number) => void): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const server = net.createServer((socket) => {
    const index = n++;
    socket.on('data', (d) => onData(socket, d, index));
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await listen(server);
  return { port: (server.address() as AddressInfo).port, connections: () => n };
}

function tcpPool(port: number, over: Partial<Omit<Http1PoolOptions, 'stats'>> = {}): LeanHttp1Pool {
  const p = new LeanHttp1Pool({ kind: 'tcp', host: '127.0.0.1', port }, poolOptions(over));
  pools.push(p);
  return p;
}

afterEach(async () => {
  for (const p of pools.splice(0)) p.destroy();
  await Promise.all(servers.splice(0).map(close));
});

/** Echo server: answers with what it saw (method, url, headers, body length/text). */
function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, port: req.socket.remotePort, bytes: body.length, body: body.length < 1000 ? body.toString() : '' });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}

type Echoed = { method: string; url: string; headers: http.IncomingHttpHeaders; port: number; bytes: number; body: string };
const echoed = (o: Outcome): Echoed => JSON.parse(o.body.toString()) as Echoed;

// --- keep-alive and framing -----------------------------------------------------

describe('LeanHttp1Pool', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port);
    const a = await send(pool, { path: '/a?x=1', headers: { 'x-one': '1', 'x-multi': ['a', 'b'] } });
    const b = await send(pool, { path: '/b' });
    const c = await send(pool, { path: '/c' });
    expect(a.status).toBe(200);
    expect(echoed(a)).toMatchObject({ method: 'GET', url: '/a?x=1', headers: { host: 'upstream.test', 'x-one': '1', 'x-multi': 'a, b' } });
    expect(echoed(a).headers['content-length']).toBeUndefined();
    expect(echoed(b).port).toBe(echoed(a).port);
    expect(echoed(c).port).toBe(echoed(a).port);
    expect(pool.activeConnections).toBe(1);
  });

  it('opens a connection per concurrent request and reuses them afterwards', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port);
    const first = await Promise.all([send(pool), send(pool), send(pool)]);
    expect(new Set(first.map((o) => echoed(o).port)).size).toBe(3);
    const again = await Promise.all([send(pool), send(pool), send(pool)]);
    expect(new Set([...first, ...again].map((o) => echoed(o).port)).size).toBe(3);
  });

  it('reads content-length, chunked (with trailers) and close-delimited bodies', async () => {
    const { port } = await httpServer((req, res) => {
      if (req.url === '/cl') { res.writeHead(200, { 'content-length': '5' }); res.end('hello'); return; }
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('chunk-1 ');
      setTimeout(() => {
        res.write('chunk-2');
        res.addTrailers({ 'x-checksum': 'abc', 'x-other': 'z' });
        res.end();
      }, 5);
    });
    const pool = tcpPool(port);
    const cl = await send(pool, { path: '/cl' });
    expect(cl.body.toString()).toBe('hello');
    expect(cl.headers).toMatchObject({ 'content-length': '5' });
    expect(cl.trailers).toBeUndefined();
    const ch = await send(pool, { path: '/chunked' });
    expect(ch.body.toString()).toBe('chunk-1 chunk-2');
    expect(ch.headers!['transfer-encoding']).toBeUndefined();
    expect(ch.headers!['connection']).toBeUndefined();
    expect(ch.headers!['keep-alive']).toBeUndefined();
    expect(ch.trailers).toEqual({ 'x-checksum': 'abc', 'x-other': 'z' });
    expect(pool.activeConnections).toBe(1);

    const raw = await rawServer((s) => { s.end('HTTP/1.1 200 OK\r\nX-Kind: eof\r\n\r\nuntil the end'); });
    const eofPool = tcpPool(raw.port);
    const eof = await send(eofPool);
    expect(eof).toMatchObject({ status: 200, headers: { 'x-kind': 'eof' } });
    expect(eof.body.toString()).toBe('until the end');
    await send(eofPool);
    expect(raw.connections()).toBe(2);
  });

  it('passes duplicate headers as arrays and drops hop-by-hop ones', async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n'
        + 'Proxy-Connection: x\r\nUpgrade: h2c\r\nX-Spaced:   padded value \t\r\nContent-Length: 0\r\n\r\n');
    });
    const pool = tcpPool(raw.port);
    const o = await send(pool);
    expect(o.status).toBe(201);
    expect(o.headers).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'x-spaced': 'padded value', 'content-length': '0' });
  });

  it('skips 1xx responses (100 Continue, 103 Early Hints)', async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 5);
    });
    const pool = tcpPool(raw.port);
    const o = await send(pool);
    expect(o).toMatchObject({ status: 200, headers: { 'content-length': '2' } });
    expect(o.headers!['link']).toBeUndefined();
    expect(o.body.toString()).toBe('ok');

    const { port } = await httpServer((req, res) => {
      res.writeEarlyHints({ link: '</a.js>; rel=preload' });
      res.writeContinue();
      res.end('final');
    });
    expect((await send(tcpPool(port))).body.toString()).toBe('final');
  });

  it('reads no body for HEAD, 204 and 304, and keeps the connection', async () => {
    const { port } = await httpServer((req, res) => {
      if (req.url === '/204') { res.writeHead(204); res.end(); return; }
      if (req.url === '/304') { res.writeHead(304, { etag: '"x"' }); res.end(); return; }
      res.writeHead(200, { 'content-length': '100', 'x-port': String(req.socket.remotePort) });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(100));
    });
    const pool = tcpPool(port);
    const head = await send(pool, { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, headers: { 'content-length': '100' } });
    expect(head.body.length).toBe(0);
    const n204 = await send(pool, { path: '/204' });
    expect(n204.status).toBe(204);
    const n304 = await send(pool, { path: '/304' });
    expect(n304).toMatchObject({ status: 304, headers: { etag: '"x"' } });
    const get = await send(pool);
    expect(get.body.length).toBe(100);
    expect(get.headers!['x-port']).toBe(head.headers!['x-port']);
    expect(pool.activeConnections).toBe(1);
  });

  // --- request bodies ----------------------------------------------------------

  it('uploads a Buffer body with content-length, and an empty POST with content-length: 0', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port);
    const body = Buffer.from('a'.repeat(300_000));
    const o = echoed(await send(pool, { method: 'PUT', body, headers: { 'content-length': '1' } }));
    expect(o).toMatchObject({ method: 'PUT', bytes: 300_000, headers: { 'content-length': '300000' } });
    const empty = echoed(await send(pool, { method: 'POST' }));
    expect(empty.headers['content-length']).toBe('0');
    const get = echoed(await send(pool));
    expect(get.headers['content-length']).toBeUndefined();
    expect(get.headers['transfer-encoding']).toBeUndefined();
  });

  it('streams a Readable body with its content-length, or chunked without one', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port);
    const parts = ['hello ', '', 'streamed ', 'world'];
    const withCl = echoed(await send(pool, { method: 'POST', body: Readable.from(parts.map((p) => Buffer.from(p))), headers: { 'content-length': '20' } }));
    expect(withCl).toMatchObject({ bytes: 20, body: 'hello streamed world', headers: { 'content-length': '20' } });
    expect(withCl.headers['transfer-encoding']).toBeUndefined();
    const chunked = echoed(await send(pool, { method: 'POST', body: Readable.from(parts.map((p) => Buffer.from(p))) }));
    expect(chunked).toMatchObject({ bytes: 20, body: 'hello streamed world', headers: { 'transfer-encoding': 'chunked' } });
    expect(chunked.port).toBe(withCl.port);
    // A large streamed body goes through socket backpressure.
    const big = Readable.from((function* () { for (let i = 0; i < 200; i++) yield Buffer.alloc(64 * 1024, i); })());
    expect(echoed(await send(pool, { method: 'POST', body: big })).bytes).toBe(200 * 64 * 1024);
  });

  it('fails a streamed body shorter than its content-length and drops the connection', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port);
    const o = await send(pool, { method: 'POST', body: Readable.from([Buffer.from('abc')]), headers: { 'content-length': '10' } });
    expect(o.error).toMatchObject({ kind: 'reset', afterHeaders: false });
    expect(o.error!.detail).toMatch(/shorter/);
  });

  // --- backpressure --------------------------------------------------------------

  it('delivers a 50 MB response completely to a handler that pauses on every chunk', async () => {
    const size = 50 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 7);
    const { port } = await httpServer((req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      let left = size / block.length;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(block)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
    const pool = tcpPool(port);
    let received = 0;
    let paused = false;
    let deliveredWhilePaused = 0;
    let pauses = 0;
    let req!: UpstreamRequest;
    const done = new Promise<string>((resolve) => {
      req = pool.request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, {
        onHeaders() { /* nothing */ },
        onData(chunk) {
          if (paused) deliveredWhilePaused++;
          received += chunk.length;
          if (chunk[0] !== 7) throw new Error('bad byte');
          paused = true;
          pauses++;
          setTimeout(() => { paused = false; req.resume(); }, pauses % 50 === 0 ? 5 : 0);
          return false;
        },
        onEnd() { resolve('end'); },
        onError(kind, detail) { resolve(`${kind}: ${detail}`); },
      });
    });
    expect(await done).toBe('end');
    expect(received).toBe(size);
    expect(deliveredWhilePaused).toBe(0);
    expect(pauses).toBeGreaterThan(10);
  });

  it('stops delivering on pause() and resumes on resume()', async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc');
      setTimeout(() => s.write('def'), 20);
    });
    const pool = tcpPool(raw.port);
    const seen: string[] = [];
    let req!: UpstreamRequest;
    const ended = new Promise<void>((resolve) => {
      req = pool.request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, {
        onHeaders() { req.pause(); seen.push('headers'); },
        onData(c) { seen.push(c.toString()); return true; },
        onEnd() { seen.push('end'); resolve(); },
        onError(kind) { seen.push(kind); resolve(); },
      });
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual(['headers']);
    req.resume();
    await ended;
    expect(seen.join('')).toBe('headersabcdefend');
  });

  it('completes a close-delimited body that ended while the handler was paused', async () => {
    const raw = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\n\r\nabc'));
    const pool = tcpPool(raw.port);
    const seen: string[] = [];
    let req!: UpstreamRequest;
    const ended = new Promise<void>((resolve) => {
      req = pool.request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, {
        onHeaders() { req.pause(); seen.push('headers'); },
        onData(c) { seen.push(c.toString()); return true; },
        onEnd() { seen.push('end'); resolve(); },
        onError(kind) { seen.push(kind); resolve(); },
      });
    });
    await new Promise((r) => setTimeout(r, 40));
    expect(seen).toEqual(['headers']);
    req.resume();
    await ended;
    expect(seen).toEqual(['headers', 'abc', 'end']);
  });

  // --- failures ------------------------------------------------------------------

  it("reports a refused connection as 'connect' and counts it", async () => {
    const probe = net.createServer();
    await listen(probe);
    const port = (probe.address() as AddressInfo).port;
    await close(probe);
    const opts = poolOptions();
    const pool = new LeanHttp1Pool({ kind: 'tcp', host: '127.0.0.1', port }, opts);
    pools.push(pool);
    const o = await send(pool);
    expect(o.error).toMatchObject({ kind: 'connect', afterHeaders: false });
    expect(o.error!.detail).toMatch(/ECONNREFUSED/);
    expect(opts.stats.cxConnectFail.value()).toBe(1);
    expect(opts.stats.cxTotal.value()).toBe(0);
    expect(pool.activeConnections).toBe(0);
  });

  it("reports a reset mid-body as 'reset' after headers", async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789', () => setTimeout(() => s.resetAndDestroy(), 10));
    });
    const c = collector();
    tcpPool(raw.port).request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, c.handler);
    const o = await c.done;
    expect(o.status).toBe(200);
    expect(o.body.toString()).toBe('0123456789');
    expect(o.error).toMatchObject({ kind: 'reset', afterHeaders: true });
    expect(c.events.filter((e) => e === 'error' || e === 'end')).toEqual(['error']);
  });

  it("reports a clean close before the response as 'reset' before headers", async () => {
    const raw = await rawServer((s) => s.end());
    const o = await send(tcpPool(raw.port));
    expect(o.error).toMatchObject({ kind: 'reset', afterHeaders: false });
  });

  it("reports a reused connection the server drops as 'reset' before headers", async () => {
    const raw = await rawServer((s, _d, index) => {
      const st = s as net.Socket & { served?: number };
      st.served = (st.served ?? 0) + 1;
      if (index === 0 && st.served === 2) { s.destroy(); return; }
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const pool = tcpPool(raw.port);
    expect((await send(pool)).status).toBe(200);
    const second = await send(pool);
    expect(second.error).toMatchObject({ kind: 'reset', afterHeaders: false });
    expect((await send(pool)).status).toBe(200);
    expect(raw.connections()).toBe(2);
  });

  it.each([
    ['a bad status line', 'HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n'],
    ['a non-HTTP status line', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['content-length with transfer-encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['an invalid content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n'],
    ['conflicting content-lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF in a header', 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['a 101 without an upgrade request', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
    ['a huge header section', `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`],
    ['a huge header section in pieces', `HTTP/1.1 200 OK\r\n${'X-Many: 0123456789012345678901234567890123456789\r\n'.repeat(2000)}`],
  ])("refuses a response with %s as 'protocol' and does not reuse the connection", async (name, response) => {
    const raw = await rawServer((s, _d, index) => {
      if (index === 0) s.write(response);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const pool = tcpPool(raw.port);
    const bad = await send(pool);
    // A bad chunk is found in the body, after the headers went out.
    const inBody = name.includes('chunk size');
    expect(bad.error).toMatchObject({ kind: 'protocol', afterHeaders: inBody });
    expect(bad.status).toBe(inBody ? 200 : undefined);
    const good = await send(pool);
    expect(good.body.toString()).toBe('ok');
    expect(raw.connections()).toBe(2);
  });

  it('refuses bytes after a complete response and does not reuse that connection', async () => {
    const raw = await rawServer((s, _d, index) => {
      s.write(index === 0 ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE' : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const pool = tcpPool(raw.port);
    expect((await send(pool)).body.toString()).toBe('ok');
    expect((await send(pool)).body.toString()).toBe('ok');
    expect(raw.connections()).toBe(2);
  });

  it.each([
    ['a value with CRLF', { 'x-a': 'v\r\nx-injected: 1' }],
    ['a value with a bare LF', { 'x-a': 'v\nx-injected: 1' }],
    ['a value with NUL', { 'x-a': 'v\0' }],
    ['an array value with CRLF', { 'x-a': ['ok', 'v\r\n\r\nGET /smuggled HTTP/1.1'] }],
    ['a name with CRLF', { 'x-a\r\nx-injected': '1' }],
    ['a name with a space', { 'x a': '1' }],
  ])("refuses a request header with %s as 'protocol' without writing it", async (_name, headers) => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const pool = tcpPool(raw.port);
    const o = await send(pool, { headers });
    expect(o.error).toMatchObject({ kind: 'protocol', afterHeaders: false });
    expect(raw.connections()).toBe(0);
    const path = await send(pool, { path: '/a b' });
    expect(path.error?.kind).toBe('protocol');
    expect(raw.connections()).toBe(0);
  });

  it('abort() closes the connection and no callback follows', async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123');
    });
    const pool = tcpPool(raw.port);
    const events: string[] = [];
    let req!: UpstreamRequest;
    await new Promise<void>((resolve) => {
      req = pool.request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, {
        onHeaders() { events.push('headers'); },
        onData() { events.push('data'); req.abort(); resolve(); return true; },
        onEnd() { events.push('end'); },
        onError() { events.push('error'); },
      });
    });
    req.abort();
    await new Promise((r) => setTimeout(r, 30));
    expect(events).toEqual(['headers', 'data']);
    expect(pool.activeConnections).toBe(0);
  });

  // --- pool lifecycle ----------------------------------------------------------------

  it('closes a connection after maxRequestsPerConnection requests', async () => {
    const { port } = await httpServer(echo);
    const pool = tcpPool(port, { maxRequestsPerConnection: 2 });
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) ports.push(echoed(await send(pool)).port);
    expect(ports[0]).toBe(ports[1]);
    expect(ports[2]).toBe(ports[3]);
    expect(new Set(ports).size).toBe(3);
  });

  it('closes idle connections after the idle timeout', async () => {
    const { port } = await httpServer(echo);
    const opts = poolOptions({ idleTimeoutMs: 50 });
    const pool = new LeanHttp1Pool({ kind: 'tcp', host: '127.0.0.1', port }, opts);
    pools.push(pool);
    await send(pool);
    expect(pool.activeConnections).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(pool.activeConnections).toBe(0);
    expect(opts.stats.cxActive.value()).toBe(0);
    expect(opts.stats.cxTotal.value()).toBe(1);
  });

  it('drain() closes idle connections, lets in-flight requests finish and refuses new ones', async () => {
    const { port } = await httpServer((req, res) => {
      setTimeout(() => res.end(req.url), req.url === '/slow' ? 50 : 0);
    });
    const pool = tcpPool(port);
    await Promise.all([send(pool), send(pool)]);
    expect(pool.activeConnections).toBe(2);
    const slow = send(pool, { path: '/slow' });
    let drained = false;
    const d = pool.drain().then(() => { drained = true; });
    const refused = await send(pool);
    expect(refused.error).toMatchObject({ kind: 'reset', afterHeaders: false });
    expect(drained).toBe(false);
    expect((await slow).body.toString()).toBe('/slow');
    await d;
    expect(pool.activeConnections).toBe(0);
  });

  it('destroy() fails in-flight requests and closes everything', async () => {
    const { port } = await httpServer((req, res) => { res.writeHead(200); res.write('partial'); });
    const pool = tcpPool(port);
    const c = collector();
    pool.request({ method: 'GET', path: '/', authority: 'x', headers: {}, body: null }, {
      ...c.handler,
      onData(chunk) { const r = c.handler.onData(chunk); pool.destroy(); return r; },
    });
    const o = await c.done;
    expect(o.error).toMatchObject({ kind: 'reset', afterHeaders: true });
    expect(pool.activeConnections).toBe(0);
  });

  it('connects to a unix socket (pipe) target', async () => {
    const sock = path.join(os.tmpdir(), `lean-pool-${process.pid}-${Date.now()}.sock`);
    await httpServer((req, res) => res.end(`pipe ${req.headers.host}`), sock);
    const pool = new LeanHttp1Pool({ kind: 'pipe', path: sock }, poolOptions());
    pools.push(pool);
    expect((await send(pool)).body.toString()).toBe('pipe upstream.test');
    expect((await send(pool)).body.toString()).toBe('pipe upstream.test');
    expect(pool.activeConnections).toBe(1);
  });

  it('does not reuse a connection past the keep-alive timeout the server announces', async () => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n'));
    const pool = tcpPool(raw.port);
    await send(pool);
    await send(pool);
    expect(raw.connections()).toBe(2);
  });
});

// --- the parser on its own ---------------------------------------------------------

interface Parsed { status?: number; headers?: HeaderMap; body: string; trailers?: HeaderMap; error?: string; complete: boolean }

/** Feeds `pieces` to a fresh parser, as the pool does (no pausing). */
function parse(pieces: Buffer[], head = false, eof = false): Parsed {
  const out: Parsed = { body: '', complete: false };
  const sink: Http1ResponseSink = {
    onResponseHead(status, headers) { out.status = status; out.headers = headers; return true; },
    onResponseData(chunk) { out.body += chunk.toString('latin1'); return true; },
  };
  const p = new Http1ResponseParser(sink);
  p.reset(head);
  for (const piece of pieces) {
    const off = p.execute(piece, 0);
    if (p.error !== undefined) { out.error = p.error; return out; }
    if (p.complete) { out.complete = true; out.trailers = p.trailers; if (off !== piece.length) out.error = 'trailing bytes'; return out; }
  }
  if (eof && p.finishEof()) out.complete = true;
  return out;
}

function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 1; i < buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push(Array.from(buf, (b) => Buffer.from([b])));
  return out;
}

describe('Http1ResponseParser', () => {
  const responses: Array<[string, string, boolean]> = [
    ['content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello', false],
    ['chunked with trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: t\r\nX-T: u\r\n\r\n', false],
    ['chunked without trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', false],
    ['1xx then final', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', false],
    ['close-delimited', 'HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it', true],
  ];

  it.each(responses)('parses %s identically at every split point', (_name, text, eof) => {
    const whole = parse([Buffer.from(text, 'latin1')], false, eof);
    expect(whole.error).toBeUndefined();
    expect(whole.complete).toBe(true);
    for (const pieces of splits(Buffer.from(text, 'latin1'))) expect(parse(pieces, false, eof)).toEqual(whole);
  });

  it('reads chunked trailers and keep-alive facts', () => {
    const r = parse([Buffer.from(responses[1]![1], 'latin1')]);
    expect(r).toMatchObject({ status: 200, body: 'hello 0123456789', trailers: { 'x-t': ['t', 'u'] } });
    const p = new Http1ResponseParser({ onResponseHead: () => true, onResponseData: () => true });
    p.reset(false);
    p.execute(Buffer.from('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=10\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(p.complete && p.keepAlive).toBe(true);
    expect(p.keepAliveHeader).toBe('timeout=5, max=10');
    p.reset(false);
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(p.complete && !p.keepAlive).toBe(true);
    p.reset(false);
    p.execute(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(p.complete && !p.keepAlive).toBe(true);
  });

  it('survives random bytes and random mutations of valid responses (fuzz)', () => {
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const alphabet = Buffer.from('HTTP/1.0 \r\n:;0123456789abcdefABCDEF chunked content-length transfer-encoding\t\0\x7f\xff');
    for (let i = 0; i < 3000; i++) {
      let buf: Buffer;
      if (i % 2 === 0) {
        buf = Buffer.from(Array.from({ length: 1 + rnd(200) }, () => alphabet[rnd(alphabet.length)]!));
      } else {
        buf = Buffer.from(responses[rnd(responses.length)]![1], 'latin1');
        for (let m = 0; m < 1 + rnd(4); m++) buf[rnd(buf.length)] = alphabet[rnd(alphabet.length)]!;
      }
      const cut = rnd(buf.length);
      const r = parse([buf.subarray(0, cut), buf.subarray(cut)], rnd(4) === 0, true);
      if (r.headers) for (const [k, v] of Object.entries(r.headers)) {
        expect(k).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
        for (const s of Array.isArray(v) ? v : [v]) expect(s).not.toMatch(/[\0\r\n]/);
      }
    }
  });

  it.each([
    ['HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n', 'invalid character in status line'],
    ['HTTP/1.1 200 OK\rX: y\r\nContent-Length: 0\r\n\r\n', 'invalid character in status line'],
    ['HTTP/1.1 200 OK\nX: y\r\nContent-Length: 0\r\n\r\n', 'invalid character in status line'],
    ['HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n', 'invalid character in header value'],
    ['HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n', 'invalid character in header value'],
    ['HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n', 'invalid character in header value'],
    ['HTTP/1.1 200 OK\r\nX-A: a\x7f\r\nContent-Length: 0\r\n\r\n', 'invalid character in header value'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\rb\r\n\r\n', 'invalid character in trailers'],
  ])('refuses control characters and bare CR/LF in %j: %s', (text, reason) => {
    for (const pieces of [[Buffer.from(text, 'latin1')], ...splits(Buffer.from(text, 'latin1'))]) {
      expect(parse(pieces).error).toBe(reason);
    }
  });

  it('keeps a horizontal tab inside a value', () => {
    expect(parse([Buffer.from('HTTP/1.1 200 OK\r\nX-A: a\tb\r\nContent-Length: 0\r\n\r\n', 'latin1')]).headers!['x-a']).toBe('a\tb');
  });

  it('ignores a __proto__ header and shadows constructor', () => {
    const r = parse([Buffer.from('HTTP/1.1 200 OK\r\n__proto__: x\r\nConstructor: y\r\nContent-Length: 0\r\n\r\n')]);
    expect(r.headers!['constructor']).toBe('y');
    expect(Object.getPrototypeOf(r.headers)).toBe(Object.prototype);
  });
});
