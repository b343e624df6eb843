/**
 * A JWT (compact JWS) parsed and checked as Envoy's jwt_verify library does
 * before any key is touched: three base64url sections, a JSON header with a
 * supported `alg` (never `none`), a JSON payload whose registered claims
 * have the right types; then the time window (nbf / exp with the clock skew,
 * require_expiration, max_lifetime) and the audiences (a scheme prefix and a
 * trailing '/' do not count, as in Envoy's CheckAudience).
 */
import { SUPPORTED_ALGS } from './jwks.ts';
import type { JwtStatus } from './jwt-status.ts';

/** A parsed token. */
export interface ParsedJwt {
  readonly token: string;
  readonly alg: string;
  readonly kid: string | undefined;
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** The payload section as sent (base64url, no padding), for forward_payload_header. */
  readonly payloadB64: string;
  readonly iss: string;
  readonly audiences: readonly string[];
  /** Seconds since the epoch; 0 when absent. */
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(s: string): Record<string, unknown> | 'base64' | 'json' {
  if (!B64URL.test(s) || s.length % 4 === 1) return 'base64';
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    return 'json';
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : 'json';
}

function intClaim(p: Record<string, unknown>, k: string): number | undefined {
  const v = p[k];
  if (v === undefined) return 0;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** Parses a compact JWS; a status instead when it is malformed. */
export function parseJwt(token: string): ParsedJwt | JwtStatus {
  const parts = token.split('.');
  if (parts.length !== 3) return 'JwtBadFormat';
  const [h, p, sig] = parts as [string, string, string];
  const header = decodeJson(h);
  if (header === 'base64') return 'JwtHeaderParseErrorBadBase64';
  if (header === 'json') return 'JwtHeaderParseErrorBadJson';
  const alg = header['alg'];
  if (typeof alg !== 'string') return 'JwtHeaderBadAlg';
  if (!SUPPORTED_ALGS.has(alg)) return 'JwtHeaderNotImplementedAlg';
  const kid = header['kid'];
  if (kid !== undefined && typeof kid !== 'string') return 'JwtHeaderBadKid';
  const payload = decodeJson(p);
  if (payload === 'base64') return 'JwtPayloadParseErrorBadBase64';
  if (payload === 'json') return 'JwtPayloadParseErrorBadJson';
  const iss = payload['iss'];
  if (iss !== undefined && typeof iss !== 'string') return 'JwtPayloadParseErrorIssNotString';
  if (payload['sub'] !== undefined && typeof payload['sub'] !== 'string') return 'JwtPayloadParseErrorSubNotString';
  if (payload['jti'] !== undefined && typeof payload['jti'] !== 'string') return 'JwtPayloadParseErrorJtiNotString';
  const iat = intClaim(payload, 'iat');
  if (iat === undefined) return 'JwtPayloadParseErrorIatNotInteger';
  const nbf = intClaim(payload, 'nbf');
  if (nbf === undefined) return 'JwtPayloadParseErrorNbfNotInteger';
  const exp = intClaim(payload, 'exp');
  if (exp === undefined) return 'JwtPayloadParseErrorExpNotInteger';
  const aud = payload['aud'];
  let audiences: string[];
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
  else return 'JwtPayloadParseErrorAudNotString';
  if (!B64URL.test(sig) || sig.length === 0 || sig.length % 4 === 1) return 'JwtSignatureParseErrorBadBase64';
  return Object.freeze({ token, alg, kid: kid as string | undefined, header, payload, payloadB64: p, iss: (iss as string | undefined) ?? '', audiences, exp, nbf, iat });
}

/** Envoy's time checks: nbf and exp with the clock skew, then require_expiration and max_lifetime. */
export function checkTime(jwt: ParsedJwt, nowS: number, skewS: number, requireExpiration: boolean, maxLifetimeS: number | undefined): JwtStatus | undefined {
  if (nowS + skewS < jwt.nbf) return 'JwtNotYetValid';
  if (jwt.exp && nowS > jwt.exp + skewS) return 'JwtExpired';
  if ((requireExpiration || maxLifetimeS !== undefined) && !jwt.exp) return 'JwtExpired';
  if (maxLifetimeS !== undefined) {
    const from = jwt.iat || jwt.nbf || nowS;
    if (jwt.exp - from > maxLifetimeS) return 'JwtExpired';
  }
  return undefined;
}

/** An audience without its http(s):// prefix and trailing '/', as Envoy compares them. */
export function normalizeAudience(a: string): string {
  let s = a;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

/** True when `allowed` is empty or shares an audience with the token. */
export function audiencesAllowed(allowed: ReadonlySet<string>, jwt: ParsedJwt): boolean {
  if (allowed.size === 0) return true;
  return jwt.audiences.some((a) => allowed.has(normalizeAudience(a)));
}
