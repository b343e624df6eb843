/**
 * The immutable configuration snapshot that xds/ builds and sidecar/ swaps in
 * whole (ARCHITECTURE.md, idea 2). Everything here is frozen plain data: the
 * data path keeps the objects it started with while a new snapshot replaces
 * them.
 */

/** A listening or connecting address. */
export type SocketAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'pipe'; readonly path: string; readonly mode?: number };

/** One endpoint of a cluster as configured (DNS names resolved later). */
export interface EndpointConfig {
  readonly address: SocketAddress;
  readonly weight: number;
  /** EDS health status; `UNHEALTHY`/`DRAINING`/... are not routed to. */
  readonly healthy: boolean;
  readonly priority: number;
  /** Endpoint metadata `envoy.transport_socket_match` (Istio's `tlsMode: istio`). */
  readonly transportSocketMatch?: Readonly<Record<string, string>>;
  /** Its LocalityLbEndpoints' locality, `region/zone/sub_zone` ('' when none). */
  readonly locality?: string;
  /** Its LocalityLbEndpoints' load_balancing_weight (used with locality weighted LB). */
  readonly localityWeight?: number;
}

/** ClusterLoadAssignment.Policy, validated. */
export interface LoadAssignmentPolicy {
  /** overprovisioning_factor in percent (Envoy's default 140). */
  readonly overprovisioningFactor: number;
  /** drop_overloads[0]: its category and drop_percentage as a fraction 0..1 (Envoy supports one). */
  readonly dropOverload?: { readonly category: string; readonly ratio: number };
}

/**
 * The endpoints of a ClusterLoadAssignment with its policy riding on the array (so that the EDS
 * path, which passes `EndpointConfig[]` through, carries it unchanged). A plain array: defaults.
 */
export type LoadAssignmentEndpoints = readonly EndpointConfig[] & { readonly policy?: LoadAssignmentPolicy };

/** An ORIGINAL_DST cluster's original_dst_lb_config and cleanup_interval. */
export interface OriginalDstConfig {
  /** use_http_header: the destination comes from `headerName` (host:port, an IP literal). */
  readonly useHttpHeader: boolean;
  /** http_header_name, lower case (default x-envoy-original-dst-host). */
  readonly headerName: string;
  /** upstream_port_override. */
  readonly portOverride?: number;
  /** cleanup_interval: hosts unused for this long are removed (default 5 s). */
  readonly cleanupIntervalMs: number;
}

/** A cluster's transport_socket_matches entry. */
export interface TransportSocketMatchConfig {
  readonly name: string;
  /** Every key/value must equal the endpoint's `envoy.transport_socket_match` metadata. */
  readonly match: Readonly<Record<string, string>>;
  /** Undefined: raw_buffer. */
  readonly transportSocket?: TransportSocketConfig;
}

/** Active health checking, one per cluster health_checks entry. */
export interface HealthCheckConfig {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly intervalJitterMs: number;
  readonly initialJitterMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly http?: {
    readonly host: string;
    readonly path: string;
    /** Half-open ranges [start, end); Envoy's default is [[200, 201)]. */
    readonly expectedStatuses: ReadonlyArray<readonly [number, number]>;
    readonly requestHeaders: Readonly<Record<string, string>>;
  };
  readonly tcp?: {
    readonly send?: Buffer;
    readonly receive: readonly Buffer[];
  };
}

/** Load-balancing policy names, Envoy's enum. */
export type LbPolicyName = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV' | 'CLUSTER_PROVIDED';

/** A validated Cluster. */
export interface ClusterConfig {
  readonly name: string;
  readonly type: 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';
  /** EDS: the ClusterLoadAssignment name to subscribe to. */
  readonly edsServiceName?: string;
  /** EDS: eds_config.initial_fetch_timeout (ms; 0 = forever): how long a new or changed cluster warms waiting for its assignment. */
  readonly edsInitialFetchTimeoutMs?: number;
  /** EDS: a non-aggregated gRPC eds_config (absent: ADS). */
  readonly edsSource?: XdsStreamSourceRef;
  readonly lbPolicy: LbPolicyName;
  readonly lbOptions: Readonly<Record<string, number>>;
  /** common_lb_config.locality_weighted_lb_config is set. */
  readonly localityWeightedLb?: boolean;
  /** ORIGINAL_DST clusters: how the destination is found. */
  readonly originalDst?: OriginalDstConfig;
  readonly connectTimeoutMs: number;
  /** load_assignment's endpoints (with its policy), for STATIC and DNS clusters. */
  readonly endpoints: LoadAssignmentEndpoints;
  readonly dnsRefreshRateMs: number;
  readonly dnsFamily: 4 | 6 | 0;
  /** Upstream HTTP protocol. */
  readonly protocol: 'http1' | 'http2';
  /** Connections idle this long are closed (common_http_protocol_options.idle_timeout). */
  readonly idleTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  readonly perConnectionBufferLimitBytes: number;
  readonly healthChecks: readonly HealthCheckConfig[];
  /** transport_socket (undefined: raw_buffer). */
  readonly transportSocket?: TransportSocketConfig;
  readonly transportSocketMatches: readonly TransportSocketMatchConfig[];
  /** The cluster as given, canonical JSON, for /config_dump. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Node identity (bootstrap `node` and --service-* flags). */
export interface NodeConfig {
  readonly id: string;
  readonly cluster: string;
  readonly zone: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** An IP prefix (CidrRange) as a comparable bit pattern. */
export interface CidrRange {
  readonly family: 4 | 6;
  readonly prefixLen: number;
  /** The network address, as a bigint of 32 or 128 bits. */
  readonly bits: bigint;
  /** For messages: `10.0.0.0/8`. */
  readonly text: string;
}

/** Envoy's FilterChainMatch, validated. Empty lists mean "any". */
export interface FilterChainMatchConfig {
  readonly destinationPort?: number;
  readonly prefixRanges: readonly CidrRange[];
  readonly serverNames: readonly string[];
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  readonly directSourcePrefixRanges: readonly CidrRange[];
  readonly sourceType: 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';
  readonly sourcePrefixRanges: readonly CidrRange[];
  readonly sourcePorts: readonly number[];
}

/** A network filter of a chain: its registered type and validated config. */
export interface NetworkFilterConfig {
  readonly name: string;
  readonly typeName: string;
  readonly config: unknown;
}

/** A transport socket of a filter chain or cluster: its registered type and validated config. */
export interface TransportSocketConfig {
  readonly name: string;
  readonly typeName: string;
  readonly config: unknown;
}

/** One filter chain. */
export interface FilterChainConfig {
  readonly name: string;
  readonly match: FilterChainMatchConfig;
  readonly filters: readonly NetworkFilterConfig[];
  /** TLS (or another transport socket); undefined is raw_buffer. */
  readonly transportSocket?: TransportSocketConfig;
  /** transport_socket_connect_timeout: the TLS handshake must finish within it. */
  readonly transportSocketConnectTimeoutMs: number;
}

/** Envoy's ListenerFilterChainMatchPredicate (filter_disabled), the subset on destination ports. */
export type ListenerFilterPredicate =
  | { readonly kind: 'any' }
  | { readonly kind: 'port'; readonly start: number; readonly end: number }
  | { readonly kind: 'or' | 'and'; readonly rules: readonly ListenerFilterPredicate[] }
  | { readonly kind: 'not'; readonly rule: ListenerFilterPredicate };

/** A listener filter: its registered type, validated config, and when it is disabled. */
export interface ListenerFilterConfig {
  readonly name: string;
  readonly typeName: string;
  readonly config: unknown;
  readonly disabled?: ListenerFilterPredicate;
}

/**
 * A listener's filter_chain_matcher (xds.type.matcher.v3.Matcher), compiled:
 * Envoy's network inputs, the tree (exact/prefix maps, IP ranges) and list
 * (predicates) matchers, and actions naming a filter chain.
 */
export type NetworkMatchInput =
  | 'destination_ip' | 'destination_port' | 'source_ip' | 'source_port' | 'direct_source_ip'
  | 'source_type' | 'server_name' | 'transport_protocol' | 'application_protocol';

/** OnMatch: a chain (null: the action names no chain, the connection is refused) or a nested matcher. */
export type MatcherOnMatch =
  | { readonly kind: 'chain'; readonly name: string; readonly chain: FilterChainConfig | null }
  | { readonly kind: 'matcher'; readonly matcher: FilterChainMatcherConfig };

/** A list-matcher predicate. */
export type MatcherPredicate =
  | { readonly kind: 'single'; readonly input: NetworkMatchInput; readonly match: (value: string) => boolean }
  | { readonly kind: 'or' | 'and'; readonly predicates: readonly MatcherPredicate[] }
  | { readonly kind: 'not'; readonly predicate: MatcherPredicate };

/** One range of an IPMatcher range_matcher, sorted longest prefix first, then declaration order. */
export interface MatcherIpRange {
  readonly range: CidrRange;
  readonly exclusive: boolean;
  readonly onMatch: MatcherOnMatch;
}

/** A compiled Matcher. */
export type FilterChainMatcherConfig =
  | { readonly kind: 'tree'; readonly input: NetworkMatchInput; readonly exact?: ReadonlyMap<string, MatcherOnMatch>; readonly prefix?: ReadonlyMap<string, MatcherOnMatch>; readonly ip?: readonly MatcherIpRange[]; readonly onNoMatch?: MatcherOnMatch }
  | { readonly kind: 'list'; readonly matchers: ReadonlyArray<{ readonly predicate: MatcherPredicate; readonly onMatch: MatcherOnMatch }>; readonly onNoMatch?: MatcherOnMatch }
  | { readonly kind: 'any'; readonly onNoMatch?: MatcherOnMatch };

/** A validated Listener. */
export interface ListenerConfig {
  readonly name: string;
  readonly address: SocketAddress;
  readonly filterChains: readonly FilterChainConfig[];
  readonly defaultFilterChain?: FilterChainConfig;
  /** filter_chain_matcher: when set, it chooses the chain by name and every filter_chain_match is ignored. */
  readonly filterChainMatcher?: FilterChainMatcherConfig;
  readonly listenerFilters: readonly ListenerFilterConfig[];
  /** bind_to_port (default true); false: the listener only exists for redirected connections and binds nothing. */
  readonly bindToPort: boolean;
  /** listener_filters_timeout (0: none); Envoy's default is 15 s. */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  /** traffic_direction INBOUND (for /drain_listeners?inboundonly). */
  readonly inbound: boolean;
  readonly perConnectionBufferLimitBytes: number;
  /** The listener as given, canonical JSON, for /config_dump. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Where an EDS cluster's assignment or an HCM's route configuration comes
 * from: the ADS stream, or a non-aggregated gRPC stream (api_config_source,
 * GRPC or DELTA_GRPC, envoy_grpc to a STATIC cluster resolved by the xDS
 * resource source).
 */
export type XdsStreamSourceRef =
  | { readonly kind: 'ads' }
  | { readonly kind: 'grpc'; readonly mode: 'sotw' | 'delta'; readonly clusterName: string; readonly setNodeOnFirstMessageOnly: boolean };
