/**
 * Which SDS secrets a config needs, and where each comes from. A TLS
 * context names its certificates and trust by SdsSecretConfig
 * (`tls_certificate_sds_secret_configs`,
 * `validation_context_sds_secret_config`, Istio's
 * `combined_validation_context`); its `sds_config` ConfigSource says where:
 * absent = static_resources.secrets, `{ ads: {} }` = over the ADS stream,
 * `{ api_config_source: { api_type: GRPC | DELTA_GRPC, grpc_services: [{
 * envoy_grpc: { cluster_name } }] } }` = a SecretDiscoveryService stream to
 * that static cluster (Istio's `sds-grpc`, pilot-agent on a Unix socket).
 * Transport socket configs are read through their shape (`common`), as
 * xds-manager reads `rdsName`: the TLS extension owns their type.
 */
import type { ClusterConfig, ListenerConfig, SocketAddress } from '../../sidecar/contracts/snapshot.ts';
import { durationMs, list, msg, str, type Json } from '../translate/proto-values.ts';

/** Where one secret comes from. */
export type SdsSource =
  | { readonly kind: 'static' }
  | { readonly kind: 'ads'; readonly key: 'ads'; readonly initialFetchTimeoutMs: number }
  | {
    readonly kind: 'grpc';
    /** Identifies one stream: equal keys share it. */
    readonly key: string;
    readonly clusterName: string;
    readonly mode: 'sotw' | 'delta';
    readonly setNodeOnFirstMessageOnly: boolean;
    readonly initialFetchTimeoutMs: number;
  };

/** One secret a listener or cluster needs. */
export interface SdsRef {
  readonly name: string;
  readonly source: SdsSource;
  /** Who needs it, for messages (`listener 'x'`, `cluster 'y'`). */
  readonly owner: string;
}

/** A secret reference as the TLS context config holds it (protocols/tls/context-config.ts SdsSecretRef). */
interface SecretRefShape {
  readonly name: string;
  readonly sdsConfig?: Readonly<Json>;
}

interface CommonShape {
  readonly certificateSds?: readonly SecretRefShape[];
  readonly validationSds?: SecretRefShape;
}

/** Envoy's default initial_fetch_timeout (15 s); `0s` waits forever. */
const DEFAULT_INITIAL_FETCH_MS = 15_000;

const SOURCE_OPTIONS = new Set(['resource_api_version', 'initial_fetch_timeout', 'authorities']);

/** Parses an SdsSecretConfig's sds_config; throws a message naming what is unsupported. */
export function parseSdsSource(cs: Readonly<Json> | undefined): SdsSource {
  if (!cs) return { kind: 'static' };
  const t = durationMs(cs['initial_fetch_timeout'], 'sds_config.initial_fetch_timeout');
  const initialFetchTimeoutMs = t ?? DEFAULT_INITIAL_FETCH_MS;
  if (cs['ads'] !== undefined) return { kind: 'ads', key: 'ads', initialFetchTimeoutMs };
  const api = msg(cs['api_config_source']);
  if (api) {
    const apiType = str(api['api_type']) || 'GRPC';
    if (apiType !== 'GRPC' && apiType !== 'DELTA_GRPC') throw new Error(`sds_config.api_config_source.api_type ${apiType} is not supported (GRPC and DELTA_GRPC are)`);
    const services = list(api['grpc_services']);
    if (services.length !== 1) throw new Error('sds_config.api_config_source: exactly one grpc_service is supported');
    const eg = msg(services[0]!['envoy_grpc']);
    const clusterName = str(eg?.['cluster_name']);
    if (!clusterName) throw new Error('sds_config.api_config_source.grpc_services[0]: only envoy_grpc with a cluster_name is supported (google_grpc is not)');
    const mode = apiType === 'DELTA_GRPC' ? 'delta' : 'sotw';
    const setNodeOnFirstMessageOnly = api['set_node_on_first_message_only'] === true;
    return { kind: 'grpc', key: `${mode}|${clusterName}|${setNodeOnFirstMessageOnly ? 1 : 0}`, clusterName, mode, setNodeOnFirstMessageOnly, initialFetchTimeoutMs };
  }
  const kinds = Object.keys(cs).filter((k) => !SOURCE_OPTIONS.has(k));
  throw new Error(`sds_config: only { ads: {} } and api_config_source (gRPC) are supported (${kinds.join(', ') || 'an empty config source'} is not)`);
}

function refsOfCommon(common: CommonShape | undefined, owner: string, out: SdsRef[], errors: string[]): void {
  if (!common) return;
  const all = [...(common.certificateSds ?? []), ...(common.validationSds ? [common.validationSds] : [])];
  for (const r of all) {
    try {
      out.push({ name: r.name, source: parseSdsSource(r.sdsConfig), owner });
    } catch (e) {
      errors.push(`${owner}: secret '${r.name}': ${(e as Error).message}`);
    }
  }
}

function commonOf(config: unknown): CommonShape | undefined {
  return (config as { common?: CommonShape } | undefined)?.common;
}

/** The SDS secrets listeners need (every filter chain's transport socket). */
export function sdsRefsOfListeners(listeners: readonly ListenerConfig[], errors: string[]): SdsRef[] {
  const out: SdsRef[] = [];
  for (const l of listeners) {
    const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
    for (const fc of chains) refsOfCommon(commonOf(fc.transportSocket?.config), `listener '${l.name}'`, out, errors);
  }
  return out;
}

/** The SDS secrets clusters need (transport_socket and transport_socket_matches). */
export function sdsRefsOfClusters(clusters: readonly ClusterConfig[], errors: string[]): SdsRef[] {
  const out: SdsRef[] = [];
  for (const c of clusters) {
    refsOfCommon(commonOf(c.transportSocket?.config), `cluster '${c.name}'`, out, errors);
    for (const m of c.transportSocketMatches ?? []) refsOfCommon(commonOf(m.transportSocket?.config), `cluster '${c.name}'`, out, errors);
  }
  return out;
}

/**
 * Where an SDS stream's cluster is: it must be a STATIC cluster of the
 * bootstrap with one endpoint (TCP or a Unix socket), as the ADS cluster.
 */
export function sdsTarget(clusters: readonly ClusterConfig[], name: string): SocketAddress | string {
  const c = clusters.find((x) => x.name === name);
  if (!c) return `no static cluster named '${name}'`;
  if (c.type !== 'STATIC' || c.endpoints.length !== 1) return `the SDS cluster '${name}' must be a STATIC cluster with one endpoint`;
  if (c.transportSocket || c.transportSocketMatches.length) return `the SDS cluster '${name}' has a transport socket: SDS over TLS is not supported (plaintext over TCP or a Unix socket only)`;
  return c.endpoints[0]!.address;
}
