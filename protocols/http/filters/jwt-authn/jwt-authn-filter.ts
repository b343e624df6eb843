/**
 * envoy.filters.http.jwt_authn
 * (envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication): the
 * authenticator of policies/jwt applied to each request. Signature
 * verification with jose is asynchronous, so a request carrying a token not
 * seen before stops the chain (StopIteration) and resumes (continueDecoding)
 * or is answered (sendLocalReply) when its signature is checked; a token
 * verified before (Envoy's JWT cache: jwt_cache_size per provider, claims
 * checked again on every use) and a request without a token are decided at
 * once. A failure answers as Envoy does: 401 (403 for
 * `Audiences in Jwt are not allowed`) with the status message as body,
 * `www-authenticate: Bearer realm="<scheme>://<host><path>"` (plus
 * `, error="invalid_token"` unless the token was missing), details
 * `jwt_authn_access_denied{<message_with_underscores>}`; gRPC requests get
 * UNAUTHENTICATED / PERMISSION_DENIED from the router's mapping.
 * Stats under `http.<stat_prefix>.jwt_authn.`: allowed, denied,
 * cors_preflight_bypassed, jwks_fetch_success, jwks_fetch_failed,
 * jwt_cache_hit, jwt_cache_miss.
 * Payloads named by payload_in_metadata go to the stream's filter state
 * under `envoy.filters.http.jwt_authn`, where RBAC's metadata matchers read
 * them. Per-route config (PerRouteConfig) is refused by the route parser.
 *
 * Where it sits: before RBAC (which may read the payload) and the router.
 */
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import type { Json } from '../../../../xds/translate/proto-values.ts';
import { JwtAuthenticator, JWT_AUTHN_METADATA, type JwtVerifyContext } from '../../../../policies/jwt/jwt-authenticator.ts';
import { parseJwtAuthn, type JwtAuthnConfig } from '../../../../policies/jwt/jwt-config.ts';
import { JWT_STATUS, jwtDeniedDetails, type JwtStatus } from '../../../../policies/jwt/jwt-status.ts';

const TYPE = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const NAME = 'envoy.filters.http.jwt_authn';
/** Envoy's bound on the path in the realm. */
const MAX_URI_PATH = 256;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Envoy's buildOriginalUri: `<x-forwarded-proto or scheme>://<host><path>`, the path cut at 256 bytes. */
export function originalUri(h: HeaderMap, scheme: string): string {
  const path = first(h[':path']) ?? '';
  return `${first(h['x-forwarded-proto']) ?? scheme}://${first(h[':authority']) ?? ''}${path.length > MAX_URI_PATH ? path.slice(0, MAX_URI_PATH) : path}`;
}

interface Stats {
  allowed: Counter;
  denied: Counter;
  corsBypassed: Counter;
}

class JwtAuthnFilter implements HttpFilter, JwtVerifyContext {
  private readonly auth: JwtAuthenticator;
  private readonly cb: HttpFilterCallbacks;
  private readonly stats: Stats;

  constructor(auth: JwtAuthenticator, cb: HttpFilterCallbacks, stats: Stats) {
    this.auth = auth;
    this.cb = cb;
    this.stats = stats;
  }

  setMetadata(key: string, value: unknown): void {
    const prev = this.cb.filterState.get(JWT_AUTHN_METADATA) as Record<string, unknown> | undefined;
    this.cb.filterState.set(JWT_AUTHN_METADATA, { ...prev, [key]: value });
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cfg = this.auth.config;
    if (cfg.bypassCorsPreflight && headers[':method'] === 'OPTIONS' && headers['origin'] && headers['access-control-request-method']) {
      this.stats.corsBypassed.inc();
      this.stats.allowed.inc();
      return Continue;
    }
    const req = this.auth.requirementFor(headers);
    if (!req) {
      this.stats.allowed.inc();
      return Continue;
    }
    const uri = originalUri(headers, this.cb.connection.scheme);
    const now = this.auth.decideWithoutTokens(headers, req);
    if (now !== undefined) return this.complete(now, uri) ? Continue : StopIteration;
    const r = this.auth.verify(headers, req, this);
    if (typeof r === 'string') return this.complete(r, uri) ? Continue : StopIteration; // verified-token cache hit
    r.then((status) => {
      if (this.complete(status, uri)) this.cb.continueDecoding();
    }, () => undefined);
    return StopIteration;
  }

  /** Counts and, on failure, replies; true when the request may go on. */
  private complete(status: JwtStatus, uri: string): boolean {
    if (status === 'Ok') {
      this.stats.allowed.inc();
      return true;
    }
    this.stats.denied.inc();
    const message = JWT_STATUS[status];
    const details = jwtDeniedDetails(status);
    const code = status === 'JwtAudienceNotAllowed' ? 403 : 401;
    if (this.auth.config.stripFailureResponse) {
      this.cb.sendLocalReply({ status: code, body: '', details });
      return false;
    }
    const realm = `Bearer realm="${uri}"${status === 'JwtMissed' ? '' : ', error="invalid_token"'}`;
    this.cb.sendLocalReply({ status: code, body: message, details, headers: { 'www-authenticate': realm } });
    return false;
  }
}

/** Registers envoy.filters.http.jwt_authn. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<JwtAuthnConfig> = {
    category: 'envoy.filters.http',
    names: [NAME],
    typeNames: [TYPE],
    parse(cfg: Json, ctx): ParseResult<JwtAuthnConfig> {
      try {
        return { ok: true, config: parseJwtAuthn(cfg, ctx.path) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config, rt) {
      const s = rt.stats.scope('jwt_authn');
      const stats: Stats = { allowed: s.counter('allowed'), denied: s.counter('denied'), corsBypassed: s.counter('cors_preflight_bypassed') };
      const auth = new JwtAuthenticator(config, {
        now: Date.now,
        fetchSuccess: s.counter('jwks_fetch_success'),
        fetchFailed: s.counter('jwks_fetch_failed'),
        jwtCacheHit: s.counter('jwt_cache_hit'),
        jwtCacheMiss: s.counter('jwt_cache_miss'),
      });
      return { name: NAME, create: (cb) => new JwtAuthnFilter(auth, cb, stats) };
    },
  };
  registry.register(ext);
}
