/**
 * `istio.metadata_exchange` (envoy.tcp.metadataexchange.config.MetadataExchange),
 * the network filter istiod puts before tcp_proxy and the HCM on inbound
 * chains. In Envoy it acts only when TLS negotiated its ALPN `protocol`
 * (`istio-peer-exchange`): both sides then write an in-band header (magic
 * 0x3D230467, a length, a google.protobuf.Any with the node's metadata)
 * before the application bytes, and read and strip the peer's. On every
 * other connection it passes the bytes through untouched.
 *
 * Here: on connections without that ALPN (every plaintext connection, and
 * TLS connections that negotiated h2, http/1.1 or istio) it passes through,
 * as Envoy does, and counts `alpn_protocol_not_found`. A connection that
 * negotiated the exchange protocol is closed (counted as
 * `alpn_protocol_found` and `exchange_not_implemented`): the in-band header
 * is not implemented yet, and passing it through would corrupt the
 * application's byte stream. Stats under `metadata_exchange.` as Istio's.
 */
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ConnectionFilterExtension, ExtensionRegistry } from '../../sidecar/contracts/extension.ts';

/** Type name of the filter config. */
export const METADATA_EXCHANGE_TYPE = 'envoy.tcp.metadataexchange.config.MetadataExchange';

/** The validated config. */
export interface MetadataExchangeConfig {
  /** The ALPN that turns the in-band exchange on (`istio-peer-exchange`). */
  readonly protocol: string;
}

/** Parses a MetadataExchange (also from a TypedStruct, where enable_discovery and additional_labels may appear). */
export function parseMetadataExchange(cfg: Record<string, unknown>, path: string): MetadataExchangeConfig {
  for (const k of Object.keys(cfg)) {
    if (!['@type', 'protocol', 'enable_discovery', 'additional_labels'].includes(k)) throw new ConfigError(`${path}.${k}`, 'unknown field of MetadataExchange');
  }
  const protocol = cfg['protocol'] === undefined ? '' : cfg['protocol'];
  if (typeof protocol !== 'string') throw new ConfigError(`${path}.protocol`, 'must be a string');
  return Object.freeze({ protocol });
}

/** Registers istio.metadata_exchange (envoy.filters.network.metadata_exchange). */
export function setup(registry: ExtensionRegistry): void {
  const ext: ConnectionFilterExtension<MetadataExchangeConfig> = {
    category: 'envoy.filters.network',
    names: ['istio.metadata_exchange', 'envoy.filters.network.metadata_exchange'],
    typeNames: [METADATA_EXCHANGE_TYPE],
    parse(cfg, ctx): ParseResult<MetadataExchangeConfig> {
      try {
        const config = parseMetadataExchange(cfg, ctx.path);
        if (config.protocol) {
          ctx.warn(new ConfigError(`${ctx.path}.protocol`, `connections that negotiate ALPN '${config.protocol}' are closed: the in-band peer metadata exchange is not implemented (other connections pass through, as in Envoy)`));
        }
        return { ok: true, config };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createConnectionFilter(config, rt) {
      const s = rt.stats.scope('metadata_exchange');
      const found = s.counter('alpn_protocol_found');
      const notFound = s.counter('alpn_protocol_not_found');
      const refused = s.counter('exchange_not_implemented');
      return {
        onNewConnection(_socket, conn) {
          if (!config.protocol || conn.tls?.alpn !== config.protocol) {
            notFound.inc();
            return 'continue';
          }
          found.inc();
          refused.inc();
          return { close: `ALPN '${config.protocol}' negotiated: the in-band metadata exchange is not implemented` };
        },
      };
    },
  };
  registry.register(ext);
}
