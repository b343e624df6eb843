/**
 * Which hosts a load balancer balances over, shared by every lb-* policy.
 *
 * Envoy (LoadBalancerBase::isHostSetInPanic, common_lb_config.healthy_panic_threshold) balances
 * over the healthy hosts unless fewer than `healthy_panic_threshold` percent (default 50) of the
 * hosts are healthy; then it is "in panic" and balances over all hosts, healthy or not. A
 * threshold of 0 disables panic mode (no healthy host -> no host).
 *
 * The cluster manager rebuilds a load balancer when the host list changes, but flips
 * `Host.healthy` in place. `HostSet.refresh()` therefore rescans the flags on every pick (O(hosts),
 * no allocation unless something changed) and bumps `version` only when the hosts to use change;
 * policies rebuild their schedule, ring or table lazily when the version they were built at is
 * stale.
 *
 * A HostSet is one flat list with no priorities or localities of its own: priority levels and
 * locality weights are handled above it, by priority-load-balancer.ts (with priority-load.ts and
 * locality-weights.ts), which gives each level and each weighted locality its own policy instance.
 * Those instances get a panic threshold of 0 (healthy hosts only) or 100 (all hosts), since the
 * priority load decides whether a level is in panic; the threshold is the cluster's own only when
 * the policy balances a single-level cluster directly (lb-factory.ts). Degraded hosts have no set
 * of their own: EDS DEGRADED endpoints count as healthy (xds/translate/cluster.ts).
 */

import type { Host } from '../contracts/load-balancer.ts';

import { DEFAULT_HEALTHY_PANIC_THRESHOLD } from '../contracts/lb-options.ts';

/** Options every policy accepts (the part of Envoy's CommonLbConfig that applies here). */
export interface CommonLbOptions {
  /** Percent of healthy hosts below which the set is in panic; 0..100, default 50. */
  readonly healthyPanicThreshold?: number;
}


/**
 * Envoy's isHostSetInPanic: healthy percentage (0 for an empty set) below the threshold.
 * Integer form of `100 * healthy / total < threshold`.
 */
export function isHostSetInPanic(total: number, healthy: number, thresholdPercent: number): boolean {
  if (total === 0) return thresholdPercent > 0;
  return healthy * 100 < thresholdPercent * total;
}

/** Envoy's hostWeightsAreEqual: true when every host has the same load_balancing_weight. */
export function hostWeightsAreEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i]!.weight !== hosts[0]!.weight) return false;
  return true;
}

/**
 * The string Envoy hashes for a host on the ring and in the Maglev table: the address's
 * `asString()` — `ip:port`, `[ipv6]:port`, or the path of a unix socket. (Envoy's
 * `use_hostname_for_hashing` and the `envoy.lb` `hash_key` metadata override are not supported.)
 */
export function hostHashKey(host: Host): string {
  if (host.key.startsWith('unix:')) return host.key.slice('unix:'.length);
  if (host.address.includes(':') && !host.address.startsWith('[')) return `[${host.address}]:${host.port}`;
  return `${host.address}:${host.port}`;
}

/**
 * A cluster's fixed host list with its live health, reduced to the hosts to use (Envoy's
 * `hostsToUse`): the healthy hosts, or all hosts when in panic.
 */
export class HostSet {
  /** Every host of the cluster, in the order given. */
  readonly hosts: readonly Host[];
  /** The panic threshold in percent, already validated. */
  readonly panicThreshold: number;
  #flags: Uint8Array;
  #healthyCount = 0;
  #hostsToUse: readonly Host[] = [];
  #inPanic = false;
  #version = 0;

  constructor(hosts: readonly Host[], panicThreshold: number = DEFAULT_HEALTHY_PANIC_THRESHOLD) {
    this.hosts = hosts.slice();
    this.panicThreshold = panicThreshold;
    this.#flags = new Uint8Array(hosts.length);
    for (let i = 0; i < this.hosts.length; i++) this.#flags[i] = this.hosts[i]!.healthy ? 1 : 0;
    this.#recompute();
  }

  /** Healthy hosts, or all hosts in panic. Valid until the next `refresh()` that bumps `version`. */
  get hostsToUse(): readonly Host[] {
    return this.#hostsToUse;
  }

  /** True when fewer than `panicThreshold` percent of the hosts are healthy. */
  get inPanic(): boolean {
    return this.#inPanic;
  }

  /** Number of healthy hosts at the last `refresh()`. */
  get healthyCount(): number {
    return this.#healthyCount;
  }

  /** Increases whenever `hostsToUse` changes; policies compare it with the version they built. */
  get version(): number {
    return this.#version;
  }

  /** Rescans the live `healthy` flags; returns the (possibly new) version. O(hosts). */
  refresh(): number {
    const hosts = this.hosts;
    const flags = this.#flags;
    let changed = false;
    for (let i = 0; i < hosts.length; i++) {
      const f = hosts[i]!.healthy ? 1 : 0;
      if (flags[i] !== f) {
        flags[i] = f;
        changed = true;
      }
    }
    if (changed) this.#recompute();
    return this.#version;
  }

  #recompute(): void {
    const hosts = this.hosts;
    let healthy = 0;
    for (let i = 0; i < hosts.length; i++) healthy += this.#flags[i]!;
    const panic = isHostSetInPanic(hosts.length, healthy, this.panicThreshold);
    const wasAll = this.#inPanic && this.#version > 0;
    this.#healthyCount = healthy;
    this.#inPanic = panic;
    // In panic both before and after, the hosts to use (all of them) did not change.
    if (panic && wasAll) return;
    this.#hostsToUse = panic || healthy === hosts.length ? hosts : hosts.filter((_, i) => this.#flags[i] === 1);
    this.#version += 1;
  }
}
