/**
 * A small test client that sends the same request over HTTP/1.1 or h2c
 * (prior knowledge), so routing tests run over both codecs.
 */
import http from 'node:http';
import http2 from 'node:http2';

/** A response as the tests see it. */
export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  trailers: Record<string, string | string[] | undefined>;
  text(): string;
  json(): Record<string, unknown>;
}

/** A request. */
export interface TestRequest {
  method?: string;
  path?: string;
  /** Host (HTTP/1.1) / :authority (h2). */
  authority?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** The codecs the same test bodies run over. */
export const PROTOCOLS = ['h1', 'h2'] as const;
/** One of PROTOCOLS. */
export type Protocol = (typeof PROTOCOLS)[number];

function finish(status: number, headers: TestResponse['headers'], chunks: Buffer[], trailers: TestResponse['trailers']): TestResponse {
  const body = Buffer.concat(chunks);
  return { status, headers, body, trailers, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> };
}

/** Sends one request to 127.0.0.1:port. */
export function send(protocol: Protocol, port: number, req: TestRequest = {}): Promise<TestResponse> {
  return protocol === 'h1' ? sendH1(port, req) : sendH2(port, req);
}

function sendH1(port: number, r: TestRequest): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: r.method ?? 'GET', path: r.path ?? '/', agent: false, headers: { host: r.authority ?? 'example.com', ...r.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(finish(res.statusCode ?? 0, res.headers, chunks, res.trailers)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

function sendH2(port: number, r: TestRequest): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': r.method ?? 'GET', ':path': r.path ?? '/', ':authority': r.authority ?? 'example.com', ...r.headers }, { endStream: r.body === undefined });
    let status = 0;
    let headers: TestResponse['headers'] = {};
    let trailers: TestResponse['trailers'] = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = { ...h } as TestResponse['headers'];
    });
    stream.on('trailers', (t) => (trailers = { ...t } as TestResponse['trailers']));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve(finish(status, headers, chunks, trailers));
    });
    stream.on('error', (e) => {
      session.destroy();
      reject(e);
    });
    if (r.body !== undefined) stream.end(r.body);
  });
}

/**
 * One unary gRPC call over h2c with an empty message: the response headers
 * (a proxy's local gRPC reply is trailers-only, so grpc-status is there).
 */
export async function grpcCall(port: number, path = '/pkg.Svc/Call'): Promise<http2.IncomingHttpHeaders> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      let headers: http2.IncomingHttpHeaders = {};
      s.on('response', (h) => (headers = h));
      s.on('data', () => undefined);
      s.on('end', () => resolve(headers));
      s.on('error', reject);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  } finally {
    session.close();
  }
}
