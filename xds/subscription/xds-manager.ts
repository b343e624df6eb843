/**
 * Dynamic configuration over ADS or watched files (see resource-source.ts):
 * subscribes to clusters and listeners
 * (wildcard), then to the endpoints (EDS) and route configurations (RDS)
 * they name; validates every update completely with the same translators as
 * the bootstrap (any error is a NACK naming the resource, and nothing
 * changes); hands accepted config to the sidecar through a ConfigSink.
 * Initial fetch: ready once CDS, EDS for its clusters, LDS and RDS for its
 * listeners have all arrived (or initial_fetch_timeout elapsed, when set).
 *
 * Listener warming is per listener (lds-listeners.ts), as Envoy's
 * ListenerManagerImpl keeps its warming list: each new or changed listener
 * of an accepted LDS update waits on its own for what it needs and becomes
 * active as soon as that is ready; the others apply with the update, and
 * the listeners it leaves out are removed at once. The update is ACKed once
 * accepted, before anything warms. Warming listeners are shown in
 * /config_dump (DynamicListener.warming_state) and counted in
 * listener_manager.total_listeners_warming.
 *
 * What a listener waits for:
 * - SDS (sds-manager.ts): the secrets the TLS contexts of dynamic
 *   listeners and clusters name are subscribed (over ADS for `{ ads: {} }`,
 *   or on SDS streams), and an unreachable source is a NACK; a listener
 *   waits until its secrets settle (arrive, are rejected, or time out). The
 *   initial fetch waits for the clusters' secrets too.
 * - ECDS (ecds-manager.ts): the TypedExtensionConfigs that config_discovery
 *   filters name are subscribed over ADS; a listener naming one not yet
 *   received waits for it (unless its default_config applies without
 *   warming).
 * - RDS: the route configurations its HCMs name that have not been received
 *   (subscribed at once); it waits until they arrive or their rds
 *   config_source initial_fetch_timeout passes (default 15 s, 0 = forever).
 * An EDS cluster warms in the cluster manager until its assignment arrives
 * (cluster-manager.ts). Warming completes asynchronously from the later
 * RDS/EDS/SDS/ECDS update: the source hands one update at a time.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { ClusterConfig, EndpointConfig, ListenerConfig, NodeConfig, XdsStreamSourceRef } from '../../sidecar/contracts/snapshot.ts';
import type { StatsScope } from '../../sidecar/contracts/stats.ts';
import type { TypeUpdate } from '../ads/ads-client.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from '../ads/discovery-messages.ts';
import type { ProtoJson } from '../proto/json.ts';
import { parseCluster, parseLoadAssignment } from '../translate/cluster.ts';
import { parseListener } from '../translate/listener.ts';
import type { XdsSourceConfig } from '../translate/bootstrap.ts';
import { createResourceSource, type ResourceSource } from './resource-source.ts';
import type { SdsManager } from './sds-manager.ts';
import { ecdsRefsOfListeners, EXTENSION_CONFIG, type EcdsManager, type EcdsRef } from './ecds-manager.ts';
import { sdsRefsOfClusters, sdsRefsOfListeners, type SdsRef } from './sds-refs.ts';
import { LdsListeners } from './lds-listeners.ts';
import { rdsRefsOf } from './rds-refs.ts';

/** Where accepted dynamic config goes (implemented by the server). */
export interface ConfigSink {
  /** Replaces the cluster set (static ones included); resolves when warm. */
  applyClusters(all: readonly ClusterConfig[]): Promise<void>;
  /** Sets the endpoints of a service name; may resolve once the clusters warming on it are active. */
  applyEndpoints(serviceName: string, endpoints: readonly EndpointConfig[]): void | Promise<void>;
  removeEndpoints(serviceName: string): void;
  /**
   * Replaces the active listener set (static ones included); rejects when a
   * listener cannot bind. Counts what it creates, not listener_added /
   * modified / removed (listenersAccepted counts those).
   */
  applyListeners(all: readonly ListenerConfig[]): Promise<void>;
  /** An LDS update was accepted: Envoy's listener_added / listener_modified / listener_removed, counted before warming. */
  listenersAccepted(changes: { readonly added: number; readonly modified: number; readonly removed: number }): void;
  /** How many listeners are warming (listener_manager.total_listeners_warming). */
  listenersWarming(count: number): void;
  /** Sets (or with undefined, removes) the route table of a route configuration name. */
  setRouteTable(name: string, table: unknown): void;
}

/** Parses one RouteConfiguration into the table the HCM uses (injected: protocols owns routes). */
export type RouteTableParser = (json: ProtoJson, path: string) => unknown;

/** Options of the manager. */
export interface XdsManagerOptions {
  readonly source: XdsSourceConfig;
  readonly node: NodeConfig;
  readonly version: string;
  readonly registry: ExtensionRegistry;
  readonly staticClusters: readonly ClusterConfig[];
  readonly staticListeners: readonly ListenerConfig[];
  readonly sink: ConfigSink;
  readonly parseRouteTable: RouteTableParser;
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** SDS subscriptions (the server's; static refs are already set on it). */
  readonly sds?: SdsManager;
  /** ECDS subscriptions (the server's; static refs are already set on it). */
  readonly ecds?: EcdsManager;
}

/** One accepted dynamic resource, for /config_dump. */
export interface DynamicResource {
  readonly name: string;
  readonly versionInfo: string;
  readonly lastUpdated: Date;
  readonly raw: ProtoJson;
}

/** The dynamic configuration of one process. */
export class XdsManager {
  private readonly opts: XdsManagerOptions;
  private readonly client: ResourceSource;
  private clusters: ClusterConfig[] = [];
  /** Dynamic listeners: active ones and the warming list. */
  private readonly lds: LdsListeners;
  /** RDS names whose initial_fetch_timeout passed before they arrived (the initial fetch stops waiting for them). */
  private readonly routesTimedOut = new Set<string>();
  private readonly edsNames = new Set<string>();
  private readonly rdsNames = new Set<string>();
  /** Non-aggregated gRPC sources of EDS/RDS names (`type\nname`; absent: ADS). */
  private readonly sources = new Map<string, XdsStreamSourceRef>();
  private readonly received = { cds: false, eds: new Set<string>(), rds: new Set<string>() };
  private readonly dumps = { clusters: new Map<string, DynamicResource>(), listeners: new Map<string, DynamicResource>(), routes: new Map<string, DynamicResource>(), endpoints: new Map<string, DynamicResource>() };
  private readyWaiters: Array<() => void> = [];
  private isReady = false;
  /** Secrets the dynamic clusters need (the initial fetch waits for them). */
  private clusterSecrets: string[] = [];
  /** Route configuration names that have a table now (arrived, not removed). */
  private readonly routesPresent = new Set<string>();

  /** Accepted-but-not-applied config in an update: logged and counted in server.config_warnings, as at start-up. */
  private readonly warn = (w: ConfigError): void => {
    this.opts.stats.scope('server').counter('config_warnings').inc();
    this.opts.log.warn({ path: w.path }, w.message);
  };

  constructor(opts: XdsManagerOptions) {
    this.opts = opts;
    this.client = createResourceSource({ source: opts.source, staticClusters: opts.staticClusters, node: opts.node, version: opts.version, stats: opts.stats, log: opts.log, onUpdate: (u) => this.onUpdate(u) });
    // EDS/RDS names that static config already needs.
    for (const c of opts.staticClusters) if (c.edsServiceName) { this.edsNames.add(c.edsServiceName); this.noteSource(ENDPOINT, c.edsServiceName, c.edsSource); }
    for (const l of opts.staticListeners) for (const r of rdsRefsOf(l)) { this.rdsNames.add(r.name); this.noteSource(ROUTE, r.name, r.source); }
    this.lds = new LdsListeners({
      staticListeners: opts.staticListeners,
      sink: opts.sink,
      ...(opts.sds ? { sds: opts.sds } : {}),
      ...(opts.ecds ? { ecds: opts.ecds } : {}),
      log: opts.log,
      dump: this.dumps.listeners,
      routePresent: (n) => this.routesPresent.has(n),
      onRouteTimeout: (n) => this.routesTimedOut.add(n),
      onChange: () => this.listenersChanged(),
    });
  }

  /** Accepted dynamic resources by kind, for /config_dump. */
  get dynamic(): { readonly clusters: ReadonlyMap<string, DynamicResource>; readonly listeners: ReadonlyMap<string, DynamicResource>; readonly routes: ReadonlyMap<string, DynamicResource>; readonly endpoints: ReadonlyMap<string, DynamicResource> } {
    return this.dumps;
  }

  /** Warming listeners (new ones, and new versions of active ones), for /config_dump. */
  warmingListeners(): DynamicResource[] {
    return this.lds.warmingDump();
  }

  /** The accepted version_info of CDS or LDS. */
  version(kind: 'cds' | 'lds'): string {
    return this.client.version(kind === 'cds' ? CLUSTER : LISTENER);
  }

  /** Connects and subscribes; resolves after the initial fetch (or its timeout). */
  async start(): Promise<void> {
    if (this.opts.source.cds) this.client.subscribe(CLUSTER, '*');
    if (this.edsNames.size) this.sub(ENDPOINT, [...this.edsNames]);
    if (this.opts.source.lds) this.client.subscribe(LISTENER, '*');
    if (this.rdsNames.size) this.sub(ROUTE, [...this.rdsNames]);
    if (this.opts.source.ads) this.opts.sds?.attachAds((names) => this.client.subscribe(SECRET, names));
    if (this.opts.source.ads) this.opts.ecds?.attachAds((names) => this.client.subscribe(EXTENSION_CONFIG, names));
    this.client.start();
    const ready = new Promise<void>((r) => this.readyWaiters.push(r));
    this.checkReady();
    const t = this.opts.source.initialFetchTimeoutMs;
    if (t > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ready, new Promise<void>((r) => { timer = setTimeout(() => { this.opts.log.warn({}, 'initial xDS fetch timed out; serving what arrived'); r(); }, t); })]);
      clearTimeout(timer);
    } else await ready;
    // From now on each listener becomes active as soon as it is warm (those warm already go now).
    this.lds.startWorkers();
  }

  /** Records where an EDS/RDS name comes from (undefined: ADS). */
  private noteSource(typeUrl: string, name: string, src: XdsStreamSourceRef | undefined): void {
    if (src && src.kind === 'grpc') this.sources.set(`${typeUrl}\n${name}`, src);
    else this.sources.delete(`${typeUrl}\n${name}`);
  }

  /** Subscribes EDS/RDS names, each on its source's stream. */
  private sub(typeUrl: string, names: readonly string[]): void {
    this.client.subscribe(typeUrl, names, (n) => this.sources.get(`${typeUrl}\n${n}`));
  }

  /** Closes the stream. */
  close(): void {
    this.client.close();
  }

  private checkReady(): void {
    if (this.isReady) return;
    const s = this.opts.source;
    if (s.cds && !this.received.cds) return;
    if (s.lds && !this.lds.initialized) return;
    for (const n of this.edsNames) if (!this.received.eds.has(n)) return;
    for (const n of this.rdsNames) if (!this.received.rds.has(n) && !this.routesTimedOut.has(n)) return;
    if (this.opts.sds && !this.opts.sds.settled(this.clusterSecrets)) return;
    if (this.opts.ecds && !this.opts.ecds.settled(this.opts.ecds.groupWarmingNames('static'))) return;
    this.isReady = true;
    for (const w of this.readyWaiters) w();
    this.readyWaiters = [];
  }

  private async onUpdate(u: TypeUpdate): Promise<string[]> {
    try {
      switch (u.typeUrl) {
        case CLUSTER: return await this.onClusters(u);
        case ENDPOINT: return this.onEndpoints(u);
        case LISTENER: return await this.onListeners(u);
        case ROUTE: return this.onRoutes(u);
        case SECRET: return this.opts.sds ? this.opts.sds.onUpdate(u, 'ads') : ['SDS is not configured'];
        case EXTENSION_CONFIG: return this.opts.ecds ? this.opts.ecds.onUpdate(u) : ['ECDS is not configured'];
        default: return [`unexpected resource type ${u.typeUrl}`];
      }
    } finally {
      this.checkReady();
    }
  }

  private record(map: Map<string, DynamicResource>, u: TypeUpdate): void {
    const now = new Date();
    for (const n of u.removed) map.delete(n);
    for (const n of u.changed) {
      const r = u.resources.get(n);
      if (r) map.set(n, { name: n, versionInfo: u.versionInfo || r.version, lastUpdated: now, raw: r.value });
    }
  }

  private async onClusters(u: TypeUpdate): Promise<string[]> {
    const errors: string[] = [];
    const parsed: ClusterConfig[] = [];
    const staticNames = new Set(this.opts.staticClusters.map((c) => c.name));
    for (const r of u.resources.values()) {
      if (staticNames.has(r.name)) { errors.push(`cluster '${r.name}': a static cluster has that name`); continue; }
      try {
        parsed.push(parseCluster(r.value, `cluster '${r.name}'`, this.warn, this.opts.registry));
      } catch (e) {
        if (e instanceof ConfigError) errors.push(e.message);
        else throw e;
      }
    }
    for (const c of parsed) {
      const why = c.edsSource ? this.client.checkSource(c.edsSource) : undefined;
      if (why) errors.push(`cluster '${c.name}': eds_cluster_config.eds_config: ${why}`);
    }
    const refs = this.sdsRefs('cds', parsed, errors);
    if (errors.length) return errors;
    // Subscribed before the clusters are built, so their TLS contexts find
    // the secrets as soon as they arrive.
    this.opts.sds?.setRefs('cds', refs);
    await this.opts.sink.applyClusters([...this.opts.staticClusters, ...parsed]);
    this.clusters = parsed;
    this.clusterSecrets = refs.map((r) => r.name);
    if (this.opts.sds && !this.opts.sds.settled(this.clusterSecrets)) void this.opts.sds.whenSettled(this.clusterSecrets).then(() => this.checkReady());
    this.record(this.dumps.clusters, u);
    this.received.cds = true;
    const eds = new Set<string>();
    for (const c of [...this.opts.staticClusters, ...parsed]) if (c.edsServiceName) { eds.add(c.edsServiceName); this.noteSource(ENDPOINT, c.edsServiceName, c.edsSource); }
    this.edsNames.clear();
    for (const n of eds) this.edsNames.add(n);
    this.sub(ENDPOINT, [...eds]);
    return [];
  }

  private onEndpoints(u: TypeUpdate): string[] {
    const errors: string[] = [];
    const parsed = new Map<string, EndpointConfig[]>();
    for (const n of u.changed) {
      const r = u.resources.get(n)!;
      try {
        parsed.set(n, parseLoadAssignment(r.value, `cluster_load_assignment '${n}'`, false, this.warn));
      } catch (e) {
        if (e instanceof ConfigError) errors.push(e.message);
        else throw e;
      }
    }
    if (errors.length) return errors;
    for (const [n, eps] of parsed) {
      const warmed = this.opts.sink.applyEndpoints(n, eps);
      // Clusters warming on this assignment become active asynchronously (the initial fetch waits for that).
      if (warmed) void warmed.then(() => { this.received.eds.add(n); this.checkReady(); });
      else this.received.eds.add(n);
    }
    for (const n of u.removed) this.opts.sink.removeEndpoints(n);
    this.record(this.dumps.endpoints, u);
    return [];
  }

  private async onListeners(u: TypeUpdate): Promise<string[]> {
    const errors: string[] = [];
    const parsed: ListenerConfig[] = [];
    const staticNames = new Set(this.opts.staticListeners.map((l) => l.name));
    for (const r of u.resources.values()) {
      if (staticNames.has(r.name)) { errors.push(`listener '${r.name}': a static listener has that name`); continue; }
      try {
        parsed.push(parseListener(r.value, `listener '${r.name}'`, this.opts.registry, { path: `listener '${r.name}'`, warn: this.warn }));
      } catch (e) {
        if (e instanceof ConfigError) errors.push(e.message);
        else throw e;
      }
    }
    for (const l of parsed) for (const r of rdsRefsOf(l)) {
      const why = r.source ? this.client.checkSource(r.source) : undefined;
      if (why) errors.push(`listener '${l.name}': rds.config_source: ${why}`);
    }
    if (errors.length) return errors;
    const sdsOf = new Map<string, SdsRef[]>();
    for (const l of parsed) sdsOf.set(l.name, sdsRefsOfListeners([l], errors));
    const allSds = [...sdsOf.values()].flat();
    if (!errors.length) {
      if (this.opts.sds) errors.push(...this.opts.sds.check(['lds', 'lds-warming'], allSds));
      else if (allSds.some((r) => r.source.kind !== 'static')) errors.push('SDS secrets are referenced, but SDS is not configured');
    }
    const ecdsOf = new Map<string, EcdsRef[]>();
    if (!errors.length) for (const l of parsed) ecdsOf.set(l.name, ecdsRefsOfListeners([l]));
    const allEcds = [...ecdsOf.values()].flat();
    if (!errors.length && allEcds.length) {
      if (this.opts.ecds) errors.push(...this.opts.ecds.check(allEcds));
      else errors.push('config_discovery is used, but ECDS is not configured');
    }
    if (errors.length) return errors;
    return this.lds.accept(u, parsed, sdsOf, ecdsOf);
  }

  /**
   * The active or warming listeners changed: route configurations are
   * subscribed for static, active and warming listeners; the initial fetch
   * waits for those of static and active ones.
   */
  private listenersChanged(): void {
    const rds = new Set<string>();
    for (const l of [...this.opts.staticListeners, ...this.lds.activeConfigs()]) for (const r of rdsRefsOf(l)) { rds.add(r.name); this.noteSource(ROUTE, r.name, r.source); }
    this.rdsNames.clear();
    for (const n of rds) this.rdsNames.add(n);
    for (const l of this.lds.warmingConfigs()) for (const r of rdsRefsOf(l)) { rds.add(r.name); this.noteSource(ROUTE, r.name, r.source); }
    this.sub(ROUTE, [...rds]);
    this.checkReady();
  }

  /** Why the SDS secrets named by these clusters cannot be served, pushed onto errors; the references. */
  private sdsRefs(group: 'cds', parsed: readonly ClusterConfig[], errors: string[]): SdsRef[] {
    if (errors.length) return [];
    const refs = sdsRefsOfClusters(parsed, errors);
    if (this.opts.sds) errors.push(...this.opts.sds.check([group], refs));
    else if (refs.some((r) => r.source.kind !== 'static')) errors.push('SDS secrets are referenced, but SDS is not configured');
    return refs;
  }

  private onRoutes(u: TypeUpdate): string[] {
    const errors: string[] = [];
    const tables = new Map<string, unknown>();
    for (const n of u.changed) {
      try {
        tables.set(n, this.opts.parseRouteTable(u.resources.get(n)!.value, `route_configuration '${n}'`));
      } catch (e) {
        if (e instanceof ConfigError) errors.push(e.message);
        else throw e;
      }
    }
    if (errors.length) return errors;
    for (const [n, t] of tables) {
      this.opts.sink.setRouteTable(n, t);
      this.received.rds.add(n);
      this.routesPresent.add(n);
    }
    for (const n of u.removed) {
      this.opts.sink.setRouteTable(n, undefined);
      this.routesPresent.delete(n);
    }
    this.record(this.dumps.routes, u);
    // Listeners warming on these route configurations complete asynchronously.
    this.lds.routesUpdated();
    return [];
  }
}
