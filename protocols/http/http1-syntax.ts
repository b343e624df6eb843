/**
 * HTTP/1.1 syntax shared by the request parser (downstream codec) and the
 * response parser (upstream pool): token and digit rules, Content-Length,
 * the chunk-size line, Connection tokens, and how repeated fields combine.
 * Pure functions over bytes and strings (RFC 9110 / RFC 9112).
 */
import type { HeaderMap } from '../../sidecar/contracts/http-filter.ts';

/** The longest chunk-size line (size and extensions) accepted. */
export const MAX_CHUNK_LINE_BYTES = 4096;

/** The end of a header section. */
export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Control characters a header section may not hold, CR and LF aside (those
 * are crlfOnly()'s). A plain character class is one fast scan per section,
 * where one pattern with look-arounds for bare CR/LF cost several times more
 * than crlfOnly()'s indexOf() calls.
 */
export const BAD_CONTROL = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * Whether every CR and LF of `text` is part of a CRLF pair (a bare one is a
 * known request-smuggling vector). Once true, lines can be split at LF alone.
 */
export function crlfOnly(text: string): boolean {
  let cr = text.indexOf('\r');
  let lf = text.indexOf('\n');
  while (cr >= 0 || lf >= 0) {
    if (cr < 0 || lf !== cr + 1) return false;
    cr = text.indexOf('\r', lf);
    lf = text.indexOf('\n', lf + 1);
  }
  return true;
}

/** Whether a header section holds only allowed characters (BAD_CONTROL, crlfOnly). */
export function cleanSection(text: string): boolean {
  return !BAD_CONTROL.test(text) && crlfOnly(text);
}

/**
 * Connection-specific fields (RFC 9110 section 7.6.1, RFC 9113 section 8.2.2): about one hop,
 * never forwarded, illegal in HTTP/2 (`te` there only as `trailers`).
 */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

/** Whether byte `b` is an RFC 9110 tchar (a character of a token: methods, field names). */
export function isTokenByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || (b < 0x80 && TCHAR_SYMBOLS.includes(String.fromCharCode(b)));
}
const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";

/** RFC 9110 token (field names, methods). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Field names seen before: spelling on the wire (or in a header map) -> the
 * lower-case name, already checked against TOKEN. Every message carries the
 * same handful of names, so a hit replaces a regex run, a toLowerCase and
 * (the cached name being an internalized string) the string-table lookup
 * when it becomes a property key. Bounded: names past the limit are checked
 * each time, as before.
 */
const FIELD_NAMES = new Map<string, string>();
const FIELD_NAMES_MAX = 1024;

/** The lower-case field name of `raw`, or undefined when it is not a token. */
export function fieldName(raw: string): string | undefined {
  const hit = FIELD_NAMES.get(raw);
  if (hit !== undefined) return hit;
  if (!TOKEN.test(raw)) return undefined;
  const name = raw.toLowerCase();
  if (FIELD_NAMES.size < FIELD_NAMES_MAX) FIELD_NAMES.set(raw, name);
  return name;
}

/** Whether `name` (a header map key) is a token: fieldName() without the case folding. */
export function isTokenName(name: string): boolean {
  const hit = FIELD_NAMES.get(name);
  if (hit !== undefined) return true;
  if (!TOKEN.test(name)) return false;
  if (FIELD_NAMES.size < FIELD_NAMES_MAX) FIELD_NAMES.set(name, name.toLowerCase());
  return true;
}

/** Value of a hex digit byte, or -1. */
export function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  const l = b | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** Content-Length as a number, or -1 when it is not 1*DIGIT (or too large). */
export function parseContentLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return -1;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    out = out * 10 + d;
  }
  return out;
}

/**
 * Adds a field to a header map: repeated names become arrays; with
 * `joinCookies`, request cookies are joined with `; ` (RFC 9113 8.2.3).
 * Inherited names (`constructor`) are shadowed, never mutated.
 */
export function addField(map: HeaderMap, name: string, value: string, joinCookies: boolean): void {
  const cur = Object.hasOwn(map, name) ? map[name] : undefined;
  if (cur === undefined) map[name] = value;
  else if (joinCookies && name === 'cookie') map[name] = `${cur as string}; ${value}`;
  else if (typeof cur === 'string') map[name] = [cur, value];
  else cur.push(value);
}

/** `connection: close` seen. */
export const CONNECTION_CLOSE = 1;
/** `connection: keep-alive` seen. */
export const CONNECTION_KEEP_ALIVE = 2;

/** The close / keep-alive tokens of a Connection field value, as bits. */
export function connectionTokens(value: string): number {
  const v = value.toLowerCase();
  if (v === 'keep-alive') return CONNECTION_KEEP_ALIVE;
  if (v === 'close') return CONNECTION_CLOSE;
  let out = 0;
  for (const t of v.split(',')) {
    const tok = t.trim();
    if (tok === 'close') out |= CONNECTION_CLOSE;
    else if (tok === 'keep-alive') out |= CONNECTION_KEEP_ALIVE;
  }
  return out;
}

/**
 * Parses a complete chunk-size line `data[start, nl]` (`nl` is the LF):
 * `1*HEXDIG [ BWS ; ext ] CRLF`. Extensions are ignored but may not hide
 * control characters (a bare CR or LF there is a known smuggling vector).
 * Returns the size, or an error reason.
 */
export function parseChunkSizeLine(data: Buffer, start: number, nl: number): number | string {
  if (nl - start > MAX_CHUNK_LINE_BYTES) return 'chunk-size line too long';
  if (nl === start || data[nl - 1] !== 13) return 'invalid chunk-size line';
  const end = nl - 1;
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const v = hexValue(data[i]!);
    if (v < 0) break;
    size = size * 16 + v;
  }
  const digits = i - start;
  if (digits === 0 || digits > 13) return 'invalid chunk size';
  while (i < end && (data[i] === 32 || data[i] === 9)) i++;
  if (i < end) {
    if (data[i] !== 59) return 'invalid chunk size';
    for (; i < end; i++) {
      const b = data[i]!;
      if ((b < 32 && b !== 9) || b === 127) return 'invalid chunk extension';
    }
  }
  return size;
}
