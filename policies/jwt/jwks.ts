/**
 * JSON Web Key Sets for jwt_authn: parsing as Envoy's jwt_verify library
 * does (a key that is broken or not for signatures is skipped; a set with no
 * usable key is `Jwks doesn't have any valid public key`), candidate
 * selection for a token (kid and alg must agree when both sides give them;
 * the key type must fit the algorithm), and the remote JWKS source: fetched
 * over HTTP with the http_uri timeout and the retry policy, cached for
 * cache_duration, one fetch in flight per provider (requests wait for it),
 * a refetch when a token names a kid the cache lacks (key rotation), at
 * most once per KID_REFETCH_INTERVAL_MS.
 */
import { createPublicKey } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import type { Counter } from '../../sidecar/contracts/stats.ts';
import type { JwtStatus } from './jwt-status.ts';

/** One usable key of a set. */
export interface JwkEntry {
  readonly kid: string | undefined;
  readonly alg: string | undefined;
  readonly kty: 'RSA' | 'EC' | 'oct' | 'OKP';
  readonly crv: string | undefined;
  readonly jwk: JWK;
}

/** A parsed set: its usable keys, or why there are none. */
export type JwksParse = { ok: true; keys: readonly JwkEntry[] } | { ok: false; status: JwtStatus };

/** The algorithms Envoy's jwt_authn verifies. */
export const SUPPORTED_ALGS: ReadonlySet<string> = new Set([
  'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA',
]);

const EC_CURVE: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** Parses a JWKS document (Envoy: Jwks::createFrom(..., JWKS)). */
export function parseJwks(text: string): JwksParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, status: 'JwksParseError' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, status: 'JwksParseError' };
  const keys = (doc as Record<string, unknown>)['keys'];
  if (keys === undefined) return { ok: false, status: 'JwksNoKeys' };
  if (!Array.isArray(keys)) return { ok: false, status: 'JwksBadKeys' };
  const out: JwkEntry[] = [];
  for (const k of keys) {
    const e = jwkEntry(k);
    if (e) out.push(e);
  }
  if (out.length === 0) return { ok: false, status: 'JwksNoValidKeys' };
  return { ok: true, keys: Object.freeze(out) };
}

function jwkEntry(k: unknown): JwkEntry | undefined {
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return undefined;
  const j = k as Record<string, unknown>;
  const kty = j['kty'];
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'oct' && kty !== 'OKP') return undefined;
  if (j['use'] !== undefined && j['use'] !== 'sig') return undefined;
  if (j['kid'] !== undefined && typeof j['kid'] !== 'string') return undefined;
  if (j['alg'] !== undefined && typeof j['alg'] !== 'string') return undefined;
  const alg = j['alg'] as string | undefined;
  if (alg !== undefined && !keyFitsAlg(kty, j['crv'] as string | undefined, alg)) return undefined;
  if (kty === 'oct') {
    if (typeof j['k'] !== 'string' || !/^[A-Za-z0-9_-]+$/.test(j['k'])) return undefined;
  } else {
    if (kty === 'OKP' && j['crv'] !== 'Ed25519') return undefined;
    // Only public parts: a set carrying private members is refused key by key.
    const pub: Record<string, unknown> = { kty };
    for (const f of kty === 'RSA' ? ['n', 'e'] : ['crv', 'x', 'y']) if (j[f] !== undefined) pub[f] = j[f];
    for (const f of ['n', 'e', 'x', 'y']) {
      if (pub[f] !== undefined && (typeof pub[f] !== 'string' || !/^[A-Za-z0-9_-]+$/.test(pub[f]))) return undefined;
    }
    try {
      createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      return undefined;
    }
    return Object.freeze({ kid: j['kid'] as string | undefined, alg, kty, crv: j['crv'] as string | undefined, jwk: Object.freeze(pub) as JWK });
  }
  return Object.freeze({ kid: j['kid'] as string | undefined, alg, kty, crv: undefined, jwk: Object.freeze({ kty, k: j['k'] }) as JWK });
}

/** Whether a key type (and EC curve) can verify an algorithm. */
export function keyFitsAlg(kty: string, crv: string | undefined, alg: string): boolean {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return kty === 'RSA';
  if (alg.startsWith('ES')) return kty === 'EC' && (crv === undefined || EC_CURVE[alg] === crv);
  if (alg.startsWith('HS')) return kty === 'oct';
  if (alg === 'EdDSA') return kty === 'OKP';
  return false;
}

/** The keys that may verify a token with this kid and alg (Envoy's rules). */
export function candidateKeys(keys: readonly JwkEntry[], kid: string | undefined, alg: string): JwkEntry[] {
  return keys.filter((k) => (kid === undefined || k.kid === undefined || k.kid === kid) && (k.alg === undefined || k.alg === alg) && keyFitsAlg(k.kty, k.crv, alg));
}

const imported = new WeakMap<JwkEntry, Map<string, Promise<CryptoKey | Uint8Array>>>();

/** The key in the form jose verifies with, imported once per key and algorithm. */
export function importedKey(k: JwkEntry, alg: string): Promise<CryptoKey | Uint8Array> {
  let byAlg = imported.get(k);
  if (!byAlg) imported.set(k, (byAlg = new Map()));
  let p = byAlg.get(alg);
  if (!p) {
    p = importJWK({ ...k.jwk, alg }, alg);
    p.catch(() => undefined);
    byAlg.set(alg, p);
  }
  return p;
}

/** The remote_jwks settings. */
export interface RemoteJwksSpec {
  readonly uri: string;
  readonly cluster: string;
  readonly timeoutMs: number;
  readonly cacheDurationMs: number;
  /** async_fetch: fetched when the config loads and refreshed in the background, stale keys serving meanwhile. */
  readonly asyncFetch: { readonly failedRefetchMs: number } | undefined;
  readonly retry: { readonly numRetries: number; readonly baseIntervalMs: number; readonly maxIntervalMs: number } | undefined;
}

/** How a remote source reaches the network and the clock. */
export interface JwksFetchRuntime {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Fetches the document body: resolves with the text of a 200, rejects otherwise or after timeoutMs. */
  fetchText(uri: string, timeoutMs: number): Promise<string>;
  readonly fetchSuccess: Counter;
  readonly fetchFailed: Counter;
}

/** The minimum time between two refetches triggered by an unknown kid. */
export const KID_REFETCH_INTERVAL_MS = 10_000;

/** Default JWKS fetch with the global fetch (undici), bounded by the timeout. */
export async function httpFetchText(uri: string, timeoutMs: number): Promise<string> {
  const res = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`JWKS fetch answered ${res.status}`);
  }
  return await res.text();
}

/** One provider's remote key set: cached keys and the single fetch in flight. */
export class RemoteJwksSource {
  readonly spec: RemoteJwksSpec;
  private readonly rt: JwksFetchRuntime;
  private keys: readonly JwkEntry[] | undefined;
  private expiresAt = 0;
  private inflight: Promise<JwksParse> | undefined;
  private lastKidRefetch = -Infinity;
  private lastFailureAt = -Infinity;

  constructor(spec: RemoteJwksSpec, rt: JwksFetchRuntime) {
    this.spec = spec;
    this.rt = rt;
    if (spec.asyncFetch) void this.fetch();
  }

  /** The cached keys when fresh (or, with async_fetch, stale while a refresh runs); undefined when a fetch is needed. */
  current(): readonly JwkEntry[] | undefined {
    const now = this.rt.now();
    if (this.keys && now < this.expiresAt) return this.keys;
    if (this.spec.asyncFetch && this.keys) {
      if (!this.inflight && now - this.lastFailureAt >= this.spec.asyncFetch.failedRefetchMs) void this.fetch();
      return this.keys;
    }
    return undefined;
  }

  /** True when a token's unknown kid may trigger a refetch now (rate limited); records the refetch. */
  takeKidRefetch(): boolean {
    const now = this.rt.now();
    if (this.inflight) return true; // joining a fetch in flight costs nothing
    if (now - this.lastKidRefetch < KID_REFETCH_INTERVAL_MS) return false;
    this.lastKidRefetch = now;
    return true;
  }

  /** Fetches (or joins the fetch in flight); resolves with the new keys or the failure. Never rejects. */
  fetch(): Promise<JwksParse> {
    if (!this.inflight) {
      this.inflight = this.fetchWithRetries().finally(() => { this.inflight = undefined; });
    }
    return this.inflight;
  }

  private async fetchWithRetries(): Promise<JwksParse> {
    const retries = this.spec.retry?.numRetries ?? 0;
    let backoff = this.spec.retry?.baseIntervalMs ?? 0;
    for (let attempt = 0; ; attempt++) {
      const r = await this.fetchOnce();
      if (r.ok || attempt >= retries) return r;
      await new Promise((res) => setTimeout(res, Math.random() * backoff).unref());
      backoff = Math.min(backoff * 2, this.spec.retry!.maxIntervalMs);
    }
  }

  private async fetchOnce(): Promise<JwksParse> {
    let text: string;
    try {
      text = await this.rt.fetchText(this.spec.uri, this.spec.timeoutMs);
    } catch {
      return this.failed();
    }
    const parsed = parseJwks(text);
    if (!parsed.ok) return this.failed(); // Envoy: an invalid JWKS is a failed fetch
    this.rt.fetchSuccess.inc();
    this.keys = parsed.keys;
    this.expiresAt = this.rt.now() + this.spec.cacheDurationMs;
    return parsed;
  }

  private failed(): JwksParse {
    this.rt.fetchFailed.inc();
    this.lastFailureAt = this.rt.now();
    return { ok: false, status: 'JwksFetchFail' };
  }
}
