/**
 * The bootstrap the xDS tests start a sidecar with: admin on port 0, LDS and
 * CDS over ADS (initial_fetch_timeout 0s, as Istio sets it) to the test
 * management server through a STATIC `xds-grpc` cluster, plus any other
 * static clusters the test needs.
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
}

/** A bootstrap YAML with ads_config to the test server. */
export function adsBootstrap(o: AdsBootstrapOptions): string {
  const extra = (o.clusters ?? []).map((c) => c.split('\n').map((l) => `  ${l}`).join('\n')).join('\n');
  return `
${o.node ? `node: ${o.node}\n` : ''}admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: ${o.apiType ?? 'GRPC'}
    transport_api_version: V3
${o.setNodeOnFirstMessageOnly ? '    set_node_on_first_message_only: true\n' : ''}    grpc_services: [{ envoy_grpc: { cluster_name: xds-grpc } }]
  lds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
  cds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
static_resources:
  clusters:
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
