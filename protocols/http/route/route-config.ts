/**
 * Envoy's RouteConfiguration, validated into frozen objects: virtual hosts,
 * routes with their matchers, and route / redirect / direct_response
 * actions. Matching lives in route-match.ts; applying an action is the
 * router's job. Parsing collects every error with its field path.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import {
  bool, durationMs, inlineData, int, list, msg, re2, regexMatcher, str, stringMatcher, type Json, type StringMatch,
} from '../../../xds/translate/proto-values.ts';
import { compileHeaderMatcher, type HeaderMatcher } from '../../../xds/translate/header-matcher.ts';
import { parseHeaderMutation, type HeaderMutation } from './header-mutation.ts';

/** A compiled QueryParameterMatcher. */
export interface QueryMatch {
  readonly name: string;
  readonly test: (value: string | undefined) => boolean;
}

/** How the path is matched. */
export type PathMatch =
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'path'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly re: RegExp }
  | { readonly kind: 'separated'; readonly value: string; readonly ignoreCase: boolean };

/** Envoy's RetryPolicy, as far as we implement it. */
export interface RetryPolicy {
  readonly on5xx: boolean;
  readonly gatewayError: boolean;
  readonly reset: boolean;
  readonly connectFailure: boolean;
  readonly retriable4xx: boolean;
  /** gRPC status codes that are retried (x-envoy-retry-grpc-on / retry_on gRPC conditions). */
  readonly grpcStatuses: readonly number[];
  readonly retriableStatusCodes: readonly number[];
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  /** retry_host_predicate envoy.retry_host_predicates.previous_hosts: a retry avoids hosts already tried. */
  readonly avoidPreviousHosts: boolean;
  /** host_selection_retry_max_attempts (Envoy's default 1). */
  readonly hostSelectionRetryMaxAttempts: number;
}

/** One hash_policy entry. */
export type HashPolicy =
  | { readonly kind: 'header'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'source_ip'; readonly terminal: boolean }
  | { readonly kind: 'query'; readonly name: string; readonly terminal: boolean };

/** A weighted cluster choice. */
export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

/** RouteAction: forward to a cluster. */
export interface ForwardAction {
  readonly kind: 'forward';
  readonly cluster?: string;
  readonly clusterHeader?: string;
  readonly weighted?: { readonly clusters: readonly WeightedCluster[]; readonly total: number };
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly re: RegExp; readonly substitution: string };
  readonly hostRewriteLiteral?: string;
  readonly autoHostRewrite: boolean;
  readonly hostRewriteHeader?: string;
  /** 0 disables the timeout; Envoy's default is 15 s. */
  readonly timeoutMs: number;
  readonly idleTimeoutMs?: number;
  readonly retry?: RetryPolicy;
  readonly hashPolicy: readonly HashPolicy[];
  /** max_stream_duration.max_stream_duration (0: none): the whole stream, from its start. */
  readonly maxStreamDurationMs: number;
  /** max_stream_duration.grpc_timeout_header_max: undefined ignores grpc-timeout; 0 takes it uncapped. */
  readonly grpcTimeoutHeaderMaxMs?: number;
  readonly grpcTimeoutHeaderOffsetMs: number;
}

/** RedirectAction. */
export interface RedirectAction {
  readonly kind: 'redirect';
  readonly scheme?: string;
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly re: RegExp; readonly substitution: string };
  readonly status: number;
  readonly stripQuery: boolean;
}

/** DirectResponseAction. */
export interface DirectResponseAction {
  readonly kind: 'direct';
  readonly status: number;
  readonly body: string;
}

/** One route. */
export interface Route {
  readonly name: string;
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatcher[];
  readonly query: readonly QueryMatch[];
  readonly grpc: boolean;
  readonly action: ForwardAction | RedirectAction | DirectResponseAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

/** One virtual host. */
export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  readonly retry?: RetryPolicy;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
}

/** A validated RouteConfiguration. */
export interface RouteConfig {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  /** Every cluster name a route names statically (for validate_clusters). */
  readonly referencedClusters: readonly string[];
}

/** Environment of the parse (file reads happen only at load time). */
export interface RouteParseEnv {
  readFile(path: string): string;
  /** Accepted-but-not-applied notes (counted in server.config_warnings); none for RDS updates today. */
  warn?(e: ConfigError): void;
}

const REDIRECT_CODES: Record<string, number> = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
};

/** Parses a RouteConfiguration; throws ConfigError (first error, with path). */
export function parseRouteConfig(rc: Json, path: string, env: RouteParseEnv): RouteConfig {
  const referenced = new Set<string>();
  const vhostNames = new Set<string>();
  const domainsSeen = new Map<string, string>();
  const virtualHosts = list(rc['virtual_hosts']).map((vh, i) => {
    const p = `${path}.virtual_hosts[${i}]`;
    const name = str(vh['name']);
    if (!name) throw new ConfigError(`${p}.name`, 'virtual host name is required');
    if (vhostNames.has(name)) throw new ConfigError(`${p}.name`, `duplicate virtual host name '${name}'`);
    vhostNames.add(name);
    const domains = Array.isArray(vh['domains']) ? (vh['domains'] as string[]) : [];
    if (domains.length === 0) throw new ConfigError(`${p}.domains`, 'at least one domain is required');
    domains.forEach((d, j) => {
      const dl = d.toLowerCase();
      if (d.indexOf('*') > 0 && d.indexOf('*') < d.length - 1) throw new ConfigError(`${p}.domains[${j}]`, `wildcard '*' only at the start or end of '${d}'`);
      const prev = domainsSeen.get(dl);
      if (prev !== undefined) throw new ConfigError(`${p}.domains[${j}]`, `domain '${d}' is already used by virtual host '${prev}'`);
      domainsSeen.set(dl, name);
    });
    refuseUnappliedVhostFields(vh, p, env);
    const retry = vh['retry_policy'] ? parseRetry(msg(vh['retry_policy'])!, `${p}.retry_policy`) : undefined;
    const routes = list(vh['routes']).map((r, k) => parseRoute(r, `${p}.routes[${k}]`, env, referenced, retry));
    return Object.freeze({
      name,
      domains: Object.freeze(domains.map((d) => d.toLowerCase())),
      routes: Object.freeze(routes),
      retry,
      requestHeaders: parseHeaderMutation(vh, 'request', p),
      responseHeaders: parseHeaderMutation(vh, 'response', p),
    });
  });
  if (rc['vhds'] !== undefined) throw new ConfigError(`${path}.vhds`, 'VHDS is not supported');
  for (const [k, why] of Object.entries({
    typed_per_filter_config: 'route-configuration-level filter config is not supported yet',
    cluster_specifier_plugins: 'cluster specifier plugins are not supported',
    request_mirror_policies: 'request mirroring is not supported yet',
    internal_only_headers: 'internal_only_headers are not stripped from external requests yet',
  })) if (present(rc[k])) throw new ConfigError(`${path}.${k}`, why);
  for (const [k, why] of Object.entries({
    most_specific_header_mutations_wins: 'header mutations are applied from the most specific level out only in the default order',
    ignore_port_in_host_matching: 'the port is not ignored in host matching (use strip_matching_host_port on the connection manager)',
    ignore_path_parameters_in_path_matching: 'path parameters are not ignored in path matching',
  })) if (rc[k] === true) env.warn?.(new ConfigError(`${path}.${k}`, why));
  return Object.freeze({
    name: str(rc['name']),
    virtualHosts: Object.freeze(virtualHosts),
    requestHeaders: parseHeaderMutation(rc, 'request', path),
    responseHeaders: parseHeaderMutation(rc, 'response', path),
    referencedClusters: Object.freeze([...referenced]),
  });
}

/** Non-empty: a list or map with entries, a message with fields, any scalar. */
function present(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/**
 * Virtual host fields that would change what is allowed or where traffic
 * goes, and are not implemented, are refused (a per-virtual-host RBAC or
 * CORS policy silently dropped would be a hole); statistics-only ones warn.
 */
function refuseUnappliedVhostFields(vh: Json, p: string, env: RouteParseEnv): void {
  const refused: Record<string, string> = {
    typed_per_filter_config: 'per-virtual-host filter config is not supported yet',
    cors: 'virtual host CORS policies are not applied yet',
    rate_limits: 'route rate limits are not supported yet',
    request_mirror_policies: 'request mirroring is not supported yet',
    matcher: 'the matcher API on virtual hosts is not supported',
    retry_policy_typed_config: 'retry policy extensions are not supported',
  };
  for (const [k, why] of Object.entries(refused)) if (present(vh[k])) throw new ConfigError(`${p}.${k}`, why);
  const tls = str(vh['require_tls']);
  if (tls && tls !== 'NONE') throw new ConfigError(`${p}.require_tls`, `require_tls ${tls} is not enforced yet`);
  for (const k of ['virtual_clusters', 'hedge_policy']) {
    if (present(vh[k])) env.warn?.(new ConfigError(`${p}.${k}`, k === 'virtual_clusters' ? 'virtual cluster stats are not kept' : 'request hedging is not applied'));
  }
}

function parseRoute(r: Json, p: string, env: RouteParseEnv, referenced: Set<string>, vhostRetry?: RetryPolicy): Route {
  const m = msg(r['match']);
  if (!m) throw new ConfigError(`${p}.match`, 'route match is required');
  const ignoreCase = m['case_sensitive'] === false;
  let path: PathMatch;
  if (typeof m['prefix'] === 'string') path = { kind: 'prefix', value: ignoreCase ? m['prefix'].toLowerCase() : m['prefix'], ignoreCase };
  else if (typeof m['path'] === 'string') path = { kind: 'path', value: ignoreCase ? m['path'].toLowerCase() : m['path'], ignoreCase };
  else if (m['safe_regex'] !== undefined) path = { kind: 'regex', re: regexMatcher(m['safe_regex'], `${p}.match.safe_regex`, ignoreCase ? 'i' : '') };
  else if (typeof m['path_separated_prefix'] === 'string') {
    const v = m['path_separated_prefix'];
    if (!v.startsWith('/') || (v.length > 1 && v.endsWith('/')) || /[?#]/.test(v)) {
      throw new ConfigError(`${p}.match.path_separated_prefix`, `'${v}' must start with '/', not end with '/', and contain no '?' or '#'`);
    }
    path = { kind: 'separated', value: ignoreCase ? v.toLowerCase() : v, ignoreCase };
  } else if (m['connect_matcher'] !== undefined) throw new ConfigError(`${p}.match.connect_matcher`, 'CONNECT routes are not supported');
  else if (m['path_match_policy'] !== undefined) throw new ConfigError(`${p}.match.path_match_policy`, 'path_match_policy extensions are not supported');
  else throw new ConfigError(`${p}.match`, 'one of prefix, path, safe_regex, path_separated_prefix is required');
  if (m['runtime_fraction'] !== undefined) throw new ConfigError(`${p}.match.runtime_fraction`, 'runtime_fraction is not supported (would route differently than configured)');
  if (m['dynamic_metadata'] !== undefined || m['filter_state'] !== undefined) throw new ConfigError(`${p}.match`, 'metadata/filter_state route matching is not supported');
  const headers = list(m['headers']).map((h, i) => compileHeaderMatcher(h, `${p}.match.headers[${i}]`));
  const query = list(m['query_parameters']).map((q, i) => parseQueryMatcher(q, `${p}.match.query_parameters[${i}]`));
  const grpc = m['grpc'] !== undefined;

  let action: Route['action'];
  const acts = ['route', 'redirect', 'direct_response'].filter((k) => r[k] !== undefined);
  if (r['filter_action'] !== undefined || r['non_forwarding_action'] !== undefined) throw new ConfigError(p, 'filter_action/non_forwarding_action routes are not supported');
  if (acts.length !== 1) throw new ConfigError(p, 'exactly one of route, redirect, direct_response is required');
  if (r['route'] !== undefined) action = parseForward(msg(r['route'])!, `${p}.route`, referenced, vhostRetry);
  else if (r['redirect'] !== undefined) action = parseRedirect(msg(r['redirect'])!, `${p}.redirect`);
  else {
    const d = msg(r['direct_response'])!;
    const status = int(d['status'], 0, `${p}.direct_response.status`);
    if (status < 200 || status >= 600) throw new ConfigError(`${p}.direct_response.status`, `status ${status} must be in [200, 600)`);
    action = Object.freeze({ kind: 'direct', status, body: inlineData(d['body'], `${p}.direct_response.body`, env.readFile) });
  }
  if (r['typed_per_filter_config'] !== undefined && Object.keys(msg(r['typed_per_filter_config']) ?? {}).length) {
    throw new ConfigError(`${p}.typed_per_filter_config`, 'per-route filter config is not supported yet');
  }
  return Object.freeze({
    name: str(r['name']),
    path,
    headers: Object.freeze(headers),
    query: Object.freeze(query),
    grpc,
    action,
    requestHeaders: parseHeaderMutation(r, 'request', p),
    responseHeaders: parseHeaderMutation(r, 'response', p),
  });
}

function parseQueryMatcher(q: Json, p: string): QueryMatch {
  const name = str(q['name']);
  if (!name) throw new ConfigError(`${p}.name`, 'query parameter name is required');
  if (q['string_match'] !== undefined) {
    const sm: StringMatch = stringMatcher(q['string_match'], `${p}.string_match`);
    return Object.freeze({ name, test: (v: string | undefined) => v !== undefined && sm(v) });
  }
  // Envoy: the matcher holds when "present" equals present_match.
  if (q['present_match'] === false) return Object.freeze({ name, test: (v: string | undefined) => v === undefined });
  return Object.freeze({ name, test: (v: string | undefined) => v !== undefined });
}

function parseRewrite(v: unknown, p: string): { re: RegExp; substitution: string } | undefined {
  const m = msg(v);
  if (!m) return undefined;
  const pm = msg(m['pattern']);
  if (!pm) throw new ConfigError(`${p}.pattern`, 'pattern is required');
  const re = re2(str(pm['regex']), `${p}.pattern.regex`, 'g', false);
  // RE2 substitutions use \1; JavaScript uses $1.
  const substitution = str(m['substitution']).replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
  return { re, substitution };
}

function parseForward(a: Json, p: string, referenced: Set<string>, vhostRetry?: RetryPolicy): ForwardAction {
  let cluster: string | undefined, clusterHeader: string | undefined, weighted: ForwardAction['weighted'];
  if (typeof a['cluster'] === 'string' && a['cluster']) { cluster = a['cluster']; referenced.add(cluster); }
  else if (typeof a['cluster_header'] === 'string' && a['cluster_header']) clusterHeader = a['cluster_header'].toLowerCase();
  else if (a['weighted_clusters'] !== undefined) {
    const wc = msg(a['weighted_clusters'])!;
    const clusters = list(wc['clusters']).map((c, i) => {
      const cp = `${p}.weighted_clusters.clusters[${i}]`;
      const name = str(c['name']);
      if (!name) throw new ConfigError(`${cp}.name`, 'cluster name is required (cluster_header in weighted clusters is not supported)');
      referenced.add(name);
      return Object.freeze({ name, weight: int(c['weight'], 0, `${cp}.weight`), requestHeaders: parseHeaderMutation(c, 'request', cp), responseHeaders: parseHeaderMutation(c, 'response', cp) });
    });
    if (clusters.length === 0) throw new ConfigError(`${p}.weighted_clusters.clusters`, 'at least one cluster is required');
    const sum = clusters.reduce((s, c) => s + c.weight, 0);
    const total = wc['total_weight'] !== undefined ? int(wc['total_weight'], 100, `${p}.weighted_clusters.total_weight`) : sum;
    if (sum === 0) throw new ConfigError(`${p}.weighted_clusters`, 'the sum of weights must be greater than 0');
    if (total !== sum) throw new ConfigError(`${p}.weighted_clusters.total_weight`, `weights sum to ${sum}, total_weight is ${total}`);
    weighted = Object.freeze({ clusters: Object.freeze(clusters), total });
  } else if (a['cluster_specifier_plugin'] !== undefined || a['inline_cluster_specifier_plugin'] !== undefined) {
    throw new ConfigError(p, 'cluster specifier plugins are not supported');
  } else throw new ConfigError(p, 'one of cluster, cluster_header, weighted_clusters is required');

  if (a['prefix_rewrite'] !== undefined && a['regex_rewrite'] !== undefined) throw new ConfigError(p, 'prefix_rewrite and regex_rewrite are mutually exclusive');
  const hashPolicy = list(a['hash_policy']).map((h, i): HashPolicy => {
    const hp = `${p}.hash_policy[${i}]`;
    const terminal = h['terminal'] === true;
    if (h['header'] !== undefined) return { kind: 'header', name: str(msg(h['header'])!['header_name']).toLowerCase(), terminal };
    if (h['cookie'] !== undefined) {
      const c = msg(h['cookie'])!;
      if (c['ttl'] !== undefined) throw new ConfigError(`${hp}.cookie.ttl`, 'generated hash cookies (ttl) are not supported');
      return { kind: 'cookie', name: str(c['name']), terminal };
    }
    if (h['connection_properties'] !== undefined) return { kind: 'source_ip', terminal };
    if (h['query_parameter'] !== undefined) return { kind: 'query', name: str(msg(h['query_parameter'])!['name']), terminal };
    throw new ConfigError(hp, 'hash policy kind not supported (header, cookie, connection_properties, query_parameter are)');
  });
  for (const k of ['request_mirror_policies', 'rate_limits', 'cors', 'upgrade_configs', 'internal_redirect_policy']) {
    if (a[k] !== undefined && !(Array.isArray(a[k]) && (a[k] as unknown[]).length === 0)) {
      throw new ConfigError(`${p}.${k}`, 'not supported yet');
    }
  }
  const msd = msg(a['max_stream_duration']);
  return Object.freeze({
    kind: 'forward',
    cluster,
    clusterHeader,
    weighted,
    prefixRewrite: typeof a['prefix_rewrite'] === 'string' ? a['prefix_rewrite'] : undefined,
    regexRewrite: parseRewrite(a['regex_rewrite'], `${p}.regex_rewrite`),
    hostRewriteLiteral: typeof a['host_rewrite_literal'] === 'string' ? a['host_rewrite_literal'] : undefined,
    autoHostRewrite: bool(a['auto_host_rewrite'], false),
    hostRewriteHeader: typeof a['host_rewrite_header'] === 'string' ? a['host_rewrite_header'].toLowerCase() : undefined,
    timeoutMs: durationMs(a['timeout'], `${p}.timeout`) ?? 15000,
    idleTimeoutMs: durationMs(a['idle_timeout'], `${p}.idle_timeout`),
    retry: a['retry_policy'] ? parseRetry(msg(a['retry_policy'])!, `${p}.retry_policy`) : vhostRetry,
    hashPolicy: Object.freeze(hashPolicy),
    maxStreamDurationMs: durationMs(msd?.['max_stream_duration'], `${p}.max_stream_duration.max_stream_duration`) ?? 0,
    grpcTimeoutHeaderMaxMs: msd?.['grpc_timeout_header_max'] !== undefined ? durationMs(msd['grpc_timeout_header_max'], `${p}.max_stream_duration.grpc_timeout_header_max`) : undefined,
    grpcTimeoutHeaderOffsetMs: durationMs(msd?.['grpc_timeout_header_offset'], `${p}.max_stream_duration.grpc_timeout_header_offset`) ?? 0,
  });
}

/** Envoy's gRPC retry_on conditions and the grpc-status they retry. */
const GRPC_RETRY_ON: Record<string, number> = { cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14 };
const RETRY_ON = new Set(['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'retriable-status-codes', 'refused-stream', 'envoy-ratelimited', 'retriable-headers', 'reset-before-request', 'http3-post-connect-failure', ...Object.keys(GRPC_RETRY_ON)]);

/** Parses a RetryPolicy (`retry_on` is Envoy's comma-separated list). */
export function parseRetryOn(retryOn: string, p: string): Pick<RetryPolicy, 'on5xx' | 'gatewayError' | 'reset' | 'connectFailure' | 'retriable4xx' | 'grpcStatuses'> & { statusCodes: boolean } {
  const parts = retryOn.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of parts) if (!RETRY_ON.has(x)) throw new ConfigError(p, `unknown retry_on condition '${x}'`);
  const has = (x: string): boolean => parts.includes(x);
  return {
    on5xx: has('5xx'),
    gatewayError: has('gateway-error'),
    reset: has('reset') || has('reset-before-request') || has('refused-stream'),
    connectFailure: has('connect-failure') || has('reset-before-request'),
    retriable4xx: has('retriable-4xx'),
    grpcStatuses: Object.freeze(parts.filter((x) => x in GRPC_RETRY_ON).map((x) => GRPC_RETRY_ON[x]!)),
    statusCodes: has('retriable-status-codes'),
  };
}

function parseRetry(r: Json, p: string): RetryPolicy {
  const on = parseRetryOn(str(r['retry_on']), `${p}.retry_on`);
  const bo = msg(r['retry_back_off']);
  const base = durationMs(bo?.['base_interval'], `${p}.retry_back_off.base_interval`) ?? 25;
  const max = durationMs(bo?.['max_interval'], `${p}.retry_back_off.max_interval`) ?? base * 10;
  if (max < base) throw new ConfigError(`${p}.retry_back_off.max_interval`, 'must be >= base_interval');
  for (const k of ['retry_priority', 'rate_limited_retry_back_off', 'retriable_headers', 'retriable_request_headers']) {
    if (r[k] !== undefined) throw new ConfigError(`${p}.${k}`, 'not supported yet');
  }
  let avoidPreviousHosts = false;
  list(r['retry_host_predicate']).forEach((pr, i) => {
    const t = str(msg(pr['typed_config'])?.['@type']).replace(/^.*\//, '') || str(pr['name']);
    if (t === 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' || t === 'envoy.retry_host_predicates.previous_hosts') avoidPreviousHosts = true;
    else throw new ConfigError(`${p}.retry_host_predicate[${i}]`, `retry host predicate '${t}' is not supported (previous_hosts is)`);
  });
  return Object.freeze({
    on5xx: on.on5xx,
    gatewayError: on.gatewayError,
    reset: on.reset,
    connectFailure: on.connectFailure,
    retriable4xx: on.retriable4xx,
    grpcStatuses: on.grpcStatuses,
    retriableStatusCodes: Object.freeze(on.statusCodes ? (Array.isArray(r['retriable_status_codes']) ? (r['retriable_status_codes'] as number[]) : []) : []),
    numRetries: int(r['num_retries'], 1, `${p}.num_retries`),
    perTryTimeoutMs: durationMs(r['per_try_timeout'], `${p}.per_try_timeout`) ?? 0,
    baseIntervalMs: base,
    maxIntervalMs: max,
    avoidPreviousHosts,
    hostSelectionRetryMaxAttempts: Math.max(1, int(r['host_selection_retry_max_attempts'], 1, `${p}.host_selection_retry_max_attempts`)),
  });
}

function parseRedirect(r: Json, p: string): RedirectAction {
  const code = r['response_code'];
  const status = code === undefined ? 301 : REDIRECT_CODES[String(code)] ?? (typeof code === 'number' ? [301, 302, 303, 307, 308][code] : undefined);
  if (status === undefined) throw new ConfigError(`${p}.response_code`, `unknown redirect response code ${JSON.stringify(code)}`);
  let scheme: string | undefined;
  if (r['https_redirect'] === true) scheme = 'https';
  else if (typeof r['scheme_redirect'] === 'string') scheme = r['scheme_redirect'].toLowerCase();
  return Object.freeze({
    kind: 'redirect',
    scheme,
    host: typeof r['host_redirect'] === 'string' ? r['host_redirect'] : undefined,
    port: r['port_redirect'] !== undefined ? int(r['port_redirect'], 0, `${p}.port_redirect`) : undefined,
    path: typeof r['path_redirect'] === 'string' ? r['path_redirect'] : undefined,
    prefixRewrite: typeof r['prefix_rewrite'] === 'string' ? r['prefix_rewrite'] : undefined,
    regexRewrite: parseRewrite(r['regex_rewrite'], `${p}.regex_rewrite`),
    status,
    stripQuery: r['strip_query'] === true,
  });
}
