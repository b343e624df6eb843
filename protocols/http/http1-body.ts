/**
 * The body framing both HTTP/1 parsers share (RFC 9112 section 6.2,
 * Content-Length; section 7.1, chunked): zero-copy slices of the chunks it
 * is given, chunk-size lines that may straddle chunks, the CRLF after each
 * chunk's data, and an optional limit on the decoded size. What comes
 * before (the head) and after (a chunked body's trailer section) stays with
 * each parser: the request parser (protocols/http/connection-manager) and
 * the response parser (sidecar/upstream).
 */
import { MAX_CHUNK_LINE_BYTES, parseChunkSizeLine } from './http1-syntax.ts';

/** Where body bytes go. */
export interface Http1BodySink {
  /** A body slice (never empty, a view of the input); false stops decoding after it (backpressure). */
  bodyData(chunk: Buffer): boolean;
}

/** No body being decoded (before start, or after reset()). */
export const BODY_IDLE = 0;
/** Content-Length bytes still due. */
export const BODY_LENGTH = 1;
/** Expecting a chunk-size line. */
export const BODY_CHUNK_SIZE = 2;
/** Inside a chunk's data. */
export const BODY_CHUNK_DATA = 3;
/** Expecting the CRLF after a chunk's data. */
export const BODY_CHUNK_CRLF = 4;
/** The last chunk was read: the trailer section follows (the parser's part). */
export const BODY_TRAILERS = 5;
/** A Content-Length body is complete. */
export const BODY_DONE = 6;
/** Refused: `error` says why, `errorStatus` what a request deserves for it. */
export const BODY_FAILED = 7;

/** One message body at a time: start*(), then decode() with every chunk; reset() before the next message. */
export class Http1BodyDecoder {
  state = BODY_IDLE;
  /** Why decoding failed (state BODY_FAILED). */
  error = '';
  /** 400 for malformed framing, 413 past the size limit. */
  errorStatus = 400;
  private readonly maxBytes: number;
  private readonly tooLarge: string;
  private remaining = 0;
  private crlfSeen = 0;
  /** Bytes of an incomplete chunk-size line. */
  private linePending: Buffer | null = null;
  /** Chunk sizes announced so far (for the limit). */
  private announced = 0;

  /** `maxBytes`: the largest chunked body accepted (0: no limit), refused with status 413 and `tooLarge`. */
  constructor(maxBytes = 0, tooLarge = 'body too large') {
    this.maxBytes = maxBytes;
    this.tooLarge = tooLarge;
  }

  reset(): void {
    this.state = BODY_IDLE;
    this.error = '';
    this.errorStatus = 400;
    this.remaining = 0;
    this.crlfSeen = 0;
    this.linePending = null;
    this.announced = 0;
  }

  /** A body of exactly `length` bytes (0: complete at once). */
  startLength(length: number): void {
    this.remaining = length;
    this.state = length === 0 ? BODY_DONE : BODY_LENGTH;
  }

  /** A chunked body. */
  startChunked(): void {
    this.state = BODY_CHUNK_SIZE;
  }

  /** Body bytes are still expected (not idle, not past the last chunk, not done, not failed). */
  get active(): boolean {
    return this.state >= BODY_LENGTH && this.state <= BODY_CHUNK_CRLF;
  }

  /**
   * Decodes `buf` from `off`, handing body slices to `sink`. Returns the
   * offset where it stopped: the end of `buf` (all of it consumed or kept),
   * after a slice the sink refused, where the body ended (BODY_DONE, or
   * BODY_TRAILERS after the last chunk: the rest is the parser's), or where
   * it failed (BODY_FAILED).
   */
  decode(buf: Buffer, off: number, sink: Http1BodySink): number {
    const len = buf.length;
    for (;;) {
      switch (this.state) {
        case BODY_LENGTH:
        case BODY_CHUNK_DATA: {
          if (off >= len) return off;
          const avail = len - off;
          let chunk: Buffer;
          if (avail <= this.remaining) {
            chunk = off === 0 ? buf : buf.subarray(off);
            this.remaining -= avail;
            off = len;
          } else {
            chunk = buf.subarray(off, off + this.remaining);
            off += this.remaining;
            this.remaining = 0;
          }
          if (this.remaining === 0) {
            if (this.state === BODY_LENGTH) this.state = BODY_DONE;
            else { this.state = BODY_CHUNK_CRLF; this.crlfSeen = 0; }
          }
          if (!sink.bodyData(chunk) || this.state === BODY_DONE) return off;
          break;
        }
        case BODY_CHUNK_CRLF: {
          while (off < len && this.crlfSeen < 2) {
            if (buf[off] !== (this.crlfSeen === 0 ? 13 : 10)) return this.fail(400, 'missing CRLF after chunk data', off);
            off++;
            this.crlfSeen++;
          }
          if (this.crlfSeen < 2) return off;
          this.state = BODY_CHUNK_SIZE;
          break;
        }
        case BODY_CHUNK_SIZE: {
          if (off >= len) return off;
          const next = this.chunkSize(buf, off);
          if (next < 0) return next === -1 ? len : off;
          off = next;
          break;
        }
        default: // idle, trailers, done, failed
          return off;
      }
    }
  }

  private fail(status: number, reason: string, off: number): number {
    this.state = BODY_FAILED;
    this.error = reason;
    this.errorStatus = status;
    this.linePending = null;
    return off;
  }

  /**
   * Reads a chunk-size line at `off` (`1*HEXDIG [ BWS ; ext ] CRLF`). Returns
   * the offset after it, -1 when more bytes are needed (kept), -2 on error.
   */
  private chunkSize(buf: Buffer, off: number): number {
    let data = buf;
    let start = off;
    let prev = 0;
    if (this.linePending !== null) {
      prev = this.linePending.length;
      data = Buffer.concat([this.linePending, buf.subarray(off)]);
      start = 0;
    }
    const nl = data.indexOf(10, start);
    if (nl < 0) {
      if (data.length - start > MAX_CHUNK_LINE_BYTES) { this.fail(400, 'chunk-size line too long', off); return -2; }
      this.linePending = data === buf ? Buffer.from(buf.subarray(off)) : data;
      return -1;
    }
    const size = parseChunkSizeLine(data, start, nl);
    if (typeof size === 'string') { this.fail(400, size, off); return -2; }
    this.linePending = null;
    if (size === 0) {
      this.state = BODY_TRAILERS;
    } else {
      this.announced += size;
      if (this.maxBytes > 0 && this.announced > this.maxBytes) { this.fail(413, this.tooLarge, off); return -2; }
      this.remaining = size;
      this.state = BODY_CHUNK_DATA;
    }
    return data === buf ? nl + 1 : nl + 1 - prev + off;
  }
}
