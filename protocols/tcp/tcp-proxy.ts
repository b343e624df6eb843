/**
 * envoy.filters.network.tcp_proxy at run time: each accepted connection
 * (decrypted when its filter chain terminates TLS, or still encrypted for
 * TLS passthrough) is connected to a host of the configured cluster and the
 * bytes flow both ways with backpressure and half-close, until either side
 * closes, the idle timeout passes, or the connection reaches its maximum
 * duration. A failed connect is retried on another host up to
 * max_connect_attempts. Stats and access logs use Envoy's names and flags
 * (UH no healthy upstream, UF connect failure, NC no cluster).
 */
import type { Socket } from 'node:net';
import type { AccessLogEntry, AccessLogger } from '../../sidecar/contracts/access-log.ts';
import type { ConnectionHandler, DownstreamConnectionFacts, ExtensionRegistry, NetworkFilterExtension, NetworkFilterRuntime } from '../../sidecar/contracts/extension.ts';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ConnectionInfo } from '../../sidecar/contracts/http-filter.ts';
import type { Counter, Gauge } from '../../sidecar/contracts/stats.ts';
import type { Cluster } from '../../sidecar/upstream/cluster.ts';
import type { UpstreamHost } from '../../sidecar/upstream/host.ts';
import type { LogFilter } from '../http/access-log-filter.ts';
import { parseTcpProxy, TCP_PROXY_TYPE, type TcpProxyConfig } from './tcp-proxy-config.ts';

/** tcp.<stat_prefix>.* */
class TcpProxyStats {
  readonly cxTotal: Counter;
  readonly noRoute: Counter;
  readonly rxBytes: Counter;
  readonly txBytes: Counter;
  readonly idleTimeout: Counter;
  readonly maxDuration: Counter;
  readonly cxActive: Gauge;
  constructor(rt: NetworkFilterRuntime, prefix: string) {
    const s = rt.stats.scope(`tcp.${prefix}`);
    this.cxTotal = s.counter('downstream_cx_total');
    this.noRoute = s.counter('downstream_cx_no_route');
    this.rxBytes = s.counter('downstream_cx_rx_bytes_total');
    this.txBytes = s.counter('downstream_cx_tx_bytes_total');
    this.idleTimeout = s.counter('idle_timeout');
    this.maxDuration = s.counter('max_downstream_connection_duration');
    this.cxActive = s.gauge('downstream_cx_active');
  }
}

interface TcpAccessLog {
  readonly filter: LogFilter | undefined;
  readonly logger: AccessLogger;
}

/** The tcp_proxy handler of one filter chain. */
export class TcpProxy implements ConnectionHandler {
  private readonly config: TcpProxyConfig;
  private readonly rt: NetworkFilterRuntime;
  private readonly stats: TcpProxyStats;
  private readonly accessLogs: readonly TcpAccessLog[];
  private readonly sessions = new Set<TcpSession>();

  constructor(config: TcpProxyConfig, rt: NetworkFilterRuntime) {
    this.config = config;
    this.rt = rt;
    this.stats = new TcpProxyStats(rt, config.statPrefix);
    this.accessLogs = Object.freeze(config.accessLogs.map((a) => ({ filter: a.filter, logger: rt.accessLoggers(a.logger) })));
  }

  get activeConnections(): number {
    return this.sessions.size;
  }

  handle(socket: Socket, facts: DownstreamConnectionFacts): void {
    const session = new TcpSession(this, socket, facts);
    this.sessions.add(session);
    socket.once('close', () => this.sessions.delete(session));
    session.start();
  }

  /** A TCP stream cannot be asked to go away: it finishes or is closed at the end of the drain time. */
  drain(): void {}

  closeAll(): void {
    for (const s of this.sessions) s.close();
  }

  /** Internal: what sessions share. */
  get parts(): { config: TcpProxyConfig; rt: NetworkFilterRuntime; stats: TcpProxyStats; accessLogs: readonly TcpAccessLog[] } {
    return { config: this.config, rt: this.rt, stats: this.stats, accessLogs: this.accessLogs };
  }
}

/** One proxied connection. */
class TcpSession {
  private readonly owner: TcpProxy;
  private readonly ds: Socket;
  private readonly facts: DownstreamConnectionFacts;
  private us: Socket | undefined;
  private cluster: Cluster | undefined;
  private host: UpstreamHost | undefined;
  private attempts = 0;
  private flags = '';
  private readonly startedAt = performance.now();
  private readonly startEpoch = Date.now();
  private rx = 0;
  private tx = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(owner: TcpProxy, ds: Socket, facts: DownstreamConnectionFacts) {
    this.owner = owner;
    this.ds = ds;
    this.facts = facts;
  }

  start(): void {
    const { config, stats } = this.owner.parts;
    stats.cxTotal.inc();
    stats.cxActive.inc();
    this.ds.on('error', () => undefined);
    this.ds.once('close', () => this.close());
    if (config.maxDownstreamConnectionDurationMs > 0) {
      this.maxTimer = setTimeout(() => {
        stats.maxDuration.inc();
        this.close();
      }, config.maxDownstreamConnectionDurationMs);
    }
    this.connect();
  }

  private pickCluster(): Cluster | undefined {
    const { config, rt } = this.owner.parts;
    let name = config.clusters[0]!.name;
    if (config.clusters.length > 1) {
      let r = Math.random() * config.totalWeight;
      for (const c of config.clusters) {
        r -= c.weight;
        if (r < 0) { name = c.name; break; }
      }
    }
    return rt.clusters.cluster(name) as Cluster | undefined;
  }

  private connect(): void {
    if (this.closed) return;
    const { config, stats } = this.owner.parts;
    this.attempts++;
    const cluster = this.pickCluster();
    if (!cluster) {
      stats.noRoute.inc();
      this.fail('NC');
      return;
    }
    this.cluster = cluster;
    const host = cluster.chooseHost({});
    if (!host) {
      cluster.stats.cxNoneHealthy.inc();
      this.fail('UH');
      return;
    }
    this.host = host;
    cluster.stats.cxTotal.inc();
    const us = cluster.connect(host, (err) => {
      if (this.closed) {
        us.destroy();
        return;
      }
      if (err) {
        cluster.stats.cxConnectFail.inc();
        us.destroy();
        if (this.attempts < config.maxConnectAttempts) this.connect();
        else this.fail('UF');
        return;
      }
      this.connected(us, cluster);
    });
  }

  private connected(us: Socket, cluster: Cluster): void {
    const { config, stats } = this.owner.parts;
    this.us = us;
    cluster.stats.cxActive.inc();
    us.once('close', () => {
      cluster.stats.cxActive.dec();
      // Upstream gone: whatever it sent is flushed downstream first (pipe ends ds).
      if (!this.ds.writableEnded) this.ds.end();
    });
    us.on('error', () => undefined);
    if (config.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => {
        stats.idleTimeout.inc();
        this.close();
      }, config.idleTimeoutMs);
    }
    this.ds.on('data', (c: Buffer) => {
      this.rx += c.length;
      stats.rxBytes.inc(c.length);
      this.idleTimer?.refresh();
    });
    us.on('data', (c: Buffer) => {
      this.tx += c.length;
      stats.txBytes.inc(c.length);
      this.idleTimer?.refresh();
    });
    // pipe() keeps backpressure both ways and forwards half-close (end).
    this.ds.pipe(us);
    us.pipe(this.ds);
    this.ds.resume();
  }

  private fail(flag: string): void {
    this.flags = flag;
    this.close();
  }

  /** Closes both sides (once) and writes the access logs. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.ds.destroy();
    this.us?.destroy();
    this.owner.parts.stats.cxActive.dec();
    this.log();
  }

  private log(): void {
    const logs = this.owner.parts.accessLogs;
    if (logs.length === 0) return;
    const f = this.facts;
    const connection: ConnectionInfo = {
      remoteAddress: f.remoteAddress,
      remotePort: f.remotePort,
      localAddress: f.localAddress,
      localPort: f.localPort,
      scheme: f.tls ? 'https' : 'http',
      peerPrincipal: f.peerPrincipal,
      tls: f.tls,
    };
    const entry: AccessLogEntry = {
      startTime: this.startEpoch,
      durationMs: performance.now() - this.startedAt,
      responseDurationMs: undefined,
      requestHeaders: {},
      responseHeaders: undefined,
      responseTrailers: undefined,
      responseCode: 0,
      responseFlags: this.flags,
      responseCodeDetails: '',
      bytesReceived: this.rx,
      bytesSent: this.tx,
      protocol: '',
      connection,
      upstreamHost: this.host?.key,
      upstreamCluster: this.cluster?.config.name,
      upstreamTransportFailureReason: undefined,
      routeName: undefined,
      attemptCount: this.attempts,
    };
    for (const a of logs) {
      if (a.filter && !a.filter({ responseCode: 0, requestHeaders: {}, responseFlags: this.flags, durationMs: entry.durationMs })) continue;
      a.logger.log(entry);
    }
  }
}

/** Registers envoy.filters.network.tcp_proxy. */
export function setup(registry: ExtensionRegistry): void {
  const ext: NetworkFilterExtension<TcpProxyConfig> = {
    category: 'envoy.filters.network',
    names: ['envoy.filters.network.tcp_proxy', 'envoy.tcp_proxy'],
    typeNames: [TCP_PROXY_TYPE],
    parse(cfg, ctx) {
      try {
        return { ok: true, config: parseTcpProxy(cfg, ctx.path, registry, ctx) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createHandler: (config, rt) => new TcpProxy(config, rt),
  };
  registry.register(ext);
}
