/**
 * envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy (canonical JSON)
 * -> a frozen config: the cluster (or weighted clusters), idle timeout,
 * connect attempts, access logs. Fields that would change behaviour and
 * are not implemented (tunneling over HTTP CONNECT, on-demand clusters,
 * hash policies) are refused with their path.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, ParseContext } from '../../sidecar/contracts/extension.ts';
import { parseAccessLogs, type AccessLogEntryConfig } from '../http/connection-manager/config.ts';
import { durationMs, int, list, msg, str, type Json } from '../../xds/translate/proto-values.ts';

/** The config type name. */
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** A validated TcpProxy. */
export interface TcpProxyConfig {
  readonly statPrefix: string;
  /** Clusters with weights (one entry of weight 1 for `cluster`). */
  readonly clusters: ReadonlyArray<{ readonly name: string; readonly weight: number }>;
  readonly totalWeight: number;
  /** 0: no idle timeout. Envoy's default is 1 hour. */
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  /** 0: unlimited. */
  readonly maxDownstreamConnectionDurationMs: number;
  readonly accessLogs: readonly AccessLogEntryConfig[];
}

const REFUSED: Record<string, string> = {
  tunneling_config: 'tunneling TCP over HTTP CONNECT is not supported',
  on_demand: 'on-demand cluster discovery is not supported',
  hash_policy: 'hash policies for tcp_proxy are not supported',
  backoff_options: 'connect back-off options are not supported',
  proxy_protocol_tlvs: 'PROXY protocol TLVs are not supported',
};

/** Parses a TcpProxy config. */
export function parseTcpProxy(c: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): TcpProxyConfig {
  for (const [k, why] of Object.entries(REFUSED)) if (c[k] !== undefined) throw new ConfigError(`${path}.${k}`, why);
  if (c['metadata_match'] !== undefined) ctx.warn(new ConfigError(`${path}.metadata_match`, 'endpoint subset matching is not applied; any endpoint of the cluster may be chosen'));
  const statPrefix = str(c['stat_prefix']);
  if (!statPrefix) throw new ConfigError(`${path}.stat_prefix`, 'stat_prefix is required');
  let clusters: Array<{ name: string; weight: number }>;
  const wc = msg(c['weighted_clusters']);
  if (wc) {
    clusters = list(wc['clusters']).map((x, i) => {
      const name = str(x['name']);
      if (!name) throw new ConfigError(`${path}.weighted_clusters.clusters[${i}].name`, 'cluster name is required');
      if (x['metadata_match'] !== undefined) ctx.warn(new ConfigError(`${path}.weighted_clusters.clusters[${i}].metadata_match`, 'endpoint subset matching is not applied'));
      return { name, weight: int(x['weight'], 0, `${path}.weighted_clusters.clusters[${i}].weight`) };
    });
    if (clusters.length === 0) throw new ConfigError(`${path}.weighted_clusters.clusters`, 'at least one cluster is required');
  } else {
    const name = str(c['cluster']);
    if (!name) throw new ConfigError(`${path}.cluster`, 'cluster or weighted_clusters is required');
    clusters = [{ name, weight: 1 }];
  }
  const totalWeight = clusters.reduce((a, b) => a + b.weight, 0);
  if (totalWeight <= 0) throw new ConfigError(`${path}.weighted_clusters`, 'the total weight must be positive');
  const maxConnectAttempts = int(c['max_connect_attempts'], 1, `${path}.max_connect_attempts`);
  if (maxConnectAttempts < 1) throw new ConfigError(`${path}.max_connect_attempts`, 'must be at least 1');
  if (c['access_log_options'] !== undefined || c['access_log_flush_interval'] !== undefined) {
    ctx.warn(new ConfigError(`${path}.access_log_options`, 'periodic access log flushes are not implemented; entries are written when the connection closes'));
  }
  return Object.freeze({
    statPrefix,
    clusters: Object.freeze(clusters.map((x) => Object.freeze(x))),
    totalWeight,
    idleTimeoutMs: c['idle_timeout'] === undefined ? 3_600_000 : durationMs(c['idle_timeout'], `${path}.idle_timeout`) ?? 0,
    maxConnectAttempts,
    maxDownstreamConnectionDurationMs: durationMs(c['max_downstream_connection_duration'], `${path}.max_downstream_connection_duration`) ?? 0,
    accessLogs: Object.freeze(parseAccessLogs(c['access_log'], `${path}.access_log`, registry, ctx)),
  });
}
