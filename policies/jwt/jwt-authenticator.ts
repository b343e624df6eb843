/**
 * JWT authentication as Envoy's jwt_authn does it, protocol-neutral over a
 * header map: the first matching rule gives a requirement; tokens are
 * extracted from the locations of the providers the requirement names
 * (every token found must verify, so a good token cannot smuggle a bad
 * one); each is parsed, its issuer, time window and audiences checked, and
 * its signature verified with jose against the provider's keys (local, or
 * remote and cached, refetched when a token names an unknown kid). A good
 * token may be forwarded or removed, its payload put in a header, claims
 * copied to headers, payload and header put in the stream's metadata.
 * Requirement trees combine as Envoy's verifiers: requires_any passes when a
 * child passes (else the most telling failure: not `Jwt is missing` or
 * `Jwt issuer is not configured` when another child says more),
 * requires_all fails with the first failing child, allow_missing passes
 * without tokens, allow_missing_or_failed always passes.
 */
import { compactVerify } from 'jose';
import { candidateKeys, httpFetchText, importedKey, RemoteJwksSource, type JwkEntry, type JwksFetchRuntime } from './jwks.ts';
import type { JwtAuthnConfig, JwtProviderConfig, JwtRequirement, TokenLocation } from './jwt-config.ts';
import type { Counter } from '../../sidecar/contracts/stats.ts';
import type { JwtStatus } from './jwt-status.ts';
import { JWT_STATUS } from './jwt-status.ts';
import { audiencesAllowed, checkTime, parseJwt, type ParsedJwt } from './jwt-token.ts';

/** Request headers the authenticator reads and edits (lower-case names). */
export type JwtHeaders = Record<string, string | string[] | undefined>;

/** The metadata namespace jwt_authn writes: `{ <payload_in_metadata>: payload, ... }`. */
export const JWT_AUTHN_METADATA = 'envoy.filters.http.jwt_authn';

/** What verification may touch outside the headers. */
export interface JwtVerifyContext {
  /** Sets one field of the `envoy.filters.http.jwt_authn` metadata. */
  setMetadata(key: string, value: unknown): void;
}

/** The authenticator's clock, network and counters. */
export type JwtRuntime = Omit<JwksFetchRuntime, 'fetchText'> & {
  fetchText?: JwksFetchRuntime['fetchText'];
  /** Envoy's jwt_cache_hit / jwt_cache_miss. */
  readonly jwtCacheHit?: Counter;
  readonly jwtCacheMiss?: Counter;
};

/** A status now, or later. */
type MaybeAsync = JwtStatus | Promise<JwtStatus>;

/** requires_any: Ok when a child is; else the last failure that says more than missing / unknown issuer. */
function anyOf(results: readonly JwtStatus[]): JwtStatus {
  if (results.includes('Ok')) return 'Ok';
  let final: JwtStatus = 'JwtMissed';
  for (const s of results) if (s !== 'JwtMissed' && s !== 'JwtUnknownIssuer') final = s;
  return final;
}

/** requires_all: the first failing child. */
function allOf(results: readonly JwtStatus[]): JwtStatus {
  return results.find((s) => s !== 'Ok') ?? 'Ok';
}

/** A token found in the request. */
interface FoundToken {
  readonly token: string;
  readonly location: TokenLocation;
}

function headerString(h: JwtHeaders, name: string): string | undefined {
  const v = h[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

const TOKEN_CHARS = /[A-Za-z0-9._-]+/y;

/** Envoy's extractJWT: the run of base64url / '.' characters after the prefix. */
function tokenAfter(value: string, from: number): string {
  let i = from;
  while (i < value.length && !/[A-Za-z0-9._-]/.test(value[i]!)) i++;
  TOKEN_CHARS.lastIndex = i;
  const m = TOKEN_CHARS.exec(value);
  return m ? m[0] : '';
}

/** Tokens at the given locations (each location at most once). */
function extract(h: JwtHeaders, locations: readonly TokenLocation[]): FoundToken[] {
  const out: FoundToken[] = [];
  let query: URLSearchParams | undefined;
  let cookies: Map<string, string> | undefined;
  for (const loc of locations) {
    if (loc.kind === 'header') {
      const v = headerString(h, loc.name);
      if (v === undefined) continue;
      if (!loc.prefix) { if (v.trim()) out.push({ token: v.trim(), location: loc }); continue; }
      const at = v.toLowerCase().indexOf(loc.prefix.toLowerCase());
      if (at < 0) continue;
      const t = tokenAfter(v, at + loc.prefix.length);
      if (t) out.push({ token: t, location: loc });
    } else if (loc.kind === 'param') {
      if (!query) {
        const path = headerString(h, ':path') ?? '';
        const q = path.indexOf('?');
        query = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
      }
      const v = query.get(loc.name);
      if (v) out.push({ token: v, location: loc });
    } else {
      if (!cookies) {
        cookies = new Map();
        for (const part of (headerString(h, 'cookie') ?? '').split(/;\s*/)) {
          const eq = part.indexOf('=');
          if (eq > 0 && !cookies.has(part.slice(0, eq).trim())) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
        }
      }
      const v = cookies.get(loc.name);
      if (v) out.push({ token: v, location: loc });
    }
  }
  return out;
}

function sameLocation(a: TokenLocation, b: TokenLocation): boolean {
  return a.kind === b.kind && a.name === b.name && (a.kind !== 'header' || a.prefix === (b as typeof a).prefix);
}

/** A claim by name; `a.b` walks nested objects (Envoy's StructUtils). */
function claimValue(payload: Readonly<Record<string, unknown>>, name: string): unknown {
  let v: unknown = payload;
  for (const k of name.split('.')) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function claimString(v: unknown): string | undefined {
  if (typeof v === 'string') return v || undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? String(v) : v.toFixed(6);
  return undefined;
}

/**
 * Verifies requests for one validated JwtAuthentication config. Holds the
 * remote key caches, so it is built once per filter config.
 */
export class JwtAuthenticator {
  readonly config: JwtAuthnConfig;
  private readonly rt: JwtRuntime;
  private readonly remotes = new Map<string, RemoteJwksSource>();
  private readonly allLocations: readonly TokenLocation[];
  /**
   * Per provider: tokens whose signature verified, most recently used last
   * (Envoy's JWT cache). Claims are checked again on every use; the
   * signature is not.
   */
  private readonly verified = new Map<string, Map<string, ParsedJwt>>();

  constructor(config: JwtAuthnConfig, rt: JwtRuntime) {
    this.config = config;
    this.rt = rt;
    const fetchRt: JwksFetchRuntime = { ...rt, fetchText: rt.fetchText ?? httpFetchText };
    const all: TokenLocation[] = [];
    for (const p of config.providers.values()) {
      if (p.remote) this.remotes.set(p.name, new RemoteJwksSource(p.remote, fetchRt));
      this.verified.set(p.name, new Map());
      for (const l of p.locations) if (!all.some((x) => sameLocation(x, l))) all.push(l);
    }
    this.allLocations = all;
  }

  /** The requirement of the first rule that matches (undefined: no verification). */
  requirementFor(headers: JwtHeaders): JwtRequirement | undefined {
    for (const r of this.config.rules) if (r.matches(headers)) return r.requires;
    return undefined;
  }

  /**
   * The outcome when the request carries no token for the requirement,
   * decided without I/O; undefined when there are tokens to verify.
   */
  decideWithoutTokens(headers: JwtHeaders, req: JwtRequirement): JwtStatus | undefined {
    const locs = this.locationsOf(req);
    if (extract(headers, locs).length > 0) return undefined;
    return this.missing(req);
  }

  private missing(req: JwtRequirement): JwtStatus {
    switch (req.kind) {
      case 'provider': return 'JwtMissed';
      case 'allow_missing':
      case 'allow_missing_or_failed': return 'Ok';
      case 'any': return req.children.some((c) => this.missing(c) === 'Ok') ? 'Ok' : 'JwtMissed';
      case 'all': return req.children.map((c) => this.missing(c)).find((s) => s !== 'Ok') ?? 'Ok';
    }
  }

  private locationsOf(req: JwtRequirement): readonly TokenLocation[] {
    switch (req.kind) {
      case 'provider': return this.config.providers.get(req.provider)!.locations;
      case 'any':
      case 'all': {
        const out: TokenLocation[] = [];
        for (const c of req.children) for (const l of this.locationsOf(c)) if (!out.some((x) => sameLocation(x, l))) out.push(l);
        return out;
      }
      default: return this.allLocations;
    }
  }

  /**
   * Verifies a request against a requirement: the status at once when every
   * token's signature is in the verified-token cache (the common path, no
   * Promise), else a Promise of it. Never throws or rejects.
   */
  verify(headers: JwtHeaders, req: JwtRequirement, ctx: JwtVerifyContext): JwtStatus | Promise<JwtStatus> {
    try {
      const r = this.check(headers, req, ctx);
      return typeof r === 'string' ? r : r.catch(() => 'JwtVerificationFail' as const);
    } catch {
      return 'JwtVerificationFail';
    }
  }

  private check(headers: JwtHeaders, req: JwtRequirement, ctx: JwtVerifyContext): MaybeAsync {
    switch (req.kind) {
      case 'provider': {
        const p = this.config.providers.get(req.provider)!;
        return this.checkTokens(headers, extract(headers, p.locations), 0, p, req.audiences, false, false, ctx);
      }
      case 'allow_missing': return this.checkTokens(headers, extract(headers, this.allLocations), 0, undefined, undefined, true, false, ctx);
      case 'allow_missing_or_failed': return this.checkTokens(headers, extract(headers, this.allLocations), 0, undefined, undefined, false, true, ctx);
      case 'any':
      case 'all': {
        const results = req.children.map((c) => this.check(headers, c, ctx));
        const combine = req.kind === 'any' ? anyOf : allOf;
        return results.every((r) => typeof r === 'string') ? combine(results as JwtStatus[]) : Promise.all(results).then(combine);
      }
    }
  }

  /** Envoy's authenticator: every token must verify (unless failures are allowed); tokens from `from` on. */
  private checkTokens(headers: JwtHeaders, tokens: FoundToken[], from: number, provider: JwtProviderConfig | undefined, audiences: ReadonlySet<string> | undefined, allowMissing: boolean, allowFailed: boolean, ctx: JwtVerifyContext): MaybeAsync {
    if (tokens.length === 0) return allowMissing || allowFailed ? 'Ok' : 'JwtMissed';
    let status: JwtStatus = 'Ok';
    for (let i = from; i < tokens.length; i++) {
      const r = this.checkToken(headers, tokens[i]!, provider, audiences, ctx);
      if (typeof r !== 'string') {
        return r.then((s) => (s !== 'Ok' && !allowFailed) || i + 1 === tokens.length
          ? (allowFailed ? 'Ok' : s)
          : this.checkTokens(headers, tokens, i + 1, provider, audiences, allowMissing, allowFailed, ctx));
      }
      status = r;
      if (status !== 'Ok' && !allowFailed) break;
    }
    if (allowFailed) return 'Ok';
    return status;
  }

  private providersFor(loc: TokenLocation, iss: string): JwtProviderConfig | undefined {
    let fallback: JwtProviderConfig | undefined;
    for (const p of this.config.providers.values()) {
      if (!p.locations.some((l) => sameLocation(l, loc))) continue;
      if (p.issuer === iss) return p;
      if (!p.issuer && !fallback) fallback = p;
    }
    return fallback;
  }

  private checkToken(headers: JwtHeaders, t: FoundToken, only: JwtProviderConfig | undefined, audiences: ReadonlySet<string> | undefined, ctx: JwtVerifyContext): MaybeAsync {
    const p0 = only;
    const cache = p0 ? this.verified.get(p0.name) : undefined;
    // A token whose signature this provider verified before: skip parsing and the signature.
    const cached = cache?.get(t.token);
    if (cached && p0) {
      cache!.delete(t.token);
      cache!.set(t.token, cached);
      this.rt.jwtCacheHit?.inc();
      return this.checkClaims(headers, t, p0, cached, audiences, ctx) ?? this.good(headers, t, p0, cached, ctx);
    }
    const jwt = parseJwt(t.token);
    if (typeof jwt === 'string') return this.fail(only, jwt, ctx);
    const p = only ? (only.issuer && jwt.iss !== only.issuer ? undefined : only) : this.providersFor(t.location, jwt.iss);
    if (!p) return this.fail(only, 'JwtUnknownIssuer', ctx);
    const bad = this.checkClaims(headers, t, p, jwt, audiences, ctx);
    if (bad) return bad;
    const vc = this.verified.get(p.name)!;
    if (vc.has(t.token)) return this.good(headers, t, p, jwt, ctx);
    this.rt.jwtCacheMiss?.inc();
    return this.verifySignature(p, jwt).then((sig) => {
      if (sig !== 'Ok') return this.fail(p, sig, ctx);
      vc.set(t.token, jwt);
      if (vc.size > p.jwtCacheSize) vc.delete(vc.keys().next().value!);
      return this.good(headers, t, p, jwt, ctx);
    });
  }

  /** Issuer-independent claim checks (time window, audiences); a failure status or undefined. */
  private checkClaims(_headers: JwtHeaders, _t: FoundToken, p: JwtProviderConfig, jwt: ParsedJwt, audiences: ReadonlySet<string> | undefined, ctx: JwtVerifyContext): JwtStatus | undefined {
    const timeStatus = checkTime(jwt, Math.floor(this.rt.now() / 1000), p.clockSkewS, p.requireExpiration, p.maxLifetimeS);
    if (timeStatus) return this.fail(p, timeStatus, ctx);
    if (!audiencesAllowed(audiences ?? p.audiences, jwt)) return this.fail(p, 'JwtAudienceNotAllowed', ctx);
    return undefined;
  }

  private good(headers: JwtHeaders, t: FoundToken, p: JwtProviderConfig, jwt: ParsedJwt, ctx: JwtVerifyContext): JwtStatus {
    this.onGoodJwt(headers, t, p, jwt, ctx);
    return 'Ok';
  }

  private async verifySignature(p: JwtProviderConfig, jwt: ParsedJwt): Promise<JwtStatus> {
    let keys: readonly JwkEntry[] | undefined = p.localKeys;
    const remote = this.remotes.get(p.name);
    let fetched = false;
    if (remote) {
      keys = remote.current();
      if (!keys) {
        const r = await remote.fetch();
        if (!r.ok) return r.status;
        keys = r.keys;
        fetched = true;
      }
    }
    let candidates = candidateKeys(keys!, jwt.kid, jwt.alg);
    if (candidates.length === 0 && remote && !fetched && jwt.kid !== undefined && remote.takeKidRefetch()) {
      // Key rotation: the issuer signs with a key we have not seen yet.
      const r = await remote.fetch();
      if (r.ok) candidates = candidateKeys(r.keys, jwt.kid, jwt.alg);
    }
    if (candidates.length === 0) return 'JwksKidAlgMismatch';
    for (const k of candidates) {
      try {
        await compactVerify(jwt.token, await importedKey(k, jwt.alg), { algorithms: [jwt.alg] });
        return 'Ok';
      } catch {
        // try the next key
      }
    }
    return 'JwtVerificationFail';
  }

  private onGoodJwt(headers: JwtHeaders, t: FoundToken, p: JwtProviderConfig, jwt: ParsedJwt, ctx: JwtVerifyContext): void {
    if (p.forwardPayloadHeader) {
      const b = jwt.payloadB64;
      headers[p.forwardPayloadHeader] = p.padForwardPayloadHeader ? b + '='.repeat((4 - (b.length % 4)) % 4) : b;
    }
    for (const c of p.claimToHeaders) {
      const v = claimString(claimValue(jwt.payload, c.claim));
      if (v !== undefined) headers[c.header] = v;
    }
    if (!p.forward && t.location.kind === 'header') delete headers[t.location.name];
    if (p.headerInMetadata) ctx.setMetadata(p.headerInMetadata, jwt.header);
    if (p.payloadInMetadata) ctx.setMetadata(p.payloadInMetadata, jwt.payload);
  }

  private fail(p: JwtProviderConfig | undefined, status: JwtStatus, ctx: JwtVerifyContext): JwtStatus {
    if (p?.failedStatusInMetadata) ctx.setMetadata(p.failedStatusInMetadata, { code: status, message: JWT_STATUS[status] });
    return status;
  }
}
