/**
 * The envoy.config.core.v3.Node this sidecar presents to a control plane:
 * the bootstrap node (id, cluster, locality, metadata passed through
 * untouched) plus user agent and client features.
 */
import { fromJson, type Message } from '@bufbuild/protobuf';
import type { NodeConfig } from '../../sidecar/contracts/snapshot.ts';
import { envoyRegistry } from '../proto/registry.ts';

/** Client features we support (Envoy's names). */
export const CLIENT_FEATURES = ['envoy.lb.does_not_support_overprovisioning', 'xds.config.resource-in-sotw'];

/** The Node message for ADS requests. */
export function nodeMessage(node: NodeConfig, version: string): Message {
  const desc = envoyRegistry().getMessage('envoy.config.core.v3.Node')!;
  return fromJson(desc, {
    id: node.id,
    cluster: node.cluster,
    ...(node.zone ? { locality: { zone: node.zone } } : {}),
    metadata: node.metadata as never,
    user_agent_name: 'themis-sidecar',
    user_agent_version: version,
    client_features: CLIENT_FEATURES,
  }, { registry: envoyRegistry() });
}
