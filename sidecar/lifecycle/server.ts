/**
 * The server: composes stats, the cluster manager, the listener manager and
 * the admin API around one config snapshot, and owns the lifecycle Envoy
 * has: PRE_INITIALIZING -> INITIALIZING (clusters warm: DNS, first health
 * checks; the initial xDS fetch: CDS/EDS, LDS/RDS, SDS, ECDS, each bounded
 * by its initial_fetch_timeout) -> LIVE -> DRAINING (listeners stop
 * accepting, HTTP/1.1 answers with Connection: close, HTTP/2 gets GOAWAY,
 * in-flight requests finish) -> exit after --drain-time-s or when no
 * connection is left.
 *
 * Listeners are bound during INITIALIZING (a bind failure fails start-up)
 * but hold the connections they accept until the server goes LIVE, when
 * the listener manager "starts its workers" and serves them: as in Envoy,
 * no connection is served with half of the configuration (a static route
 * to a cluster that comes over CDS would answer 503 NC). Admin answers
 * throughout (/ready: 503 until LIVE).
 */
import { ConfigError, ConfigErrors, InvariantError } from '../contracts/errors.ts';
import type { ExtensionRegistry } from '../contracts/extension.ts';
import type { Gauge } from '../contracts/stats.ts';
import type { ClusterView, DynamicResourceView, DynamicRouteView, ListenerView, SecretsView, ServerState, ServerView } from '../admin/server-view.ts';
import { startAdmin } from '../admin/admin-server.ts';
import { createAccessLogger, type AccessLoggerConfig } from '../access-log/extension.ts';
import { AccessLogManager } from '../access-log/sinks.ts';
import { ListenerManager } from '../listener/listener-manager.ts';
import { StatsStore } from '../stats/store.ts';
import { TagProducer } from '../stats/tag-extraction.ts';
import { ClusterManager } from '../upstream/cluster-manager.ts';
import type { BootstrapSnapshot } from '../../xds/translate/bootstrap.ts';
import { XdsManager, type RouteTableParser } from '../../xds/subscription/xds-manager.ts';
import { addressString } from '../../xds/translate/address.ts';
import type { LogRegistry } from './log.ts';
import { SecretStore } from '../secrets/secret-store.ts';
import { checkSecretMaterial } from '../secrets/secret-check.ts';
import { SdsManager } from '../../xds/subscription/sds-manager.ts';
import { sdsRefsOfClusters, sdsRefsOfListeners } from '../../xds/subscription/sds-refs.ts';
import { EcdsManager, ecdsRefsOfListeners } from '../../xds/subscription/ecds-manager.ts';

/** How the server was started. */
export interface ServerOptions {
  readonly snapshot: BootstrapSnapshot;
  readonly registry: ExtensionRegistry;
  readonly logs: LogRegistry;
  readonly drainTimeS: number;
  readonly drainStrategy: 'gradual' | 'immediate';
  readonly version: string;
  readonly commandLineOptions: Readonly<Record<string, unknown>>;
  readonly concurrency: number;
  /** Builds RDS route tables (protocols owns routes; main injects it). */
  readonly xdsRouteParser?: RouteTableParser;
}

const STATE_VALUE: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

/** One sidecar process's server. */
export class Server implements ServerView {
  readonly stats: StatsStore;
  readonly startedAt = new Date();
  readonly version: string;
  readonly bootstrap: Readonly<Record<string, unknown>>;
  readonly commandLineOptions: Readonly<Record<string, unknown>>;
  readonly node: { readonly id: string; readonly cluster: string };
  healthCheckFailed = false;
  private currentState: ServerState = 'PRE_INITIALIZING';
  private readonly opts: ServerOptions;
  private readonly clustersMgr: ClusterManager;
  private readonly listenersMgr: ListenerManager;
  private readonly accessLogs: AccessLogManager;
  private xds: XdsManager | undefined;
  /** RDS route tables by route configuration name (filled by the xDS client). */
  readonly routeTables = new Map<string, unknown>();
  /** TLS secrets by name (static_resources.secrets and SDS). */
  readonly secrets = new SecretStore();
  /** SDS subscriptions (over ADS or SDS streams) filling `secrets`. */
  private readonly sds: SdsManager;
  /** ECDS subscriptions (over ADS): the configs of config_discovery filters. */
  private readonly ecds: EcdsManager;
  private admin: { port: number; close(): Promise<void> } | undefined;
  private readonly stateGauge: Gauge;
  private readonly liveGauge: Gauge;
  private readonly uptimeGauge: Gauge;
  private readonly memAllocated: Gauge;
  private readonly memHeap: Gauge;
  private readonly memPhysical: Gauge;
  private ticker: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private runtimeOverrides: Record<string, string> = {};
  private resolveExit!: (code: number) => void;
  /** Resolves with the exit code once the server has shut down. */
  readonly exited: Promise<number>;

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.version = opts.version;
    this.bootstrap = opts.snapshot.bootstrap;
    this.commandLineOptions = opts.commandLineOptions;
    this.node = { id: opts.snapshot.node.id, cluster: opts.snapshot.node.cluster };
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.stats = new StatsStore({
      tagProducer: new TagProducer({
        useAllDefaultTags: opts.snapshot.useAllDefaultTags,
        statsTags: opts.snapshot.statsTags.map((t) => ({ tagName: t.tagName, regex: t.regex, fixedValue: t.fixedValue })),
      }),
    });
    const s = this.stats.scope('server');
    this.stateGauge = s.gauge('state');
    this.liveGauge = s.gauge('live');
    this.uptimeGauge = s.gauge('uptime');
    this.memAllocated = s.gauge('memory_allocated');
    this.memHeap = s.gauge('memory_heap_size');
    this.memPhysical = s.gauge('memory_physical_size');
    s.gauge('concurrency').set(opts.concurrency);
    s.gauge('hot_restart_epoch').set(0);
    s.gauge('version').set(0);
    this.setState('PRE_INITIALIZING');
    const log = opts.logs.get('upstream');
    this.clustersMgr = new ClusterManager(this.stats, { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) }, { registry: opts.registry, secrets: this.secrets }, {
      // Clusters warm on their SDS secrets (the SDS manager is built below; used only once clusters apply).
      settled: (names) => this.sds.settled(names),
      whenSettled: (names) => this.sds.whenSettled(names),
    });
    const ecdsLog = opts.logs.get('config');
    this.ecds = new EcdsManager({
      registry: opts.registry,
      adsAvailable: opts.snapshot.xds?.ads !== undefined,
      stats: this.stats,
      log: { info: (o, m) => ecdsLog.info(o, m), warn: (o, m) => ecdsLog.warn(o, m) },
    });
    const conn = opts.logs.get('connection');
    this.accessLogs = new AccessLogManager(this.stats);
    this.listenersMgr = new ListenerManager(opts.registry, this.stats, {
      clusters: { cluster: (name) => this.clustersMgr.get(name) },
      accessLoggers: (cfg) => createAccessLogger(cfg as AccessLoggerConfig, this.accessLogs),
      routeConfigs: this.routeTables,
      secrets: this.secrets,
      extensionConfigs: this.ecds,
      log: { debug: (o, m) => conn.debug(o, m), info: (o, m) => conn.info(o, m), warn: (o, m) => conn.warn(o, m) },
    });
    const sdsLog = opts.logs.get('config');
    this.sds = new SdsManager({
      staticClusters: opts.snapshot.clusters,
      staticSecretNames: new Set(opts.snapshot.secrets.map((x) => x.name)),
      node: opts.snapshot.node,
      version: opts.version,
      parser: opts.registry.secretParser,
      adsAvailable: opts.snapshot.xds?.ads !== undefined,
      stats: this.stats,
      log: { info: (o, m) => sdsLog.info(o, m), warn: (o, m) => sdsLog.warn(o, m) },
      sink: {
        apply: (m) => {
          const refused = checkSecretMaterial(m);
          if (!refused) this.secrets.set(m);
          return refused;
        },
        remove: (name) => this.secrets.delete(name),
      },
    });
  }

  /**
   * The SDS secrets and ECDS configs the bootstrap's listeners and clusters
   * name, and why any of them cannot be served (what --mode validate also
   * reports). Changes nothing.
   */
  staticReferences(): { errors: string[]; staticRefs: ReturnType<typeof sdsRefsOfClusters>; staticEcds: ReturnType<typeof ecdsRefsOfListeners> } {
    const errors: string[] = [];
    const staticRefs = [...sdsRefsOfClusters(this.opts.snapshot.clusters, errors), ...sdsRefsOfListeners(this.opts.snapshot.listeners, errors)];
    errors.push(...this.sds.check(['static'], staticRefs));
    const staticEcds = ecdsRefsOfListeners(this.opts.snapshot.listeners);
    errors.push(...this.ecds.check(staticEcds));
    return { errors, staticRefs, staticEcds };
  }

  /** The current server state. */
  get state(): ServerState {
    return this.currentState;
  }

  /** The admin API's bound port (0 when none). */
  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  /** The listener manager (tests read bound ports from it). */
  get listenerManager(): ListenerManager {
    return this.listenersMgr;
  }

  private setState(s: ServerState): void {
    this.currentState = s;
    this.stateGauge.set(STATE_VALUE[s]);
    this.liveGauge.set(s === 'LIVE' ? 1 : 0);
  }

  /** Starts admin, warms clusters, binds listeners, goes LIVE. */
  async start(): Promise<void> {
    const log = this.opts.logs.get('main');
    for (const w of this.opts.snapshot.warnings) this.opts.logs.get('config').warn({ path: w.path }, `config accepted with a limitation: ${w.message}`);
    this.stats.scope('server').counter('config_warnings').inc(this.opts.snapshot.warnings.length);
    if (this.opts.snapshot.admin) {
      const adminLog = this.opts.logs.get('admin');
      const admin = await startAdmin(this, this.opts.snapshot.admin, { info: (o: object, m: string) => adminLog.info(o, m), warn: (o: object, m: string) => adminLog.warn(o, m) });
      this.admin = admin;
      log.info({ address: addressString(this.opts.snapshot.admin), port: admin.port }, 'admin address');
    }
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    this.tick();
    this.setState('INITIALIZING');
    const t0 = performance.now();
    for (const secret of this.opts.snapshot.secrets) this.secrets.set(secret);
    // SDS secrets the static listeners and clusters name: subscribed before they are built.
    const { errors: sdsErrors, staticRefs, staticEcds } = this.staticReferences();
    if (sdsErrors.length) throw new ConfigErrors(sdsErrors.map((e) => new ConfigError('static_resources', e)));
    this.sds.setRefs('static', staticRefs);
    this.ecds.setRefs('static', staticEcds);
    await this.clustersMgr.apply(this.opts.snapshot.clusters);
    const source = this.opts.snapshot.xds;
    if (source) {
      if (!this.opts.xdsRouteParser) throw new InvariantError('a bootstrap with dynamic_resources needs ServerOptions.xdsRouteParser');
      // Static listeners are bound now and hold what they accept until LIVE
      // (startWorkers below); LDS adds to them.
      await this.listenersMgr.start(this.opts.snapshot.listeners);
      const xlog = this.opts.logs.get('config');
      this.xds = new XdsManager({
        source,
        node: this.opts.snapshot.node,
        version: this.version,
        registry: this.opts.registry,
        staticClusters: this.opts.snapshot.clusters,
        staticListeners: this.opts.snapshot.listeners,
        parseRouteTable: this.opts.xdsRouteParser,
        stats: this.stats,
        log: { info: (o, m) => xlog.info(o, m), warn: (o, m) => xlog.warn(o, m) },
        sds: this.sds,
        ecds: this.ecds,
        sink: {
          applyClusters: (all) => this.clustersMgr.apply(all),
          applyEndpoints: (n, eps) => this.clustersMgr.applyEndpoints(n, eps),
          removeEndpoints: (n) => this.clustersMgr.removeEndpoints(n),
          // LDS counts listener_added/modified/removed when it accepts an update (warming listeners included), as Envoy does.
          applyListeners: async (all) => { await this.listenersMgr.apply(all, { drainTimeMs: this.opts.drainTimeS * 1000, countChanges: false }); },
          listenersAccepted: (changes) => this.listenersMgr.countAccepted(changes),
          listenersWarming: (n) => this.listenersMgr.setWarming(n),
          setRouteTable: (n, t) => (t === undefined ? this.routeTables.delete(n) : this.routeTables.set(n, t)),
        },
      });
      await this.xds.start();
    } else {
      await this.listenersMgr.start(this.opts.snapshot.listeners);
    }
    // Static listeners and clusters warm on their SDS secrets too (initial_fetch_timeout bounds it).
    await this.sds.whenSettled(staticRefs.map((r) => r.name));
    // Shut down while initializing: the listeners drained (and dropped what they held); stay DRAINING.
    if (this.currentState === 'DRAINING') return;
    this.stats.scope('server').histogram('initialization_time_ms').record(performance.now() - t0);
    const held = this.listenersMgr.heldConnections;
    this.listenersMgr.startWorkers();
    this.setState('LIVE');
    log.info({ listeners: this.listenersMgr.all().map((l) => `${l.config.name}@${l.port}`), heldConnections: held }, 'all dependencies initialized, workers started; server LIVE');
  }

  private tick(): void {
    const m = process.memoryUsage();
    this.uptimeGauge.set(Math.floor((Date.now() - this.startedAt.getTime()) / 1000));
    this.memAllocated.set(m.heapUsed + m.external);
    this.memHeap.set(m.heapTotal);
    this.memPhysical.set(m.rss);
    this.stats.scope('server').gauge('total_connections').set(this.listenersMgr?.activeConnections ?? 0);
  }

  /** ServerView: clusters for /clusters and /config_dump. */
  clusters(): readonly ClusterView[] {
    const dyn = this.xds?.dynamic.clusters;
    return this.clustersMgr.all().map((c) => ({
      name: c.config.name,
      versionInfo: dyn?.get(c.config.name)?.versionInfo,
      raw: c.config.raw,
      addedAt: c.addedAt,
      hosts: c.hosts.map((h) => ({
        address: h.address,
        port: h.port,
        weight: h.weight,
        healthy: h.healthy,
        failedActiveHealthCheck: h.failedActiveHealthCheck,
        activeRequests: h.activeRequests,
        stats: { rq_active: h.activeRequests },
      })),
    }));
  }

  /** ServerView: listeners for /listeners and /config_dump. */
  listeners(): readonly ListenerView[] {
    const dyn = this.xds?.dynamic.listeners;
    return this.listenersMgr.all().map((l) => ({
      name: l.config.name,
      versionInfo: dyn?.get(l.config.name)?.versionInfo,
      address: addressString(l.config.address),
      boundPort: l.port,
      raw: l.config.raw,
      addedAt: l.addedAt,
      routeConfigs: l.config.filterChains.flatMap((fc) => fc.filters).flatMap((f) => {
        const raw = (f.config as { routeConfig?: unknown; rawRouteConfig?: Record<string, unknown> }).rawRouteConfig;
        return raw ? [raw] : [];
      }),
      inbound: l.config.inbound,
    }));
  }

  /** ServerView: LDS listeners still warming. */
  warmingListeners(): readonly DynamicResourceView[] {
    return this.xds?.warmingListeners() ?? [];
  }

  /** ServerView: clusters warming on their TLS secrets. */
  warmingClusters(): readonly DynamicResourceView[] {
    const dyn = this.xds?.dynamic.clusters;
    return this.clustersMgr.warming().map((c) => ({ name: c.config.name, versionInfo: dyn?.get(c.config.name)?.versionInfo ?? '', lastUpdated: c.addedAt, raw: c.config.raw }));
  }

  /** ServerView: ECDS configs received. */
  ecdsConfigs(): readonly DynamicResourceView[] {
    return this.ecds.dump();
  }

  /** ServerView: RDS route configurations. */
  dynamicRouteConfigs(): readonly DynamicRouteView[] {
    return [...(this.xds?.dynamic.routes.values() ?? [])];
  }

  /** ServerView: static and SDS secrets for /config_dump (SecretsConfigDump). */
  secretsDump(): SecretsView {
    const raws = (this.opts.snapshot.bootstrap['static_resources'] as { secrets?: Array<Record<string, unknown>> } | undefined)?.secrets ?? [];
    const updated = new Map(this.secrets.entries().map((e) => [e.material.name, e.updated]));
    const dyn = this.sds.dump();
    return {
      static: raws.map((raw) => ({ name: String(raw['name'] ?? ''), lastUpdated: updated.get(String(raw['name'] ?? '')) ?? this.startedAt, raw })),
      dynamicActive: dyn.active.map((s) => ({ name: s.name, versionInfo: s.versionInfo, lastUpdated: s.lastUpdated, raw: s.raw ?? {} })),
      dynamicWarming: dyn.warming.map((s) => ({ name: s.name, versionInfo: s.versionInfo, lastUpdated: s.lastUpdated })),
    };
  }

  /** ServerView: accepted CDS/LDS versions. */
  xdsVersions(): { cds?: string; lds?: string } {
    if (!this.xds) return {};
    return { cds: this.xds.version('cds'), lds: this.xds.version('lds') };
  }

  /** ServerView: /drain_listeners. */
  drainListeners(opts: { inboundOnly: boolean; graceful: boolean }): void {
    if (opts.graceful) this.listenersMgr.drain(opts.inboundOnly);
    else this.listenersMgr.stopAccepting(opts.inboundOnly);
  }

  /**
   * Drains and exits: listeners stop accepting, connections are asked to
   * close, the process exits when none is left or after --drain-time-s.
   */
  shutdown(reason: string): void {
    if (this.currentState === 'DRAINING') return;
    const log = this.opts.logs.get('main');
    log.info({ reason, drainTimeS: this.opts.drainTimeS }, 'shutting down: draining listeners');
    this.setState('DRAINING');
    this.listenersMgr.drain(false);
    const deadline = Date.now() + this.opts.drainTimeS * 1000;
    const check = (): void => {
      if (this.listenersMgr.activeConnections === 0 || Date.now() >= deadline) {
        void this.finish();
        return;
      }
      this.drainTimer = setTimeout(check, 50);
    };
    check();
  }

  private async finish(): Promise<void> {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    if (this.ticker) clearInterval(this.ticker);
    this.xds?.close();
    this.sds.close();
    this.ecds.close();
    const left = this.listenersMgr.activeConnections;
    if (left) this.opts.logs.get('main').warn({ connections: left }, 'drain time over; closing remaining connections');
    this.listenersMgr.closeAll();
    await this.clustersMgr.drain().catch(() => undefined);
    this.clustersMgr.destroy();
    await this.admin?.close().catch(() => undefined);
    await this.accessLogs.close();
    this.opts.logs.get('main').info({}, 'exiting');
    this.resolveExit(0);
  }

  /** ServerView: /logging. */
  logLevels(): Readonly<Record<string, string>> {
    return this.opts.logs.levels();
  }

  /** ServerView: /logging?level= and ?component=level. */
  setLogLevel(component: string | undefined, level: string): boolean {
    return this.opts.logs.setLevel(component, level);
  }

  /** ServerView: /runtime. */
  runtime(): Readonly<Record<string, unknown>> {
    return { ...this.opts.snapshot.runtime, ...this.runtimeOverrides };
  }

  /** ServerView: /runtime_modify. */
  setRuntime(values: Readonly<Record<string, string>>): void {
    this.runtimeOverrides = { ...this.runtimeOverrides, ...values };
  }
}
