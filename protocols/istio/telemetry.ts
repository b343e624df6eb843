/**
 * Istio's telemetry extensions, which istiod puts on every sidecar listener:
 *  - `istio.stats` (type `stats.PluginConfig`, also inside a TypedStruct) as
 *    an HTTP filter and as a network filter before tcp_proxy;
 *  - `envoy.filters.http.wasm` / `envoy.filters.network.wasm` whose VM is
 *    Istio's built-in null-VM plugin (`envoy.wasm.stats`,
 *    `envoy.wasm.metadata_exchange`), the form older istiods send.
 * They only produce metrics (istio_requests_total ...) and exchange peer
 * metadata for those metrics' labels; they never change a request. This
 * sidecar accepts them and says, at start-up (ParseContext.warn: logged and
 * counted in server.config_warnings), exactly what is not produced. Any
 * other Wasm module is refused: this sidecar cannot run Wasm.
 */
import { Continue, type HttpFilter, type HttpFilterFactory } from '../../sidecar/contracts/http-filter.ts';
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ConnectionFilter, ConnectionFilterExtension, ExtensionRegistry, HttpFilterExtension, ParseContext } from '../../sidecar/contracts/extension.ts';

/** Type name of Istio's stats filter config. */
export const STATS_TYPE = 'stats.PluginConfig';
const HTTP_WASM_TYPE = 'envoy.extensions.filters.http.wasm.v3.Wasm';
const NETWORK_WASM_TYPE = 'envoy.extensions.filters.network.wasm.v3.Wasm';

/** What Istio's HTTP telemetry would produce and this sidecar does not. */
export const HTTP_METRICS_NOT_PRODUCED = 'Istio standard HTTP metrics (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes) are not produced; Envoy\'s own http.*, cluster.* and listener.* stats are';
/** What Istio's TCP telemetry would produce and this sidecar does not. */
export const TCP_METRICS_NOT_PRODUCED = 'Istio standard TCP metrics (istio_tcp_connections_opened_total, istio_tcp_connections_closed_total, istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total) are not produced; Envoy\'s own tcp.* and cluster.* stats are';

/** The validated (and then unused) telemetry config. */
export interface TelemetryConfig {
  readonly kind: 'stats' | 'metadata_exchange';
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);

const STATS_FIELDS = new Set(['disable_host_header_fallback', 'tcp_reporting_duration', 'metrics', 'definitions', 'reporter', 'rescoping_duration', 'scope_grace_period_duration']);

function parseStats(cfg: Json, ctx: ParseContext, direction: 'http' | 'tcp'): ParseResult<TelemetryConfig> {
  // Inside a TypedStruct the value is a Struct: unknown keys were not checked by the proto mapping.
  for (const k of Object.keys(cfg)) {
    if (k !== '@type' && !STATS_FIELDS.has(k)) return { ok: false, errors: [new ConfigError(`${ctx.path}.${k}`, 'unknown field of stats.PluginConfig')] };
  }
  ctx.warn(new ConfigError(ctx.path, `istio.stats accepted without effect: ${direction === 'http' ? HTTP_METRICS_NOT_PRODUCED : TCP_METRICS_NOT_PRODUCED}`));
  return { ok: true, config: Object.freeze({ kind: 'stats' }) };
}

/** Istio's null-VM plugins: inline_string code name -> allowed root ids ('' = none given). */
const NULL_VM_PLUGINS: Record<string, readonly string[]> = {
  'envoy.wasm.stats': ['stats_inbound', 'stats_outbound', ''],
  'envoy.wasm.metadata_exchange': ['metadata_exchange', ''],
};

function parseWasm(cfg: Json, ctx: ParseContext, direction: 'http' | 'tcp'): ParseResult<TelemetryConfig> {
  const p = ctx.path;
  const fail = (path: string, reason: string): ParseResult<TelemetryConfig> => ({ ok: false, errors: [new ConfigError(path, reason)] });
  const plugin = obj(cfg['config']);
  if (!plugin) return fail(`${p}.config`, 'a Wasm plugin config is required');
  const vm = obj(plugin['vm_config']);
  if (!vm) {
    return fail(`${p}.config${plugin['capability_restriction_config'] ? '' : '.vm_config'}`, 'Wasm modules cannot run in this sidecar (only Istio\'s built-in null-VM telemetry plugins, envoy.wasm.stats and envoy.wasm.metadata_exchange, are accepted)');
  }
  const runtime = String(vm['runtime'] ?? '');
  const local = obj(obj(vm['code'])?.['local']);
  const inline = typeof local?.['inline_string'] === 'string' ? (local['inline_string'] as string) : undefined;
  const roots = inline !== undefined ? NULL_VM_PLUGINS[inline] : undefined;
  if (runtime !== 'envoy.wasm.runtime.null' || !roots) {
    const code = inline !== undefined ? `inline code '${inline}'` : typeof local?.['filename'] === 'string' ? `module '${String(local['filename'])}'` : obj(vm['code'])?.['remote'] ? 'a remote module' : local?.['inline_bytes'] !== undefined ? 'inline module bytes' : 'no code';
    return fail(`${p}.config.vm_config`, `Wasm modules cannot run in this sidecar (${code} on runtime '${runtime || 'default'}'; only Istio's built-in null-VM telemetry plugins envoy.wasm.stats and envoy.wasm.metadata_exchange on envoy.wasm.runtime.null are accepted)`);
  }
  const rootId = String(plugin['root_id'] ?? '');
  if (!roots.includes(rootId)) return fail(`${p}.config.root_id`, `unknown root_id '${rootId}' for ${inline} (known: ${roots.filter(Boolean).join(', ')})`);
  const kind = inline === 'envoy.wasm.stats' ? 'stats' : 'metadata_exchange';
  const what = kind === 'stats'
    ? (direction === 'http' ? HTTP_METRICS_NOT_PRODUCED : TCP_METRICS_NOT_PRODUCED)
    : 'peer metadata (x-envoy-peer-metadata / x-envoy-peer-metadata-id headers) is neither sent nor read, so no istio_* metric would carry peer labels';
  ctx.warn(new ConfigError(p, `Istio null-VM plugin ${inline}${rootId ? ` (root_id ${rootId})` : ''} accepted without effect: ${what}`));
  return { ok: true, config: Object.freeze({ kind }) };
}

const passThrough: HttpFilter = { decodeHeaders: () => Continue };

function passThroughFactory(name: string): HttpFilterFactory {
  return { name, create: () => passThrough };
}

const continueFilter: ConnectionFilter = { onNewConnection: () => 'continue' };

function wrap(fn: () => ParseResult<TelemetryConfig>): ParseResult<TelemetryConfig> {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, errors: [e] };
    throw e;
  }
}

/** Registers istio.stats (HTTP and network) and the null-VM Wasm filters (HTTP and network). */
export function setup(registry: ExtensionRegistry): void {
  const httpStats: HttpFilterExtension<TelemetryConfig> = {
    category: 'envoy.filters.http',
    names: ['istio.stats'],
    typeNames: [STATS_TYPE],
    parse: (cfg, ctx) => wrap(() => parseStats(cfg, ctx, 'http')),
    createFactory: () => passThroughFactory('istio.stats'),
  };
  const networkStats: ConnectionFilterExtension<TelemetryConfig> = {
    category: 'envoy.filters.network',
    names: ['istio.stats'],
    typeNames: [STATS_TYPE],
    parse: (cfg, ctx) => wrap(() => parseStats(cfg, ctx, 'tcp')),
    createConnectionFilter: () => continueFilter,
  };
  const httpWasm: HttpFilterExtension<TelemetryConfig> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.wasm'],
    typeNames: [HTTP_WASM_TYPE],
    parse: (cfg, ctx) => wrap(() => parseWasm(cfg, ctx, 'http')),
    createFactory: () => passThroughFactory('envoy.filters.http.wasm'),
  };
  const networkWasm: ConnectionFilterExtension<TelemetryConfig> = {
    category: 'envoy.filters.network',
    names: ['envoy.filters.network.wasm'],
    typeNames: [NETWORK_WASM_TYPE],
    parse: (cfg, ctx) => wrap(() => parseWasm(cfg, ctx, 'tcp')),
    createConnectionFilter: () => continueFilter,
  };
  registry.register(httpStats);
  registry.register(networkStats);
  registry.register(httpWasm);
  registry.register(networkWasm);
}
