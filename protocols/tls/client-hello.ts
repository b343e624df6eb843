/**
 * A TLS ClientHello reader for envoy.filters.listener.tls_inspector: from
 * the first bytes of a connection it tells whether the peer speaks TLS and,
 * if so, the SNI host name and the ALPN offers, without terminating TLS
 * (RFC 8446 4.1.2, RFC 6066 3, RFC 7301). The handshake message may span
 * several records; it is read up to MAX_CLIENT_HELLO bytes, as Envoy's
 * max_client_hello_size (64 KiB).
 */

/** Envoy's default max_client_hello_size. */
export const MAX_CLIENT_HELLO = 64 * 1024;

/** What the first bytes say. */
export type ClientHelloResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'tls'; readonly serverName?: string; readonly alpn: readonly string[] }
  /** TLS record framing but a broken or oversized ClientHello. */
  | { readonly kind: 'malformed'; readonly reason: string };

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** Reads a ClientHello from the bytes received so far. */
export function readClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] !== HANDSHAKE) return { kind: 'not-tls' };
  if (buf.length >= 2 && buf[1] !== 3) return { kind: 'not-tls' };
  // Collect the handshake bytes of consecutive handshake records.
  const parts: Buffer[] = [];
  let have = 0;
  let off = 0;
  let need = -1;
  while (true) {
    if (buf.length < off + 5) return tooBig(off) ?? { kind: 'need-more' };
    if (buf[off] !== HANDSHAKE) return { kind: 'malformed', reason: 'ClientHello interrupted by another record type' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 256) return { kind: 'malformed', reason: `bad TLS record length ${len}` };
    if (buf.length < off + 5 + len) return tooBig(off + 5 + len) ?? { kind: 'need-more' };
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const first = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (first[0] !== CLIENT_HELLO) return { kind: 'malformed', reason: 'first handshake message is not a ClientHello' };
      need = 4 + first.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO) return { kind: 'malformed', reason: `ClientHello of ${need} bytes is over ${MAX_CLIENT_HELLO}` };
    }
    if (need >= 0 && have >= need) break;
  }
  const msg = Buffer.concat(parts).subarray(4, need);
  try {
    return parseBody(msg);
  } catch {
    return { kind: 'malformed', reason: 'truncated ClientHello fields' };
  }
}

function tooBig(n: number): ClientHelloResult | undefined {
  return n > MAX_CLIENT_HELLO + 5 * 8 ? { kind: 'malformed', reason: `ClientHello over ${MAX_CLIENT_HELLO} bytes` } : undefined;
}

/** A bounds-checked reader (throws RangeError past the end). */
class Reader {
  private off = 0;
  private readonly b: Buffer;
  private readonly end: number;
  constructor(b: Buffer, start = 0, end = b.length) {
    this.b = b;
    this.off = start;
    this.end = end;
  }
  get remaining(): number {
    return this.end - this.off;
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.off += n;
  }
  private need(n: number): void {
    if (this.off + n > this.end) throw new RangeError('truncated');
  }
}

function parseBody(msg: Buffer): ClientHelloResult {
  const r = new Reader(msg);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // session id
  r.skip(r.u16()); // cipher suites
  r.skip(r.u8()); // compression methods
  let serverName: string | undefined;
  let alpn: string[] = [];
  if (r.remaining === 0) return { kind: 'tls', alpn };
  const ext = new Reader(r.bytes(r.u16()));
  while (ext.remaining > 0) {
    const type = ext.u16();
    const body = new Reader(ext.bytes(ext.u16()));
    if (type === EXT_SERVER_NAME) {
      const list = new Reader(body.bytes(body.u16()));
      while (list.remaining > 0) {
        const nameType = list.u8();
        const name = list.bytes(list.u16());
        if (nameType === 0 && serverName === undefined) serverName = name.toString('latin1').toLowerCase();
      }
    } else if (type === EXT_ALPN) {
      const list = new Reader(body.bytes(body.u16()));
      alpn = [];
      while (list.remaining > 0) alpn.push(list.bytes(list.u8()).toString('latin1'));
    }
  }
  return { kind: 'tls', serverName, alpn };
}
