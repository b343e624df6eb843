/**
 * An incremental HTTP/1.1 response parser in plain JavaScript, for the lean
 * upstream pool (pool-http1-lean.ts). It is fed the socket's chunks as they
 * arrive and calls a sink with the final response head and zero-copy body
 * slices (subarrays of the chunks it was given).
 *
 * What it accepts follows RFC 9112 strictly, as llhttp does by default:
 * CRLF line endings only; no obs-fold; no control characters in the header
 * section; header names must be tokens; a header section (status line and
 * fields) of at most 64 KiB, the same for trailers; Content-Length digits
 * only and equal if repeated; Content-Length together with
 * Transfer-Encoding is refused (request smuggling); 101 is refused (we never
 * ask for an upgrade); other 1xx responses are skipped. Message length is
 * RFC 9112 section 6.3: no body for HEAD/204/304, chunked when the final
 * transfer coding is chunked, Content-Length, else until the connection
 * closes (and the connection is then not reused).
 */
import type { HeaderMap } from '../contracts/http-filter.ts';
import { addField, cleanSection, connectionTokens, CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE, CRLFCRLF, fieldName, parseContentLength } from '../../protocols/http/http1-syntax.ts';
import { BODY_DONE, BODY_FAILED, BODY_TRAILERS, Http1BodyDecoder, type Http1BodySink } from '../../protocols/http/http1-body.ts';

/** Where the parser delivers a response. */
export interface Http1ResponseSink {
  /** The final (non-1xx) response head; return false to stop parsing here. */
  onResponseHead(status: number, headers: HeaderMap): boolean;
  /** A body slice (never empty); return false to stop parsing here. */
  onResponseData(chunk: Buffer): boolean;
}

/** Largest header section (status line + fields) or trailer section, in bytes. */
export const MAX_HEADER_SECTION_BYTES = 64 * 1024;

const HEAD = 0;
/** A Content-Length or chunked body, decoded by `body` (http1-body.ts). */
const BODY = 1;
const TRAILERS = 2;
const BODY_EOF = 3;
const COMPLETE = 4;
const FAILED = 5;

/**
 * One response at a time: `reset()` before each request, then `execute()`
 * with every chunk until `complete` or `error`; `finishEof()` when the
 * connection ends.
 */
export class Http1ResponseParser implements Http1BodySink {
  /** Why the response was refused; set together with the failed state. */
  error: string | undefined = undefined;
  /** Whether the connection may carry another request after this response. */
  keepAlive = true;
  /** Trailers of a chunked response, when it had any. */
  trailers: HeaderMap | undefined = undefined;
  /** The response's Keep-Alive header (`timeout=5`), for the idle timeout. */
  keepAliveHeader: string | undefined = undefined;

  private readonly sink: Http1ResponseSink;
  private state = HEAD;
  private noBody = false;
  private readonly body = new Http1BodyDecoder();
  /** Bytes of an incomplete header/trailer section or chunk-size line. */
  private pending: Buffer | null = null;
  private contentLength = -1;
  private transferEncoding: string | undefined = undefined;
  private http10 = false;
  private connClose = false;
  private connKeepAlive = false;

  constructor(sink: Http1ResponseSink) {
    this.sink = sink;
  }

  /** The response is complete (the connection decides about reuse). */
  get complete(): boolean {
    return this.state === COMPLETE;
  }

  /** The body runs until the connection closes. */
  get closeDelimited(): boolean {
    return this.state === BODY_EOF;
  }

  /** Prepares for the response to a new request (`headRequest`: no body follows). */
  reset(headRequest: boolean): void {
    this.state = HEAD;
    this.noBody = headRequest;
    this.error = undefined;
    this.keepAlive = true;
    this.trailers = undefined;
    this.keepAliveHeader = undefined;
    this.pending = null;
    this.body.reset();
    this.resetMessage();
  }

  /** Http1BodySink: a body slice for the sink (false: it wants no more for now). */
  bodyData(chunk: Buffer): boolean {
    return this.sink.onResponseData(chunk);
  }

  /** The connection reached EOF: true when that completes a close-delimited body. */
  finishEof(): boolean {
    if (this.state !== BODY_EOF) return false;
    this.state = COMPLETE;
    return true;
  }

  /**
   * Parses `buf` from `off`. Returns the offset where it stopped: the end of
   * `buf`, or earlier when the sink returned false, the response completed
   * (bytes after it are the caller's problem) or it failed (`error` set).
   */
  execute(buf: Buffer, off: number): number {
    const len = buf.length;
    for (;;) {
      switch (this.state) {
        case HEAD:
        case TRAILERS: {
          if (off >= len) return off;
          const head = this.state === HEAD;
          const next = this.section(buf, off, head);
          if (next < 0) return next === -1 ? len : off;
          off = next;
          if (head && !this.continueAfterHead) return off;
          break;
        }
        case BODY: {
          const next = this.body.decode(buf, off, this);
          const st = this.body.state;
          if (st === BODY_DONE) { this.state = COMPLETE; return next; }
          if (st === BODY_TRAILERS) { this.state = TRAILERS; off = next; break; }
          if (st === BODY_FAILED) return this.fail(this.body.error, next);
          return next;
        }
        case BODY_EOF: {
          if (off >= len) return off;
          const chunk = off === 0 ? buf : buf.subarray(off);
          off = len;
          if (!this.sink.onResponseData(chunk)) return off;
          break;
        }
        default:
          return off;
      }
    }
  }

  // --- internals -------------------------------------------------------------

  /** Set by head(): false when the sink asked to stop after the head. */
  private continueAfterHead = true;

  private fail(reason: string, off: number): number {
    this.error = reason;
    this.state = FAILED;
    this.pending = null;
    return off;
  }

  private resetMessage(): void {
    this.contentLength = -1;
    this.transferEncoding = undefined;
    this.http10 = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.keepAliveHeader = undefined;
  }

  /**
   * Finds the end of a header or trailer section starting at `off` and
   * parses it. Returns the offset after it, -1 when more bytes are needed
   * (all of `buf` was kept), -2 on error.
   */
  private section(buf: Buffer, off: number, head: boolean): number {
    let data = buf;
    let start = off;
    let from = off;
    let prev = 0;
    if (this.pending !== null) {
      prev = this.pending.length;
      data = Buffer.concat([this.pending, buf.subarray(off)]);
      start = 0;
      from = prev > 3 ? prev - 3 : 0;
    }
    let end: number;
    let next: number;
    if (!head && data.length - start >= 2 && data[start] === 13 && data[start + 1] === 10) {
      end = start;
      next = start + 2;
    } else {
      const idx = head || data.length - start >= 2 ? data.indexOf(CRLFCRLF, from) : -1;
      if (idx < 0) {
        if (data.length - start > MAX_HEADER_SECTION_BYTES) {
          this.fail(head ? 'response header section too large' : 'trailer section too large', 0);
          return -2;
        }
        this.pending = data === buf ? Buffer.from(buf.subarray(off)) : data;
        return -1;
      }
      end = idx;
      next = idx + 4;
    }
    if (end - start > MAX_HEADER_SECTION_BYTES) {
      this.fail(head ? 'response header section too large' : 'trailer section too large', 0);
      return -2;
    }
    const text = data.toString('latin1', start, end);
    this.pending = null;
    const ok = head ? this.head(text) : this.trailerSection(text);
    if (!ok) return -2;
    return data === buf ? next : next - prev + off;
  }

  /** Parses a response head; sets the body state and calls the sink. */
  private head(text: string): boolean {
    if (!cleanSection(text)) {
      const crlf = text.indexOf('\r\n');
      const statusLineBad = crlf < 0 || !cleanSection(text.slice(0, crlf));
      return this.refuse(statusLineBad ? 'invalid character in status line' : 'invalid character in header value');
    }
    // Clean: every LF ends a CRLF.
    let eol = text.indexOf('\n') - 1;
    if (eol < 0) eol = text.length;
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (eol < 12 || !text.startsWith('HTTP/1.') || text.charCodeAt(8) !== 32 || (eol > 12 && text.charCodeAt(12) !== 32)) {
      return this.refuse('invalid status line');
    }
    const minor = text.charCodeAt(7);
    const d0 = text.charCodeAt(9) - 48;
    const d1 = text.charCodeAt(10) - 48;
    const d2 = text.charCodeAt(11) - 48;
    if ((minor !== 48 && minor !== 49) || d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      return this.refuse('invalid status line');
    }
    const status = d0 * 100 + d1 * 10 + d2;
    this.http10 = minor === 48;
    const headers: HeaderMap = {};
    if (!this.fields(text, eol + 2, headers, true)) return false;

    if (status < 200) {
      if (status === 101) return this.refuse('unexpected 101 Switching Protocols');
      // 100 Continue, 102, 103 Early Hints: skipped; the final response follows.
      this.resetMessage();
      this.continueAfterHead = true;
      return true;
    }
    const te = this.transferEncoding;
    if (te !== undefined && this.contentLength >= 0) return this.refuse('both content-length and transfer-encoding in response');
    this.keepAlive = this.http10 ? this.connKeepAlive && !this.connClose : !this.connClose;
    if (this.noBody || status === 204 || status === 304) {
      this.state = COMPLETE;
    } else if (te !== undefined) {
      const comma = te.lastIndexOf(',');
      const last = (comma < 0 ? te : te.slice(comma + 1)).trim().toLowerCase();
      if (last === 'chunked' && !this.http10) {
        this.body.startChunked();
        this.state = BODY;
      } else {
        this.state = BODY_EOF;
        this.keepAlive = false;
      }
    } else if (this.contentLength >= 0) {
      if (this.contentLength === 0) this.state = COMPLETE;
      else { this.body.startLength(this.contentLength); this.state = BODY; }
    } else {
      this.state = BODY_EOF;
      this.keepAlive = false;
    }
    this.continueAfterHead = this.sink.onResponseHead(status, headers);
    return true;
  }

  private trailerSection(text: string): boolean {
    if (text.length > 0) {
      if (!cleanSection(text)) return this.refuse('invalid character in trailers');
      const trailers: HeaderMap = {};
      if (!this.fields(text, 0, trailers, false)) return false;
      this.trailers = trailers;
    }
    this.state = COMPLETE;
    return true;
  }

  /**
   * Parses field lines of `text` from `pos` into `map`. In a head the
   * framing and connection fields are read here and hop-by-hop ones left out.
   */
  private fields(text: string, pos: number, map: HeaderMap, head: boolean): boolean {
    const n = text.length;
    while (pos < n) {
      let eol = text.indexOf('\n', pos) - 1; // every LF ends a CRLF (cleanSection)
      if (eol < 0) eol = n;
      const c0 = text.charCodeAt(pos);
      if (c0 === 32 || c0 === 9) return this.refuse('obsolete line folding in header');
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > eol) return this.refuse('invalid header line');
      const name = fieldName(text.slice(pos, colon));
      if (name === undefined) return this.refuse('invalid header name');
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve) { const c = text.charCodeAt(vs); if (c !== 32 && c !== 9) break; vs++; }
      while (ve > vs) { const c = text.charCodeAt(ve - 1); if (c !== 32 && c !== 9) break; ve--; }
      const value = text.slice(vs, ve);
      pos = eol + 2;
      if (!head) { addField(map, name, value, false); continue; }
      switch (name) {
        case 'content-length': {
          const cl = parseContentLength(value);
          if (cl < 0) return this.refuse('invalid content-length');
          if (this.contentLength >= 0 && this.contentLength !== cl) return this.refuse('conflicting content-length');
          if (this.contentLength >= 0) continue;
          this.contentLength = cl;
          addField(map, name, value, false);
          continue;
        }
        case 'transfer-encoding':
          this.transferEncoding = this.transferEncoding === undefined ? value : `${this.transferEncoding}, ${value}`;
          continue;
        case 'connection':
          this.connectionTokens(value);
          continue;
        case 'keep-alive':
          this.keepAliveHeader = value;
          continue;
        case 'proxy-connection':
        case 'upgrade':
          continue;
        default:
          addField(map, name, value, false);
      }
    }
    return true;
  }

  private connectionTokens(value: string): void {
    const t = connectionTokens(value);
    if (t & CONNECTION_CLOSE) this.connClose = true;
    if (t & CONNECTION_KEEP_ALIVE) this.connKeepAlive = true;
  }

  private refuse(reason: string): boolean {
    this.fail(reason, 0);
    return false;
  }
}


