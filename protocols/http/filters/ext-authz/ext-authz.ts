/**
 * envoy.filters.http.ext_authz (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz):
 * every request waits (StopIteration) for an external authorization service
 * and then continues or is answered, as Envoy's filter does.
 *
 * - grpc_service (envoy_grpc): a unary envoy.service.auth.v3.Authorization/Check
 *   call to the named cluster through our own upstream pools (the cluster
 *   needs http2_protocol_options), with a CheckRequest whose AttributeContext
 *   carries the source and destination addresses with their principals
 *   under TLS (URI SAN, else DNS SAN, else subject: the peer's certificate
 *   for the source, ours for the destination) and request.http (id = x-request-id,
 *   method, headers with pseudo-headers, path, host, scheme, protocol, size =
 *   content-length or -1). CheckResponse status OK: the OkHttpResponse
 *   headers are applied to the request (append true adds a value; unset or
 *   false overwrites; append_action ADD_IF_ABSENT / OVERWRITE_IF_EXISTS as
 *   named) and headers_to_remove removed (never pseudo-headers or host);
 *   query_parameters_to_set / _to_remove change the path's query;
 *   response_headers_to_add go on the upstream's response; dynamic_metadata
 *   (also on a denial) goes to the stream's metadata under
 *   `envoy.filters.http.ext_authz`, where RBAC's metadata matchers read it.
 *   Otherwise denied: DeniedHttpResponse status (403 when unset), body and
 *   headers. A failed call (no cluster, no host, connect failure, reset,
 *   timeout, grpc-status other than OK, undecodable reply) is an error.
 * - http_service: the original method and path_prefix + path to
 *   server_uri.cluster, with the request's host, method, path,
 *   authorization and content-length headers plus those matching
 *   authorization_request.allowed_headers and headers_to_add, no body. 200
 *   allows (headers matching allowed_upstream_headers overwrite,
 *   allowed_upstream_headers_to_append append, on the request;
 *   allowed_client_headers_on_success on the response); any other
 *   status denies with that status, the body, and the response headers
 *   (those matching allowed_client_headers plus www-authenticate and
 *   location when it is set, all of them otherwise). A failed request is an error.
 * - Error: status_on_error (403) with details `ext_authz_error`, or with
 *   failure_mode_allow the request goes on (with
 *   `x-envoy-auth-failure-mode-allowed: true` when failure_mode_allow_header_add).
 *   Denied: details `ext_authz_denied`. Both set %RESPONSE_FLAGS% UAEX; a gRPC
 *   request gets a trailers-only reply with the status mapped as Envoy maps
 *   it (403 -> PERMISSION_DENIED).
 * - filter_enabled (default_value; runtime_key is not consulted: no runtime
 *   layer) and filter_enabled_metadata (the stream's dynamic metadata, e.g. the
 *   RBAC filter's shadow result that Istio's CUSTOM action keys on) disable the
 *   check for a request, counted in `disabled`; deny_at_disable then answers
 *   status_on_error instead of continuing.
 * Stats under `http.<stat_prefix>.ext_authz.[<filter stat_prefix>.]`: ok,
 * denied, error, failure_mode_allowed, disabled. Fields not implemented are
 * refused by config.ts; per-route ExtAuthzPerRoute is refused by the route
 * parser (typed_per_filter_config is not supported yet).
 *
 * Where it sits: after the authentication filters (jwt_authn) and after RBAC
 * when filter_enabled_metadata reads RBAC's shadow metadata; before the router.
 */
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type AsyncRequestHandle, type AsyncResponse, type FilterStatus, type HeaderMap, type HttpAsyncClient, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import type { Json } from '../../../../xds/translate/proto-values.ts';
import { CONNECTION_SPECIFIC_FIELDS, TOKEN } from '../../http1-syntax.ts';
import { decodeCheckResponse, encodeCheckRequest, type CheckHeaderOption } from './check-proto.ts';
import { parseExtAuthz, type ExtAuthzConfig, type GrpcCheckService, type HttpCheckService } from './config.ts';

/** Type name of the filter config. */
export const EXT_AUTHZ_TYPE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const NAME = 'envoy.filters.http.ext_authz';
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
/** Envoy's response code details. */
export const DETAILS_DENIED = 'ext_authz_denied';
export const DETAILS_ERROR = 'ext_authz_error';
const FAILURE_MODE_HEADER = 'x-envoy-auth-failure-mode-allowed';
/** Headers http_service always sends from the request (Envoy's defaults). */
const HTTP_DEFAULT_HEADERS = new Set(['authorization', 'content-length']);
/** Headers of a denial always passed to the client when allowed_client_headers is set. */
const CLIENT_DEFAULT_HEADERS = new Set(['www-authenticate', 'location']);
/**
 * Headers that describe the auth server's own message or its connection: never copied from
 * its answer, never set by a CheckResponse (connection-specific ones would be illegal on an
 * HTTP/2 upstream, as Envoy's codecs refuse them).
 */
const HOP_HEADERS = new Set([...CONNECTION_SPECIFIC_FIELDS, 'host', 'content-length', 'date', 'server']);
/** What a CheckResponse may not set: connection-specific fields, the host and the framing (ours to write). */
const UNSETTABLE = new Set([...CONNECTION_SPECIFIC_FIELDS, 'host', 'content-length']);

interface Stats {
  ok: Counter;
  denied: Counter;
  error: Counter;
  failureModeAllowed: Counter;
  disabled: Counter;
}

/** What a check decided. */
type Verdict =
  | { readonly kind: 'ok'; apply(h: HeaderMap): void; readonly responseHeaders?: HeaderMap; readonly metadata?: Record<string, unknown> }
  | { readonly kind: 'denied'; readonly status: number; readonly body: string; readonly headers: HeaderMap; readonly metadata?: Record<string, unknown> }
  | { readonly kind: 'error'; readonly detail: string };

/** Envoy's peer principal: the first URI SAN, else the first DNS SAN, else the subject. */
function principalOf(c: { readonly uriSans: readonly string[]; readonly dnsSans: readonly string[]; readonly subject: string } | undefined): string {
  return c ? c.uriSans[0] ?? c.dnsSans[0] ?? c.subject : '';
}

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

function appendValue(h: HeaderMap, key: string, value: string): void {
  const prev = h[key];
  if (prev === undefined) h[key] = value;
  else h[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
}

/** Applies one HeaderValueOption of a CheckResponse (append defaults to false there). */
function applyOption(h: HeaderMap, o: CheckHeaderOption): void {
  const key = o.key;
  if (!key || key.startsWith(':') || UNSETTABLE.has(key) || !TOKEN.test(key) || /[\0\r\n]/.test(o.value)) return;
  if (o.append === true) return appendValue(h, key, o.value);
  if (o.append === undefined) {
    if (o.appendAction === 1) {
      if (h[key] === undefined) h[key] = o.value;
      return;
    }
    if (o.appendAction === 3) {
      if (h[key] !== undefined) h[key] = o.value;
      return;
    }
  }
  h[key] = o.value;
}

/**
 * OkHttpResponse query_parameters_to_set (each replaces every value of its
 * key, where the first of them stood, or is added at the end) and
 * query_parameters_to_remove, on the request path. Parameters neither
 * names are kept byte for byte (a signed URL's signature survives); keys are
 * compared decoded; set values are percent-encoded (RFC 3986 unreserved
 * characters kept).
 */
export function mutateQuery(path: string, set: ReadonlyArray<readonly [string, string]>, remove: readonly string[]): string {
  const q = path.indexOf('?');
  const base = q < 0 ? path : path.slice(0, q);
  const raw = q < 0 || q === path.length - 1 ? [] : path.slice(q + 1).split('&');
  const removed = new Set(remove);
  const toSet = new Map<string, string>();
  for (const [k, v] of set) if (k) toSet.set(k, v);
  const out: string[] = [];
  for (const pair of raw) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq));
    if (removed.has(key) && !toSet.has(key)) continue;
    const v = toSet.get(key);
    if (v === undefined) { out.push(pair); continue; }
    // The first occurrence takes the new value; later ones go.
    toSet.delete(key);
    removed.add(key);
    out.push(`${encodeURIComponent(key)}=${encodeURIComponent(v)}`);
  }
  for (const [k, v] of toSet) out.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return out.length ? `${base}?${out.join('&')}` : base;
}

/** A query key or value decoded (`+` as space, malformed escapes left as written). */
function decodeQueryPart(s: string): string {
  const t = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}

function grpcVerdict(r: AsyncResponse): Verdict {
  if (!r.ok) return { kind: 'error', detail: `${r.reason}: ${r.detail}` };
  const grpcStatus = joined(r.trailers?.['grpc-status']) ?? joined(r.headers['grpc-status']);
  if (r.status !== 200) return { kind: 'error', detail: `HTTP status ${r.status}` };
  if (grpcStatus !== '0') return { kind: 'error', detail: `grpc-status ${grpcStatus ?? 'missing'} ${joined(r.trailers?.['grpc-message']) ?? joined(r.headers['grpc-message']) ?? ''}` };
  const b = r.body;
  if (b.length < 5 || b[0] !== 0 || b.readUInt32BE(1) !== b.length - 5) return { kind: 'error', detail: 'malformed gRPC message (compressed, truncated or several)' };
  let res;
  try {
    res = decodeCheckResponse(b.subarray(5));
  } catch (e) {
    return { kind: 'error', detail: `undecodable CheckResponse: ${(e as Error).message}` };
  }
  if (res.code === 0) {
    const ok = res.ok;
    let responseHeaders: HeaderMap | undefined;
    if (ok?.responseHeadersToAdd.length) {
      responseHeaders = {};
      for (const o of ok.responseHeadersToAdd) applyOption(responseHeaders, o);
    }
    return {
      kind: 'ok',
      responseHeaders,
      metadata: res.dynamicMetadata,
      apply(h) {
        if (!ok) return;
        for (const o of ok.headers) applyOption(h, o);
        for (const k of ok.headersToRemove) if (k && !k.startsWith(':') && k !== 'host') delete h[k];
        if (ok.queryToSet.length || ok.queryToRemove.length) h[':path'] = mutateQuery(joined(h[':path']) ?? '/', ok.queryToSet, ok.queryToRemove);
      },
    };
  }
  const headers: HeaderMap = {};
  for (const o of res.denied?.headers ?? []) applyOption(headers, o);
  return { kind: 'denied', status: res.denied?.status || 403, body: res.denied?.body ?? '', headers, metadata: res.dynamicMetadata };
}

function httpVerdict(svc: HttpCheckService, r: AsyncResponse): Verdict {
  if (!r.ok) return { kind: 'error', detail: `${r.reason}: ${r.detail}` };
  // Envoy's RawHttpClientImpl: a 5xx from the authorization server is an error (status_on_error,
  // failure_mode_allow), not a denial to pass on.
  if (r.status >= 500) return { kind: 'error', detail: `authorization server answered ${r.status}` };
  if (r.status === 200) {
    let responseHeaders: HeaderMap | undefined;
    if (svc.allowedClientHeadersOnSuccess.length) {
      for (const [k, v] of Object.entries(r.headers)) {
        if (v === undefined || HOP_HEADERS.has(k) || k.startsWith(':')) continue;
        if (svc.allowedClientHeadersOnSuccess.some((m) => m(k))) (responseHeaders ??= {})[k] = v;
      }
    }
    return {
      kind: 'ok',
      responseHeaders,
      apply(h) {
        for (const [k, v] of Object.entries(r.headers)) {
          if (v === undefined || HOP_HEADERS.has(k) || k.startsWith(':')) continue;
          if (svc.allowedUpstreamHeaders.some((m) => m(k))) h[k] = v;
          else if (svc.allowedUpstreamHeadersToAppend.some((m) => m(k))) for (const x of Array.isArray(v) ? v : [v]) appendValue(h, k, x);
        }
      },
    };
  }
  const headers: HeaderMap = {};
  const allowed = svc.allowedClientHeaders;
  for (const [k, v] of Object.entries(r.headers)) {
    if (v === undefined || HOP_HEADERS.has(k) || k.startsWith(':')) continue;
    if (!allowed || CLIENT_DEFAULT_HEADERS.has(k) || allowed.some((m) => m(k))) headers[k] = v;
  }
  return { kind: 'denied', status: r.status, body: r.body.toString('utf8'), headers };
}

class ExtAuthzFilter implements HttpFilter {
  private readonly cfg: ExtAuthzConfig;
  private readonly cb: HttpFilterCallbacks;
  private readonly stats: Stats;
  private readonly client: HttpAsyncClient | undefined;
  private pending: AsyncRequestHandle | undefined;
  /** OkHttpResponse.response_headers_to_add / allowed_client_headers_on_success, for the upstream's response. */
  private responseHeaders: HeaderMap | undefined;

  constructor(cfg: ExtAuthzConfig, cb: HttpFilterCallbacks, stats: Stats, client: HttpAsyncClient | undefined) {
    this.cfg = cfg;
    this.cb = cb;
    this.stats = stats;
    this.client = client;
  }

  private enabled(): boolean {
    const fe = this.cfg.filterEnabled;
    if (fe && !(Math.random() * fe.denominator < fe.numerator)) return false;
    const fem = this.cfg.filterEnabledMetadata;
    return !fem || fem(this.cb.filterState);
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cfg = this.cfg;
    if (!this.enabled()) {
      this.stats.disabled.inc();
      if (!cfg.denyAtDisable) return Continue;
      this.cb.sendLocalReply({ status: cfg.statusOnError, body: '', details: DETAILS_ERROR, responseFlag: 'UAEX' });
      return StopIteration;
    }
    const svc = cfg.service;
    if (!this.client) {
      const v: Verdict = { kind: 'error', detail: 'no cluster manager' };
      return this.decide(v, headers) ? Continue : StopIteration;
    }
    this.pending = svc.kind === 'grpc' ? this.sendGrpc(svc, headers) : this.sendHttp(svc, headers);
    return StopIteration;
  }

  encodeHeaders(_status: number, headers: HeaderMap): undefined {
    const add = this.responseHeaders;
    if (add) for (const [k, v] of Object.entries(add)) if (v !== undefined) headers[k] = v;
    return undefined;
  }

  onDestroy(): void {
    this.pending?.cancel();
    this.pending = undefined;
  }

  private sendGrpc(svc: GrpcCheckService, h: HeaderMap): AsyncRequestHandle {
    const conn = this.cb.connection;
    const cl = h['content-length'];
    const size = cl !== undefined && /^\d+$/.test(joined(cl) ?? '') ? Number(joined(cl)) : -1;
    const headers: [string, string][] = [];
    for (const [k, v] of Object.entries(h)) if (v !== undefined) headers.push([k, joined(v)!]);
    const msg = encodeCheckRequest({
      source: { address: conn.remoteAddress, port: conn.remotePort, principal: conn.peerPrincipal ?? principalOf(conn.tls?.peer) },
      destination: { address: conn.localAddress, port: conn.localPort, principal: principalOf(conn.tls?.local) },
      http: {
        id: joined(h['x-request-id']) ?? '',
        method: joined(h[':method']) ?? '',
        headers,
        path: joined(h[':path']) ?? '',
        host: joined(h[':authority']) ?? '',
        scheme: joined(h[':scheme']) ?? conn.scheme,
        size,
        protocol: this.cb.protocol ?? '',
      },
      timeMs: Date.now(),
    });
    const frame = Buffer.allocUnsafe(5 + msg.length);
    frame[0] = 0;
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    const callHeaders: HeaderMap = { 'content-type': 'application/grpc', te: 'trailers' };
    if (svc.timeoutMs > 0) callHeaders['grpc-timeout'] = `${Math.ceil(svc.timeoutMs)}m`;
    for (const m of svc.initialMetadata) appendValue(callHeaders, m.key, m.value);
    return this.client!.send(svc.cluster, { method: 'POST', path: CHECK_PATH, authority: svc.authority, headers: callHeaders, body: frame, timeoutMs: svc.timeoutMs }, (r) => {
      this.pending = undefined;
      if (this.decide(grpcVerdict(r), h)) this.cb.continueDecoding();
    });
  }

  private sendHttp(svc: HttpCheckService, h: HeaderMap): AsyncRequestHandle {
    const headers: HeaderMap = { 'content-length': '0' };
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || k.startsWith(':') || k === 'content-length' || k === 'host') continue;
      if (HTTP_DEFAULT_HEADERS.has(k) || svc.allowedHeaders?.some((m) => m(k))) headers[k] = v;
    }
    for (const a of svc.headersToAdd) headers[a.key] = a.value;
    const spec = {
      method: joined(h[':method']) ?? 'GET',
      path: `${svc.pathPrefix}${joined(h[':path']) ?? '/'}`,
      authority: joined(h[':authority']) ?? svc.authority,
      headers,
      body: null,
      timeoutMs: svc.timeoutMs,
    };
    return this.client!.send(svc.cluster, spec, (r) => {
      this.pending = undefined;
      if (this.decide(httpVerdict(svc, r), h)) this.cb.continueDecoding();
    });
  }

  /** Counts and replies; true when the request goes on. */
  private decide(v: Verdict, h: HeaderMap): boolean {
    const cfg = this.cfg;
    if (v.kind !== 'error' && v.metadata) {
      // Envoy emits it under the filter's name, for the filters after this one (RBAC metadata matchers, access logs).
      const prev = this.cb.filterState.get(NAME);
      this.cb.filterState.set(NAME, typeof prev === 'object' && prev !== null ? { ...(prev as object), ...v.metadata } : v.metadata);
    }
    if (v.kind === 'ok') {
      this.stats.ok.inc();
      v.apply(h);
      this.responseHeaders = v.responseHeaders;
      return true;
    }
    if (v.kind === 'denied') {
      this.stats.denied.inc();
      this.cb.sendLocalReply({ status: v.status, body: v.body, headers: v.headers, details: DETAILS_DENIED, responseFlag: 'UAEX' });
      return false;
    }
    this.stats.error.inc();
    if (cfg.failureModeAllow) {
      this.stats.failureModeAllowed.inc();
      if (cfg.failureModeAllowHeaderAdd) h[FAILURE_MODE_HEADER] = 'true';
      return true;
    }
    this.cb.sendLocalReply({ status: cfg.statusOnError, body: '', details: DETAILS_ERROR, responseFlag: 'UAEX' });
    return false;
  }
}

/** Registers envoy.filters.http.ext_authz. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<ExtAuthzConfig> = {
    category: 'envoy.filters.http',
    names: [NAME, 'envoy.ext_authz'],
    typeNames: [EXT_AUTHZ_TYPE],
    parse(cfg: Json, ctx): ParseResult<ExtAuthzConfig> {
      try {
        return { ok: true, config: parseExtAuthz(cfg, ctx.path) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config, rt) {
      const s = config.statPrefix ? rt.stats.scope('ext_authz').scope(config.statPrefix) : rt.stats.scope('ext_authz');
      const stats: Stats = {
        ok: s.counter('ok'),
        denied: s.counter('denied'),
        error: s.counter('error'),
        failureModeAllowed: s.counter('failure_mode_allowed'),
        disabled: s.counter('disabled'),
      };
      const client = rt.asyncClient;
      return { name: NAME, create: (cb) => new ExtAuthzFilter(config, cb, stats, client) };
    },
  };
  registry.register(ext);
}
