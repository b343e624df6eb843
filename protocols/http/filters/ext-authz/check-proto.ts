/**
 * The wire form of envoy.service.auth.v3.Authorization/Check, written by hand
 * for the few messages the filter sends and reads (CheckRequest out,
 * CheckResponse in), so the data path needs no descriptor registry (the
 * Envoy API registry is released after start-up) and no file I/O. Field
 * numbers are those of envoy/service/auth/v3/{external_auth,attribute_context}.proto,
 * envoy/config/core/v3/{address,base}.proto and google/rpc/status.proto; the
 * integration tests decode what we send, and encode what we read, with
 * @grpc/proto-loader from those same files.
 */

/** One side of the connection (AttributeContext.Peer). */
export interface CheckPeer {
  readonly address: string;
  readonly port: number;
  /** The peer's URI SAN (source) or our own identity (destination); '' when none. */
  readonly principal: string;
}

/** AttributeContext.HttpRequest. */
export interface CheckHttpRequest {
  readonly id: string;
  readonly method: string;
  /** Lower-case names, pseudo-headers included, multiple values joined by ','. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly path: string;
  readonly host: string;
  readonly scheme: string;
  /** Request body size in bytes, -1 when not known. */
  readonly size: number;
  readonly protocol: string;
}

/** What CheckRequest carries. */
export interface CheckRequestSpec {
  readonly source: CheckPeer;
  readonly destination: CheckPeer;
  readonly http: CheckHttpRequest;
  /** Request time, in milliseconds since the epoch. */
  readonly timeMs: number;
}

/** A HeaderValueOption of a response. */
export interface CheckHeaderOption {
  readonly key: string;
  readonly value: string;
  /** The BoolValue `append`, undefined when not set. */
  readonly append: boolean | undefined;
  /** HeaderAppendAction (0 APPEND_IF_EXISTS_OR_ADD, 1 ADD_IF_ABSENT, 2 OVERWRITE_IF_EXISTS_OR_ADD, 3 OVERWRITE_IF_EXISTS). */
  readonly appendAction: number;
}

/** The decoded CheckResponse. */
export interface CheckResponseSpec {
  /** google.rpc.Status code (0: OK). */
  readonly code: number;
  readonly denied: { readonly status: number; readonly headers: CheckHeaderOption[]; readonly body: string } | undefined;
  /** dynamic_metadata (with OkHttpResponse's deprecated dynamic_metadata merged under it). */
  readonly dynamicMetadata: Record<string, unknown> | undefined;
  readonly ok: {
    readonly headers: CheckHeaderOption[];
    readonly headersToRemove: string[];
    readonly responseHeadersToAdd: CheckHeaderOption[];
    readonly queryToSet: Array<readonly [string, string]>;
    readonly queryToRemove: string[];
  } | undefined;
}

// --- writing -----------------------------------------------------------------

class Writer {
  private readonly parts: Buffer[] = [];
  private n = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.n += b.length;
  }

  private varint(v: bigint | number): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.push(Buffer.from(out));
  }

  uint(field: number, v: number): this {
    if (v !== 0) {
      this.varint(field << 3);
      this.varint(v);
    }
    return this;
  }

  bytes(field: number, b: Buffer): this {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return s === '' ? this : this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.n);
  }
}

function peer(p: CheckPeer): Writer {
  const socketAddress = new Writer().string(2, p.address).uint(3, p.port);
  return new Writer().message(1, new Writer().message(1, socketAddress)).string(4, p.principal);
}

/** Encodes a CheckRequest. */
export function encodeCheckRequest(r: CheckRequestSpec): Buffer {
  const http = new Writer().string(1, r.http.id).string(2, r.http.method);
  for (const [k, v] of r.http.headers) http.message(3, new Writer().string(1, k).string(2, v));
  http.string(4, r.http.path).string(5, r.http.host).string(6, r.http.scheme);
  http.uint(9, r.http.size).string(10, r.http.protocol);
  const time = new Writer().uint(1, Math.floor(r.timeMs / 1000)).uint(2, (r.timeMs % 1000) * 1_000_000);
  const request = new Writer().message(1, time).message(2, http);
  const attrs = new Writer().message(1, peer(r.source)).message(2, peer(r.destination)).message(4, request);
  return new Writer().message(1, attrs).finish();
}

// --- reading -----------------------------------------------------------------

/** A malformed message. */
export class ProtoDecodeError extends Error {}

type Field = { readonly no: number; readonly wire: number; readonly int: bigint; readonly bytes: Buffer | undefined };

function* fields(b: Buffer): Generator<Field> {
  let i = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= b.length || shift > 63n) throw new ProtoDecodeError('truncated varint');
      const c = b[i++]!;
      x |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return x;
      shift += 7n;
    }
  };
  while (i < b.length) {
    const tag = Number(varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) yield { no, wire, int: varint(), bytes: undefined };
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > b.length) throw new ProtoDecodeError('truncated field');
      yield { no, wire, int: 0n, bytes: b.subarray(i, i + len) };
      i += len;
    } else if (wire === 1) {
      if (i + 8 > b.length) throw new ProtoDecodeError('truncated field');
      yield { no, wire, int: 0n, bytes: b.subarray(i, i + 8) };
      i += 8;
    }
    else if (wire === 5) i += 4;
    else throw new ProtoDecodeError(`unsupported wire type ${wire}`);
    if (i > b.length) throw new ProtoDecodeError('truncated field');
  }
}

function text(f: Field): string {
  return f.bytes ? f.bytes.toString('utf8') : '';
}

function headerOption(b: Buffer): CheckHeaderOption {
  let key = '';
  let value = '';
  let append: boolean | undefined;
  let appendAction = 0;
  for (const f of fields(b)) {
    if (f.no === 1 && f.bytes) {
      for (const h of fields(f.bytes)) {
        if (h.no === 1) key = text(h);
        else if (h.no === 2) value = text(h);
        else if (h.no === 3 && h.bytes && value === '') value = h.bytes.toString('utf8');
      }
    } else if (f.no === 2 && f.bytes) {
      append = false;
      for (const v of fields(f.bytes)) if (v.no === 1) append = v.int !== 0n;
    } else if (f.no === 3) appendAction = Number(f.int);
  }
  return { key: key.toLowerCase(), value, append, appendAction };
}

const MAX_DEPTH = 32;

/** google.protobuf.Value -> a JSON value. */
function value(b: Buffer, depth: number): unknown {
  let v: unknown = null;
  for (const f of fields(b)) {
    if (f.no === 1) v = null;
    else if (f.no === 2 && f.wire === 1 && f.bytes) v = f.bytes.readDoubleLE(0);
    else if (f.no === 3) v = text(f);
    else if (f.no === 4) v = f.int !== 0n;
    else if (f.no === 5 && f.bytes) v = struct(f.bytes, depth + 1);
    else if (f.no === 6 && f.bytes) {
      if (depth >= MAX_DEPTH) throw new ProtoDecodeError('metadata nested too deeply');
      const list: unknown[] = [];
      for (const e of fields(f.bytes)) if (e.no === 1 && e.bytes) list.push(value(e.bytes, depth + 1));
      v = list;
    }
  }
  return v;
}

/** google.protobuf.Struct -> a JSON object. */
function struct(b: Buffer, depth = 0): Record<string, unknown> {
  if (depth >= MAX_DEPTH) throw new ProtoDecodeError('metadata nested too deeply');
  const out: Record<string, unknown> = {};
  for (const f of fields(b)) {
    if (f.no !== 1 || !f.bytes) continue;
    let key = '';
    let v: unknown = null;
    for (const e of fields(f.bytes)) {
      if (e.no === 1) key = text(e);
      else if (e.no === 2 && e.bytes) v = value(e.bytes, depth);
    }
    if (key !== '__proto__') out[key] = v;
  }
  return out;
}

/** Decodes a CheckResponse; throws ProtoDecodeError on a malformed one. */
export function decodeCheckResponse(b: Buffer): CheckResponseSpec {
  let code = 0;
  let denied: CheckResponseSpec['denied'];
  let ok: CheckResponseSpec['ok'];
  let dynamicMetadata: Record<string, unknown> | undefined;
  let okMetadata: Record<string, unknown> | undefined;
  for (const f of fields(b)) {
    if (f.no === 1 && f.bytes) {
      for (const s of fields(f.bytes)) if (s.no === 1) code = Number(BigInt.asIntN(32, s.int));
    } else if (f.no === 2 && f.bytes) {
      let status = 0;
      const headers: CheckHeaderOption[] = [];
      let body = '';
      for (const d of fields(f.bytes)) {
        if (d.no === 1 && d.bytes) for (const s of fields(d.bytes)) { if (s.no === 1) status = Number(s.int); }
        else if (d.no === 2 && d.bytes) headers.push(headerOption(d.bytes));
        else if (d.no === 3) body = text(d);
      }
      denied = { status, headers, body };
    } else if (f.no === 3 && f.bytes) {
      const headers: CheckHeaderOption[] = [];
      const headersToRemove: string[] = [];
      const responseHeadersToAdd: CheckHeaderOption[] = [];
      const queryToSet: Array<readonly [string, string]> = [];
      const queryToRemove: string[] = [];
      for (const o of fields(f.bytes)) {
        if (o.no === 2 && o.bytes) headers.push(headerOption(o.bytes));
        else if (o.no === 5) headersToRemove.push(text(o).toLowerCase());
        else if (o.no === 6 && o.bytes) responseHeadersToAdd.push(headerOption(o.bytes));
        else if (o.no === 7 && o.bytes) {
          let key = '';
          let value = '';
          for (const q of fields(o.bytes)) {
            if (q.no === 1) key = text(q);
            else if (q.no === 2) value = text(q);
          }
          queryToSet.push([key, value]);
        } else if (o.no === 8) queryToRemove.push(text(o));
        else if (o.no === 3 && o.bytes) okMetadata = struct(o.bytes);
      }
      ok = { headers, headersToRemove, responseHeadersToAdd, queryToSet, queryToRemove };
    } else if (f.no === 4 && f.bytes) dynamicMetadata = struct(f.bytes);
  }
  if (okMetadata) dynamicMetadata = { ...okMetadata, ...dynamicMetadata };
  return { code, denied, ok, dynamicMetadata };
}
