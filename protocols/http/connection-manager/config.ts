/**
 * envoy.filters.network.http_connection_manager: validation of the
 * HttpConnectionManager proto into a frozen config. HTTP filters are looked
 * up in the extension registry by type URL (or well-known name); the router
 * must come last, as Envoy requires.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type ParseResult } from '../../../sidecar/contracts/errors.ts';
import type { Extension, ExtensionConfigDiscovery, ExtensionRegistry, ParseContext } from '../../../sidecar/contracts/extension.ts';
import type { XdsStreamSourceRef } from '../../../sidecar/contracts/snapshot.ts';
import { parseStreamSource } from '../../../xds/translate/config-source.ts';
import { bool, durationMs, int, list, msg, str, type Json } from '../../../xds/translate/proto-values.ts';
import { parseRouteConfig, type RouteConfig } from '../route/route-config.ts';
import { RouteTable, type PortStripping } from '../route/route-match.ts';
import { parseLogFilter, type LogFilter } from '../access-log-filter.ts';
import { parseLocalReplyConfig, type LocalReplyConfig } from './local-reply.ts';
import { parseXfccConfig, type XfccConfig } from '../../tls/xfcc.ts';
import { dynamicFilterExtension, parseHttpConfigDiscovery } from './dynamic-filter.ts';

/** Type name of the HCM config. */
export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';

/** A configured HTTP filter (other than the router). */
export interface HttpFilterEntry {
  readonly name: string;
  readonly extension: Extension;
  readonly config: unknown;
  /** ECDS: set for a `config_discovery` entry (extension is then the dynamic filter; config the same discovery). */
  readonly discovery?: ExtensionConfigDiscovery;
}

/** The validated HttpConnectionManager. */
export interface HcmConfig {
  readonly statPrefix: string;
  readonly codec: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** The inline route configuration; undefined with RDS. */
  readonly routeConfig: RouteConfig | undefined;
  /** The inline route_config as given, for /config_dump. */
  readonly rawRouteConfig: Json | undefined;
  /** The inline route table; undefined with RDS. */
  readonly routes: RouteTable | undefined;
  /** RDS: the route configuration name to subscribe to. */
  readonly rdsName: string | undefined;
  /** RDS: config_source.initial_fetch_timeout (ms; 0 = forever): how long a listener warms waiting for the route configuration. */
  readonly rdsInitialFetchTimeoutMs?: number;
  /** RDS: a non-aggregated gRPC config_source (absent: ADS). */
  readonly rdsSource?: XdsStreamSourceRef;
  readonly filters: readonly HttpFilterEntry[];
  readonly router: { readonly suppressEnvoyHeaders: boolean };
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly serverName: string;
  readonly serverHeader: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  readonly maxRequestHeadersKb: number;
  readonly maxHeadersCount: number;
  readonly idleTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly portStripping: PortStripping;
  readonly localReply: LocalReplyConfig;
  readonly h2MaxConcurrentStreams: number;
  readonly h2InitialStreamWindow: number;
  readonly h2InitialConnectionWindow: number;
  readonly accessLogs: readonly AccessLogEntryConfig[];
  /** forward_client_cert_details / set_current_client_cert_details (default SANITIZE: a client's XFCC is removed). */
  readonly xfcc: XfccConfig;
}

/** One `access_log` entry: an optional filter and the logger's config. */
export interface AccessLogEntryConfig {
  readonly filter: LogFilter | undefined;
  readonly logger: unknown;
}

/** Parses `access_log` entries (HCM, and listeners later). */
export function parseAccessLogs(v: unknown, path: string, registry: ExtensionRegistry, ctx: ParseContext): AccessLogEntryConfig[] {
  return list(v).map((a, i) => {
    const p = `${path}[${i}]`;
    const { extension, config, typed, what } = registry.resolve('envoy.access_loggers', a);
    if (!extension) throw new ConfigError(typed ? `${p}.typed_config` : `${p}.name`, `unsupported access logger ${what} (file, stdout and stderr are implemented)`);
    const r = extension.parse(config, { path: typed ? `${p}.typed_config` : p, warn: ctx.warn });
    if (!r.ok) throw r.errors[0]!;
    const f = msg(a['filter']);
    return Object.freeze({ filter: f ? parseLogFilter(f, `${p}.filter`) : undefined, logger: r.config });
  });
}

/** Envoy HCM fields we accept but do not act on, with why that is safe. */
const WARN_ONLY: Record<string, string> = {
  tracing: 'tracing is not implemented yet; no spans are emitted',
  http_protocol_options: 'HTTP/1.1 protocol options are not applied',
  normalize_path: 'path normalization is not applied',
  merge_slashes: 'merge_slashes is not applied',
  path_with_escaped_slashes_action: 'escaped-slash handling is not applied',
  upgrade_configs: 'protocol upgrades (WebSocket) are not supported yet; upgrade requests are answered 403/404 by route',
  internal_address_config: 'internal address config is not applied',
  delayed_close_timeout: 'delayed close is not applied',
  add_user_agent: 'user agent stats are not kept',
  stream_error_on_invalid_http_message: 'invalid messages always close the connection',
};

/** Parses an HttpConnectionManager; every error has its path. */
export function parseHcm(c: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): HcmConfig {
  const statPrefix = str(c['stat_prefix']);
  if (!statPrefix) throw new ConfigError(`${path}.stat_prefix`, 'stat_prefix is required');
  const codec = (str(c['codec_type']) || 'AUTO') as HcmConfig['codec'] | 'HTTP3';
  if (codec === 'HTTP3') throw new ConfigError(`${path}.codec_type`, 'HTTP/3 is not supported yet');
  for (const [k, why] of Object.entries(WARN_ONLY)) if (c[k] !== undefined) ctx.warn(new ConfigError(`${path}.${k}`, why));
  if (c['scoped_routes'] !== undefined) throw new ConfigError(`${path}.scoped_routes`, 'scoped routes are not supported');
  let rdsName: string | undefined;
  let rdsInitialFetchTimeoutMs: number | undefined;
  let rdsSource: XdsStreamSourceRef | undefined;
  const rds = msg(c['rds']);
  if (rds) {
    rdsName = str(rds['route_config_name']);
    if (!rdsName) throw new ConfigError(`${path}.rds.route_config_name`, 'route_config_name is required');
    const src = parseStreamSource(msg(rds['config_source']), `${path}.rds.config_source`, 'RDS');
    if (src.kind !== 'ads') rdsSource = src;
    rdsInitialFetchTimeoutMs = durationMs(msg(rds['config_source'])!['initial_fetch_timeout'], `${path}.rds.config_source.initial_fetch_timeout`) ?? 15_000;
  }
  const rc = msg(c['route_config']);
  if (!rc && !rds) throw new ConfigError(path, 'one of route_config, rds is required');
  const routeConfig = rc ? parseRouteConfig(rc, `${path}.route_config`, { readFile: (p) => readFileSync(p, 'utf8'), warn: ctx.warn }) : undefined;

  const filters: HttpFilterEntry[] = [];
  let router: HcmConfig['router'] | undefined;
  const hf = list(c['http_filters']);
  if (hf.length === 0) throw new ConfigError(`${path}.http_filters`, 'at least the router filter is required');
  hf.forEach((f, i) => {
    const p = `${path}.http_filters[${i}]`;
    const name = str(f['name']);
    if (f['disabled'] === true && f['is_optional'] === true && f['typed_config'] === undefined) return; // skipped optional (see json-check)
    if (f['disabled'] === true) throw new ConfigError(`${p}.disabled`, 'filters disabled by default (enabled per route) are not supported yet');
    if (f['config_discovery'] !== undefined) {
      // ECDS (dynamic-filter.ts): the config arrives later; the router cannot be discovered, so this is never the last filter.
      if (i === hf.length - 1) throw new ConfigError(p, 'the last HTTP filter must be the router; it cannot come from config_discovery');
      const discovery = parseHttpConfigDiscovery(f, p, registry, ctx);
      filters.push(Object.freeze({ name, extension: dynamicFilterExtension, config: discovery, discovery }));
      return;
    }
    const { extension: ext, config: cfg, typed, what } = registry.resolve('envoy.filters.http', f);
    if (!ext) {
      if (f['is_optional'] === true) {
        ctx.warn(new ConfigError(p, `optional HTTP filter '${name}' skipped: no implementation for ${what}`));
        return;
      }
      throw new ConfigError(typed ? `${p}.typed_config` : `${p}.name`, `unsupported HTTP filter ${what} (not implemented by this sidecar)`);
    }
    const parsed: ParseResult<unknown> = ext.parse(cfg, { path: typed ? `${p}.typed_config` : p, warn: ctx.warn });
    if (!parsed.ok) throw parsed.errors[0]!;
    if (ext.typeNames.includes(ROUTER_TYPE)) {
      if (i !== hf.length - 1) throw new ConfigError(p, 'the router must be the last HTTP filter');
      router = parsed.config as HcmConfig['router'];
    } else {
      if (i === hf.length - 1) throw new ConfigError(p, `the last HTTP filter must be terminal (envoy.filters.http.router), not '${name}'`);
      filters.push(Object.freeze({ name, extension: ext, config: parsed.config }));
    }
  });
  if (!router) throw new ConfigError(`${path}.http_filters`, 'the router filter (envoy.filters.http.router) must be last');

  const common = msg(c['common_http_protocol_options']) ?? {};
  if (common['headers_with_underscores_action'] !== undefined && common['headers_with_underscores_action'] !== 'ALLOW') {
    throw new ConfigError(`${path}.common_http_protocol_options.headers_with_underscores_action`, 'only ALLOW is supported');
  }
  const h2 = msg(c['http2_protocol_options']) ?? {};
  const maxKb = int(c['max_request_headers_kb'], 60, `${path}.max_request_headers_kb`);
  if (maxKb < 1 || maxKb > 8192) throw new ConfigError(`${path}.max_request_headers_kb`, 'must be in [1, 8192]');
  const serverHeader = (str(c['server_header_transformation']) || 'OVERWRITE') as HcmConfig['serverHeader'];
  const xfcc = parseXfccConfig(c, path);
  if (!xfcc.ok) throw xfcc.errors[0]!;
  return Object.freeze({
    xfcc: xfcc.config,
    statPrefix,
    codec,
    routeConfig,
    rawRouteConfig: rc,
    routes: routeConfig ? new RouteTable(routeConfig) : undefined,
    rdsName,
    ...(rdsInitialFetchTimeoutMs !== undefined ? { rdsInitialFetchTimeoutMs } : {}),
    ...(rdsSource ? { rdsSource } : {}),
    filters: Object.freeze(filters),
    router,
    useRemoteAddress: bool(c['use_remote_address'], false),
    xffNumTrustedHops: int(c['xff_num_trusted_hops'], 0, `${path}.xff_num_trusted_hops`),
    skipXffAppend: bool(c['skip_xff_append'], false),
    generateRequestId: bool(c['generate_request_id'], true),
    preserveExternalRequestId: bool(c['preserve_external_request_id'], false),
    serverName: str(c['server_name']) || 'envoy',
    serverHeader,
    maxRequestHeadersKb: maxKb,
    maxHeadersCount: int(common['max_headers_count'], 100, `${path}.common_http_protocol_options.max_headers_count`),
    idleTimeoutMs: durationMs(common['idle_timeout'], `${path}.common_http_protocol_options.idle_timeout`) ?? 3600_000,
    streamIdleTimeoutMs: durationMs(c['stream_idle_timeout'], `${path}.stream_idle_timeout`) ?? 300_000,
    requestTimeoutMs: durationMs(c['request_timeout'], `${path}.request_timeout`) ?? 0,
    requestHeadersTimeoutMs: durationMs(c['request_headers_timeout'], `${path}.request_headers_timeout`) ?? 0,
    drainTimeoutMs: durationMs(c['drain_timeout'], `${path}.drain_timeout`) ?? 5000,
    portStripping: c['strip_any_host_port'] === true ? 'any' : c['strip_matching_host_port'] === true ? 'matching' : 'none',
    localReply: parseLocalReplyConfig(c['local_reply_config'], `${path}.local_reply_config`),
    h2MaxConcurrentStreams: int(h2['max_concurrent_streams'], 2147483647, `${path}.http2_protocol_options.max_concurrent_streams`),
    h2InitialStreamWindow: int(h2['initial_stream_window_size'], 268435456, `${path}.http2_protocol_options.initial_stream_window_size`),
    h2InitialConnectionWindow: int(h2['initial_connection_window_size'], 268435456, `${path}.http2_protocol_options.initial_connection_window_size`),
    accessLogs: Object.freeze(parseAccessLogs(c['access_log'], `${path}.access_log`, registry, ctx)),
  });
}

/** The router extension: validates envoy.extensions.filters.http.router.v3.Router. */
export const routerExtension: Extension<HcmConfig['router']> = {
  category: 'envoy.filters.http',
  names: ['envoy.filters.http.router', 'envoy.router'],
  typeNames: [ROUTER_TYPE],
  parse(cfg, ctx) {
    const errors: ConfigError[] = [];
    for (const k of ['upstream_http_filters', 'upstream_log', 'upstream_log_options']) {
      if (cfg[k] !== undefined) errors.push(new ConfigError(`${ctx.path}.${k}`, 'not supported yet'));
    }
    if (cfg['start_child_span'] === true) ctx.warn(new ConfigError(`${ctx.path}.start_child_span`, 'tracing is not implemented yet'));
    if (errors.length) return { ok: false, errors };
    return { ok: true, config: Object.freeze({ suppressEnvoyHeaders: cfg['suppress_envoy_headers'] === true }) };
  },
};
