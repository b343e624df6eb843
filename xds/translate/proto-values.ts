/**
 * Readers for canonical-JSON proto values (durations, wrappers, data sources,
 * string matchers), shared by every translator and extension parser. Each
 * throws ConfigError with the field path on a bad value.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';

/** A canonical-JSON message. */
export type Json = Record<string, unknown>;

/** `"1.5s"` -> 1500 (milliseconds); undefined when absent. */
export function durationMs(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !/^-?\d+(\.\d+)?s$/.test(v)) throw new ConfigError(path, `invalid duration ${JSON.stringify(v)}`);
  const ms = Number(v.slice(0, -1)) * 1000;
  if (ms < 0) throw new ConfigError(path, 'duration must be non-negative');
  return ms;
}

/** A message field (object) or undefined. */
export function msg(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** A repeated message field ([] when absent). */
export function list(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

/** A string field ('' when absent, as proto3). */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * An integer field as a number: an int32/uint32 (or its wrapper) arrives as a
 * JSON number, an int64/uint64 (or its wrapper) as a decimal string in
 * canonical JSON; `dflt` when absent. A value a double cannot hold exactly
 * (beyond ±Number.MAX_SAFE_INTEGER), or a string that is not an integer, is
 * refused with a ConfigError at `path`, never rounded: no field read this way
 * means anything that large in Envoy (ring and Maglev table sizes, status
 * ranges and attempt counts all have small bounds). An int64 that does keep
 * its meaning at any size (a header range_match bound) is read as a bigint
 * instead (header-matcher.ts). Config time only.
 */
export function int(v: unknown, dflt: number, path: string): number {
  if (typeof v === 'number') {
    if (Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) return v;
    throw new ConfigError(path, `${v} is beyond ±${Number.MAX_SAFE_INTEGER} (2^53 - 1) and cannot be held exactly`);
  }
  if (typeof v === 'string' && v !== '') {
    if (!/^[-+]?\d+$/.test(v)) throw new ConfigError(path, `expected an integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    // Rounding is monotonic: a string beyond the safe range never rounds back into it.
    if (!Number.isSafeInteger(n)) throw new ConfigError(path, `${v.replace(/^\+/, '')} is beyond ±${Number.MAX_SAFE_INTEGER} (2^53 - 1) and cannot be held exactly`);
    return n;
  }
  return dflt;
}

/** A bool field, possibly a BoolValue wrapper; `dflt` when absent. */
export function bool(v: unknown, dflt: boolean): boolean {
  return typeof v === 'boolean' ? v : dflt;
}

/**
 * RE2 (Envoy's regex engine) to a JavaScript RegExp, anchored to match the
 * whole input unless `anchored` is false (rewrites search within the path).
 * The common syntax is shared; RE2's `(?P<name>` becomes `(?<name>`.
 */
export function re2(pattern: string, path: string, flags = '', anchored = true): RegExp {
  const js = pattern.replace(/\(\?P</g, '(?<');
  try {
    return new RegExp(anchored ? `^(?:${js})$` : js, flags);
  } catch (e) {
    throw new ConfigError(path, `invalid regex '${pattern}': ${(e as Error).message}`);
  }
}

/** Envoy's RegexMatcher ({google_re2: {}, regex}) as a RegExp. */
export function regexMatcher(v: unknown, path: string, flags = ''): RegExp {
  const m = msg(v);
  if (!m || typeof m['regex'] !== 'string') throw new ConfigError(path, 'regex matcher without a regex');
  return re2(m['regex'], `${path}.regex`, flags);
}

/** A compiled envoy.type.matcher.v3.StringMatcher. */
export type StringMatch = (value: string) => boolean;

/** Compiles a StringMatcher (exact, prefix, suffix, contains, safe_regex; ignore_case). */
export function stringMatcher(v: unknown, path: string): StringMatch {
  const m = msg(v);
  if (!m) throw new ConfigError(path, 'missing string matcher');
  const ic = m['ignore_case'] === true;
  const norm = (s: string): string => (ic ? s.toLowerCase() : s);
  if (typeof m['exact'] === 'string') {
    const x = norm(m['exact']);
    return (s) => norm(s) === x;
  }
  if (typeof m['prefix'] === 'string') {
    const x = norm(m['prefix']);
    return (s) => norm(s).startsWith(x);
  }
  if (typeof m['suffix'] === 'string') {
    const x = norm(m['suffix']);
    return (s) => norm(s).endsWith(x);
  }
  if (typeof m['contains'] === 'string') {
    const x = norm(m['contains']);
    return (s) => norm(s).includes(x);
  }
  if (m['safe_regex'] !== undefined) {
    const re = regexMatcher(m['safe_regex'], `${path}.safe_regex`);
    return (s) => re.test(s);
  }
  if (m['custom'] !== undefined) throw new ConfigError(`${path}.custom`, 'custom string matchers are not supported');
  throw new ConfigError(path, 'string matcher needs one of exact, prefix, suffix, contains, safe_regex');
}

/** Envoy's DataSource (inline_string, inline_bytes; filename is read by the caller at load). */
export function inlineData(v: unknown, path: string, readFile: (p: string) => string): string {
  const m = msg(v);
  if (!m) return '';
  if (typeof m['inline_string'] === 'string') return m['inline_string'];
  if (typeof m['inline_bytes'] === 'string') return Buffer.from(m['inline_bytes'], 'base64').toString('utf8');
  if (typeof m['filename'] === 'string') {
    try {
      return readFile(m['filename']);
    } catch (e) {
      throw new ConfigError(`${path}.filename`, `cannot read '${m['filename']}': ${(e as Error).message}`);
    }
  }
  if (typeof m['environment_variable'] === 'string') throw new ConfigError(`${path}.environment_variable`, 'environment_variable data sources are not supported');
  return '';
}
