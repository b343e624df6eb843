/**
 * `istio_authn` (TypedStruct `io.istio.network.authn.Config`), the network
 * filter istiod puts first on inbound chains. It authenticates nothing by
 * itself: on a TLS connection whose peer presented a SPIFFE certificate it
 * records the peer's and the local workload's identities in the
 * connection's filter state (`io.istio.peer_principal`,
 * `io.istio.local_principal`) for the filters after it (RBAC, telemetry);
 * `shared: true` would also hand them to upstream internal connections.
 * Here it does the same; the `shared` hand-off is not applied (warned).
 */
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ConnectionFilterExtension, ExtensionRegistry } from '../../sidecar/contracts/extension.ts';

/** Type name of the filter config (always inside a TypedStruct). */
export const ISTIO_AUTHN_TYPE = 'io.istio.network.authn.Config';
/** Filter-state keys Istio uses. */
export const PEER_PRINCIPAL_KEY = 'io.istio.peer_principal';
export const LOCAL_PRINCIPAL_KEY = 'io.istio.local_principal';

/** The validated config. */
export interface IstioAuthnConfig {
  readonly shared: boolean;
}

/** Registers istio_authn. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ConnectionFilterExtension<IstioAuthnConfig> = {
    category: 'envoy.filters.network',
    names: ['istio_authn'],
    typeNames: [ISTIO_AUTHN_TYPE],
    parse(cfg, ctx): ParseResult<IstioAuthnConfig> {
      for (const k of Object.keys(cfg)) {
        if (k !== 'shared' && k !== '@type') return { ok: false, errors: [new ConfigError(`${ctx.path}.${k}`, 'unknown field of io.istio.network.authn.Config')] };
      }
      if (cfg['shared'] !== undefined && typeof cfg['shared'] !== 'boolean') return { ok: false, errors: [new ConfigError(`${ctx.path}.shared`, 'must be a boolean')] };
      const shared = cfg['shared'] === true;
      if (shared) ctx.warn(new ConfigError(`${ctx.path}.shared`, 'the principals stay in the downstream connection\'s filter state (no upstream internal connections here)'));
      return { ok: true, config: Object.freeze({ shared }) };
    },
    createConnectionFilter() {
      return {
        onNewConnection(_socket, conn) {
          const peer = conn.tls?.peer?.uriSans.find((s) => s.startsWith('spiffe://'));
          if (peer) {
            conn.filterState.set(PEER_PRINCIPAL_KEY, peer.slice('spiffe://'.length));
            const local = conn.tls?.local?.uriSans.find((s) => s.startsWith('spiffe://'));
            if (local) conn.filterState.set(LOCAL_PRINCIPAL_KEY, local.slice('spiffe://'.length));
          }
          return 'continue';
        },
      };
    },
  };
  registry.register(ext);
}
