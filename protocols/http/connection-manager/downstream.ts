/**
 * One downstream HTTP stream, whatever its codec: the HTTP/1.1 adapter over
 * node:http's IncomingMessage/ServerResponse and the HTTP/2 adapter over a
 * ServerHttp2Stream expose the same small surface to the router, so one
 * router serves both and the same tests run over both.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import { PassThrough, type Readable } from 'node:stream';
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { addField } from '../http1-syntax.ts';

/** The downstream side of a stream. */
export interface Downstream {
  /** `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`. */
  readonly protocol: string;
  /** Request headers with :method, :path, :authority, :scheme. */
  readonly headers: HeaderMap;
  /** The request body stream, or null when the request has none. */
  readonly body: Readable | null;
  /** True once response headers were sent. */
  readonly headersSent: boolean;
  /** Sends response headers; `endStream` when there is no body. */
  sendHeaders(status: number, headers: HeaderMap, endStream: boolean): void;
  /** Sends a complete response (headers and an optional body) at once. */
  respond(status: number, headers: HeaderMap, body: Buffer | undefined): void;
  /** Writes a body chunk; false when the peer is not reading (wait for onDrain). */
  write(chunk: Buffer): boolean;
  /** Ends the response, with trailers where the codec carries them. */
  end(trailers?: HeaderMap): void;
  /** Resets the stream (h2 RST_STREAM, h1 connection close without completing). */
  reset(): void;
  /** Calls `cb` when writing may continue. */
  onDrain(cb: () => void): void;
  /** Calls `cb` once if the downstream goes away before the response completes. */
  onAbort(cb: () => void): void;
  /** Asks the codec to close the connection after this response (drain). */
  closeConnectionAfter(): void;
  /**
   * Bytes received so far on the connection (for the stream idle timeout's
   * progress check; per connection, so HTTP/2 neighbours count too).
   */
  bytesReceived(): number;
}

const H1_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

/** HTTP/1.x adapter. */
export class Http1Downstream implements Downstream {
  readonly protocol: string;
  readonly headers: HeaderMap;
  readonly body: Readable | null;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private closeAfter = false;

  constructor(req: IncomingMessage, res: ServerResponse, scheme: string) {
    this.req = req;
    this.res = res;
    this.protocol = req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`;
    // One pass over the raw headers (node:http's req.headers would build a
    // second object): pseudo-headers first, host and hop-by-hop left out.
    const h: HeaderMap = { ':method': req.method ?? 'GET', ':path': req.url ?? '/', ':authority': '', ':scheme': scheme };
    const raw = req.rawHeaders;
    let hasBody = false;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      const v = raw[i + 1]!;
      if (k === 'host') {
        if (h[':authority'] === '') h[':authority'] = v;
        continue;
      }
      if (H1_HOP_BY_HOP.has(k)) {
        if (k === 'transfer-encoding') hasBody = true;
        // `te: trailers` is the one TE value that is forwarded (gRPC needs it).
        else if (k === 'te' && v === 'trailers') h['te'] = v;
        continue;
      }
      if (k === 'content-length' && v !== '0') hasBody = true;
      // node:http already answered 100 Continue (Envoy's default, without
      // proxy_100_continue), so the expectation is not passed upstream.
      if (k === 'expect' && v.toLowerCase() === '100-continue') continue;
      const cur = h[k];
      if (cur === undefined) h[k] = v;
      else if (k === 'cookie') h[k] = `${cur as string}; ${v}`;
      else if (Array.isArray(cur)) cur.push(v);
      else h[k] = [cur, v];
    }
    this.headers = h;
    this.body = hasBody ? req : null;
    if (!hasBody) req.resume();
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    // A flat [name, value, ...] list: node:http takes it without building
    // its own header object.
    const out: string[] = [];
    let hasLength = false;
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || k.charCodeAt(0) === 58 /* ':' */ || H1_HOP_BY_HOP.has(k)) continue;
      if (k === 'content-length') hasLength = true;
      if (Array.isArray(v)) for (const x of v) out.push(k, x);
      else out.push(k, v);
    }
    if (this.closeAfter || this.req.httpVersion === '1.0') out.push('connection', 'close');
    if (endStream && !hasLength && this.req.method !== 'HEAD' && status !== 204 && status !== 304) out.push('content-length', '0');
    this.res.writeHead(status, out);
    if (endStream) this.res.end();
  }

  respond(status: number, headers: HeaderMap, body: Buffer | undefined): void {
    this.sendHeaders(status, headers, false);
    this.res.end(body);
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  end(trailers?: HeaderMap): void {
    if (trailers && !this.res.getHeader('content-length')) {
      const t: Record<string, string> = {};
      for (const k in trailers) {
        const v = trailers[k];
        if (v !== undefined) t[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      this.res.addTrailers(t);
    }
    this.res.end();
  }

  reset(): void {
    this.res.destroy();
    this.req.socket.destroy();
  }

  onDrain(cb: () => void): void {
    this.res.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) cb();
    });
  }

  bytesReceived(): number {
    return this.req.socket.bytesRead;
  }

  closeConnectionAfter(): void {
    this.closeAfter = true;
    if (!this.res.headersSent) this.res.shouldKeepAlive = false;
  }
}

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/** HTTP/2 adapter. */
export class Http2Downstream implements Downstream {
  readonly protocol = 'HTTP/2';
  readonly headers: HeaderMap;
  readonly body: Readable | null;
  private readonly stream: http2.ServerHttp2Stream;
  private pendingTrailers: HeaderMap | undefined;

  /**
   * `rawHeaders` is node:http2's flat [name, value, ...] list: node's header
   * object joins a repeated field with ", " (cookies with "; "), where Envoy
   * keeps each value, so matchers see `a,b` on HTTP/2 as on HTTP/1.1.
   */
  constructor(stream: http2.ServerHttp2Stream, rawHeaders: readonly string[], endStream: boolean) {
    this.stream = stream;
    const h: HeaderMap = {};
    let host: string | undefined;
    let expectContinue = false;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const k = rawHeaders[i]!;
      const v = rawHeaders[i + 1]!;
      if (k === 'te' && v !== 'trailers') continue;
      if (k === 'expect' && v.toLowerCase() === '100-continue') { expectContinue = true; continue; }
      if (k === 'host') { host ??= v; continue; }
      // RFC 9113 8.2.3: cookie crumbs are joined with "; " for the rest of the path.
      addField(h, k, v, true);
    }
    if (h[':authority'] === undefined && host !== undefined) h[':authority'] = host;
    this.headers = h;
    // The upstream client may destroy the body stream once it has read it;
    // destroying an Http2Stream would reset the whole stream, response side
    // included, so the body is handed over through a PassThrough.
    this.body = endStream ? null : stream.pipe(new PassThrough());
    if (endStream) stream.resume();
    // Expect: 100-continue is answered here, as on HTTP/1.1 (not forwarded).
    else if (expectContinue && !stream.headersSent) {
      stream.additionalHeaders({ ':status': 100 });
    }
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.stream.destroyed || this.stream.closed) return;
    const out: http2.OutgoingHttpHeaders = { ':status': status };
    for (const k in headers) {
      const v = headers[k];
      if (v !== undefined && k[0] !== ':' && !H2_FORBIDDEN.has(k)) out[k] = v;
    }
    this.stream.respond(out, { endStream, waitForTrailers: !endStream });
    if (!endStream) {
      this.stream.once('wantTrailers', () => {
        // No trailers: an empty trailer list makes nghttp2 end the stream
        // with an empty DATA frame carrying END_STREAM.
        this.stream.sendTrailers((this.pendingTrailers ?? {}) as http2.OutgoingHttpHeaders);
      });
    }
  }

  respond(status: number, headers: HeaderMap, body: Buffer | undefined): void {
    this.sendHeaders(status, headers, false);
    this.end(undefined, body);
  }

  write(chunk: Buffer): boolean {
    if (this.stream.destroyed) return true;
    return this.stream.write(chunk);
  }

  end(trailers?: HeaderMap, last?: Buffer): void {
    if (this.stream.destroyed) return;
    this.pendingTrailers = trailers;
    if (last) this.stream.end(last);
    else this.stream.end();
  }

  reset(): void {
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  onDrain(cb: () => void): void {
    this.stream.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    this.stream.once('close', () => {
      if (this.stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR || !this.stream.writableFinished) cb();
    });
  }

  bytesReceived(): number {
    return this.stream.session?.socket?.bytesRead ?? 0;
  }

  closeConnectionAfter(): void {
    const s = this.stream.session;
    if (s && !s.closed) s.goaway(http2.constants.NGHTTP2_NO_ERROR);
  }
}
