/**
 * envoy.transport_sockets.raw_buffer: the socket as it is. Registered for
 * both directions so a configured raw_buffer is recognised (and means "no
 * transport socket") rather than refused.
 */
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { TransportSocketExtension } from '../../sidecar/contracts/transport-socket.ts';

/** Registers raw_buffer downstream and upstream. */
export function setup(registry: ExtensionRegistry): void {
  for (const category of ['envoy.transport_sockets.downstream', 'envoy.transport_sockets.upstream'] as const) {
    const ext: TransportSocketExtension<null> = {
      category,
      names: ['envoy.transport_sockets.raw_buffer', 'raw_buffer'],
      typeNames: ['envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer'],
      parse: () => ({ ok: true, config: null }),
    };
    registry.register(ext);
  }
}
