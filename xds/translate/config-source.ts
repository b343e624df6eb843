/**
 * Config sources of EDS clusters (eds_cluster_config.eds_config) and HCM
 * rds (rds.config_source): `{ ads: {} }` or a non-aggregated gRPC
 * `api_config_source` (GRPC or DELTA_GRPC, one envoy_grpc service).
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { XdsStreamSourceRef } from '../../sidecar/contracts/snapshot.ts';
import { list, msg, str, type Json } from './proto-values.ts';

/** Parses an api_config_source (or ads_config): GRPC or DELTA_GRPC with one envoy_grpc service. */
export function parseGrpcApiConfigSource(ads: Json, path: string): { mode: 'sotw' | 'delta'; clusterName: string; setNodeOnFirstMessageOnly: boolean } {
  const apiType = str(ads['api_type']) || 'GRPC';
  if (apiType !== 'GRPC' && apiType !== 'DELTA_GRPC') throw new ConfigError(`${path}.api_type`, `api_type ${apiType} is not supported (GRPC and DELTA_GRPC are)`);
  const services = list(ads['grpc_services']);
  if (services.length !== 1) throw new ConfigError(`${path}.grpc_services`, 'exactly one grpc_service is supported');
  const eg = msg(services[0]!['envoy_grpc']);
  if (!eg || !str(eg['cluster_name'])) throw new ConfigError(`${path}.grpc_services[0]`, 'only envoy_grpc with a cluster_name is supported (google_grpc is not)');
  return { mode: apiType === 'DELTA_GRPC' ? 'delta' : 'sotw', clusterName: str(eg['cluster_name']), setNodeOnFirstMessageOnly: ads['set_node_on_first_message_only'] === true };
}

/** Parses the config source of EDS or RDS: `{ ads: {} }` or a gRPC api_config_source. */
export function parseStreamSource(cs: Json | undefined, path: string, what: string): XdsStreamSourceRef {
  if (cs && cs['ads'] !== undefined) return { kind: 'ads' };
  const acs = cs ? msg(cs['api_config_source']) : undefined;
  if (acs) return Object.freeze({ kind: 'grpc', ...parseGrpcApiConfigSource(acs, `${path}.api_config_source`) });
  throw new ConfigError(path, `${what} is supported over the ADS stream ({ ads: {} }) or a gRPC api_config_source (GRPC, DELTA_GRPC)`);
}

/** A stable key of a source (one stream per distinct type and source). */
export function streamSourceKey(s: XdsStreamSourceRef | undefined): string {
  return !s || s.kind === 'ads' ? 'ads' : `${s.mode}|${s.clusterName}|${s.setNodeOnFirstMessageOnly ? 1 : 0}`;
}
