/**
 * One upstream cluster at run time: its hosts (static, or resolved by DNS
 * for STRICT_DNS/LOGICAL_DNS and refreshed at dns_refresh_rate), the load
 * balancer over them, active health checking, and one connection pool per
 * host. Built from a frozen ClusterConfig; a config change builds a new
 * Cluster and drains the old one.
 */
import { lookup } from 'node:dns/promises';
import net, { type Socket } from 'node:net';
import type { LbContext, LoadBalancer } from '../contracts/load-balancer.ts';
import type { ExtensionRegistry } from '../contracts/extension.ts';
import type { ClusterConfig, EndpointConfig, LoadAssignmentEndpoints, LoadAssignmentPolicy, SocketAddress, TransportSocketConfig } from '../contracts/snapshot.ts';
import type { SecretProvider, TransportSocketExtension, UpstreamTransport } from '../contracts/transport-socket.ts';
import type { Counter, StatsScope } from '../contracts/stats.ts';
import { ClusterStats } from './cluster-stats.ts';
import { HealthChecker } from './health-checker.ts';
import { UpstreamHost } from './host.ts';
import { clusterLoadBalancerFactory } from './lb-factory.ts';
import { OriginalDstHosts } from './original-dst-hosts.ts';
import { LeanHttp1Pool } from './pool-http1-lean.ts';
import { Http2Pool } from './pool-http2.ts';
import type { ConnectionPool } from './upstream-request.ts';

/** Logger the cluster reports DNS and health changes to. */
export interface ClusterLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/** What a cluster needs to build its transport sockets (TLS). */
export interface ClusterTransportDeps {
  readonly registry: ExtensionRegistry;
  readonly secrets: SecretProvider;
}

/** Dials a host for a pool: returns the socket and calls `onReady` when bytes may flow. */
export type Dialer = (target: SocketAddress, onReady: () => void) => Socket;

/** A cluster at run time. */
export class Cluster {
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  private hostList: UpstreamHost[] = [];
  private lb: LoadBalancer;
  private readonly pools = new Map<string, ConnectionPool>();
  private healthCheckers: HealthChecker[] = [];
  private dnsTimer: NodeJS.Timeout | undefined;
  private readonly log: ClusterLog;
  private destroyed = false;
  /** When the cluster was added (for /config_dump last_updated). */
  readonly addedAt = new Date();
  /** The load assignment's policy (static load_assignment, or the last EDS assignment). */
  private policy: LoadAssignmentPolicy | undefined;
  private readonly dropOverload: Counter;
  /** ORIGINAL_DST: the hosts made on demand. */
  readonly originalDst: OriginalDstHosts | undefined;

  /** transport_socket_matches in order, with their transports. */
  private readonly matchTransports: ReadonlyArray<{ readonly match: Readonly<Record<string, string>>; readonly transport: UpstreamTransport | undefined }>;
  private readonly defaultTransport: UpstreamTransport | undefined;

  constructor(config: ClusterConfig, stats: StatsScope, log: ClusterLog, deps?: ClusterTransportDeps) {
    this.config = config;
    const scope = stats.scope(`cluster.${config.name}`);
    this.stats = new ClusterStats(scope);
    this.log = log;
    const build = (ts: TransportSocketConfig | undefined): UpstreamTransport | undefined => {
      if (!ts) return undefined;
      const ext = deps?.registry.byTypeName('envoy.transport_sockets.upstream', ts.typeName) as TransportSocketExtension | undefined;
      if (!ext?.createUpstream || !deps) throw new Error(`cluster '${config.name}': transport socket ${ts.typeName} cannot originate connections`);
      return ext.createUpstream(ts.config, { secrets: deps.secrets, stats: scope, log });
    };
    this.defaultTransport = build(config.transportSocket);
    this.matchTransports = config.transportSocketMatches.map((m) => ({ match: m.match, transport: build(m.transportSocket) }));
    this.policy = config.endpoints.policy;
    this.dropOverload = scope.counter('upstream_rq_drop_overload');
    if (config.type === 'STATIC') this.setHosts(config.endpoints.map((e) => hostOf(e, e.address)));
    this.originalDst = config.originalDst ? new OriginalDstHosts(config.name, config.originalDst, scope, log, (hosts, removed) => this.onOriginalDstHosts(hosts, removed)) : undefined;
    this.lb = this.buildLb();
  }

  /**
   * EDS: replaces the endpoints. Hosts whose address stays keep their
   * health-check state and in-flight counts; pools of removed hosts drain.
   */
  setEndpoints(endpoints: readonly EndpointConfig[]): void {
    const policy = (endpoints as LoadAssignmentEndpoints).policy;
    const policyChanged = policy?.overprovisioningFactor !== this.policy?.overprovisioningFactor;
    this.policy = policy;
    const old = new Map(this.hostList.map((h) => [h.key, h]));
    const next: UpstreamHost[] = [];
    for (const e of endpoints) {
      const fresh = hostOf(e, e.address);
      const prev = old.get(fresh.key);
      next.push(prev && prev.weight === fresh.weight && prev.configuredUnhealthy === fresh.configuredUnhealthy && samePlacement(prev, fresh) ? prev : fresh);
    }
    if (next.length === this.hostList.length && next.every((h, i) => h === this.hostList[i])) {
      if (policyChanged) this.lb = this.buildLb();
      return;
    }
    for (const [key, pool] of this.pools) if (!next.some((h) => h.key === key)) { void pool.drain(); this.pools.delete(key); }
    this.setHosts(next);
    this.lb = this.buildLb();
    if (this.healthCheckers.length) {
      for (const h of this.healthCheckers) h.stop();
      void this.startHealthChecks();
    }
  }

  /** Hosts currently in the cluster. */
  get hosts(): readonly UpstreamHost[] {
    return this.hostList;
  }

  /** Resolves DNS and runs the first health-check round (Envoy's cluster warming). */
  async initialize(): Promise<void> {
    if (this.config.type === 'STRICT_DNS' || this.config.type === 'LOGICAL_DNS') {
      await this.resolve();
      this.scheduleDns();
    }
    await this.startHealthChecks();
  }

  /** Picks a host, or undefined when there is none (UH). */
  chooseHost(ctx: LbContext): UpstreamHost | undefined {
    return this.lb.chooseHost(ctx) as UpstreamHost | undefined;
  }

  /**
   * ClusterLoadAssignment drop_overloads (Envoy's router checkDropOverload): true when the
   * request is to be dropped with a 503 (DO), counted in upstream_rq_drop_overload. `random`
   * draws in [0, 1), only when a drop_overloads category is set.
   */
  shouldDrop(random: () => number = Math.random): boolean {
    const d = this.policy?.dropOverload;
    if (d === undefined || !(random() < d.ratio)) return false;
    this.dropOverload.inc();
    return true;
  }

  /**
   * The transport socket of a host: the first transport_socket_matches entry
   * whose criteria the endpoint's `envoy.transport_socket_match` metadata
   * satisfies (an empty match takes any endpoint), else the cluster's
   * transport_socket; undefined is plain TCP.
   */
  transportFor(host: UpstreamHost): UpstreamTransport | undefined {
    for (const m of this.matchTransports) {
      const meta = host.transportMatch ?? {};
      if (Object.entries(m.match).every(([k, v]) => meta[k] === v)) return m.transport;
    }
    return this.defaultTransport;
  }

  /** A dialer through the host's transport socket, or undefined for plain TCP. */
  private dialer(host: UpstreamHost, alpn: readonly string[]): Dialer | undefined {
    const t = this.transportFor(host);
    if (!t) return undefined;
    return (target, onReady) => t.connect(target.kind === 'pipe' ? { path: target.path } : { host: target.host, port: target.port }, alpn, (err) => {
      if (!err) onReady();
    });
  }

  /** The connection pool of a host (created on first use). */
  pool(host: UpstreamHost): ConnectionPool {
    let p = this.pools.get(host.key);
    if (!p) {
      const stats = { cxTotal: this.stats.cxTotal, cxActive: this.stats.cxActive, cxConnectFail: this.stats.cxConnectFail };
      const c = this.config;
      p = c.protocol === 'http2'
        ? new Http2Pool(host.socket, { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, stats, dial: this.dialer(host, ['h2']) })
        : new LeanHttp1Pool(host.socket, { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxRequestsPerConnection: c.maxRequestsPerConnection, stats, dial: this.dialer(host, ['http/1.1']) });
      this.pools.set(host.key, p);
    }
    return p;
  }

  /**
   * Opens a connection to a host for a byte stream (tcp_proxy), bounded by
   * connect_timeout. `done` is called once: without an error when the
   * socket is ready for bytes.
   */
  connect(host: UpstreamHost, done: (err?: string) => void): Socket {
    const t = host.socket;
    const transport = this.transportFor(host);
    let settled = false;
    if (transport) {
      const s = transport.connect(t.kind === 'pipe' ? { path: t.path } : { host: t.host, port: t.port }, [], (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(tlsTimer);
        done(err);
      });
      const tlsTimer = setTimeout(() => {
        if (settled) return;
        settled = true;
        s.destroy();
        done('connect timeout');
      }, this.config.connectTimeoutMs);
      return s;
    }
    const s = t.kind === 'pipe' ? net.connect({ path: t.path }) : net.connect({ host: t.host, port: t.port, noDelay: true });
    const finish = (err?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.removeListener('error', onError);
      done(err);
    };
    const onError = (e: Error): void => finish(e.message);
    const timer = setTimeout(() => finish('connect timeout'), this.config.connectTimeoutMs);
    s.once('connect', () => finish());
    s.once('error', onError);
    return s;
  }

  /** Secret names its transport sockets need (the cluster warms until they settle). */
  get secretNames(): string[] {
    const names = [...(this.defaultTransport?.secretNames ?? [])];
    for (const m of this.matchTransports) names.push(...(m.transport?.secretNames ?? []));
    return [...new Set(names)];
  }

  /** Stops timers and lets pools finish in-flight requests, then closes them. */
  async drain(): Promise<void> {
    this.stopBackground();
    await Promise.allSettled([...this.pools.values()].map((p) => p.drain()));
    this.closeTransports();
  }

  /** Releases the transports' secret watches. */
  private closeTransports(): void {
    this.defaultTransport?.close();
    for (const m of this.matchTransports) m.transport?.close();
  }

  /** Closes everything now. */
  destroy(): void {
    this.stopBackground();
    for (const p of this.pools.values()) p.destroy();
    this.closeTransports();
  }

  private stopBackground(): void {
    this.destroyed = true;
    this.originalDst?.stop();
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    for (const h of this.healthCheckers) h.stop();
  }

  private buildLb(): LoadBalancer {
    const shape = { overprovisioningFactor: this.policy?.overprovisioningFactor, localityWeighted: this.config.localityWeightedLb };
    return clusterLoadBalancerFactory(this.config.lbPolicy, this.config.lbOptions, shape)(this.hostList, Math.random, undefined, this.stats);
  }

  /** ORIGINAL_DST hosts changed: membership follows; pools of removed hosts drain. */
  private onOriginalDstHosts(hosts: UpstreamHost[], removed: readonly UpstreamHost[]): void {
    for (const h of removed) {
      const pool = this.pools.get(h.key);
      if (pool) { void pool.drain(); this.pools.delete(h.key); }
    }
    this.setHosts(hosts);
  }

  private setHosts(hosts: UpstreamHost[]): void {
    this.hostList = hosts;
    this.stats.membershipTotal.set(hosts.length);
    this.updateHealthyGauge();
  }

  private updateHealthyGauge(): void {
    let n = 0;
    for (const h of this.hostList) if (h.healthy) n++;
    this.stats.membershipHealthy.set(n);
  }

  private async startHealthChecks(): Promise<void> {
    if (this.config.healthChecks.length === 0) return;
    for (const h of this.hostList) h.failedActiveHealthCheck = true;
    this.updateHealthyGauge();
    this.healthCheckers = this.config.healthChecks.map((hc) => new HealthChecker({
      config: hc,
      clusterName: this.config.name,
      hosts: this.hostList,
      stats: this.stats.scope,
      dial: (host, alpn, onReady) => this.dialer(host, alpn)?.(host.socket, onReady),
      onHostChange: (host) => {
        this.updateHealthyGauge();
        this.log.info({ cluster: this.config.name, host: host.key, healthy: host.healthy }, 'health check status changed');
      },
    }));
    await Promise.all(this.healthCheckers.map((h) => h.start()));
  }

  private scheduleDns(): void {
    if (this.destroyed) return;
    this.dnsTimer = setTimeout(() => {
      this.resolve().then(() => this.restartHealthChecksIfChanged()).finally(() => this.scheduleDns());
    }, this.config.dnsRefreshRateMs);
    this.dnsTimer.unref();
  }

  private changed = false;

  private async restartHealthChecksIfChanged(): Promise<void> {
    if (!this.changed || this.destroyed) return;
    this.changed = false;
    for (const h of this.healthCheckers) h.stop();
    await this.startHealthChecks();
  }

  /** One DNS round: every endpoint name resolved; hosts kept where unchanged. */
  private async resolve(): Promise<void> {
    const next: UpstreamHost[] = [];
    const old = new Map(this.hostList.map((h) => [h.key, h]));
    for (const ep of this.config.endpoints) {
      const a = ep.address;
      if (a.kind === 'pipe') {
        next.push(old.get(`unix://${a.path}`) ?? hostOf(ep, a));
        continue;
      }
      try {
        const family = this.config.dnsFamily;
        const results = await lookup(a.host, { all: true, ...(family ? { family } : {}) });
        const chosen = this.config.type === 'LOGICAL_DNS' ? results.slice(0, 1) : results;
        for (const r of chosen) {
          const sock: SocketAddress = { kind: 'tcp', host: r.address, port: a.port };
          const key = r.address.includes(':') ? `[${r.address}]:${a.port}` : `${r.address}:${a.port}`;
          if (!next.some((h) => h.key === key)) next.push(old.get(key) ?? hostOf(ep, sock, a.host));
        }
      } catch (e) {
        this.log.warn({ cluster: this.config.name, host: a.host, err: (e as Error).message }, 'DNS resolution failed; keeping previous hosts');
        for (const h of this.hostList) if (h.hostname === a.host && !next.includes(h)) next.push(h);
      }
    }
    const same = next.length === this.hostList.length && next.every((h, i) => h === this.hostList[i]);
    if (same) return;
    this.changed = true;
    for (const [key, pool] of this.pools) if (!next.some((h) => h.key === key)) { void pool.drain(); this.pools.delete(key); }
    this.setHosts(next);
    this.lb = this.buildLb();
  }
}

/** A host for an endpoint (at `socket`, resolved from `hostname` for DNS clusters). */
function hostOf(e: EndpointConfig, socket: SocketAddress, hostname?: string): UpstreamHost {
  return new UpstreamHost(socket, e.weight, hostname, !e.healthy, e.transportSocketMatch, { priority: e.priority, locality: e.locality, localityWeight: e.localityWeight });
}

/** Same priority, locality and locality weight. */
function samePlacement(a: UpstreamHost, b: UpstreamHost): boolean {
  return a.priority === b.priority && a.locality === b.locality && a.localityWeight === b.localityWeight;
}
