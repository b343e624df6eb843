/**
 * `envoy.filters.http.grpc_stats` (envoy.extensions.filters.http.grpc_stats.v3.FilterConfig),
 * which Istio puts on every HTTP listener (emit_filter_state: true). In Envoy
 * it counts gRPC calls per method in the upstream cluster's scope
 * (`cluster.<name>.grpc.<service>.<method>.success/failure/total`,
 * request/response message counts, upstream_rq_time) and writes the message
 * counts to filter state for access logs and Istio's telemetry.
 *
 * Here it is validated and accepted with a start-up warning: the stats are
 * not produced, because HTTP filters do not see the route's cluster nor the
 * response trailers (grpc-status) yet. It never changes a request. The
 * allowlist is validated so a bad config is still a NACK.
 */
import { Continue, type HttpFilter } from '../../../../sidecar/contracts/http-filter.ts';
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { list, msg, str, type Json } from '../../../../xds/translate/proto-values.ts';

/** Type name of the filter config. */
export const GRPC_STATS_TYPE = 'envoy.extensions.filters.http.grpc_stats.v3.FilterConfig';

/** The validated config (kept for when the stats are produced). */
export interface GrpcStatsConfig {
  readonly emitFilterState: boolean;
  readonly statsForAllMethods: boolean;
  /** `service/method` names, when an allowlist is given. */
  readonly allowlist: readonly string[] | undefined;
  readonly enableUpstreamStats: boolean;
}

/** Parses a FilterConfig. */
export function parseGrpcStats(c: Json, path: string): GrpcStatsConfig {
  if (c['individual_method_stats_allowlist'] !== undefined && c['stats_for_all_methods'] !== undefined) {
    throw new ConfigError(path, 'individual_method_stats_allowlist and stats_for_all_methods are mutually exclusive');
  }
  let allowlist: string[] | undefined;
  const al = msg(c['individual_method_stats_allowlist']);
  if (al) {
    allowlist = [];
    list(al['services']).forEach((s, i) => {
      const name = str(s['name']);
      if (!name) throw new ConfigError(`${path}.individual_method_stats_allowlist.services[${i}].name`, 'service name is required');
      for (const m of Array.isArray(s['method_names']) ? (s['method_names'] as unknown[]) : []) allowlist!.push(`${name}/${String(m)}`);
    });
  }
  const all = msg(c['stats_for_all_methods']);
  return Object.freeze({
    emitFilterState: c['emit_filter_state'] === true,
    statsForAllMethods: all ? all['value'] === true : c['stats_for_all_methods'] === true,
    allowlist: allowlist ? Object.freeze(allowlist) : undefined,
    enableUpstreamStats: c['enable_upstream_stats'] === true,
  });
}

const passThrough: HttpFilter = { decodeHeaders: () => Continue };

/** Registers envoy.filters.http.grpc_stats. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<GrpcStatsConfig> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.grpc_stats'],
    typeNames: [GRPC_STATS_TYPE],
    parse(cfg, ctx): ParseResult<GrpcStatsConfig> {
      try {
        const config = parseGrpcStats(cfg, ctx.path);
        ctx.warn(new ConfigError(ctx.path, `grpc_stats accepted without effect: cluster.<name>.grpc.<service>.<method>.success/failure/total${config.enableUpstreamStats ? ', upstream_rq_time' : ''} are not produced${config.emitFilterState ? ' and no message counts are written to filter state' : ''} (HTTP filters do not see the route's cluster or the response trailers yet)`));
        return { ok: true, config };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory() {
      return { name: 'envoy.filters.http.grpc_stats', create: () => passThrough };
    },
  };
  registry.register(ext);
}
