/**
 * HTTP/2 (h2c, prior knowledge) connection pool to one upstream host on
 * node:http2: one multiplexed session, re-established when it closes or gets
 * GOAWAY. Response bodies stream with the session's flow control; trailers
 * are passed on.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { HeaderMap } from '../contracts/http-filter.ts';
import type { SocketAddress } from '../contracts/snapshot.ts';
import type { Counter, Gauge } from '../contracts/stats.ts';
import type { ConnectionPool, UpstreamRequest, UpstreamRequestSpec, UpstreamResponseHandler } from './upstream-request.ts';
import { CONNECTION_SPECIFIC_FIELDS } from '../../protocols/http/http1-syntax.ts';

/** Options of an HTTP/2 pool. */
export interface Http2PoolOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly stats: { cxTotal: Counter; cxActive: Gauge; cxConnectFail: Counter };
  /** Dials through a transport socket (TLS with ALPN h2); undefined is h2c. */
  readonly dial?: (target: SocketAddress, onReady: () => void) => net.Socket;
}

const { HTTP2_HEADER_STATUS } = http2.constants;

/** HTTP/2 pool to one host. */
export class Http2Pool implements ConnectionPool {
  private session: http2.ClientHttp2Session | undefined;
  private connected = false;
  private readonly target: SocketAddress;
  private readonly opts: Http2PoolOptions;
  private readonly authority: string;
  private active = 0;

  constructor(target: SocketAddress, opts: Http2PoolOptions) {
    this.target = target;
    this.opts = opts;
    const scheme = opts.dial ? 'https' : 'http';
    this.authority = target.kind === 'pipe' ? `${scheme}://localhost` : `${scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  }

  get activeConnections(): number {
    return this.active;
  }

  private getSession(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const t = this.target;
    const dial = this.opts.dial;
    const s = http2.connect(this.authority, {
      createConnection: dial ? () => dial(t, () => undefined) : t.kind === 'pipe' ? () => net.connect(t.path) : undefined,
      peerMaxConcurrentStreams: 1000,
    });
    this.session = s;
    this.connected = false;
    const timer = setTimeout(() => {
      if (!this.connected) s.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
    }, this.opts.connectTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      this.connected = true;
      this.active++;
      this.opts.stats.cxTotal.inc();
      this.opts.stats.cxActive.inc();
      // No frames for idle_timeout: close gracefully (open streams finish).
      s.setTimeout(this.opts.idleTimeoutMs, () => s.close());
    });
    s.on('error', () => {
      if (!this.connected) this.opts.stats.cxConnectFail.inc();
    });
    s.once('close', () => {
      clearTimeout(timer);
      if (this.connected) {
        this.active--;
        this.opts.stats.cxActive.dec();
      }
      if (this.session === s) this.session = undefined;
    });
    s.on('goaway', () => {
      if (this.session === s) this.session = undefined;
    });
    return s;
  }

  request(spec: UpstreamRequestSpec, handler: UpstreamResponseHandler): UpstreamRequest {
    const session = this.getSession();
    const headers: http2.OutgoingHttpHeaders = { ...spec.headers };
    // Connection-specific fields are illegal in HTTP/2 (RFC 9113 8.2.2; node:http2 throws on
    // them): dropped, as Envoy's codec drops them; `te` only as `trailers`.
    delete headers['host'];
    for (const name of CONNECTION_SPECIFIC_FIELDS) if (headers[name] !== undefined && !(name === 'te' && headers[name] === 'trailers')) delete headers[name];
    headers[':method'] = spec.method;
    headers[':path'] = spec.path;
    headers[':authority'] = spec.authority;
    headers[':scheme'] = 'http';
    let gotHeaders = false;
    let done = false;
    const wasConnected = this.connected;
    const hasBody = spec.body !== null && !(Buffer.isBuffer(spec.body) && spec.body.length === 0);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: !hasBody, waitForTrailers: false });
    } catch (e) {
      // A header node:http2 refuses (an invalid name or value): this request fails, as the
      // lean HTTP/1.1 pool fails one it cannot serialize, reported on the next tick.
      let aborted = false;
      process.nextTick(() => { if (!aborted) handler.onError('protocol', `invalid request: ${(e as Error).message}`, false); });
      return { pause: () => undefined, resume: () => undefined, abort: () => { aborted = true; } };
    }
    stream.on('response', (h) => {
      const status = Number(h[HTTP2_HEADER_STATUS]);
      if (status < 200) return;
      gotHeaders = true;
      const out: HeaderMap = {};
      for (const k of Object.keys(h)) if (k[0] !== ':') out[k] = h[k] as string | string[];
      handler.onHeaders(status, out);
    });
    let trailers: HeaderMap | undefined;
    stream.on('trailers', (t) => {
      trailers = {};
      for (const k of Object.keys(t)) if (k[0] !== ':') trailers[k] = t[k] as string | string[];
    });
    stream.on('data', (chunk: Buffer) => {
      if (!handler.onData(chunk)) stream.pause();
    });
    stream.on('end', () => {
      if (done) return;
      done = true;
      handler.onEnd(trailers);
    });
    stream.on('close', () => {
      if (done) return;
      done = true;
      const code = stream.rstCode;
      const kind = !gotHeaders && !wasConnected && !this.connected ? 'connect' : 'reset';
      handler.onError(kind, `stream closed (rst code ${code ?? 'none'})`, gotHeaders);
    });
    stream.on('error', () => undefined); // reported through 'close'
    if (hasBody) {
      if (Buffer.isBuffer(spec.body)) stream.end(spec.body);
      else spec.body!.pipe(stream);
    }
    return {
      pause: () => stream.pause(),
      resume: () => stream.resume(),
      abort: () => {
        done = true;
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  async drain(): Promise<void> {
    const s = this.session;
    if (!s || s.closed) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  destroy(): void {
    this.session?.destroy();
  }
}
