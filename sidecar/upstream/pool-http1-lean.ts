/**
 * A lean HTTP/1.1 keep-alive connection pool to one upstream host, on
 * node:net sockets and our own response parser (http1-response-parser.ts),
 * as a cheaper alternative to the undici pool (pool-http1.ts): no wasm
 * parser, no request validation layer, writes go to the socket at once.
 *
 * One request per connection at a time (no pipelining); idle connections are
 * kept in a LIFO list and reused, new ones are opened on demand. Per request
 * it allocates one small request object, the head string and the header map;
 * everything else lives in a per-connection object whose socket and parser
 * callbacks are bound once when the connection opens.
 *
 * Longer than most modules: the connection class is one state machine (write,
 * parse, flow control, errors, reuse) and reads best in one place.
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../contracts/http-filter.ts';
import type { SocketAddress } from '../contracts/snapshot.ts';
import { isTokenName } from '../../protocols/http/http1-syntax.ts';
import { Http1ResponseParser, type Http1ResponseSink } from './http1-response-parser.ts';
import type { Http1PoolOptions } from './pool-http1.ts';
import type { ConnectionPool, UpstreamFailure, UpstreamRequest, UpstreamRequestSpec, UpstreamResponseHandler } from './upstream-request.ts';

/** RFC 9110 token (methods, header names). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a header value may not contain: it would end the line or the head. */
const BAD_VALUE = /[\0\r\n]/;
/** What a request target or authority may not contain. */
const BAD_TARGET = /[\0-\x20\x7f]/;

/**
 * undici treats a server's `keep-alive: timeout=N` as N seconds minus this
 * margin, so we never send on a connection the server is about to close.
 */
const KEEP_ALIVE_MARGIN_MS = 1000;

/**
 * Where plain TCP connections read into (node:net's `onread`), shared by all
 * of them: JS runs one read callback at a time and each consumes its bytes
 * before returning, copying what it keeps (see LeanConnection.sharedReads).
 * Without it node:net allocates a fresh ArrayBuffer per read and pushes it
 * through the Readable machinery ('data' events, read-more ticks).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Results of serializeHead() besides the head itself (no object per call). */
const scratch = { error: '', streamLength: -1 };

/** Methods whose requests normally carry a body: an empty one gets `content-length: 0`. */
function bodyMethod(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/**
 * The request head as one latin1 string, or undefined (scratch.error says
 * why) when a method, target, name or value could split the message. For a
 * streamed body scratch.streamLength is its content-length, or -1 (chunked).
 */
function serializeHead(spec: UpstreamRequestSpec): string | undefined {
  const method = spec.method;
  if (!TOKEN.test(method)) { scratch.error = 'invalid request method'; return undefined; }
  const path = spec.path === '' ? '/' : spec.path;
  if (BAD_TARGET.test(path)) { scratch.error = 'invalid request path'; return undefined; }
  if (BAD_TARGET.test(spec.authority)) { scratch.error = 'invalid authority'; return undefined; }
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${spec.authority}\r\n`;
  const headers = spec.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // Framing is ours to write; Host comes from the authority.
    if (name === 'host' || name === 'content-length' || name === 'transfer-encoding') continue;
    if (!isTokenName(name)) { scratch.error = `invalid header name ${JSON.stringify(name)}`; return undefined; }
    if (typeof value === 'string') {
      if (BAD_VALUE.test(value)) { scratch.error = `invalid value of header ${name}`; return undefined; }
      head += `${name}: ${value}\r\n`;
    } else {
      for (let i = 0; i < value.length; i++) {
        const v = value[i]!;
        if (BAD_VALUE.test(v)) { scratch.error = `invalid value of header ${name}`; return undefined; }
        head += `${name}: ${v}\r\n`;
      }
    }
  }
  const body = spec.body;
  if (body === null) {
    if (bodyMethod(method)) head += 'content-length: 0\r\n';
  } else if (Buffer.isBuffer(body)) {
    head += `content-length: ${body.length}\r\n`;
  } else {
    const given = headers['content-length'];
    if (given !== undefined) {
      const cl = typeof given === 'string' ? given : given[0];
      if (cl === undefined || !/^\d{1,15}$/.test(cl)) { scratch.error = 'invalid request content-length'; return undefined; }
      scratch.streamLength = Number(cl);
      head += `content-length: ${cl}\r\n`;
    } else {
      scratch.streamLength = -1;
      head += 'transfer-encoding: chunked\r\n';
    }
  }
  return `${head}\r\n`;
}

/** Delivers a failure found before any connection was involved (next tick). */
function deliverFailure(req: LeanRequest, kind: UpstreamFailure, detail: string): void {
  if (req.aborted) return;
  req.aborted = true;
  req.handler.onError(kind, detail, false);
}

/** One request in flight: the router's handle for flow control and cancellation. */
class LeanRequest implements UpstreamRequest {
  readonly handler: UpstreamResponseHandler;
  /** The connection carrying the request; null once it finished, failed or was aborted. */
  conn: LeanConnection | null = null;
  headersDelivered = false;
  aborted = false;

  constructor(handler: UpstreamResponseHandler) {
    this.handler = handler;
  }

  pause(): void {
    this.conn?.pause();
  }

  resume(): void {
    this.conn?.resume();
  }

  abort(): void {
    this.aborted = true;
    const c = this.conn;
    if (c === null) return;
    this.conn = null;
    c.abortRequest();
  }
}

/** One upstream connection and the state of the request it carries. */
class LeanConnection implements Http1ResponseSink {
  readonly socket: net.Socket;
  /** The server ended its side; the connection cannot be reused. */
  eof = false;
  private readonly pool: LeanHttp1Pool;
  private readonly parser: Http1ResponseParser;
  private req: LeanRequest | null = null;
  private connected = false;
  private requests = 0;
  private lastError: (Error & { code?: string }) | undefined = undefined;
  private connectTimedOut = false;
  /** The connect timeout (a socket timeout, until the connection is up). */
  private readonly connectTimeoutMs: number;
  /**
   * The idle timeout once connected (the pool's, or shorter when the server
   * announces `keep-alive: timeout=N`). Not a socket timeout: node:net would
   * refresh that timer on every read and write (two timer-list updates per
   * request); this one is armed lazily and checks `idleSince` when it fires.
   */
  private idleMs = 0;
  private idleSince = 0;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  private readonly onIdleTimer: () => void;
  private lastKeepAliveHeader: string | undefined = undefined;
  private keepAliveHintOk = true;

  // Response flow control.
  private paused = false;
  private socketPaused = false;
  private executing = false;
  private resumeSeq = 0;
  /** Bytes received while paused, parsed on resume(). */
  private stash: Buffer | null = null;
  /** EOF arrived while bytes were stashed. */
  private pendingEof = false;

  // Streamed request body.
  private body: Readable | null = null;
  private bodyChunked = false;
  private bodyLeft = 0;

  private readonly onSocketData: (b: Buffer) => void;
  private readonly onSocketRead: (nread: number, buf: Buffer) => boolean;
  /**
   * Reads land in READ_BUFFER, overwritten by the next read: bytes kept past
   * a read callback (stash, body chunks handed on) are copied first.
   */
  private readonly sharedReads: boolean;
  private readonly onSocketEnd: () => void;
  private readonly onSocketError: (e: Error) => void;
  private readonly onSocketClose: () => void;
  private readonly onSocketTimeout: () => void;
  private readonly onSocketConnect: () => void;
  private readonly onSocketDrain: () => void;
  private readonly onBodyData: (c: Buffer | string) => void;
  private readonly onBodyEnd: () => void;
  private readonly onBodyError: (e: Error) => void;

  constructor(pool: LeanHttp1Pool, target: SocketAddress, connectTimeoutMs: number) {
    this.pool = pool;
    this.parser = new Http1ResponseParser(this);
    this.onSocketData = this.handleData.bind(this);
    // true: keep reading (pausing is ours to do, through socket.pause()).
    this.onSocketRead = (nread: number, buf: Buffer): boolean => { this.handleData(buf.subarray(0, nread)); return true; };
    this.onSocketEnd = this.handleEnd.bind(this);
    this.onSocketError = this.handleError.bind(this);
    this.onSocketClose = this.handleClose.bind(this);
    this.onSocketTimeout = this.handleTimeout.bind(this);
    this.onSocketConnect = this.handleConnect.bind(this);
    this.onSocketDrain = this.handleDrain.bind(this);
    this.onIdleTimer = this.handleIdleTimer.bind(this);
    this.onBodyData = this.handleBodyData.bind(this);
    this.onBodyEnd = this.handleBodyEnd.bind(this);
    this.onBodyError = this.handleBodyError.bind(this);
    // A transport socket (TLS) dials and says when the session is ready.
    const dial = pool.dial;
    // (A transport socket brings its own reads: 'data' events.)
    const onread = { buffer: READ_BUFFER, callback: this.onSocketRead };
    const s = dial
      ? dial(target, this.onSocketConnect)
      : target.kind === 'pipe'
        ? net.connect({ path: target.path, onread })
        : net.connect({ host: target.host, port: target.port, noDelay: true, onread });
    this.socket = s;
    this.sharedReads = !dial;
    this.connectTimeoutMs = connectTimeoutMs;
    if (connectTimeoutMs > 0) s.setTimeout(connectTimeoutMs);
    if (!dial) s.on('connect', this.onSocketConnect);
    if (dial) s.on('data', this.onSocketData);
    s.on('end', this.onSocketEnd);
    s.on('error', this.onSocketError);
    s.on('close', this.onSocketClose);
    s.on('timeout', this.onSocketTimeout);
    s.on('drain', this.onSocketDrain);
  }

  /** Sends a request on this (idle or connecting) connection. */
  start(req: LeanRequest, head: string, spec: UpstreamRequestSpec): void {
    this.req = req;
    req.conn = this;
    this.requests++;
    this.paused = false;
    this.stash = null;
    this.pendingEof = false;
    this.parser.reset(spec.method === 'HEAD');
    const body = spec.body;
    const s = this.socket;
    if (body === null) {
      s.write(head, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      if (body.length === 0) {
        s.write(head, 'latin1');
      } else {
        s.cork();
        s.write(head, 'latin1');
        s.write(body);
        s.uncork();
      }
    } else {
      s.write(head, 'latin1');
      this.bodyChunked = scratch.streamLength < 0;
      this.bodyLeft = scratch.streamLength;
      this.body = body;
      if (body.readableEnded) {
        this.handleBodyEnd();
        return;
      }
      body.on('data', this.onBodyData);
      body.on('end', this.onBodyEnd);
      body.on('error', this.onBodyError);
      body.resume();
    }
  }

  /** Whether the pool may hand this connection to another request. */
  get usable(): boolean {
    return !this.eof && !this.socket.destroyed;
  }

  /** Number of requests this connection has carried. */
  get requestCount(): number {
    return this.requests;
  }

  pause(): void {
    this.paused = true;
    this.pauseSocket();
  }

  resume(): void {
    this.resumeSeq++;
    if (!this.paused) return;
    this.paused = false;
    if (this.executing) return;
    const req = this.req;
    const s = this.stash;
    if (s !== null) {
      this.stash = null;
      this.feed(s);
    }
    if (this.req !== req || this.req === null || this.paused) return;
    if (this.pendingEof) {
      this.pendingEof = false;
      this.atEof();
      return;
    }
    this.resumeSocket();
  }

  /** The router cancelled the request: the connection is closed, quietly. */
  abortRequest(): void {
    this.req = null;
    this.detachBody();
    this.socket.destroy();
  }

  // --- Http1ResponseSink -----------------------------------------------------

  onResponseHead(status: number, headers: HeaderMap): boolean {
    const req = this.req!;
    req.headersDelivered = true;
    req.handler.onHeaders(status, headers);
    return this.req === req && !this.paused;
  }

  onResponseData(chunk: Buffer): boolean {
    const req = this.req!;
    const seq = this.resumeSeq;
    // The router may keep the chunk (held for one write with the head, queued by a slow socket).
    const ok = req.handler.onData(this.sharedReads ? Buffer.from(chunk) : chunk);
    if (this.req !== req) return false;
    // A resume() during onData (a drain that already happened) cancels the `false`.
    if (!ok && seq === this.resumeSeq) this.paused = true;
    return !this.paused;
  }

  // --- response path -----------------------------------------------------------

  private feed(buf: Buffer): void {
    const req = this.req!;
    const p = this.parser;
    this.executing = true;
    const off = p.execute(buf, 0);
    this.executing = false;
    if (this.req !== req) return;
    if (p.complete) { this.complete(off === buf.length); return; }
    if (p.error !== undefined) { this.fail('protocol', p.error); return; }
    if (off < buf.length) this.stash = this.keep(off === 0 ? buf : buf.subarray(off));
    if (this.paused) this.pauseSocket();
  }

  /** The response is complete: reuse or close the connection, then tell the handler. */
  private complete(clean: boolean): void {
    const req = this.req!;
    this.req = null;
    req.conn = null;
    const p = this.parser;
    // A body still streaming up, or bytes after the response: not reusable.
    let reuse = clean && p.keepAlive && this.body === null && !this.eof;
    this.detachBody();
    if (reuse && p.keepAliveHeader !== undefined) {
      if (p.keepAliveHeader !== this.lastKeepAliveHeader) this.keepAliveHintOk = this.applyKeepAliveHint(p.keepAliveHeader);
      reuse = this.keepAliveHintOk;
    }
    if (reuse && this.pool.takeBack(this)) {
      this.stash = null;
      this.resumeSocket();
      this.idleSince = Date.now();
      this.armIdleTimer(this.idleMs);
    } else {
      this.socket.destroy();
    }
    req.handler.onEnd(p.trailers);
  }

  /** Fails the request on this connection and closes it. */
  private fail(kind: UpstreamFailure, detail: string): void {
    const req = this.req;
    if (req === null) return;
    this.req = null;
    req.conn = null;
    this.detachBody();
    this.socket.destroy();
    req.handler.onError(kind, detail, kind === 'connect' ? false : req.headersDelivered);
  }

  /** `keep-alive: timeout=N` from the server: idle at most N s minus a margin. */
  private applyKeepAliveHint(value: string): boolean {
    this.lastKeepAliveHeader = value;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
    if (m === null) return true;
    const hinted = Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS;
    if (hinted <= 0) return false;
    const idle = this.pool.idleTimeoutMs;
    const t = idle > 0 ? Math.min(idle, hinted) : hinted;
    if (t < this.idleMs && this.idleTimer !== undefined) {
      // A pending timer armed for the longer timeout would fire too late.
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.idleMs = t;
    return true;
  }

  private atEof(): void {
    if (this.req === null) return;
    if (this.parser.finishEof()) this.complete(false);
    else this.fail('reset', 'upstream closed the connection before the response completed');
  }

  // --- socket events -------------------------------------------------------------

  private handleConnect(): void {
    this.connected = true;
    this.pool.connectionOpened();
    // The connect timeout is done; the idle timer takes over (armIdleTimer).
    if (this.connectTimeoutMs > 0) this.socket.setTimeout(0);
    this.idleMs = this.pool.idleTimeoutMs;
  }

  /** `buf` itself, or a copy when it lives in READ_BUFFER. */
  private keep(buf: Buffer): Buffer {
    return this.sharedReads ? Buffer.from(buf) : buf;
  }

  private handleData(buf: Buffer): void {
    if (this.req === null) {
      // Bytes on an idle connection: the server is confused; drop it.
      this.socket.destroy();
      return;
    }
    if (this.stash !== null) {
      this.stash = Buffer.concat([this.stash, buf]);
      this.pauseSocket();
      return;
    }
    if (this.paused) {
      this.stash = this.keep(buf);
      this.pauseSocket();
      return;
    }
    this.feed(buf);
  }

  private handleEnd(): void {
    this.eof = true;
    if (this.stash !== null) { this.pendingEof = true; return; }
    this.atEof();
  }

  private handleError(err: Error): void {
    this.lastError = err;
  }

  /** The socket timeout: only the connect timeout uses it. */
  private handleTimeout(): void {
    if (!this.connected) {
      this.connectTimedOut = true;
      this.socket.destroy();
    }
  }

  /** Arms the idle timer unless one is pending (it re-checks the deadline when it fires). */
  private armIdleTimer(ms: number): void {
    if (this.idleTimer !== undefined || this.idleMs <= 0) return;
    this.idleTimer = setTimeout(this.onIdleTimer, ms);
    this.idleTimer.unref();
  }

  /** Closes the connection once idle for idleMs; a busy one is re-armed when it goes idle. */
  private handleIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.req !== null || this.socket.destroyed) return;
    const left = this.idleSince + this.idleMs - Date.now();
    if (left <= 0) this.socket.destroy();
    else this.armIdleTimer(left);
  }

  private handleClose(): void {
    if (this.idleTimer !== undefined) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    this.pool.connectionClosed(this, this.connected);
    const req = this.req;
    if (req === null) return;
    // A close-delimited tail waits in the stash; resume() completes it.
    if (this.pendingEof && this.lastError === undefined) return;
    const err = this.lastError;
    if (!this.connected) {
      this.pool.connectFailed();
      const detail = this.connectTimedOut
        ? `ETIMEDOUT: connect timeout after ${this.connectTimeoutMs} ms`
        : err ? describe(err) : this.pool.destroyed ? 'connection pool destroyed' : 'connection closed while connecting';
      this.fail('connect', detail);
      return;
    }
    this.fail('reset', err ? describe(err) : this.pool.destroyed ? 'connection pool destroyed' : 'upstream connection closed');
  }

  private handleDrain(): void {
    this.body?.resume();
  }

  // --- streamed request body ----------------------------------------------------

  private handleBodyData(c: Buffer | string): void {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    const n = chunk.length;
    if (n === 0) return;
    const s = this.socket;
    let ok: boolean;
    if (this.bodyChunked) {
      s.cork();
      s.write(`${n.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write('\r\n', 'latin1');
      s.uncork();
    } else {
      if (n > this.bodyLeft) { this.fail('protocol', 'request body longer than its content-length'); return; }
      this.bodyLeft -= n;
      ok = s.write(chunk);
    }
    if (!ok) this.body?.pause();
  }

  private handleBodyEnd(): void {
    if (this.bodyChunked) {
      this.socket.write('0\r\n\r\n', 'latin1');
    } else if (this.bodyLeft !== 0) {
      this.fail('reset', 'request body shorter than its content-length');
      return;
    }
    this.detachBody();
  }

  private handleBodyError(err: Error): void {
    this.fail('reset', `request body: ${err.message}`);
  }

  private detachBody(): void {
    const b = this.body;
    if (b === null) return;
    this.body = null;
    b.off('data', this.onBodyData);
    b.off('end', this.onBodyEnd);
    b.off('error', this.onBodyError);
    if (!b.readableEnded) b.pause();
  }

  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (!this.socketPaused) return;
    this.socketPaused = false;
    this.socket.resume();
  }
}

function describe(err: Error & { code?: string }): string {
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/** HTTP/1.1 pool to one host on node:net, with the same options as Http1Pool. */
export class LeanHttp1Pool implements ConnectionPool {
  /** Idle timeout of keep-alive connections (0: none). */
  readonly idleTimeoutMs: number;
  /** destroy() was called. */
  destroyed = false;
  private readonly target: SocketAddress;
  private readonly opts: Http1PoolOptions;
  /** Idle keep-alive connections, most recently used last (LIFO). */
  private readonly idle: LeanConnection[] = [];
  /** Every connection not yet closed (connecting, busy or idle). */
  private readonly all = new Set<LeanConnection>();
  private active = 0;
  private closed = false;
  private drained: Promise<void> | undefined;
  private resolveDrained: (() => void) | undefined;

  /** The transport socket's dialer (TLS), if any. */
  get dial(): Http1PoolOptions['dial'] {
    return this.opts.dial;
  }

  constructor(target: SocketAddress, opts: Http1PoolOptions) {
    this.target = target;
    this.opts = opts;
    this.idleTimeoutMs = opts.idleTimeoutMs > 0 ? opts.idleTimeoutMs : 0;
  }

  get activeConnections(): number {
    return this.active;
  }

  request(spec: UpstreamRequestSpec, handler: UpstreamResponseHandler): UpstreamRequest {
    const req = new LeanRequest(handler);
    if (this.closed) {
      process.nextTick(deliverFailure, req, 'reset', 'connection pool is closed');
      return req;
    }
    const head = serializeHead(spec);
    if (head === undefined) {
      process.nextTick(deliverFailure, req, 'protocol', scratch.error);
      return req;
    }
    let conn = this.idle.pop();
    while (conn !== undefined && !conn.usable) {
      conn.socket.destroy();
      conn = this.idle.pop();
    }
    if (conn === undefined) {
      conn = new LeanConnection(this, this.target, this.opts.connectTimeoutMs);
      this.all.add(conn);
    }
    conn.start(req, head, spec);
    return req;
  }

  drain(): Promise<void> {
    this.closed = true;
    this.closeIdle();
    if (this.all.size === 0) return Promise.resolve();
    this.drained ??= new Promise<void>((resolve) => { this.resolveDrained = resolve; });
    return this.drained;
  }

  destroy(): void {
    this.closed = true;
    this.destroyed = true;
    this.idle.length = 0;
    for (const c of [...this.all]) c.socket.destroy();
  }

  // --- called by connections ----------------------------------------------------

  /** A finished connection asks to go back to the idle list; false: close it. */
  takeBack(conn: LeanConnection): boolean {
    if (this.closed) return false;
    const max = this.opts.maxRequestsPerConnection;
    if (max > 0 && conn.requestCount >= max) return false;
    this.idle.push(conn);
    return true;
  }

  /** A connection finished connecting (upstream_cx_total, upstream_cx_active). */
  connectionOpened(): void {
    this.active++;
    this.opts.stats.cxTotal.inc();
    this.opts.stats.cxActive.inc();
  }

  /** A connection failed before it connected (upstream_cx_connect_fail). */
  connectFailed(): void {
    this.opts.stats.cxConnectFail.inc();
  }

  /** A connection closed: forget it, and finish a drain when it was the last. */
  connectionClosed(conn: LeanConnection, wasConnected: boolean): void {
    this.all.delete(conn);
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (wasConnected) {
      this.active--;
      this.opts.stats.cxActive.dec();
    }
    if (this.closed && this.all.size === 0 && this.resolveDrained !== undefined) {
      const r = this.resolveDrained;
      this.resolveDrained = undefined;
      r();
    }
  }

  private closeIdle(): void {
    const idle = this.idle.splice(0);
    for (const c of idle) c.socket.destroy();
  }
}
