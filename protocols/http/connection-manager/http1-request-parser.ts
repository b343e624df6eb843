/**
 * An incremental HTTP/1.1 request parser in plain JavaScript, for the lean
 * downstream codec (http1-server.ts). It is fed the socket's chunks as they
 * arrive, split anywhere, and hands a sink the request head (already in the
 * `Downstream` header shape: pseudo-headers first, hop-by-hop fields left
 * out) and zero-copy body slices (subarrays of the chunks it was given).
 * One request at a time: it stops at the end of each request, and the
 * caller resets it for the next (pipelined bytes stay with the caller).
 *
 * What it accepts follows RFC 9112 strictly, refusing what llhttp and
 * Envoy's codec refuse:
 * - request line `token SP request-target SP HTTP/1.x CRLF`; the target has
 *   no whitespace or control characters; HTTP/1.0 and HTTP/1.1 only (other
 *   well-formed versions get 505); empty lines before it are skipped (§2.2);
 * - CRLF line endings only (a bare CR or LF is refused), no obs-fold, no
 *   whitespace before the colon, token field names, no control characters
 *   but HTAB in values; at most `maxHeaderBytes` for the request line and
 *   fields and `maxHeadersCount` fields (431), the same for trailers;
 * - §6: Transfer-Encoding with Content-Length is refused (smuggling), as is
 *   Transfer-Encoding in an HTTP/1.0 request; a final coding other than
 *   chunked is refused (400), and so is any coding besides chunked (501, as
 *   Envoy: we do not decode gzip and must not forward it undeclared);
 *   Content-Length must be 1*DIGIT and appear once (Envoy refuses identical
 *   duplicates too); a request with neither has no body;
 * - chunked bodies: hex size, extensions ignored (but checked for control
 *   characters), CRLF after each chunk, trailers parsed with the header limits;
 * - more than one Host field is refused (§3.2); CONNECT is refused (this
 *   codec does not tunnel).
 */
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { ProtocolError } from '../../../sidecar/contracts/errors.ts';
import { addField, cleanSection, connectionTokens, CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE, CRLFCRLF, fieldName, parseContentLength, TOKEN } from '../http1-syntax.ts';
import { BODY_DONE, BODY_FAILED, BODY_TRAILERS, Http1BodyDecoder, type Http1BodySink } from '../http1-body.ts';

/** Where the parser delivers a request. */
export interface Http1RequestSink {
  /** The request head; return false to stop parsing here (resume with execute). */
  onRequestHead(headers: HeaderMap): boolean;
  /** A body slice (never empty, a subarray of the input); false to stop parsing here. */
  onRequestData(chunk: Buffer): boolean;
  /** The request is complete (with the trailers of a chunked body, if any). */
  onRequestEnd(trailers: HeaderMap | undefined): void;
}

/** Limits and facts the parser needs. */
export interface Http1RequestParserOptions {
  /** `:scheme` of every request (`http` or `https`). */
  readonly scheme: string;
  /** Largest request line + header section (and trailer section), in bytes (431 past it). */
  readonly maxHeaderBytes: number;
  /** Most header (and trailer) fields (431 past it). */
  readonly maxHeadersCount: number;
  /** Largest request body in bytes (413 past it); 0 for no limit. */
  readonly maxBodyBytes?: number;
}

const HEAD = 0;
/** A Content-Length or chunked body, decoded by `body` (http1-body.ts). */
const BODY = 1;
const TRAILERS = 2;
const COMPLETE = 3;
const FAILED = 4;

/** A well-formed HTTP version that is not one we speak (505). */
const OTHER_VERSION = /^HTTP\/[0-9]\.[0-9]$/;

/**
 * One request at a time: `execute()` with every chunk until `complete` or
 * `failed`, then `reset()` before the next request.
 */
export class Http1RequestParser implements Http1BodySink {
  /** Why the request was refused (wireCode is the HTTP status); set with the failed state. */
  error: ProtocolError | undefined = undefined;
  /** Request method (valid once the head was delivered). */
  method = '';
  /** The request said HTTP/1.0. */
  http10 = false;
  /** The connection may carry another request after this one (Connection / version). */
  keepAlive = true;
  /** `Expect: 100-continue` on an HTTP/1.1 request (consumed, not in the headers). */
  expectContinue = false;
  /** The request has a body (chunked, or a non-zero Content-Length). */
  hasBody = false;
  /** Content-Length, or -1 when chunked or absent. */
  contentLength = -1;

  private readonly sink: Http1RequestSink;
  private readonly opts: Http1RequestParserOptions;
  private readonly maxBody: number;
  private state: number = HEAD;
  private readonly body: Http1BodyDecoder;
  /** A CR of an empty line before the request line was seen; its LF is due. */
  private leadingCr = false;
  /** Copies of the bytes of an incomplete header/trailer section. */
  private pend: Buffer[] = [];
  private pendLen = 0;
  private trailers: HeaderMap | undefined = undefined;
  private transferEncoding: string | undefined = undefined;
  private hostSeen = false;
  /** Field names listed in Connection (dropped from the forwarded headers). */
  private connectionOptions: string[] | undefined;
  private connClose = false;
  private connKeepAlive = false;

  constructor(sink: Http1RequestSink, opts: Http1RequestParserOptions) {
    this.sink = sink;
    this.opts = opts;
    this.maxBody = opts.maxBodyBytes ?? 0;
    this.body = new Http1BodyDecoder(this.maxBody, 'request body too large');
  }

  /** Http1BodySink: a body slice for the sink (false: it wants no more for now). */
  bodyData(chunk: Buffer): boolean {
    return this.sink.onRequestData(chunk);
  }

  /** The request is complete; `reset()` before the next one. */
  get complete(): boolean {
    return this.state === COMPLETE;
  }

  /** The input was refused (`error` says why); the connection must close. */
  get failed(): boolean {
    return this.state === FAILED;
  }

  /** Part of a request head was received but not all of it (for the headers timeout). */
  get inHead(): boolean {
    return this.state === HEAD && (this.pendLen > 0 || this.leadingCr);
  }

  /** The head was delivered and the body is not complete yet. */
  get inBody(): boolean {
    return this.state > HEAD && this.state < COMPLETE;
  }

  /** Prepares for the next request on the connection. */
  reset(): void {
    this.state = HEAD;
    this.error = undefined;
    this.method = '';
    this.http10 = false;
    this.keepAlive = true;
    this.expectContinue = false;
    this.hasBody = false;
    this.contentLength = -1;
    this.body.reset();
    this.leadingCr = false;
    this.pend = [];
    this.pendLen = 0;
    this.trailers = undefined;
    this.transferEncoding = undefined;
    this.hostSeen = false;
    this.connectionOptions = undefined;
    this.connClose = false;
    this.connKeepAlive = false;
  }

  /**
   * Parses `buf` from `off`. Returns the offset where it stopped: the end of
   * `buf`, or earlier when the sink returned false, the request completed
   * (the rest belongs to the next request) or it failed (`error` set).
   */
  execute(buf: Buffer, off: number): number {
    const len = buf.length;
    for (;;) {
      switch (this.state) {
        case HEAD: {
          if (this.pendLen === 0) {
            off = this.skipEmptyLines(buf, off);
            if (this.failed) return off;
          }
          if (off >= len) return off;
          const next = this.section(buf, off, true);
          if (next < 0) return next === -1 ? len : off;
          off = next;
          const more = this.afterHead();
          if (this.complete) { this.sink.onRequestEnd(undefined); return off; }
          if (!more) return off;
          break;
        }
        case TRAILERS: {
          if (off >= len) return off;
          const next = this.section(buf, off, false);
          if (next < 0) return next === -1 ? len : off;
          this.sink.onRequestEnd(this.trailers);
          return next;
        }
        case BODY: {
          const next = this.body.decode(buf, off, this);
          const st = this.body.state;
          if (st === BODY_DONE) { this.state = COMPLETE; this.sink.onRequestEnd(undefined); return next; }
          if (st === BODY_TRAILERS) { this.state = TRAILERS; off = next; break; }
          if (st === BODY_FAILED) return this.fail(this.body.errorStatus, this.body.error, next);
          return next;
        }
        default: // COMPLETE, FAILED
          return off;
      }
    }
  }

  // --- internals -------------------------------------------------------------

  private fail(status: number, reason: string, off: number): number {
    this.error = new ProtocolError(status, reason);
    this.state = FAILED;
    this.pend = [];
    this.pendLen = 0;
    return off;
  }

  /** Skips CRLFs before a request line (RFC 9112 §2.2). */
  private skipEmptyLines(buf: Buffer, off: number): number {
    const len = buf.length;
    if (this.leadingCr) {
      if (off >= len) return off;
      if (buf[off] !== 10) return this.fail(400, 'bare CR before request line', off);
      this.leadingCr = false;
      off++;
    }
    while (off < len) {
      const b = buf[off];
      if (b === 10) return this.fail(400, 'bare LF before request line', off);
      if (b !== 13) break;
      if (off + 1 >= len) { this.leadingCr = true; return len; }
      if (buf[off + 1] !== 10) return this.fail(400, 'bare CR before request line', off);
      off += 2;
    }
    return off;
  }

  /**
   * Finds the end of a header or trailer section starting at `off` and
   * parses it. Returns the offset after it, -1 when more bytes are needed
   * (the rest of `buf` was kept), -2 on error. An incomplete section is kept
   * as a list of copies, so a client trickling bytes costs linear work.
   */
  private section(buf: Buffer, off: number, head: boolean): number {
    const len = buf.length;
    const limit = this.opts.maxHeaderBytes;
    const tooLarge = head ? 'request header section too large' : 'trailer section too large';
    let endInBuf = -1; // offset in buf just past the terminating CRLF(CRLF)
    if (this.pendLen === 0) {
      if (!head && len - off >= 2 && buf[off] === 13 && buf[off + 1] === 10) {
        endInBuf = off + 2; // no trailers
      } else {
        const idx = buf.indexOf(CRLFCRLF, off);
        if (idx >= 0) endInBuf = idx + 4;
      }
      if (endInBuf >= 0) {
        const textEnd = endInBuf === off + 2 ? off : endInBuf - 4;
        if (textEnd - off > limit) { this.fail(431, tooLarge, off); return -2; }
        const text = buf.toString('latin1', off, textEnd);
        return (head ? this.head(text) : this.trailerSection(text)) ? endInBuf : -2;
      }
    } else {
      // The terminator may straddle the kept bytes and this chunk.
      const last = this.pend[this.pend.length - 1]!;
      const tailLen = Math.min(3, this.pendLen);
      const window = Buffer.allocUnsafe(tailLen + Math.min(3, len - off));
      this.copyTail(window, tailLen, last);
      buf.copy(window, tailLen, off, off + window.length - tailLen);
      let idx = window.indexOf(CRLFCRLF);
      if (!head && idx < 0 && this.pendLen === 1 && window[0] === 13 && window[1] === 10) idx = -2; // bare CRLF: no trailers
      if (idx === -2) endInBuf = off + 1;
      else if (idx >= 0) endInBuf = off + idx + 4 - tailLen;
      else {
        const i = buf.indexOf(CRLFCRLF, off);
        if (i >= 0) endInBuf = i + 4;
      }
      if (endInBuf >= 0) {
        const total = this.pendLen + (endInBuf - off);
        const textLen = total === 2 && !head ? 0 : total - 4;
        if (textLen > limit) { this.fail(431, tooLarge, off); return -2; }
        this.pend.push(buf.subarray(off, endInBuf));
        const text = Buffer.concat(this.pend, total).toString('latin1', 0, textLen);
        this.pend = [];
        this.pendLen = 0;
        return (head ? this.head(text) : this.trailerSection(text)) ? endInBuf : -2;
      }
    }
    // Incomplete: refuse early what can never become valid.
    if (this.pendLen + (len - off) > limit) { this.fail(431, tooLarge, off); return -2; }
    const prevByte = this.pendLen > 0 ? this.lastPendingByte() : -1;
    for (let i = buf.indexOf(10, off); i >= 0; i = buf.indexOf(10, i + 1)) {
      const before = i === off ? prevByte : buf[i - 1];
      if (before !== 13) { this.fail(400, head ? 'invalid character in request head' : 'invalid character in trailers', off); return -2; }
    }
    this.pend.push(Buffer.from(buf.subarray(off)));
    this.pendLen += len - off;
    return -1;
  }

  private lastPendingByte(): number {
    const last = this.pend[this.pend.length - 1]!;
    return last[last.length - 1]!;
  }

  /** Copies the last `n` kept bytes into `dst`. */
  private copyTail(dst: Buffer, n: number, last: Buffer): void {
    if (last.length >= n) { last.copy(dst, 0, last.length - n); return; }
    let k = n;
    for (let j = this.pend.length - 1; j >= 0 && k > 0; j--) {
      const b = this.pend[j]!;
      const take = Math.min(k, b.length);
      b.copy(dst, k - take, b.length - take);
      k -= take;
    }
  }

  private refuse(status: number, reason: string): boolean {
    this.fail(status, reason, 0);
    return false;
  }

  /** Parses a request head (`text` ends before the final CRLFCRLF) and delivers it. */
  private head(text: string): boolean {
    if (!cleanSection(text)) return this.refuse(400, 'invalid character in request head');
    // Clean: every LF ends a CRLF.
    let eol = text.indexOf('\n') - 1;
    if (eol < 0) eol = text.length;
    const sp1 = text.indexOf(' ');
    const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || sp2 >= eol || sp2 === sp1 + 1) return this.refuse(400, 'invalid request line');
    const method = text.slice(0, sp1);
    if (!TOKEN.test(method)) return this.refuse(400, 'invalid method');
    const target = text.slice(sp1 + 1, sp2);
    if (target.indexOf('\t') >= 0) return this.refuse(400, 'invalid request target');
    const version = text.slice(sp2 + 1, eol);
    if (version === 'HTTP/1.1') this.http10 = false;
    else if (version === 'HTTP/1.0') this.http10 = true;
    else return this.refuse(OTHER_VERSION.test(version) ? 505 : 400, 'unsupported HTTP version');
    if (method === 'CONNECT') return this.refuse(400, 'CONNECT is not supported');
    this.method = method;
    const h: HeaderMap = { ':method': method, ':path': target, ':authority': '', ':scheme': this.opts.scheme };
    if (!this.fields(text, eol + 2, h, true)) return false;
    // An absolute-form target (RFC 9112 §3.2.2) is split into path and
    // authority. A missing Host on HTTP/1.1 is tolerated, as node:http did
    // (Envoy answers 400).
    const abs = target.charCodeAt(0) !== 47 /* '/' */ ? /^https?:\/\/([^/?#]+)([^#]*)/i.exec(target) : null;
    if (abs) {
      // Envoy (allow_absolute_url): the URL's path is the path; its authority
      // is the authority unless a Host field gave one.
      h[':path'] = abs[2] ? (abs[2].startsWith('/') ? abs[2] : `/${abs[2]}`) : '/';
      if (!this.hostSeen) h[':authority'] = abs[1]!;
    }
    // RFC 9110 §7.6.1: fields named in Connection are for this hop only.
    if (this.connectionOptions) for (const n of this.connectionOptions) if (n.charCodeAt(0) !== 58) delete h[n];

    // Message body length, RFC 9112 §6.3 for requests.
    const te = this.transferEncoding;
    if (te !== undefined) {
      if (this.contentLength >= 0) return this.refuse(400, 'both content-length and transfer-encoding');
      if (this.http10) return this.refuse(400, 'transfer-encoding in an HTTP/1.0 request');
      const codings = te.toLowerCase().split(',');
      const lastCoding = codings[codings.length - 1]!.trim();
      if (lastCoding !== 'chunked') return this.refuse(400, 'final transfer coding is not chunked');
      if (codings.length > 1) return this.refuse(501, 'unsupported transfer coding');
      this.hasBody = true;
      this.body.startChunked();
      this.state = BODY;
    } else if (this.contentLength > 0) {
      if (this.maxBody > 0 && this.contentLength > this.maxBody) return this.refuse(413, 'request body too large');
      this.hasBody = true;
      this.body.startLength(this.contentLength);
      this.state = BODY;
    } else {
      this.state = COMPLETE;
    }
    this.keepAlive = this.http10 ? this.connKeepAlive && !this.connClose : !this.connClose;
    this.head_ = h;
    return true;
  }

  /** The head parsed by head(), handed to the sink by afterHead(). */
  private head_: HeaderMap | undefined = undefined;

  /** Delivers the head; false when the sink asked to stop. */
  private afterHead(): boolean {
    const h = this.head_!;
    this.head_ = undefined;
    return this.sink.onRequestHead(h);
  }

  private trailerSection(text: string): boolean {
    if (text.length > 0) {
      if (!cleanSection(text)) return this.refuse(400, 'invalid character in trailers');
      const trailers: HeaderMap = {};
      if (!this.fields(text, 0, trailers, false)) return false;
      this.trailers = trailers;
    }
    this.state = COMPLETE;
    return true;
  }

  /**
   * Parses field lines of `text` from `pos` into `map` (the section was
   * checked for bad characters). In a head the framing and connection
   * fields are read here and hop-by-hop ones left out, as Http1Downstream does.
   */
  private fields(text: string, pos: number, map: HeaderMap, head: boolean): boolean {
    const n = text.length;
    let count = 0;
    while (pos < n) {
      if (++count > this.opts.maxHeadersCount) return this.refuse(431, head ? 'too many headers' : 'too many trailers');
      let eol = text.indexOf('\n', pos) - 1; // every LF ends a CRLF (cleanSection)
      if (eol < 0) eol = n;
      const c0 = text.charCodeAt(pos);
      if (c0 === 32 || c0 === 9) return this.refuse(400, 'obsolete line folding in header');
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > eol) return this.refuse(400, 'invalid header line');
      const name = fieldName(text.slice(pos, colon));
      if (name === undefined) return this.refuse(400, 'invalid header name');
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve) { const c = text.charCodeAt(vs); if (c !== 32 && c !== 9) break; vs++; }
      while (ve > vs) { const c = text.charCodeAt(ve - 1); if (c !== 32 && c !== 9) break; ve--; }
      const value = text.slice(vs, ve);
      pos = eol + 2;
      if (!head) {
        // Framing fields are not allowed in trailers (RFC 9110 §6.5.1); dropped.
        if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'host') addField(map, name, value, true);
        continue;
      }
      switch (name) {
        case 'host':
          if (this.hostSeen) return this.refuse(400, 'multiple host headers');
          this.hostSeen = true;
          map[':authority'] = value;
          continue;
        case 'content-length': {
          const cl = parseContentLength(value);
          if (cl < 0) return this.refuse(400, 'invalid content-length');
          if (this.contentLength >= 0) return this.refuse(400, 'multiple content-length headers');
          this.contentLength = cl;
          map[name] = value;
          continue;
        }
        case 'transfer-encoding':
          this.transferEncoding = this.transferEncoding === undefined ? value : `${this.transferEncoding},${value}`;
          continue;
        case 'connection':
          this.connectionTokens(value);
          continue;
        case 'te':
          // `te: trailers` is the one TE value that is forwarded (gRPC needs it).
          if (value === 'trailers') map[name] = value;
          continue;
        case 'expect':
          // Answered here (Envoy's default, without proxy_100_continue), not
          // forwarded; an HTTP/1.0 request's expectation is ignored (RFC 9110 §10.1.1).
          if (value.toLowerCase() === '100-continue') {
            if (!this.http10) this.expectContinue = true;
            continue;
          }
          addField(map, name, value, true);
          continue;
        case 'keep-alive':
        case 'proxy-connection':
        case 'upgrade':
          continue;
        default:
          addField(map, name, value, true);
      }
    }
    return true;
  }

  private connectionTokens(value: string): void {
    const t = connectionTokens(value);
    if (t & CONNECTION_CLOSE) this.connClose = true;
    if (t & CONNECTION_KEEP_ALIVE) this.connKeepAlive = true;
    // Other tokens name hop-by-hop fields to drop (rare: checked cheaply).
    if (value.indexOf(',') >= 0 || (t === 0 && value !== '')) {
      for (const tok of value.toLowerCase().split(',')) {
        const n = tok.trim();
        if (n && n !== 'close' && n !== 'keep-alive') (this.connectionOptions ??= []).push(n);
      }
    }
  }
}
