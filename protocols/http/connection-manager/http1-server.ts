/**
 * A lean HTTP/1.1 server codec: serves a net.Socket directly with
 * Http1RequestParser and hands each request to the router as a `Downstream`
 * (LeanHttp1Downstream), without node:http's IncomingMessage/ServerResponse
 * machinery. It behaves like Http1Downstream over node:http: same header map,
 * same framing choices, same local answers to malformed input (status,
 * `connection: close`, nothing forwarded).
 *
 * One request is processed at a time. Pipelined bytes are kept until the
 * response to the current request completes; reading stops while a request
 * body's reader is behind (backpressure) or more than 64 KiB of a next
 * request is waiting. A response that completes before its request body
 * has arrived closes the connection afterwards, as Envoy does (the rest of
 * the body is never forwarded). One lazily re-armed timer per connection
 * covers the keep-alive idle timeout and the request headers timeout.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ProtocolError } from '../../../sidecar/contracts/errors.ts';
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import type { Downstream } from './downstream.ts';
import { CONNECTION_SPECIFIC_FIELDS, isTokenName } from '../http1-syntax.ts';
import { Http1RequestParser, type Http1RequestSink } from './http1-request-parser.ts';

/** Limits and timeouts of a lean HTTP/1.1 connection. */
export interface LeanHttp1Options {
  /** `:scheme` of requests; `http` when absent. */
  readonly scheme?: string;
  /** Largest request line + header section, in KiB (431 past it). */
  readonly maxRequestHeadersKb: number;
  /** Most request header fields (431 past it). */
  readonly maxHeadersCount: number;
  /** Close a connection idle between requests this long; 0 for never. */
  readonly keepAliveTimeoutMs: number;
  /** Answer 408 and close when a request head takes this long; 0 for no limit. */
  readonly headersTimeoutMs: number;
  /** Largest request body (413 past it); 0 or absent for no limit. */
  readonly maxRequestBodyBytes?: number;
}

/** What the connection reports besides requests. */
export interface LeanHttp1Hooks {
  /** Malformed input (or a headers timeout) was answered with `status` and the connection closed. */
  onProtocolError(status: number, reason: string): void;
}

/** The handle serveLeanHttp1 returns, for the connection manager's draining. */
export interface LeanHttp1Connection {
  /** No request in progress and no bytes of one received. */
  readonly idle: boolean;
  /** Closes now when idle; otherwise every later response says `connection: close`. */
  drain(): void;
}

/** Bytes of following (pipelined) requests kept before the socket stops being read. */
const MAX_PIPELINED_BYTES = 64 * 1024;
/** How long a connection closed by us keeps reading (and discarding) before it is destroyed. */
const LINGER_MS = 5000;
/** Responses at most this large are copied into one buffer with their head. */
const COPY_BODY_MAX = 16 * 1024;

const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
const EMPTY = Buffer.alloc(0);

const FRAMING_NONE = 0;
const FRAMING_LENGTH = 1;
const FRAMING_CHUNKED = 2;
const FRAMING_CLOSE = 3;

let dateSecond = -1;
let dateValue = '';

/** The `date` header value, formatted at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** Serialises header fields (skipping pseudo, hop-by-hop and invalid ones); returns flags. */
function fieldLines(headers: HeaderMap | undefined, out: { text: string; hasLength: boolean; hasDate: boolean }): void {
  let text = '';
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || k.charCodeAt(0) === 58 /* ':' */ || CONNECTION_SPECIFIC_FIELDS.has(k) || !isTokenName(k)) continue;
    if (k === 'content-length') out.hasLength = true;
    else if (k === 'date') out.hasDate = true;
    if (typeof v === 'string') {
      // A CR or LF in a value would split the response; such a field is dropped.
      if (!BAD_VALUE.test(v)) text += `${k}: ${v}\r\n`;
    } else {
      for (const x of v) if (!BAD_VALUE.test(x)) text += `${k}: ${x}\r\n`;
    }
  }
  out.text = text;
}

/** A request body fed by the parser; asks the connection for more when read. */
class LeanRequestBody extends Readable {
  private readonly conn: Http1ServerConnection;

  constructor(conn: Http1ServerConnection) {
    super();
    this.conn = conn;
  }

  override _read(): void {
    this.conn.bodyWanted(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.bodyDestroyed(this);
    // As IncomingMessage does: an abort is an error only to those listening for one.
    cb(err !== null && this.listenerCount('error') > 0 ? err : null);
  }
}

/** One request/response exchange on a lean HTTP/1.1 connection. */
export class LeanHttp1Downstream implements Downstream {
  readonly protocol: string;
  readonly headers: HeaderMap;
  readonly body: Readable | null;
  /** Trailers of a chunked request body, once it completed with some. */
  requestTrailers: HeaderMap | undefined = undefined;
  /** The response completed (or was replaced by a local error reply). */
  finished = false;
  private sent = false;
  private framing = FRAMING_NONE;
  /** Body bytes still due under a content-length. */
  private remaining = 0;
  private closeAfter = false;
  /** Whether the connection stays open after this response (decided with the head). */
  private keepAlive = true;
  private readonly conn: Http1ServerConnection;
  private readonly socket: Socket;
  private readonly headRequest: boolean;
  private drainCbs: (() => void)[] | null = null;
  /** Response head not written yet (sendHeaders without endStream). */
  private pendingHead: string | null = null;
  private readonly flushHead = (): void => {
    const h = this.pendingHead;
    if (h === null) return;
    this.pendingHead = null;
    if (!this.socket.destroyed) this.socket.write(h, 'latin1');
  };
  private abortCbs: (() => void)[] | null = null;

  constructor(conn: Http1ServerConnection, socket: Socket, headers: HeaderMap, http10: boolean, body: Readable | null) {
    this.conn = conn;
    this.socket = socket;
    this.headers = headers;
    this.protocol = http10 ? 'HTTP/1.0' : 'HTTP/1.1';
    this.body = body;
    this.headRequest = headers[':method'] === 'HEAD';
  }

  get headersSent(): boolean {
    return this.sent;
  }

  /** Whether the connection stays open after this response. */
  get keepsAlive(): boolean {
    return this.keepAlive && !this.closeAfter;
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.sent || this.finished) return;
    const head = this.head(status, headers, endStream, -1);
    if (endStream) {
      if (!this.socket.destroyed) this.socket.write(head, 'latin1');
      this.complete();
      return;
    }
    // Held for the first body write (one write instead of two), flushed
    // after the current job if none comes.
    this.pendingHead = head;
    queueMicrotask(this.flushHead);
  }

  respond(status: number, headers: HeaderMap, body: Buffer | undefined): void {
    if (this.sent || this.finished) return;
    const n = body === undefined ? 0 : body.length;
    const head = this.head(status, headers, false, n);
    const s = this.socket;
    if (!s.destroyed) {
      if (n === 0 || this.framing === FRAMING_NONE) {
        s.write(head, 'latin1');
      } else if (n <= COPY_BODY_MAX) {
        this.remaining = 0;
        const out = Buffer.allocUnsafe(head.length + n);
        out.write(head, 0, 'latin1');
        body!.copy(out, head.length);
        s.write(out);
      } else {
        this.remaining = 0;
        s.cork();
        s.write(head, 'latin1');
        s.write(body!);
        s.uncork();
      }
    }
    this.complete();
  }

  write(chunk: Buffer): boolean {
    if (!this.sent || this.finished || this.socket.destroyed) return true;
    const s = this.socket;
    const head = this.pendingHead;
    this.pendingHead = null;
    switch (this.framing) {
      case FRAMING_CHUNKED: {
        if (chunk.length === 0) {
          if (head !== null) s.write(head, 'latin1');
          return true;
        }
        s.cork();
        s.write(head === null ? `${chunk.length.toString(16)}\r\n` : `${head}${chunk.length.toString(16)}\r\n`, 'latin1');
        s.write(chunk);
        const ok = s.write('\r\n', 'latin1');
        s.uncork();
        return ok;
      }
      case FRAMING_LENGTH:
        // Bytes past the declared length would be read as the next response.
        if (chunk.length > this.remaining) chunk = chunk.subarray(0, this.remaining);
        this.remaining -= chunk.length;
        break;
      case FRAMING_NONE:
        chunk = EMPTY;
        break;
      default:
        break;
    }
    if (head === null) return chunk.length === 0 ? true : s.write(chunk);
    if (chunk.length === 0) return s.write(head, 'latin1');
    s.cork();
    s.write(head, 'latin1');
    const ok = s.write(chunk);
    s.uncork();
    return ok;
  }

  end(trailers?: HeaderMap): void {
    if (this.finished) return;
    if (!this.sent) {
      this.sendHeaders(200, {}, true);
      return;
    }
    if (this.framing === FRAMING_LENGTH && this.remaining > 0) {
      // Shorter than declared: the client can only learn that from a reset.
      this.finished = true;
      this.pendingHead = null;
      this.socket.destroy();
      return;
    }
    const head = this.pendingHead ?? '';
    this.pendingHead = null;
    if (!this.socket.destroyed) {
      if (this.framing === FRAMING_CHUNKED) {
        if (trailers === undefined) this.socket.write(`${head}0\r\n\r\n`, 'latin1');
        else {
          const t = { text: '', hasLength: false, hasDate: false };
          fieldLines(trailers, t);
          this.socket.write(`${head}0\r\n${t.text}\r\n`, 'latin1');
        }
      } else if (head !== '') this.socket.write(head, 'latin1');
    }
    this.complete();
  }

  reset(): void {
    this.socket.destroy();
  }

  onDrain(cb: () => void): void {
    (this.drainCbs ??= []).push(cb);
  }

  onAbort(cb: () => void): void {
    (this.abortCbs ??= []).push(cb);
  }

  closeConnectionAfter(): void {
    this.closeAfter = true;
  }

  bytesReceived(): number {
    return this.socket.bytesRead;
  }

  /** The socket drained: runs (and forgets) the drain callbacks. */
  emitDrain(): void {
    const cbs = this.drainCbs;
    if (cbs === null) return;
    this.drainCbs = null;
    for (const cb of cbs) cb();
  }

  /** The connection went away (or was answered locally) before the response completed. */
  emitAbort(): void {
    if (this.finished) return;
    this.finished = true;
    const cbs = this.abortCbs;
    this.abortCbs = null;
    if (cbs !== null) for (const cb of cbs) cb();
  }

  /** Forgets a response head not written yet; false when bytes of the response are on the wire. */
  unsendHead(): boolean {
    if (this.pendingHead === null) return false;
    this.pendingHead = null;
    return true;
  }

  /** Marks the response as replaced by the connection's own error reply. */
  markAnsweredLocally(): void {
    this.sent = true;
  }

  /** Builds the status line and header section and decides the framing. */
  private head(status: number, headers: HeaderMap, endStream: boolean, bodyLength: number): string {
    this.sent = true;
    const f = { text: '', hasLength: false, hasDate: false };
    fieldLines(headers, f);
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${f.text}`;
    if (!f.hasDate) text += `date: ${httpDate()}\r\n`;
    const noBody = this.headRequest || status === 204 || status === 304 || status < 200;
    let keepAlive = this.conn.requestKeepAlive && !this.closeAfter && !this.conn.draining;
    if (noBody) {
      // A HEAD response still states the length a GET would have had.
      if (this.headRequest && !f.hasLength && bodyLength >= 0) text += `content-length: ${bodyLength}\r\n`;
      this.framing = FRAMING_NONE;
    } else if (f.hasLength) {
      const cl = headers['content-length']!;
      this.remaining = Number(typeof cl === 'string' ? cl : cl[0]);
      if (!(this.remaining >= 0)) this.remaining = 0;
      this.framing = FRAMING_LENGTH;
    } else if (endStream || bodyLength >= 0) {
      this.remaining = endStream ? 0 : bodyLength;
      text += `content-length: ${this.remaining}\r\n`;
      this.framing = FRAMING_LENGTH;
    } else if (this.protocol === 'HTTP/1.1') {
      text += 'transfer-encoding: chunked\r\n';
      this.framing = FRAMING_CHUNKED;
    } else {
      this.framing = FRAMING_CLOSE;
      keepAlive = false;
    }
    this.keepAlive = keepAlive;
    if (!keepAlive) text += 'connection: close\r\n';
    else if (this.protocol === 'HTTP/1.0') text += 'connection: keep-alive\r\n';
    return text + '\r\n';
  }

  private complete(): void {
    this.finished = true;
    this.drainCbs = null;
    this.abortCbs = null;
    this.conn.onResponseComplete(this);
  }
}

/** The per-socket state machine behind serveLeanHttp1. */
class Http1ServerConnection implements Http1RequestSink, LeanHttp1Connection {
  draining = false;
  private readonly socket: Socket;
  private readonly opts: LeanHttp1Options;
  private readonly onRequest: (ds: LeanHttp1Downstream) => void;
  private readonly hooks: LeanHttp1Hooks;
  private readonly parser: Http1RequestParser;
  /** The exchange in progress: its request is being read or its response written. */
  private current: LeanHttp1Downstream | null = null;
  private body: LeanRequestBody | null = null;
  /** Unparsed received bytes (a body slice the reader is behind on, or pipelined requests). */
  private buffered: Buffer | null = null;
  private pumping = false;
  private pumpAgain = false;
  private pumpScheduled = false;
  /** The body reader is behind: parsing waits for its _read. */
  private bodyBlocked = false;
  /** The response is done but the request body is not: its bytes are dropped. */
  private discardBody = false;
  private continueSent = false;
  private paused = false;
  /** We are closing: the socket was ended and incoming bytes are discarded. */
  private closing = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  private idleSince = 0;
  private headStart = 0;

  constructor(socket: Socket, opts: LeanHttp1Options, onRequest: (ds: LeanHttp1Downstream) => void, hooks: LeanHttp1Hooks) {
    this.socket = socket;
    this.opts = opts;
    this.onRequest = onRequest;
    this.hooks = hooks;
    this.parser = new Http1RequestParser(this, {
      scheme: opts.scheme ?? 'http',
      maxHeaderBytes: opts.maxRequestHeadersKb * 1024,
      maxHeadersCount: opts.maxHeadersCount,
      maxBodyBytes: opts.maxRequestBodyBytes ?? 0,
    });
    // As node:http does (its noDelay option defaults to true).
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('drain', () => this.current?.emitDrain());
    socket.on('error', () => undefined); // 'close' follows
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onClose());
    this.idleSince = Date.now();
    this.armTimer();
  }

  get idle(): boolean {
    return this.current === null && this.buffered === null && !this.parser.inHead;
  }

  /** Whether the request in progress lets the connection stay open. */
  get requestKeepAlive(): boolean {
    return this.parser.keepAlive && !this.closing;
  }

  drain(): void {
    this.draining = true;
    if (this.idle && !this.closing) this.closeGracefully();
  }

  // --- Http1RequestSink --------------------------------------------------------

  onRequestHead(headers: HeaderMap): boolean {
    const p = this.parser;
    this.headStart = 0;
    const body = p.hasBody ? new LeanRequestBody(this) : null;
    this.body = body;
    this.continueSent = !p.expectContinue;
    const ds = new LeanHttp1Downstream(this, this.socket, headers, p.http10, body);
    if (this.draining) ds.closeConnectionAfter();
    this.current = ds;
    this.onRequest(ds);
    return !this.bodyBlocked;
  }

  onRequestData(chunk: Buffer): boolean {
    const body = this.body;
    if (body === null || this.discardBody) return true;
    if (body.push(chunk)) return true;
    this.bodyBlocked = true;
    return false;
  }

  onRequestEnd(trailers: HeaderMap | undefined): void {
    const ds = this.current;
    if (ds !== null) ds.requestTrailers = trailers;
    if (this.body !== null && !this.discardBody) this.body.push(null);
  }

  // --- called by the body and the downstream -------------------------------------

  /** The body's reader wants more. */
  bodyWanted(body: LeanRequestBody): void {
    if (body !== this.body) return;
    if (!this.continueSent) {
      this.continueSent = true;
      const ds = this.current;
      if (ds !== null && !ds.headersSent && !this.socket.destroyed) this.socket.write(CONTINUE_100, 'latin1');
    }
    if (this.bodyBlocked) {
      this.bodyBlocked = false;
      this.pump();
    }
  }

  /** The body was destroyed (by its reader, or because the connection closed). */
  bodyDestroyed(body: LeanRequestBody): void {
    if (body !== this.body) return;
    if (this.parser.inBody) this.discardBody = true;
    if (this.bodyBlocked) {
      this.bodyBlocked = false;
      this.schedulePump();
    }
  }

  /** The response of `ds` was written completely. */
  onResponseComplete(ds: LeanHttp1Downstream): void {
    if (ds !== this.current) return;
    if (!ds.keepsAlive) {
      this.closeGracefully();
      return;
    }
    if (!this.parser.complete) {
      // The rest of the body is dropped; if it is not all here already, the
      // connection closes (checked when the buffered bytes run out).
      this.discardBody = true;
      if (this.body !== null && !this.body.destroyed) this.body.destroy();
      this.bodyBlocked = false;
    }
    if (this.pumping) return; // the pump loop moves on to the next request
    if (this.parser.complete) this.startNext();
    this.schedulePump();
  }

  // --- socket events -----------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.current === null && this.headStart === 0) this.headStart = Date.now();
    const b = this.buffered;
    this.buffered = b === null ? chunk : Buffer.concat([b, chunk]);
    this.pump();
  }

  private onEnd(): void {
    // The client will send nothing more. An idle connection closes; one with
    // a response outstanding finishes it if the socket is half-open.
    if (this.current === null || this.current.finished || !this.socket.writable) this.socket.destroy();
  }

  private onClose(): void {
    this.closing = true;
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    const body = this.body;
    if (body !== null && this.parser.inBody && !body.destroyed) {
      // The stream's consumer learns of the abort through onAbort; an
      // 'error' nobody listens to must not take the process down.
      if (body.listenerCount('error') === 0) body.on('error', () => undefined);
      body.destroy(new Error('aborted'));
    }
    const ds = this.current;
    if (ds !== null && !ds.finished) ds.emitAbort();
    this.buffered = null;
  }

  // --- parsing -----------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled || this.buffered === null) {
      this.updateFlow();
      this.checkAbandonedBody();
      return;
    }
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Parses buffered bytes as far as the current exchange allows. */
  private pump(): void {
    if (this.pumping) { this.pumpAgain = true; return; }
    this.pumping = true;
    const p = this.parser;
    do {
      this.pumpAgain = false;
      while (this.buffered !== null && !this.closing) {
        if (p.complete) {
          if (this.current !== null && !this.current.finished) break; // one request at a time
          this.startNext();
        }
        if (this.bodyBlocked) break;
        const buf = this.buffered;
        const off = p.execute(buf, 0);
        this.buffered = off >= buf.length ? null : buf.subarray(off);
        if (p.failed) { this.protocolError(p.error!); break; }
        if (off === 0 && !p.complete && !this.bodyBlocked) break;
      }
      if (!this.closing && p.complete && this.current !== null && this.current.finished && this.buffered === null) this.startNext();
    } while (this.pumpAgain && !this.closing);
    this.pumping = false;
    this.checkAbandonedBody();
    this.updateFlow();
  }

  /** A finished response whose request body is not all here: close (Envoy does). */
  private checkAbandonedBody(): void {
    const ds = this.current;
    if (!this.closing && ds !== null && ds.finished && this.parser.inBody && this.buffered === null) this.closeGracefully();
  }

  /** Reads when parsing can proceed; stops while the body reader or a response is behind. */
  private updateFlow(): void {
    if (this.closing) return;
    const waiting = this.bodyBlocked
      || (this.parser.complete && this.buffered !== null && this.buffered.length > MAX_PIPELINED_BYTES);
    if (waiting && !this.paused) { this.paused = true; this.socket.pause(); }
    else if (!waiting && this.paused) { this.paused = false; this.socket.resume(); }
  }

  /** Forgets the finished exchange and waits for the next request. */
  private startNext(): void {
    this.current = null;
    this.body = null;
    this.discardBody = false;
    this.bodyBlocked = false;
    this.parser.reset();
    this.idleSince = Date.now();
    this.headStart = this.buffered !== null ? this.idleSince : 0;
    if (this.draining) { this.closeGracefully(); return; }
    this.armTimer();
  }

  /** Answers malformed input and closes; a live exchange is aborted. */
  private protocolError(err: ProtocolError): void {
    const status = Number(err.wireCode);
    this.hooks.onProtocolError(status, err.message);
    const ds = this.current;
    if (ds !== null && !ds.finished) {
      if (ds.headersSent && !ds.unsendHead()) { this.socket.destroy(); return; }
      ds.markAnsweredLocally();
      const body = this.body;
      if (body !== null && !body.destroyed) body.destroy(new Error(err.message));
      ds.emitAbort();
    }
    this.localReply(status);
  }

  /** Writes a complete error response with `connection: close`, then closes. */
  private localReply(status: number): void {
    if (this.closing) return;
    const text = STATUS_CODES[status] ?? 'Error';
    if (!this.socket.destroyed) {
      this.socket.write(`HTTP/1.1 ${status} ${text}\r\ncontent-length: ${text.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${text}`, 'latin1');
    }
    this.closeGracefully();
  }

  /** Ends our side and keeps reading (discarding) until the peer closes or LINGER_MS passes. */
  private closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.buffered = null;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.timer.unref();
    this.socket.end();
    if (this.paused) { this.paused = false; this.socket.resume(); }
  }

  // --- timers ------------------------------------------------------------------

  private armTimer(): void {
    if (this.timer !== undefined || this.closing) return;
    const ka = this.opts.keepAliveTimeoutMs;
    const ht = this.opts.headersTimeoutMs;
    const ms = ka > 0 && ht > 0 ? Math.min(ka, ht) : ka > 0 ? ka : ht;
    if (ms > 0) this.timer = setTimeout(() => this.onTimer(), Math.min(ms, 2 ** 31 - 1));
  }

  /** Checks the idle and headers deadlines; re-arms for what is left. */
  private onTimer(): void {
    this.timer = undefined;
    if (this.closing || this.current !== null) return; // re-armed when the exchange ends
    const now = Date.now();
    const ht = this.opts.headersTimeoutMs;
    const ka = this.opts.keepAliveTimeoutMs;
    let left: number;
    if (this.headStart > 0) {
      if (ht <= 0) return;
      left = this.headStart + ht - now;
      if (left <= 0) {
        this.hooks.onProtocolError(408, 'request headers timeout');
        this.localReply(408);
        return;
      }
    } else {
      if (ka <= 0) { this.armForHeaders(); return; }
      left = this.idleSince + ka - now;
      if (left <= 0) {
        this.closing = true;
        this.socket.destroy();
        return;
      }
      if (ht > 0) left = Math.min(left, ht);
    }
    this.timer = setTimeout(() => this.onTimer(), Math.min(left, 2 ** 31 - 1));
  }

  private armForHeaders(): void {
    const ht = this.opts.headersTimeoutMs;
    if (ht > 0) this.timer = setTimeout(() => this.onTimer(), ht);
  }
}

/**
 * Serves HTTP/1.x on `socket` (already accepted, possibly with bytes
 * unshifted back): calls `onRequest` for each request, one at a time, and
 * `hooks.onProtocolError` when input is refused. Returns a handle for draining.
 */
export function serveLeanHttp1(
  socket: Socket,
  opts: LeanHttp1Options,
  onRequest: (ds: LeanHttp1Downstream) => void,
  hooks: LeanHttp1Hooks,
): LeanHttp1Connection {
  return new Http1ServerConnection(socket, opts, onRequest, hooks);
}
