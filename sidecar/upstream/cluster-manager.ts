/**
 * The cluster manager: the set of clusters of the current snapshot, by name.
 * Routers look clusters up per request (a map read); applying new cluster
 * configs builds new Cluster objects and drains replaced ones, so in-flight
 * requests keep the cluster they started with. Clusters are indexed by EDS
 * service name, so an assignment reaches its clusters without a scan of all
 * of them (1,000 assignments into 1,000 clusters is 1,000 map reads, not a
 * million comparisons).
 */
import type { ClusterConfig, EndpointConfig } from '../contracts/snapshot.ts';
import type { Gauge, Counter, StatsScope } from '../contracts/stats.ts';
import { Cluster, type ClusterLog, type ClusterTransportDeps } from './cluster.ts';
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

  constructor(stats: StatsScope, log: ClusterLog, deps?: ClusterTransportDeps) {
    this.stats = stats;
    this.log = log;
    this.deps = deps;
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

  /**
   * Replaces the cluster set: new and changed clusters are built and warmed
   * (DNS, first health-check round) before they become active; removed and
   * replaced clusters drain.
   */
  async apply(configs: readonly ClusterConfig[]): Promise<void> {
    const next = new Map<string, Cluster>();
    const warming: Cluster[] = [];
    for (const cfg of configs) {
      const cur = this.clusters.get(cfg.name);
      if (cur && sameConfig(cur.config, cfg)) {
        next.set(cfg.name, cur);
        continue;
      }
      const c = new Cluster(cfg, this.stats, this.log, this.deps);
      const eps = cfg.edsServiceName ? this.assignments.get(cfg.edsServiceName) : undefined;
      if (eps) c.setEndpoints(eps);
      warming.push(c);
      next.set(cfg.name, c);
      if (cur) this.clusterModified.inc();
      else this.clusterAdded.inc();
    }
    this.warmingClusters.set(warming.length);
    await Promise.all(warming.map((c) => c.initialize()));
    this.warmingClusters.set(0);
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
        if (!next.has(name)) this.clusterRemoved.inc();
        void c.drain();
      }
    }
  }

  /** EDS: the endpoints of a service name, for every cluster that uses it. */
  applyEndpoints(serviceName: string, endpoints: readonly EndpointConfig[]): void {
    this.assignments.set(serviceName, endpoints);
    for (const c of this.byService.get(serviceName) ?? []) c.setEndpoints(endpoints);
  }

  /** EDS: an assignment was removed; its clusters keep no endpoints. */
  removeEndpoints(serviceName: string): void {
    this.assignments.delete(serviceName);
    for (const c of this.byService.get(serviceName) ?? []) c.setEndpoints([]);
  }

  /** Drains every cluster (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled(this.all().map((c) => c.drain()));
  }

  /** Closes every cluster now. */
  destroy(): void {
    for (const c of this.clusters.values()) c.destroy();
  }
}
