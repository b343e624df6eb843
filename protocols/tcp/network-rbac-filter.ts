/**
 * envoy.filters.network.rbac on a filter chain: a non-terminal network
 * filter that decides, per connection, from what the listener and TLS know
 * (source and destination addresses, SNI, the peer's certificate and SPIFFE
 * id, filter state set by the filters before it) with the protocol-neutral
 * RBAC engine (policies/rbac). A denied connection is closed before the
 * terminal filter (tcp_proxy, the HTTP connection manager) sees a byte.
 * Envoy decides on the first byte (ONE_TIME_ON_FIRST_BYTE); the attributes
 * here are all known when the connection is handed over, so deciding then
 * gives the same answer without waiting for the client to speak.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ConnectionFilterExtension, ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import { NETWORK_RBAC_TYPE, NetworkRbacEvaluator, parseNetworkRbac, type NetworkRbacConfig } from '../../policies/rbac/network-rbac.ts';

/** Registers envoy.filters.network.rbac. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ConnectionFilterExtension<NetworkRbacConfig> = {
    category: 'envoy.filters.network',
    names: ['envoy.filters.network.rbac'],
    typeNames: [NETWORK_RBAC_TYPE],
    parse(cfg, ctx) {
      try {
        const config = parseNetworkRbac(cfg, ctx.path);
        if (config.delayDenyMs > 0) ctx.warn(new ConfigError(`${ctx.path}.delay_deny`, 'denied connections are closed at once (delay_deny is not applied)'));
        return { ok: true, config };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createConnectionFilter(config, rt) {
      const evaluator = new NetworkRbacEvaluator(config, rt.stats);
      return {
        onNewConnection(_socket, conn) {
          const d = evaluator.evaluate({
            remoteAddress: conn.remoteAddress,
            localAddress: conn.localAddress,
            localPort: conn.localPort,
            serverName: conn.serverName,
            tls: conn.tls,
            peerPrincipal: conn.peerPrincipal,
            filterState: conn.filterState,
          });
          return d.allowed ? 'continue' : { close: d.details ?? 'rbac_access_denied' };
        },
      };
    },
  };
  registry.register(ext);
}
