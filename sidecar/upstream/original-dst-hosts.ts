/**
 * The hosts of an ORIGINAL_DST cluster (Envoy's OriginalDstCluster and its load balancer): the
 * upstream is where the downstream connection was going. With original_dst_lb_config
 * use_http_header, the request's `x-envoy-original-dst-host` (or http_header_name) names it as
 * `ip:port` (an IP literal; only the first value counts; an invalid value is counted in
 * original_dst_host_invalid and ignored); otherwise it is the downstream connection's local
 * address. upstream_port_override replaces the port. Hosts are created on first use and removed
 * by a sweep every cleanup_interval when unused since the previous sweep.
 *
 * Node.js cannot read SO_ORIGINAL_DST, so the local address of a connection is the address of
 * the listener that accepted it (after an iptables REDIRECT too): connecting there would send
 * the request back to this sidecar, again and again. A destination equal to the downstream
 * connection's own local address (or a wildcard address on its port) is therefore refused (no
 * host: 503 UH), with a warning at most every 10 s, never forwarded.
 */

import net from 'node:net';
import type { OriginalDstConfig } from '../contracts/snapshot.ts';
import type { Counter, StatsScope } from '../contracts/stats.ts';
import { UpstreamHost } from './host.ts';

/** Where a downstream connection arrived (ConnectionInfo's local side). */
export interface DownstreamLocal {
  readonly localAddress: string;
  readonly localPort: number;
}

/** Logger for the loop refusal. */
export interface OriginalDstLog {
  warn(fields: object, msg: string): void;
}

const LOOP_LOG_INTERVAL_MS = 10_000;

/** `1.2.3.4:80` or `[::1]:80` -> host and port; undefined when not an IP literal with a port. */
export function parseIpPort(v: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string;
  if (v.startsWith('[')) {
    const end = v.indexOf(']:');
    if (end < 0) return undefined;
    host = v.slice(1, end);
    portText = v.slice(end + 2);
    if (!net.isIPv6(host)) return undefined;
  } else {
    const colon = v.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = v.slice(0, colon);
    portText = v.slice(colon + 1);
    if (!net.isIPv4(host)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** `::ffff:10.0.0.1` (an IPv4 address on a dual-stack socket) -> `10.0.0.1`. */
function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** True when connecting to `host:port` would reach the listener `local` arrived on. */
export function isOwnListener(host: string, port: number, local: DownstreamLocal): boolean {
  if (port !== local.localPort) return false;
  const h = plainIp(host);
  return h === plainIp(local.localAddress) || h === '0.0.0.0' || h === '::';
}

/** The on-demand hosts of one ORIGINAL_DST cluster. */
export class OriginalDstHosts {
  readonly #hosts = new Map<string, UpstreamHost>();
  readonly #config: OriginalDstConfig;
  readonly #cluster: string;
  readonly #log: OriginalDstLog;
  readonly #invalid: Counter;
  readonly #onChange: (hosts: UpstreamHost[], removed: readonly UpstreamHost[]) => void;
  readonly #timer: NodeJS.Timeout;
  #lastLoopLog = -Infinity;

  constructor(cluster: string, config: OriginalDstConfig, scope: StatsScope, log: OriginalDstLog, onChange: (hosts: UpstreamHost[], removed: readonly UpstreamHost[]) => void) {
    this.#cluster = cluster;
    this.#config = config;
    this.#log = log;
    this.#invalid = scope.counter('original_dst_host_invalid');
    this.#onChange = onChange;
    this.#timer = setInterval(() => this.cleanup(), config.cleanupIntervalMs);
    this.#timer.unref();
  }

  /** The header that names the destination, when use_http_header is set. */
  get headerName(): string | undefined {
    return this.#config.useHttpHeader ? this.#config.headerName : undefined;
  }

  /**
   * The host for a request: from the header value (when use_http_header), else the downstream
   * local address; undefined when that would loop back to this listener.
   */
  choose(headerValue: string | undefined, downstream: DownstreamLocal): UpstreamHost | undefined {
    let target: { host: string; port: number } | undefined;
    if (this.#config.useHttpHeader && headerValue !== undefined) {
      target = parseIpPort(headerValue);
      if (!target) this.#invalid.inc();
    }
    target ??= { host: plainIp(downstream.localAddress), port: downstream.localPort };
    if (this.#config.portOverride !== undefined) target.port = this.#config.portOverride;
    if (isOwnListener(target.host, target.port, downstream)) {
      const now = performance.now();
      if (now - this.#lastLoopLog >= LOOP_LOG_INTERVAL_MS) {
        this.#lastLoopLog = now;
        this.#log.warn({ cluster: this.#cluster, destination: `${target.host}:${target.port}`, header: this.headerName },
          'ORIGINAL_DST: the original destination is this listener\'s own address (Node.js cannot read SO_ORIGINAL_DST); refusing to forward to ourselves (503)');
      }
      return undefined;
    }
    const key = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    let host = this.#hosts.get(key);
    if (!host) {
      host = new UpstreamHost({ kind: 'tcp', host: target.host, port: target.port }, 1);
      this.#hosts.set(key, host);
      this.#onChange([...this.#hosts.values()], []);
    }
    host.used = true;
    return host;
  }

  /** One sweep: hosts unused since the previous sweep (and idle) are removed. */
  cleanup(): void {
    const removed: UpstreamHost[] = [];
    for (const [key, h] of this.#hosts) {
      if (h.used || h.activeRequests > 0) h.used = false;
      else {
        this.#hosts.delete(key);
        removed.push(h);
      }
    }
    if (removed.length) this.#onChange([...this.#hosts.values()], removed);
  }

  /** Stops the sweeps. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
