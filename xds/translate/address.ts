/**
 * envoy.config.core.v3.Address -> SocketAddress.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { SocketAddress } from '../../sidecar/contracts/snapshot.ts';
import { int, msg, str, type Json } from './proto-values.ts';

/** Parses an Address (socket_address with port_value, or pipe). */
export function parseAddress(a: Json | undefined, path: string, opts: { allowNamedHost?: boolean } = {}): SocketAddress {
  if (!a) throw new ConfigError(path, 'address is required');
  const pipe = msg(a['pipe']);
  if (pipe) {
    const p = str(pipe['path']);
    if (!p) throw new ConfigError(`${path}.pipe.path`, 'pipe path is required');
    return Object.freeze({ kind: 'pipe', path: p, mode: pipe['mode'] !== undefined ? int(pipe['mode'], 0, `${path}.pipe.mode`) : undefined });
  }
  const sa = msg(a['socket_address']);
  if (sa) {
    if (sa['protocol'] === 'UDP') throw new ConfigError(`${path}.socket_address.protocol`, 'UDP listeners are not supported');
    if (sa['named_port'] !== undefined) throw new ConfigError(`${path}.socket_address.named_port`, 'named ports are not supported');
    if (sa['resolver_name'] !== undefined) throw new ConfigError(`${path}.socket_address.resolver_name`, 'custom resolvers are not supported');
    const host = str(sa['address']);
    if (!host) throw new ConfigError(`${path}.socket_address.address`, 'address is required');
    const port = int(sa['port_value'], 0, `${path}.socket_address.port_value`);
    if (port < 0 || port > 65535) throw new ConfigError(`${path}.socket_address.port_value`, `port ${port} out of range`);
    if (!opts.allowNamedHost && !isIp(host)) {
      throw new ConfigError(`${path}.socket_address.address`, `'${host}' is not an IP address (only STRICT_DNS/LOGICAL_DNS clusters resolve names)`);
    }
    return Object.freeze({ kind: 'tcp', host, port });
  }
  if (a['envoy_internal_address'] !== undefined) throw new ConfigError(`${path}.envoy_internal_address`, 'internal listeners are not supported');
  throw new ConfigError(path, 'one of socket_address, pipe is required');
}

/** True for an IPv4 or IPv6 literal. */
export function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(':') && /^[0-9a-fA-F:.]+$/.test(host));
}

/** Envoy's stat-name form of an address: `127.0.0.1_10000`, `[::1]_80`, pipe path. */
export function addressStatName(a: SocketAddress): string {
  if (a.kind === 'pipe') return a.path.replace(/[.:]/g, '_');
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${host}_${a.port}`;
}

/** `host:port` or the pipe path, for logs and /clusters. */
export function addressString(a: SocketAddress): string {
  if (a.kind === 'pipe') return a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
