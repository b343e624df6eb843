/**
 * envoy.filters.listener.tls_inspector: detects TLS from the ClientHello
 * and records the SNI and ALPN offers for filter_chain_match
 * (server_names, transport_protocol `tls`, application_protocols), without
 * terminating TLS. Anything that is not a TLS handshake is `raw_buffer`; a
 * broken ClientHello closes the connection (Envoy counts it as
 * tls_inspector.client_hello_too_large / read_error).
 */
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { InspectedFacts, InspectVerdict, ListenerFilterExtension, ListenerInspector } from '../../sidecar/contracts/listener-filter.ts';
import { readClientHello } from './client-hello.ts';

/** The inspector: stateless, one shared instance. */
export const TLS_INSPECTOR: ListenerInspector = Object.freeze({
  needsData: true,
  inspect(peeked: Buffer, facts: InspectedFacts): InspectVerdict {
    const r = readClientHello(peeked);
    switch (r.kind) {
      case 'need-more': return 'need-more';
      case 'not-tls': return 'done';
      case 'malformed': return { reject: `tls_inspector: ${r.reason}` };
      case 'tls':
        facts.transportProtocol = 'tls';
        if (r.serverName) facts.serverName = r.serverName;
        facts.applicationProtocols = [...r.alpn];
        return 'done';
    }
  },
});

/** Registers tls_inspector. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ListenerFilterExtension<null> = {
    category: 'envoy.filters.listener',
    names: ['envoy.filters.listener.tls_inspector', 'envoy.listener.tls_inspector'],
    typeNames: ['envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector'],
    parse: () => ({ ok: true, config: null }),
    createInspector: () => TLS_INSPECTOR,
  };
  registry.register(ext);
}
