/**
 * envoy.extensions.filters.http.ext_authz.v3.ExtAuthz (canonical JSON) ->
 * the frozen config of the ext_authz filter. Every field the filter does not
 * enforce is refused with a ConfigError naming it, never ignored: a security
 * filter that accepts what it does not apply lets requests through unchecked.
 */
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import type { RbacAttributes } from '../../../../policies/rbac/rbac-attributes.ts';
import { metadataMatcher } from '../../../../policies/rbac/rbac-matchers.ts';
import { bool, durationMs, int, list, msg, str, stringMatcher, type Json, type StringMatch } from '../../../../xds/translate/proto-values.ts';
import { CONNECTION_SPECIFIC_FIELDS, TOKEN } from '../../http1-syntax.ts';

/** grpc_service.timeout when not given (Envoy's default). */
export const DEFAULT_GRPC_TIMEOUT_MS = 200;

/** A header a check request carries from config (initial_metadata, headers_to_add). */
export interface ConfiguredHeader {
  readonly key: string;
  readonly value: string;
}

/** grpc_service with envoy_grpc. */
export interface GrpcCheckService {
  readonly kind: 'grpc';
  readonly cluster: string;
  /** :authority of the call (envoy_grpc.authority, else the cluster name). */
  readonly authority: string;
  readonly timeoutMs: number;
  readonly initialMetadata: readonly ConfiguredHeader[];
}

/** http_service. */
export interface HttpCheckService {
  readonly kind: 'http';
  readonly cluster: string;
  /** The authority of server_uri.uri. */
  readonly authority: string;
  readonly pathPrefix: string;
  readonly timeoutMs: number;
  /** authorization_request.allowed_headers (besides the ones always sent); undefined when not set. */
  readonly allowedHeaders: readonly StringMatch[] | undefined;
  readonly headersToAdd: readonly ConfiguredHeader[];
  readonly allowedUpstreamHeaders: readonly StringMatch[];
  readonly allowedUpstreamHeadersToAppend: readonly StringMatch[];
  /** authorization_response.allowed_client_headers; undefined: every header of a denial goes to the client. */
  readonly allowedClientHeaders: readonly StringMatch[] | undefined;
  readonly allowedClientHeadersOnSuccess: readonly StringMatch[];
}

/** filter_enabled's default_value as a probability. */
export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: number;
}

/** The validated ExtAuthz. */
export interface ExtAuthzConfig {
  readonly service: GrpcCheckService | HttpCheckService;
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  readonly statusOnError: number;
  /** Stats under `ext_authz.` or `ext_authz.<stat_prefix>.`. */
  readonly statPrefix: string;
  readonly filterEnabled: FractionalPercent | undefined;
  /** filter_enabled_metadata, tested against the stream's dynamic metadata (filter state namespaces). */
  readonly filterEnabledMetadata: ((metadata: ReadonlyMap<string, unknown>) => boolean) | undefined;
  readonly denyAtDisable: boolean;
}

/** Fields Envoy has that this filter does not implement, with the reason given when one is set. */
const REFUSED: Readonly<Record<string, string>> = {
  with_request_body: 'ext_authz does not send the request body to the authorization service yet (HTTP filters see headers only: buffering needs a body hook in the filter contract); refused rather than checking without the body',
  metadata_context_namespaces: 'metadata_context is not sent to the authorization service',
  typed_metadata_context_namespaces: 'metadata_context is not sent to the authorization service',
  route_metadata_context_namespaces: 'route_metadata_context is not sent to the authorization service',
  route_typed_metadata_context_namespaces: 'route_metadata_context is not sent to the authorization service',
  include_peer_certificate: 'the peer certificate is not sent to the authorization service',
  include_tls_session: 'tls_session is not sent to the authorization service',
  bootstrap_metadata_labels_key: 'destination labels from bootstrap metadata are not sent',
  allowed_headers: 'filtering the headers sent to the authorization service is not implemented',
  disallowed_headers: 'filtering the headers sent to the authorization service is not implemented',
  encode_raw_headers: 'header_map (raw headers) is not sent; headers are',
  validate_mutations: 'validation of header mutations is not implemented',
  decoder_header_mutation_rules: 'header mutation rules are not implemented',
  enable_dynamic_metadata_ingestion: 'dynamic metadata from the authorization service is not ingested',
  filter_metadata: 'filter metadata is not emitted',
  emit_filter_state_stats: 'filter state stats are not emitted',
  charge_cluster_response_stats: 'response stats are not charged to the cluster',
  max_denied_response_body_bytes: 'denied response bodies are not truncated',
};

function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '' || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/** Header names a check request may not carry from config: connection-specific (illegal in HTTP/2) or ours to set. */
const RESERVED_CHECK_HEADERS = new Set([...CONNECTION_SPECIFIC_FIELDS, 'host', 'content-length', 'content-type']);

function headerValues(v: unknown, path: string): ConfiguredHeader[] {
  return list(v).map((h, i) => {
    const key = str(h['key']).toLowerCase();
    if (!key) throw new ConfigError(`${path}[${i}].key`, 'key is required');
    if (key.startsWith(':') || RESERVED_CHECK_HEADERS.has(key)) throw new ConfigError(`${path}[${i}].key`, `'${key}' cannot be set on a check request (connection-specific, or set by the filter)`);
    if (!TOKEN.test(key)) throw new ConfigError(`${path}[${i}].key`, `'${key}' is not a valid header name`);
    if (h['raw_value'] !== undefined && h['value'] === undefined) return { key, value: Buffer.from(str(h['raw_value']), 'base64').toString('utf8') };
    return { key, value: str(h['value']) };
  });
}

function listMatcher(v: unknown, path: string): StringMatch[] | undefined {
  const m = msg(v);
  if (!m) return undefined;
  const patterns = list(m['patterns']);
  if (patterns.length === 0) throw new ConfigError(`${path}.patterns`, 'at least one pattern is required');
  return patterns.map((p, i) => stringMatcher(p, `${path}.patterns[${i}]`));
}

function parseGrpcService(g: Json, path: string): GrpcCheckService {
  if (g['google_grpc'] !== undefined) throw new ConfigError(`${path}.google_grpc`, 'google_grpc is not supported; use envoy_grpc with a cluster');
  const e = msg(g['envoy_grpc']);
  if (!e) throw new ConfigError(`${path}.envoy_grpc`, 'envoy_grpc is required');
  const cluster = str(e['cluster_name']);
  if (!cluster) throw new ConfigError(`${path}.envoy_grpc.cluster_name`, 'cluster_name is required');
  if (e['retry_policy'] !== undefined) throw new ConfigError(`${path}.envoy_grpc.retry_policy`, 'retries of the check call are not implemented');
  if (e['skip_envoy_headers'] === true) throw new ConfigError(`${path}.envoy_grpc.skip_envoy_headers`, 'not supported (no x-envoy-* headers are sent anyway)');
  if (e['max_receive_message_length'] !== undefined) throw new ConfigError(`${path}.envoy_grpc.max_receive_message_length`, 'not supported (responses are bounded at 4 MiB)');
  if (g['retry_policy'] !== undefined) throw new ConfigError(`${path}.retry_policy`, 'retries of the check call are not implemented');
  const timeoutMs = durationMs(g['timeout'], `${path}.timeout`) ?? DEFAULT_GRPC_TIMEOUT_MS;
  return Object.freeze({
    kind: 'grpc' as const,
    cluster,
    authority: str(e['authority']) || cluster,
    timeoutMs,
    initialMetadata: Object.freeze(headerValues(g['initial_metadata'], `${path}.initial_metadata`)),
  });
}

function parseHttpService(h: Json, path: string): HttpCheckService {
  const uri = msg(h['server_uri']);
  if (!uri) throw new ConfigError(`${path}.server_uri`, 'server_uri is required');
  const cluster = str(uri['cluster']);
  if (!cluster) throw new ConfigError(`${path}.server_uri.cluster`, 'cluster is required');
  const timeoutMs = durationMs(uri['timeout'], `${path}.server_uri.timeout`);
  if (timeoutMs === undefined) throw new ConfigError(`${path}.server_uri.timeout`, 'timeout is required');
  // Envoy does not use server_uri.uri to reach the service (the cluster and
  // path_prefix say where); its host is our fallback authority. Envoy's own
  // example sets a bare name (`uri: ext_authz`), so anything is accepted.
  let authority = cluster;
  try {
    authority = new URL(str(uri['uri'])).host || cluster;
  } catch {
    authority = str(uri['uri']).replace(/\/.*$/, '') || cluster;
  }
  if (h['retry_policy'] !== undefined) throw new ConfigError(`${path}.retry_policy`, 'retries of the check call are not implemented');
  const req = msg(h['authorization_request']) ?? {};
  const res = msg(h['authorization_response']) ?? {};
  if (res['dynamic_metadata_from_headers'] !== undefined) {
    throw new ConfigError(`${path}.authorization_response.dynamic_metadata_from_headers`, 'dynamic metadata from the authorization response is not implemented');
  }
  const rp = `${path}.authorization_response`;
  return Object.freeze({
    kind: 'http' as const,
    cluster,
    authority,
    pathPrefix: str(h['path_prefix']),
    timeoutMs,
    allowedHeaders: listMatcher(req['allowed_headers'], `${path}.authorization_request.allowed_headers`),
    headersToAdd: Object.freeze(headerValues(req['headers_to_add'], `${path}.authorization_request.headers_to_add`)),
    allowedUpstreamHeaders: listMatcher(res['allowed_upstream_headers'], `${rp}.allowed_upstream_headers`) ?? [],
    allowedUpstreamHeadersToAppend: listMatcher(res['allowed_upstream_headers_to_append'], `${rp}.allowed_upstream_headers_to_append`) ?? [],
    allowedClientHeaders: listMatcher(res['allowed_client_headers'], `${rp}.allowed_client_headers`),
    allowedClientHeadersOnSuccess: listMatcher(res['allowed_client_headers_on_success'], `${rp}.allowed_client_headers_on_success`) ?? [],
  });
}

/** envoy.type.v3.StatusCode by name (canonical JSON gives enum names). */
const STATUS_CODES: Readonly<Record<string, number>> = { Empty: 0, Continue: 100, OK: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203, NoContent: 204, ResetContent: 205, PartialContent: 206, MultiStatus: 207, AlreadyReported: 208, IMUsed: 226, MultipleChoices: 300, MovedPermanently: 301, Found: 302, SeeOther: 303, NotModified: 304, UseProxy: 305, TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400, Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406, ProxyAuthenticationRequired: 407, RequestTimeout: 408, Conflict: 409, Gone: 410, LengthRequired: 411, PreconditionFailed: 412, PayloadTooLarge: 413, URITooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416, ExpectationFailed: 417, MisdirectedRequest: 421, UnprocessableEntity: 422, Locked: 423, FailedDependency: 424, UpgradeRequired: 426, PreconditionRequired: 428, TooManyRequests: 429, RequestHeaderFieldsTooLarge: 431, InternalServerError: 500, NotImplemented: 501, BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504, HTTPVersionNotSupported: 505, VariantAlsoNegotiates: 506, InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511 };

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

function parseFilterEnabled(v: Json, path: string): FractionalPercent {
  const d = msg(v['default_value']);
  if (!d) throw new ConfigError(`${path}.default_value`, 'default_value is required');
  const denominator = DENOMINATORS[str(d['denominator']) || 'HUNDRED'];
  if (denominator === undefined) throw new ConfigError(`${path}.default_value.denominator`, `unknown denominator ${JSON.stringify(d['denominator'])}`);
  return { numerator: Math.min(int(d['numerator'], 0, `${path}.default_value.numerator`), denominator), denominator };
}

/** Parses the filter config; throws ConfigError with the field path. */
export function parseExtAuthz(cfg: Json, path: string): ExtAuthzConfig {
  for (const [k, why] of Object.entries(REFUSED)) {
    if (isSet(cfg[k])) throw new ConfigError(`${path}.${k}`, why);
  }
  const api = str(cfg['transport_api_version']);
  if (api !== '' && api !== 'V3' && api !== 'AUTO') throw new ConfigError(`${path}.transport_api_version`, `only V3 is supported, got ${api}`);
  const g = msg(cfg['grpc_service']);
  const h = msg(cfg['http_service']);
  if (g && h) throw new ConfigError(path, 'only one of grpc_service, http_service may be set');
  if (!g && !h) throw new ConfigError(`${path}.grpc_service`, 'one of grpc_service, http_service is required');
  const service = g ? parseGrpcService(g, `${path}.grpc_service`) : parseHttpService(h!, `${path}.http_service`);
  let statusOnError = 403;
  const soe = msg(cfg['status_on_error']);
  if (soe) {
    const code = soe['code'];
    if (typeof code === 'number') statusOnError = code;
    else if (typeof code === 'string' && code !== '') {
      const n = STATUS_CODES[code];
      if (n === undefined) throw new ConfigError(`${path}.status_on_error.code`, `unknown status code ${code}`);
      statusOnError = n;
    }
    if (statusOnError < 200 || statusOnError > 599) throw new ConfigError(`${path}.status_on_error.code`, `invalid HTTP status ${statusOnError}`);
  }
  const fe = msg(cfg['filter_enabled']);
  const fem = msg(cfg['filter_enabled_metadata']);
  let filterEnabledMetadata: ExtAuthzConfig['filterEnabledMetadata'];
  if (fem) {
    const test = metadataMatcher(fem, `${path}.filter_enabled_metadata`);
    filterEnabledMetadata = (metadata) => test({ metadata } as unknown as RbacAttributes);
  }
  const dad = msg(cfg['deny_at_disable']);
  let denyAtDisable = false;
  if (dad) {
    const dv = dad['default_value'];
    if (dv === undefined) throw new ConfigError(`${path}.deny_at_disable.default_value`, 'default_value is required');
    denyAtDisable = bool(typeof dv === 'object' && dv !== null ? (dv as Json)['value'] : dv, false);
  }
  return Object.freeze({
    service,
    failureModeAllow: cfg['failure_mode_allow'] === true,
    failureModeAllowHeaderAdd: cfg['failure_mode_allow_header_add'] === true,
    statusOnError,
    statPrefix: str(cfg['stat_prefix']),
    filterEnabled: fe ? parseFilterEnabled(fe, `${path}.filter_enabled`) : undefined,
    filterEnabledMetadata,
    denyAtDisable,
  });
}
