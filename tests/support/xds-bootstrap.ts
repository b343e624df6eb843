/**
 * The bootstrap the xDS tests start a sidecar with: admin on port 0, LDS and
 * CDS over ADS (initial_fetch_timeout 0s, as Istio sets it, unless given) to
 * the test management server through a STATIC `xds-grpc` cluster, plus any
 * other static clusters and static listeners the test needs.
 */

/** Options of adsBootstrap. */
export interface AdsBootstrapOptions {
  readonly xdsPort: number;
  readonly apiType?: 'GRPC' | 'DELTA_GRPC' | string;
  /** A `node:` line's value (flow YAML), when the test cares about the node. */
  readonly node?: string;
  readonly setNodeOnFirstMessageOnly?: boolean;
  /** More static clusters: YAML list items at column 0 (staticCluster() output). */
  readonly clusters?: readonly string[];
  /** Static listeners: YAML list items at column 0. */
  readonly listeners?: readonly string[];
  /** initial_fetch_timeout of lds_config and cds_config (default 0s: wait forever). */
  readonly initialFetchTimeout?: string;
}

/** A bootstrap YAML with ads_config to the test server. */
export function adsBootstrap(o: AdsBootstrapOptions): string {
  const indent = (items: readonly string[] | undefined): string => (items ?? []).map((c) => c.split('\n').map((l) => `  ${l}`).join('\n')).join('\n');
  const extra = indent(o.clusters);
  const listeners = indent(o.listeners);
  const fetchTimeout = o.initialFetchTimeout ?? '0s';
  return `
${o.node ? `node: ${o.node}\n` : ''}admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: ${o.apiType ?? 'GRPC'}
    transport_api_version: V3
${o.setNodeOnFirstMessageOnly ? '    set_node_on_first_message_only: true\n' : ''}    grpc_services: [{ envoy_grpc: { cluster_name: xds-grpc } }]
  lds_config: { ads: {}, initial_fetch_timeout: ${fetchTimeout}, resource_api_version: V3 }
  cds_config: { ads: {}, initial_fetch_timeout: ${fetchTimeout}, resource_api_version: V3 }
static_resources:
${listeners ? `  listeners:\n${listeners}\n` : ''}  clusters:
${extra ? `${extra}\n` : ''}  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment: { cluster_name: xds-grpc, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${o.xdsPort} } } } }] }] }
`;
}
