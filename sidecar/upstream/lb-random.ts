/**
 * RANDOM (envoy.load_balancing_policies.random): a host chosen at random from the hosts to use
 * (healthy ones, or all in panic; lb-host-set.ts), with probability proportional to its
 * load_balancing_weight.
 *
 * Divergence: Envoy's RandomLoadBalancer ignores host weights (`hosts[random % size]`); we weight
 * as asked by our design. With equal weights (the common case) the two are the same.
 */

import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { HostSet, hostWeightsAreEqual } from './lb-host-set.ts';
import { panicThresholdFrom } from '../contracts/lb-options.ts';
import type { CommonLbOptions } from './lb-host-set.ts';

/** Options of the random policy. */
export type RandomOptions = CommonLbOptions;

/** Weighted random choice over one cluster's fixed host list. */
export class RandomLoadBalancer implements LoadBalancer {
  readonly #set: HostSet;
  readonly #random: () => number;
  readonly #stats: LbStats | undefined;
  #builtVersion = -1;
  /** Cumulative weights of hostsToUse; undefined when weights are equal. */
  #cumulative: Float64Array | undefined;

  /** `random` returns [0, 1) like Math.random. */
  constructor(hosts: readonly Host[], random: () => number, panicThreshold?: number, stats?: LbStats) {
    this.#set = new HostSet(hosts, panicThreshold);
    this.#random = random;
    this.#stats = stats;
  }

  /** A random host, weighted; undefined when there is no host to use. */
  chooseHost(_ctx: LbContext): Host | undefined {
    if (this.#set.refresh() !== this.#builtVersion) this.#rebuild();
    if (this.#set.inPanic) this.#stats?.lbHealthyPanic.inc();
    const hosts = this.#set.hostsToUse;
    const n = hosts.length;
    if (n === 0) return undefined;
    const cumulative = this.#cumulative;
    if (cumulative === undefined) return hosts[Math.floor(this.#random() * n)];
    // First index whose cumulative weight exceeds the target.
    const target = this.#random() * cumulative[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return hosts[lo];
  }

  #rebuild(): void {
    this.#builtVersion = this.#set.version;
    const hosts = this.#set.hostsToUse;
    if (hostWeightsAreEqual(hosts)) {
      this.#cumulative = undefined;
      return;
    }
    const cumulative = new Float64Array(hosts.length);
    let sum = 0;
    for (let i = 0; i < hosts.length; i++) {
      sum += hosts[i]!.weight;
      cumulative[i] = sum;
    }
    this.#cumulative = cumulative;
  }
}

/** Factory for RANDOM. Throws ConfigError for an invalid `healthyPanicThreshold`. */
export function random(opts: RandomOptions = {}): LoadBalancerFactory {
  const threshold = panicThresholdFrom(opts.healthyPanicThreshold);
  return (hosts, rand, panic = threshold, stats) => new RandomLoadBalancer(hosts, rand, panic, stats);
}
