/**
 * A cluster's load balancer over priority levels and localities (Envoy's LoadBalancerBase and
 * ZoneAwareLoadBalancerBase::hostSourceToUse): a level is chosen by its priority load
 * (priority-load.ts), then, with locality weighted load balancing and the level not in panic, a
 * locality by its effective weight (locality-weights.ts), then a host by the cluster's policy
 * (lb-*.ts) among that locality's healthy hosts, or among the level's hosts: its healthy ones, or
 * all of them when the level is in panic. Whether a level is in panic is the priority load's
 * decision (Envoy's per_priority_panic_, which also looks at the other levels), so each level
 * has one balancer over its healthy hosts and one over all its hosts (as Envoy keeps a schedule
 * per hosts source).
 *
 * Health flags flip in place on the hosts: every pick rescans the levels (O(hosts), as the
 * policies already do) and recomputes the load only when a level's health changed. A cluster with
 * one level and no locality weighting does not use this class (lb-factory.ts).
 */

import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { HostSet } from './lb-host-set.ts';
import { effectiveLocalityWeight, groupByLocality, LocalityScheduler } from './locality-weights.ts';
import { choosePriority, computePriorityLoad, type PriorityLoad } from './priority-load.ts';

/** How the cluster balances across levels and localities. */
export interface PriorityLbOptions {
  /** ClusterLoadAssignment.Policy.overprovisioning_factor, percent (default 140). */
  readonly overprovisioningFactor: number;
  /** common_lb_config.healthy_panic_threshold, percent, validated. */
  readonly panicThreshold: number;
  /** common_lb_config.locality_weighted_lb_config is set. */
  readonly localityWeighted: boolean;
  /** The request hash chooses the level (RING_HASH, MAGLEV), else a random draw. */
  readonly hashChoosesPriority: boolean;
}

/** One locality of a level: its hosts, weight and a balancer over its healthy hosts. */
interface Locality {
  readonly weight: number;
  readonly set: HostSet;
  readonly lb: LoadBalancer;
}

/** One priority level. */
interface Level {
  readonly set: HostSet;
  /** The policy over the level's healthy hosts (panic threshold 0). */
  readonly healthy: LoadBalancer;
  /** The policy over all the level's hosts, for picks in panic (panic threshold 100). */
  readonly all: LoadBalancer;
  readonly localities: readonly Locality[];
  /** (version, healthy count) the load and the locality schedule were computed at. */
  seenVersion: number;
  seenHealthy: number;
  scheduler: LocalityScheduler | undefined;
}

/** Envoy's priority and locality aware host selection over a fixed host list. */
export class PriorityLoadBalancer implements LoadBalancer {
  readonly #levels: Level[] = [];
  readonly #opts: PriorityLbOptions;
  readonly #random: () => number;
  readonly #stats: LbStats | undefined;
  #load: PriorityLoad;

  /** `stats` counts the picks made in panic; the inner balancers get none (they never decide panic). */
  constructor(hosts: readonly Host[], random: () => number, inner: LoadBalancerFactory, opts: PriorityLbOptions, stats?: LbStats) {
    this.#opts = opts;
    this.#random = random;
    this.#stats = stats;
    const byPriority: Host[][] = [];
    for (const h of hosts) {
      const p = h.priority ?? 0;
      while (byPriority.length <= p) byPriority.push([]);
      byPriority[p]!.push(h);
    }
    if (byPriority.length === 0) byPriority.push([]);
    for (const levelHosts of byPriority) {
      const localities: Locality[] = opts.localityWeighted
        ? groupByLocality(levelHosts).map((g) => ({ weight: g.weight, set: new HostSet(g.hosts, 0), lb: inner(g.hosts, random, 0) }))
        : [];
      this.#levels.push({
        set: new HostSet(levelHosts, opts.panicThreshold),
        healthy: inner(levelHosts, random, 0),
        all: inner(levelHosts, random, 100),
        localities,
        seenVersion: -1,
        seenHealthy: -1,
        scheduler: undefined,
      });
    }
    this.#load = this.#recompute();
  }

  /** The current load per level, in percent (for tests and /clusters). */
  get priorityLoad(): PriorityLoad {
    this.#refresh();
    return this.#load;
  }

  chooseHost(ctx: LbContext): Host | undefined {
    this.#refresh();
    const point = this.#opts.hashChoosesPriority && ctx.hash !== undefined
      ? Number(ctx.hash % 100n) + 1
      : Math.floor(this.#random() * 100) + 1;
    const p = choosePriority(this.#load.load, point);
    const level = this.#levels[p]!;
    if (this.#load.panic[p]) {
      // Envoy's hostSourceToUse: one lb_healthy_panic per selection from a level in panic; a hash
      // balancer's host-selection retries (attempt > 0) are part of the same selection.
      if (!(this.#opts.hashChoosesPriority && (ctx.attempt ?? 0) > 0)) this.#stats?.lbHealthyPanic.inc();
      return level.all.chooseHost(ctx);
    }
    if (this.#opts.localityWeighted && level.localities.length) {
      const i = this.#scheduler(level).pick();
      if (i !== undefined) {
        const host = level.localities[i]!.lb.chooseHost(ctx);
        if (host) return host;
      }
    }
    return level.healthy.chooseHost(ctx);
  }

  /** Rescans health; recomputes the load when any level changed. */
  #refresh(): void {
    let changed = false;
    for (const level of this.#levels) {
      const v = level.set.refresh();
      if (v !== level.seenVersion || level.set.healthyCount !== level.seenHealthy) changed = true;
    }
    if (changed) this.#load = this.#recompute();
  }

  #recompute(): PriorityLoad {
    for (const level of this.#levels) {
      level.seenVersion = level.set.version;
      level.seenHealthy = level.set.healthyCount;
      level.scheduler = undefined;
    }
    const counts = this.#levels.map((l) => ({ total: l.set.hosts.length, healthy: l.set.healthyCount }));
    return computePriorityLoad(counts, this.#opts.overprovisioningFactor, this.#opts.panicThreshold);
  }

  /** The level's locality schedule, built from the effective weights at its current health. */
  #scheduler(level: Level): LocalityScheduler {
    if (level.scheduler) return level.scheduler;
    const weights = level.localities.map((l) => {
      l.set.refresh();
      return effectiveLocalityWeight(l.weight, l.set.hosts.length, l.set.healthyCount, this.#opts.overprovisioningFactor);
    });
    level.scheduler = new LocalityScheduler(weights);
    return level.scheduler;
  }
}
