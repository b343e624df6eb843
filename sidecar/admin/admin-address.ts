/**
 * Addresses as the admin API prints them: Envoy's `Address::asString()`
 * (`10.0.0.1:80`, `[::1]:80`, a pipe's path) and the envoy.config.core.v3
 * Address JSON (`{"socket_address":{"address","port_value"}}` or
 * `{"pipe":{"path"}}`).
 */

import { isIPv6 } from 'node:net';

/** `host:port`, IPv6 in brackets. */
export function addressString(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/** envoy.config.core.v3.Address JSON of an IP and port (port 0 omitted, as proto3 JSON does). */
export function socketAddressJson(address: string, port: number): Record<string, unknown> {
  return { socket_address: port === 0 ? { address } : { address, port_value: port } };
}

/** A listener's address split for printing. */
export interface ListenerAddress {
  /** As Envoy's `asString()`, with the bound port. */
  readonly text: string;
  /** envoy.config.core.v3.Address JSON. */
  readonly json: Record<string, unknown>;
}

/**
 * Parses a ListenerView address (`127.0.0.1:10000`, `[::1]:0`, `/tmp/sock`,
 * `@abstract`) and substitutes the actually bound port.
 */
export function listenerAddress(address: string, boundPort: number): ListenerAddress {
  if (address.startsWith('/') || address.startsWith('@')) return { text: address, json: { pipe: { path: address } } };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m === null) return { text: address, json: { pipe: { path: address } } };
  const host = m[1]!;
  const port = boundPort > 0 ? boundPort : Number(m[2]);
  return { text: addressString(host, port), json: socketAddressJson(host, port) };
}
