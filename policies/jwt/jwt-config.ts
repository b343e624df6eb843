/**
 * The JwtAuthentication proto (envoy.extensions.filters.http.jwt_authn.v3)
 * validated into frozen providers, requirement trees and rules. Local JWKS
 * are parsed at load (a DataSource file is read then, as the connection
 * manager reads its inline route files); a remote JWKS is fetched from its
 * http_uri.uri directly (the `cluster` is recorded but not routed through).
 * Fields we do not implement are refused with their path: filter_state_rules,
 * subjects, normalize_payload_in_metadata, rule matches other than path /
 * headers / query parameters, PEM keys that are not a JWKS.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { compileHeaderMatcher, headerValue, matchesHeaders, type HeaderValues } from '../../xds/translate/header-matcher.ts';
import { bool, durationMs, inlineData, int, list, msg, regexMatcher, str, stringMatcher, type Json } from '../../xds/translate/proto-values.ts';
import { parseJwks, type JwkEntry, type RemoteJwksSpec } from './jwks.ts';
import { JWT_STATUS } from './jwt-status.ts';
import { normalizeAudience } from './jwt-token.ts';

/** Where a provider looks for its token. */
export type TokenLocation =
  | { readonly kind: 'header'; readonly name: string; readonly prefix: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/** One validated JwtProvider. */
export interface JwtProviderConfig {
  readonly name: string;
  /** '' accepts any issuer. */
  readonly issuer: string;
  /** Normalized (no scheme prefix, no trailing '/'); empty: not checked. */
  readonly audiences: ReadonlySet<string>;
  readonly requireExpiration: boolean;
  readonly maxLifetimeS: number | undefined;
  readonly clockSkewS: number;
  readonly localKeys: readonly JwkEntry[] | undefined;
  readonly remote: RemoteJwksSpec | undefined;
  readonly forward: boolean;
  readonly locations: readonly TokenLocation[];
  readonly forwardPayloadHeader: string;
  readonly padForwardPayloadHeader: boolean;
  readonly payloadInMetadata: string;
  readonly headerInMetadata: string;
  readonly failedStatusInMetadata: string;
  readonly claimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  /** jwt_cache_config.jwt_cache_size (default 100): verified tokens remembered per provider. */
  readonly jwtCacheSize: number;
}

/** A JwtRequirement tree. */
export type JwtRequirement =
  | { readonly kind: 'provider'; readonly provider: string; readonly audiences: ReadonlySet<string> | undefined }
  | { readonly kind: 'any'; readonly children: readonly JwtRequirement[] }
  | { readonly kind: 'all'; readonly children: readonly JwtRequirement[] }
  | { readonly kind: 'allow_missing' }
  | { readonly kind: 'allow_missing_or_failed' };

/** Request headers as the rules see them. */
export type RuleHeaders = HeaderValues;

/** One RequirementRule: the first rule whose match holds gives the requirement (none: no verification). */
export interface JwtRule {
  readonly matches: (headers: RuleHeaders) => boolean;
  readonly requires: JwtRequirement | undefined;
}

/** The validated filter config. */
export interface JwtAuthnConfig {
  readonly providers: ReadonlyMap<string, JwtProviderConfig>;
  readonly rules: readonly JwtRule[];
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
}

/** A repeated string field; a non-string element is a ConfigError. */
function strings(v: unknown, p: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(p, 'must be a list of strings');
  return v.map((x, i) => {
    if (typeof x !== 'string') throw new ConfigError(`${p}[${i}]`, 'must be a string');
    return x;
  });
}

const DEFAULT_LOCATIONS: readonly TokenLocation[] = Object.freeze([
  Object.freeze({ kind: 'header' as const, name: 'authorization', prefix: 'Bearer ' }),
  Object.freeze({ kind: 'param' as const, name: 'access_token' }),
]);

function parseProvider(name: string, v: Json, p: string): JwtProviderConfig {
  for (const k of ['subjects', 'normalize_payload_in_metadata']) {
    if (v[k] !== undefined) throw new ConfigError(`${p}.${k}`, `${k} is not supported`);
  }
  const local = msg(v['local_jwks']);
  const remote = msg(v['remote_jwks']);
  if (!local && !remote) throw new ConfigError(p, 'one of local_jwks, remote_jwks is required');
  if (local && remote) throw new ConfigError(p, 'only one of local_jwks, remote_jwks may be set');
  let localKeys: readonly JwkEntry[] | undefined;
  if (local) {
    const text = inlineData(local, `${p}.local_jwks`, (f) => readFileSync(f, 'utf8'));
    const parsed = parseJwks(text);
    if (!parsed.ok) throw new ConfigError(`${p}.local_jwks`, `invalid JWKS: ${JWT_STATUS[parsed.status]} (PEM keys are not supported)`);
    localKeys = parsed.keys;
  }
  let remoteSpec: RemoteJwksSpec | undefined;
  if (remote) {
    const rp = `${p}.remote_jwks`;
    const hu = msg(remote['http_uri']);
    if (!hu) throw new ConfigError(`${rp}.http_uri`, 'http_uri is required');
    const uri = str(hu['uri']);
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ConfigError(`${rp}.http_uri.uri`, `invalid URI '${uri}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${rp}.http_uri.uri`, 'must be an http or https URI');
    const timeoutMs = durationMs(hu['timeout'], `${rp}.http_uri.timeout`);
    if (timeoutMs === undefined) throw new ConfigError(`${rp}.http_uri.timeout`, 'timeout is required');
    const af = msg(remote['async_fetch']);
    const rpol = msg(remote['retry_policy']);
    const bo = msg(rpol?.['retry_back_off']);
    if (rpol?.['retry_priority'] !== undefined || rpol?.['retry_host_predicate'] !== undefined) throw new ConfigError(`${rp}.retry_policy`, 'only num_retries and retry_back_off are supported');
    remoteSpec = Object.freeze({
      uri,
      cluster: str(hu['cluster']),
      timeoutMs: timeoutMs || 1000,
      cacheDurationMs: durationMs(remote['cache_duration'], `${rp}.cache_duration`) ?? 600_000,
      asyncFetch: af ? Object.freeze({ failedRefetchMs: durationMs(af['failed_refetch_duration'], `${rp}.async_fetch.failed_refetch_duration`) ?? 1000 }) : undefined,
      retry: rpol ? Object.freeze({
        numRetries: int(rpol['num_retries'], 1, `${rp}.retry_policy.num_retries`),
        baseIntervalMs: durationMs(bo?.['base_interval'], `${rp}.retry_policy.retry_back_off.base_interval`) ?? 1000,
        maxIntervalMs: durationMs(bo?.['max_interval'], `${rp}.retry_policy.retry_back_off.max_interval`) ?? 10_000,
      }) : undefined,
    });
  }
  const locations: TokenLocation[] = [
    ...list(v['from_headers']).map((h, i) => {
      const n = str(h['name']).toLowerCase();
      if (!n) throw new ConfigError(`${p}.from_headers[${i}].name`, 'name is required');
      return Object.freeze({ kind: 'header' as const, name: n, prefix: str(h['value_prefix']) });
    }),
    ...strings(v['from_params'], `${p}.from_params`).map((n) => Object.freeze({ kind: 'param' as const, name: n })),
    ...strings(v['from_cookies'], `${p}.from_cookies`).map((n) => Object.freeze({ kind: 'cookie' as const, name: n })),
  ];
  const maxLifetimeMs = durationMs(v['max_lifetime'], `${p}.max_lifetime`);
  return Object.freeze({
    name,
    issuer: str(v['issuer']),
    audiences: new Set(strings(v['audiences'], `${p}.audiences`).map(normalizeAudience)),
    requireExpiration: bool(v['require_expiration'], false),
    maxLifetimeS: maxLifetimeMs === undefined ? undefined : Math.floor(maxLifetimeMs / 1000),
    clockSkewS: int(v['clock_skew_seconds'], 0, `${p}.clock_skew_seconds`) || 60,
    localKeys,
    remote: remoteSpec,
    forward: bool(v['forward'], false),
    locations: locations.length ? Object.freeze(locations) : DEFAULT_LOCATIONS,
    forwardPayloadHeader: str(v['forward_payload_header']).toLowerCase(),
    padForwardPayloadHeader: bool(v['pad_forward_payload_header'], false),
    payloadInMetadata: str(v['payload_in_metadata']),
    headerInMetadata: str(v['header_in_metadata']),
    failedStatusInMetadata: str(v['failed_status_in_metadata']),
    jwtCacheSize: Math.max(0, int(msg(v['jwt_cache_config'])?.['jwt_cache_size'], 100, `${p}.jwt_cache_config.jwt_cache_size`)),
    claimToHeaders: Object.freeze(list(v['claim_to_headers']).map((c, i) => {
      const header = str(c['header_name']).toLowerCase(), claim = str(c['claim_name']);
      if (!header || !claim) throw new ConfigError(`${p}.claim_to_headers[${i}]`, 'header_name and claim_name are required');
      return Object.freeze({ header, claim });
    })),
  });
}

/** Parses a JwtRequirement. */
export function parseRequirement(v: unknown, p: string, providers: ReadonlyMap<string, unknown>): JwtRequirement {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'requirement must be a message');
  const provider = (name: string, at: string): string => {
    if (!providers.has(name)) throw new ConfigError(at, `unknown provider '${name}'`);
    return name;
  };
  if (typeof m['provider_name'] === 'string') return Object.freeze({ kind: 'provider', provider: provider(m['provider_name'], `${p}.provider_name`), audiences: undefined });
  const pa = msg(m['provider_and_audiences']);
  if (pa) {
    const auds = strings(pa['audiences'], `${p}.provider_and_audiences.audiences`);
    return Object.freeze({ kind: 'provider', provider: provider(str(pa['provider_name']), `${p}.provider_and_audiences.provider_name`), audiences: new Set(auds.map(normalizeAudience)) });
  }
  for (const k of ['requires_any', 'requires_all'] as const) {
    const r = msg(m[k]);
    if (!r) continue;
    const children = list(r['requirements']).map((c, i) => parseRequirement(c, `${p}.${k}.requirements[${i}]`, providers));
    if (children.length < 2) throw new ConfigError(`${p}.${k}.requirements`, 'at least two requirements are required');
    return Object.freeze({ kind: k === 'requires_any' ? 'any' : 'all', children: Object.freeze(children) });
  }
  if (m['allow_missing_or_failed'] !== undefined) return Object.freeze({ kind: 'allow_missing_or_failed' });
  if (m['allow_missing'] !== undefined) return Object.freeze({ kind: 'allow_missing' });
  throw new ConfigError(p, 'requirement needs one of provider_name, provider_and_audiences, requires_any, requires_all, allow_missing, allow_missing_or_failed');
}

/** A RequirementRule.match (RouteMatch): path specifier, case_sensitive, headers, query_parameters. */
function parseRuleMatch(m: Json, p: string): (h: RuleHeaders) => boolean {
  for (const k of ['grpc', 'tls_context', 'connect_matcher', 'dynamic_metadata', 'path_match_policy', 'filter_state', 'runtime_fraction']) {
    if (m[k] !== undefined) throw new ConfigError(`${p}.${k}`, `rule matches on ${k} are not supported`);
  }
  const ci = m['case_sensitive'] === false;
  const norm = (s: string): string => (ci ? s.toLowerCase() : s);
  let path: (s: string) => boolean;
  if (typeof m['prefix'] === 'string') { const x = norm(m['prefix']); path = (s) => norm(s).startsWith(x); }
  else if (typeof m['path'] === 'string') { const x = norm(m['path']); path = (s) => norm(s) === x; }
  else if (m['safe_regex'] !== undefined) { const re = regexMatcher(m['safe_regex'], `${p}.safe_regex`); path = (s) => re.test(s); }
  else if (typeof m['path_separated_prefix'] === 'string') {
    const x = norm(m['path_separated_prefix']);
    path = (s) => { const n = norm(s); return n === x || n.startsWith(`${x}/`); };
  } else throw new ConfigError(p, 'rule match needs one of prefix, path, safe_regex, path_separated_prefix');
  const headers = list(m['headers']).map((h, i) => compileHeaderMatcher(h, `${p}.headers[${i}]`));
  const params = list(m['query_parameters']).map((q, i) => {
    const qp = `${p}.query_parameters[${i}]`;
    const name = str(q['name']);
    if (!name) throw new ConfigError(`${qp}.name`, 'name is required');
    if (q['string_match'] !== undefined) { const sm = stringMatcher(q['string_match'], `${qp}.string_match`); return (qs: URLSearchParams) => { const v = qs.get(name); return v !== null && sm(v); }; }
    const want = q['present_match'] !== false;
    return (qs: URLSearchParams) => qs.has(name) === want;
  });
  return (h) => {
    const raw = headerValue(h, ':path') ?? '';
    const q = raw.indexOf('?');
    if (!path(q < 0 ? raw : raw.slice(0, q))) return false;
    for (const t of headers) if (!matchesHeaders(t, h)) return false;
    if (params.length) {
      const qs = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
      for (const t of params) if (!t(qs)) return false;
    }
    return true;
  };
}

/** Parses a JwtAuthentication (canonical JSON); throws ConfigError with the field path. */
export function parseJwtAuthn(cfg: Json, path: string): JwtAuthnConfig {
  for (const k of ['filter_state_rules']) {
    if (cfg[k] !== undefined) throw new ConfigError(`${path}.${k}`, `${k} is not supported`);
  }
  const pm = msg(cfg['providers']) ?? {};
  const providers = new Map<string, JwtProviderConfig>();
  for (const [name, v] of Object.entries(pm)) providers.set(name, parseProvider(name, msg(v) ?? {}, `${path}.providers[${JSON.stringify(name)}]`));
  const reqMap = new Map<string, JwtRequirement>();
  for (const [name, v] of Object.entries(msg(cfg['requirement_map']) ?? {})) reqMap.set(name, parseRequirement(v, `${path}.requirement_map[${JSON.stringify(name)}]`, providers));
  const rules = list(cfg['rules']).map((r, i) => {
    const rp = `${path}.rules[${i}]`;
    const match = msg(r['match']);
    if (!match) throw new ConfigError(`${rp}.match`, 'match is required');
    let requires: JwtRequirement | undefined;
    if (r['requires'] !== undefined) requires = parseRequirement(r['requires'], `${rp}.requires`, providers);
    else if (typeof r['requirement_name'] === 'string') {
      requires = reqMap.get(r['requirement_name']);
      if (!requires) throw new ConfigError(`${rp}.requirement_name`, `no requirement '${r['requirement_name']}' in requirement_map`);
    }
    return Object.freeze({ matches: parseRuleMatch(match, `${rp}.match`), requires });
  });
  return Object.freeze({
    providers,
    rules: Object.freeze(rules),
    bypassCorsPreflight: bool(cfg['bypass_cors_preflight'], false),
    stripFailureResponse: bool(cfg['strip_failure_response'], false),
  });
}
