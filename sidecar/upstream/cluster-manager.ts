/**
 * The cluster manager: the set of clusters of the current snapshot, by name.
 * Routers look clusters up per request (a map read); applying new cluster
 * configs builds new Cluster objects and drains replaced ones, so in-flight
 * requests keep the cluster they started with. Clusters are indexed by EDS
 * service name, so an assignment reaches its clusters without a scan of all
 * of them (1,000 assignments into 1,000 clusters is 1,000 map reads, not a
 * million comparisons).
 *
 * Warming on secrets (Envoy's cluster init on its SDS secrets): a new or
 * changed cluster whose transport sockets name secrets that have not
 * settled (arrived, rejected, or their initial fetch timed out) is not
 * active yet: the cluster it replaces keeps serving (or none, for a new
 * one), the rest of the update applies now, and the warming cluster takes
 * over once its secrets settle, unless a later update superseded it. Until
 * then it is listed by warming() (config_dump's dynamic_warming_clusters)
 * and counted in cluster_manager.warming_clusters.
 *
 * Warming on EDS (Envoy's EdsClusterImpl init): a new or changed EDS
 * cluster whose ClusterLoadAssignment has not arrived warms the same way
 * until it arrives (applyEndpoints) or its eds_config initial_fetch_timeout
 * (default 15 s; 0 = forever) passes, then becomes active (with no hosts, on
 * the timeout). Activation is asynchronous: the ADS client hands one update
 * at a time, so nothing here waits on a later update; applyEndpoints
 * resolves once the clusters it warmed are active.
 */
import type { ClusterConfig, EndpointConfig } from '../contracts/snapshot.ts';
import type { Gauge, Counter, StatsScope } from '../contracts/stats.ts';
import { Cluster, type ClusterLog, type ClusterTransportDeps } from './cluster.ts';

/** Whether secrets have settled (SDS: arrived, rejected or timed out); static and unknown names count as settled. */
export interface SecretReadiness {
  settled(names: readonly string[]): boolean;
  whenSettled(names: readonly string[]): Promise<void>;
}
import { sameConfig } from '../contracts/config-identity.ts';

/** All clusters by name. */
export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  /** Active clusters by EDS service name. */
  private byService = new Map<string, Cluster[]>();
  /** EDS assignments by service name, kept so a replaced cluster starts with them. */
  private readonly assignments = new Map<string, readonly EndpointConfig[]>();
  private readonly stats: StatsScope;
  private readonly log: ClusterLog;
  private readonly activeClusters: Gauge;
  private readonly warmingClusters: Gauge;
  private readonly clusterAdded: Counter;
  private readonly clusterModified: Counter;
  private readonly clusterRemoved: Counter;

  private readonly deps: ClusterTransportDeps | undefined;
  private readonly secretReadiness: SecretReadiness | undefined;
  /** Clusters warming on their secrets, by name. */
  private pending = new Map<string, Cluster>();
  /** `pending` by EDS service name, rebuilt on use after `pending` changed (pendingChanged). */
  private pendingIndex = new Map<string, Cluster[]>();
  private pendingIndexStale = false;
  /** Applies and warmed-cluster activations run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private warmingOnInit = 0;
  /** Pending clusters waiting for their EDS assignment: wake (arrived, timed out, or superseded). */
  private readonly edsWaiters = new Map<Cluster, () => void>();
  /** Activations of pending clusters, for applyEndpoints to resolve after. */
  private readonly activations = new Map<Cluster, Promise<void>>();

  constructor(stats: StatsScope, log: ClusterLog, deps?: ClusterTransportDeps, secretReadiness?: SecretReadiness) {
    this.stats = stats;
    this.log = log;
    this.deps = deps;
    this.secretReadiness = secretReadiness;
    const cm = stats.scope('cluster_manager');
    this.activeClusters = cm.gauge('active_clusters');
    this.warmingClusters = cm.gauge('warming_clusters');
    this.clusterAdded = cm.counter('cluster_added');
    this.clusterModified = cm.counter('cluster_modified');
    this.clusterRemoved = cm.counter('cluster_removed');
  }

  /** The cluster of that name in the current snapshot. */
  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** Every active cluster. */
  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** Clusters warming on their TLS secrets (not active yet). */
  warming(): Cluster[] {
    return [...this.pending.values()];
  }

  /**
   * Replaces the cluster set: new and changed clusters are built and warmed
   * (DNS, first health-check round; their secrets, in the background: see
   * the module comment) before they become active; removed and replaced
   * clusters drain.
   */
  apply(configs: readonly ClusterConfig[]): Promise<void> {
    const run = this.queue.then(() => this.applyNow(configs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(configs: readonly ClusterConfig[]): Promise<void> {
    const next = new Map<string, Cluster>();
    const warming: Cluster[] = [];
    const pendingBefore = this.pending;
    this.pending = new Map();
    this.pendingIndexStale = true;
    for (const cfg of configs) {
      const cur = this.clusters.get(cfg.name);
      const waiting = pendingBefore.get(cfg.name);
      if (waiting && sameConfig(waiting.config, cfg)) {
        // Still warming on its secrets: keeps waiting; what it replaces keeps serving.
        pendingBefore.delete(cfg.name);
        this.pending.set(cfg.name, waiting);
        this.pendingIndexStale = true;
        if (cur) next.set(cfg.name, cur);
        continue;
      }
      if (cur && sameConfig(cur.config, cfg)) {
        next.set(cfg.name, cur);
        continue;
      }
      const c = new Cluster(cfg, this.stats, this.log, this.deps);
      const eps = cfg.edsServiceName ? this.assignments.get(cfg.edsServiceName) : undefined;
      if (eps) c.setEndpoints(eps);
      if (cur) this.clusterModified.inc();
      else this.clusterAdded.inc();
      const secrets = c.secretNames;
      const waitSecrets = this.secretReadiness !== undefined && secrets.length > 0 && !this.secretReadiness.settled(secrets);
      const waitEds = cfg.edsServiceName !== undefined && !this.assignments.has(cfg.edsServiceName);
      if (waitSecrets || waitEds) {
        this.pending.set(cfg.name, c);
        this.pendingIndexStale = true;
        if (cur) next.set(cfg.name, cur);
        if (waitSecrets) this.log.info({ cluster: cfg.name, secrets }, 'cluster warming: waiting for its TLS secrets');
        if (waitEds) this.log.info({ cluster: cfg.name, serviceName: cfg.edsServiceName }, 'cluster warming: waiting for its EDS assignment');
        const done = Promise.all([waitSecrets ? this.secretReadiness!.whenSettled(secrets) : undefined, waitEds ? this.whenAssigned(c) : undefined]).then(() => this.activateWarmed(c));
        this.activations.set(c, done);
        void done.finally(() => this.activations.delete(c));
        continue;
      }
      warming.push(c);
      next.set(cfg.name, c);
    }
    // Superseded or removed while warming: never served.
    for (const c of pendingBefore.values()) {
      this.edsWaiters.get(c)?.();
      c.destroy();
    }
    this.warmingOnInit = warming.length;
    this.refreshWarming();
    await Promise.all(warming.map((c) => c.initialize()));
    this.warmingOnInit = 0;
    this.refreshWarming();
    this.commit(next);
  }

  /** Resolves when the EDS assignment of a pending cluster arrives, its initial fetch times out, or it is superseded. */
  private whenAssigned(c: Cluster): Promise<void> {
    const serviceName = c.config.edsServiceName!;
    const timeoutMs = c.config.edsInitialFetchTimeoutMs ?? 15_000;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        this.edsWaiters.delete(c);
        resolve();
      };
      this.edsWaiters.set(c, wake);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          if (this.pending.get(c.config.name) === c) this.log.warn({ cluster: c.config.name, serviceName, timeoutMs }, 'EDS initial fetch timed out; the cluster becomes active without hosts');
          wake();
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  /** A cluster's secrets settled (and its EDS assignment arrived): it replaces the active one of its name (unless superseded meanwhile). */
  private activateWarmed(c: Cluster): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.pending.get(c.config.name) !== c) return;
      await c.initialize();
      if (this.pending.get(c.config.name) !== c) return;
      this.pending.delete(c.config.name);
      this.pendingIndexStale = true;
      this.refreshWarming();
      this.activateOne(c);
      this.log.info({ cluster: c.config.name }, 'cluster warmed');
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private refreshWarming(): void {
    this.warmingClusters.set(this.warmingOnInit + this.pending.size);
  }

  /**
   * Makes one warmed cluster active in place of its namesake (which drains).
   * In place, where commit() builds a new set: a CDS update of 1,000 EDS
   * clusters warms them one by one, and a copy of the whole set per
   * cluster made that quadratic (~100 ms of perf/xds-push.ts). The set is
   * private; readers take one cluster (get) or a copy (all).
   */
  private activateOne(c: Cluster): void {
    const name = c.config.name;
    const prev = this.clusters.get(name);
    if (prev === c) return;
    if (prev !== undefined) {
      this.forgetService(prev);
      void prev.drain();
    }
    this.clusters.set(name, c);
    const service = c.config.edsServiceName;
    if (service !== undefined) {
      const list = this.byService.get(service);
      if (list) list.push(c);
      else this.byService.set(service, [c]);
    }
    this.activeClusters.set(this.clusters.size);
  }

  /** Takes `c` out of the EDS service index. */
  private forgetService(c: Cluster): void {
    const service = c.config.edsServiceName;
    if (service === undefined) return;
    const list = this.byService.get(service);
    if (!list) return;
    const rest = list.filter((x) => x !== c);
    if (rest.length) this.byService.set(service, rest);
    else this.byService.delete(service);
  }

  /** Makes `next` the active set; what it drops drains. */
  private commit(next: Map<string, Cluster>): void {
    const old = this.clusters;
    const byService = new Map<string, Cluster[]>();
    for (const c of next.values()) {
      const n = c.config.edsServiceName;
      if (n === undefined) continue;
      const list = byService.get(n);
      if (list) list.push(c);
      else byService.set(n, [c]);
    }
    this.clusters = next;
    this.byService = byService;
    this.activeClusters.set(next.size);
    for (const [name, c] of old) {
      if (next.get(name) !== c) {
        if (!next.has(name) && !this.pending.has(name)) this.clusterRemoved.inc();
        void c.drain();
      }
    }
  }

  /** EDS: the endpoints of a service name, for every cluster that uses it. */
  applyEndpoints(serviceName: string, endpoints: readonly EndpointConfig[]): Promise<void> {
    this.assignments.set(serviceName, endpoints);
    for (const c of this.byService.get(serviceName) ?? []) c.setEndpoints(endpoints);
    const warmed: Promise<void>[] = [];
    for (const c of this.pendingFor(serviceName)) {
      c.setEndpoints(endpoints);
      this.edsWaiters.get(c)?.();
      const a = this.activations.get(c);
      if (a) warmed.push(a);
    }
    return Promise.all(warmed).then(() => undefined, () => undefined);
  }

  /** EDS: an assignment was removed; its clusters keep no endpoints. */
  removeEndpoints(serviceName: string): void {
    this.assignments.delete(serviceName);
    for (const c of this.byService.get(serviceName) ?? []) c.setEndpoints([]);
    for (const c of this.pendingFor(serviceName)) c.setEndpoints([]);
  }

  /**
   * The warming clusters of an EDS service name. Indexed: an EDS response of
   * 1,000 assignments for 1,000 warming clusters would otherwise scan every
   * warming cluster per assignment.
   */
  private pendingFor(serviceName: string): readonly Cluster[] {
    if (this.pendingIndexStale) {
      this.pendingIndexStale = false;
      this.pendingIndex = new Map();
      for (const c of this.pending.values()) {
        const n = c.config.edsServiceName;
        if (n === undefined) continue;
        const list = this.pendingIndex.get(n);
        if (list) list.push(c);
        else this.pendingIndex.set(n, [c]);
      }
    }
    return this.pendingIndex.get(serviceName) ?? [];
  }

  /** Drains every cluster (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled(this.all().map((c) => c.drain()));
  }

  /** Closes every cluster now. */
  destroy(): void {
    for (const c of this.clusters.values()) c.destroy();
    for (const c of this.pending.values()) {
      this.edsWaiters.get(c)?.();
      c.destroy();
    }
    this.pending.clear();
    this.pendingIndexStale = true;
  }
}
