/**
 * Real upstream servers for tests: an HTTP/1.1 echo server whose behaviour
 * is chosen per request by headers (x-test-status, x-test-delay-ms,
 * x-test-reset, x-test-bytes), and an h2c server with trailers.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** What an upstream saw of one request. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

/** A running upstream. */
export interface TestUpstream {
  readonly port: number;
  readonly seen: SeenRequest[];
  /** Responses to fail with this status before succeeding (retry tests). */
  failNext: number;
  failStatus: number;
  /** Extra headers on failing responses (e.g. a gRPC trailers-only grpc-status). */
  failHeaders: Record<string, string>;
  close(): Promise<void>;
}

/** An HTTP/1.1 echo upstream on 127.0.0.1:0. */
export async function startHttpUpstream(name = 'up'): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const up = { seen, failNext: 0, failStatus: 503, failHeaders: {} } as TestUpstream & { failNext: number; failStatus: number };
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, bodyBytes: bytes });
      if (up.failNext > 0) {
        up.failNext--;
        res.writeHead(up.failStatus, { 'content-type': 'text/plain', ...up.failHeaders }).end('failing\n');
        return;
      }
      const delay = Number(req.headers['x-test-delay-ms'] ?? 0);
      const respond = (): void => {
        if (req.headers['x-test-reset'] === 'headers') {
          req.socket.destroy();
          return;
        }
        const status = Number(req.headers['x-test-status'] ?? 200);
        const n = Number(req.headers['x-test-bytes'] ?? -1);
        if (n >= 0) {
          res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': String(n), 'x-upstream': name, server: 'test-upstream' });
          const chunk = Buffer.alloc(64 * 1024, 97);
          let left = n;
          const pump = (): void => {
            while (left > 0) {
              if (req.headers['x-test-reset'] === 'body' && left < n / 2) {
                req.socket.destroy();
                return;
              }
              const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
              left -= c.length;
              if (!res.write(c)) return void res.once('drain', pump);
            }
            res.end();
          };
          pump();
          return;
        }
        const body = JSON.stringify({ upstream: name, method: req.method, path: req.url, headers: req.headers, bodyBytes: bytes });
        res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': name, server: 'test-upstream', connection: 'keep-alive' });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (delay > 0) {
        // The delay ends with the response: a proxy that gave up (a route
        // timeout) closes it, and a pending timer would outlive close() and
        // keep the jest worker alive.
        const t = setTimeout(respond, delay);
        res.on('close', () => clearTimeout(t));
      } else respond();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  Object.defineProperty(up, 'port', { value: port });
  up.close = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return up;
}

/** An h2c upstream that echoes the request body and sends trailers. */
export async function startH2Upstream(): Promise<{ port: number; close(): Promise<void>; seen: http2.IncomingHttpHeaders[] }> {
  const seen: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'x-h2-upstream': '1' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 'done' }));
      stream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
