/**
 * The Ranger HTTP filter (`themis.sidecar.filters.ranger.v1.Ranger`, sent as
 * a TypedStruct): maps each request to the neutral authorization check
 * (policies/authz) and enforces the Apache Ranger decision, as Envoy's RBAC
 * filter enforces its own. The decision is synchronous (policies are in
 * memory, decisions cached): decodeHeaders returns Continue, or answers
 * `403 Ranger: access denied` (gRPC: PERMISSION_DENIED) and stops; before
 * any policies are loaded it answers `503 Ranger: policies not loaded`
 * (gRPC: UNAVAILABLE), never allowing by accident. Codes come from
 * policies/rejection.ts.
 *
 * Request -> check: the principal from the JWT payload jwt_authn left in
 * filter state, the peer's SPIFFE id, or headers from trusted hops (see
 * config.ts); the resource from the URL path (whole, or segments mapped to
 * resource levels) after dot-segment resolution and percent-decoding; the
 * access type from the method or a trusted header; the context from the
 * peer address, the method and the path (audited as action and reqData).
 *
 * Stats: `http.<prefix>.ranger.allowed`, `.denied`, `.policies_not_loaded`;
 * the policy source's under `http.<prefix>.ranger.<service>.`.
 * Sits after jwt_authn (it reads its payload) and before the router.
 */
import type { AuthzPrincipal, AuthzResource } from '../../../../policies/authz/authorizer.ts';
import { rejection } from '../../../../policies/rejection.ts';
import type { RangerAuthorizer } from '../../../../policies/ranger/authorizer.ts';
import { ipBits } from '../../../../sidecar/contracts/ip-address.ts';
import type { ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import { RANGER_FILTER_TYPE, parseRangerFilter, type PrincipalSource, type RangerFilterConfig, type TrustedHop } from './config.ts';
import { RangerPolicySources } from './policy-sources.ts';

/** Filter-state key where jwt_authn leaves verified payloads. */
export const JWT_AUTHN_STATE = 'envoy.filters.http.jwt_authn';
const FILTER_NAME = 'themis.filters.http.ranger';

const DENIED = rejection('denied');
const UNAVAILABLE = rejection('unavailable');

/** True when `addr` lies in one of the ranges. */
export function inRanges(addr: string, ranges: readonly TrustedHop[]): boolean {
  if (ranges.length === 0 || !addr) return false;
  const a = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
  const fam = a.includes(':') ? 6 : 4;
  const width = fam === 4 ? 32 : 128;
  let bits: bigint;
  try {
    bits = ipBits(a);
  } catch {
    return false;
  }
  for (const r of ranges) {
    if (r.family !== fam) continue;
    const mask = r.prefixLen === 0 ? 0n : ((1n << BigInt(r.prefixLen)) - 1n) << BigInt(width - r.prefixLen);
    if ((bits & mask) === r.bits) return true;
  }
  return false;
}

/**
 * The verified JWT payload jwt_authn left in filter state: the payload
 * itself, `{ payload }`, or Envoy's `payload_in_metadata` shape
 * (`{ <name>: payload }`, the first one).
 */
export function jwtPayload(state: unknown): Record<string, unknown> | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const o = state as Record<string, unknown>;
  const p = o['payload'];
  if (typeof p === 'object' && p !== null) return p as Record<string, unknown>;
  if ('sub' in o || 'iss' in o) return o;
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  return undefined;
}

function claim(payload: Record<string, unknown> | undefined, path: readonly string[]): unknown {
  let v: unknown = payload;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function header(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Values of one source (several for groups and roles). */
function sourceValues(s: PrincipalSource, headers: HeaderMap, cb: HttpFilterCallbacks, payload: Record<string, unknown> | undefined, trusted: boolean): string[] {
  switch (s.kind) {
    case 'jwt_claim': {
      const v = claim(payload, s.claim);
      if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
      if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
      return [];
    }
    case 'peer_principal':
      return cb.connection.peerPrincipal ? [cb.connection.peerPrincipal] : [];
    case 'header': {
      if (!trusted) return [];
      const v = header(headers, s.name);
      if (v === undefined) return [];
      return (s.separator ? v.split(s.separator) : [v]).map((x) => x.trim()).filter(Boolean);
    }
  }
}

/**
 * The request path as a resource path: query dropped, dot-segments
 * resolved as a URL parser does (`%2e` counts), then percent-decoded.
 * Undefined when it cannot be decoded or still names a dot-segment after
 * decoding (`%2F..%2F`), which is denied rather than guessed at.
 */
export function resourcePath(rawPath: string): string | undefined {
  // A backslash or `#` means different things to different servers: not guessed at.
  if (!rawPath.startsWith('/') || rawPath.includes('\\') || rawPath.includes('#')) return undefined;
  let p: string;
  try {
    // Concatenated, not resolved against a base, so `//x/y` stays a path.
    p = decodeURIComponent(new URL(`http://h${rawPath}`).pathname);
  } catch {
    return undefined;
  }
  if (/(^|\/)\.\.?(\/|$)/.test(p) || p.includes('\u0000')) return undefined;
  return p;
}

/** The resource map of a request, or undefined (denied) when the path does not map. */
export function requestResource(cfg: RangerFilterConfig['resource'], rawPath: string): AuthzResource | undefined {
  const path = resourcePath(rawPath);
  if (path === undefined) return undefined;
  if (cfg.kind === 'path') return { ...cfg.static, [cfg.name]: path };
  if (cfg.prefix && path !== cfg.prefix && !path.startsWith(`${cfg.prefix}/`)) return undefined;
  const segs = path.slice(cfg.prefix.length).split('/').filter(Boolean);
  const out: Record<string, string> = { ...cfg.static };
  for (let i = 0; i < cfg.levels.length && i < segs.length; i++) out[cfg.levels[i]!] = segs[i]!;
  return out;
}

interface FilterStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly notLoaded: Counter;
}

class RangerFilter implements HttpFilter {
  private readonly cfg: RangerFilterConfig;
  private readonly cb: HttpFilterCallbacks;
  private readonly authz: RangerAuthorizer;
  private readonly stats: FilterStats;

  constructor(cfg: RangerFilterConfig, cb: HttpFilterCallbacks, authz: RangerAuthorizer, stats: FilterStats) {
    this.cfg = cfg;
    this.cb = cb;
    this.authz = authz;
    this.stats = stats;
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cfg = this.cfg;
    const conn = this.cb.connection;
    const trusted = inRanges(conn.remoteAddress, cfg.trustedHops);
    // Read trusted headers first, then strip untrusted ones before forwarding.
    const payload = jwtPayload(this.cb.filterState.get(JWT_AUTHN_STATE));
    let user: string | undefined;
    for (const s of cfg.user) {
      user = sourceValues(s, headers, this.cb, payload, trusted)[0];
      if (user) break;
    }
    const groups = this.collect(cfg.groups, headers, payload, trusted);
    const roles = this.collect(cfg.roles, headers, payload, trusted);
    let accessType: string | undefined;
    const method = String(headers[':method'] ?? '');
    if (cfg.accessType.kind === 'methods') accessType = cfg.accessType.methods[method];
    else if (trusted) accessType = header(headers, cfg.accessType.name)?.trim() || undefined;
    if (!trusted) for (const h of cfg.principalHeaders) delete headers[h];

    if (!user) user = cfg.anonymousUser || undefined;
    if (!user) return this.deny('ranger_access_denied{no_principal}');
    if (!accessType) return this.deny('ranger_access_denied{no_access_type}');
    const rawPath = String(headers[':path'] ?? '');
    const resource = requestResource(cfg.resource, rawPath);
    if (!resource) return this.deny('ranger_access_denied{unmapped_path}');
    const principal: AuthzPrincipal = { user, groups, roles, spiffeId: conn.peerPrincipal, claims: payload };
    const d = this.authz.authorize({
      principal,
      resource,
      accessType,
      context: { clientIp: conn.remoteAddress.startsWith('::ffff:') ? conn.remoteAddress.slice(7) : conn.remoteAddress, protocol: 'http', action: method, requestData: rawPath, attributes: { method, path: rawPath, authority: headers[':authority'] } },
    });
    if (d.allowed) {
      this.stats.allowed.inc();
      return Continue;
    }
    if (d.unavailable) {
      this.stats.notLoaded.inc();
      this.cb.sendLocalReply({ status: UNAVAILABLE.http, body: 'Ranger: policies not loaded', details: 'ranger_policies_not_loaded', grpcStatus: UNAVAILABLE.grpc });
      return StopIteration;
    }
    return this.deny(`ranger_access_denied{policy_${d.policyId}}`);
  }

  private collect(sources: readonly PrincipalSource[], headers: HeaderMap, payload: Record<string, unknown> | undefined, trusted: boolean): string[] {
    if (sources.length === 0) return [];
    if (sources.length === 1) return sourceValues(sources[0]!, headers, this.cb, payload, trusted);
    const all = new Set<string>();
    for (const s of sources) for (const v of sourceValues(s, headers, this.cb, payload, trusted)) all.add(v);
    return [...all];
  }

  private deny(details: string): FilterStatus {
    this.stats.denied.inc();
    this.cb.sendLocalReply({ status: DENIED.http, body: 'Ranger: access denied', details, grpcStatus: DENIED.grpc });
    return StopIteration;
  }
}

/**
 * Registers the Ranger HTTP filter. The returned sources hold the Admin
 * pollers and audit sinks of this registry (`closeAll()` stops them).
 */
export function setup(registry: ExtensionRegistry, sources: RangerPolicySources = new RangerPolicySources()): RangerPolicySources {
  const ext: HttpFilterExtension<RangerFilterConfig> = {
    category: 'envoy.filters.http',
    names: [FILTER_NAME],
    typeNames: [RANGER_FILTER_TYPE],
    parse(cfg, ctx): ParseResult<RangerFilterConfig> {
      const r = parseRangerFilter(cfg, ctx.path);
      return r.config ? { ok: true, config: r.config } : { ok: false, errors: r.errors };
    },
    createFactory(config, rt) {
      const { authorizer: authz, release } = sources.authorizer(config, rt.stats);
      const s = rt.stats.scope('ranger');
      const stats: FilterStats = { allowed: s.counter('allowed'), denied: s.counter('denied'), notLoaded: s.counter('policies_not_loaded') };
      return { name: FILTER_NAME, create: (cb) => new RangerFilter(config, cb, authz, stats), close: release };
    },
  };
  registry.register(ext);
  return sources;
}
