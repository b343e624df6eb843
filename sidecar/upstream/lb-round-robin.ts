/**
 * ROUND_ROBIN (envoy.load_balancing_policies.round_robin), as Envoy's RoundRobinLoadBalancer:
 * when every host to use has the same weight, plain rotation starting at a random index; when
 * weights differ, weighted round robin by an earliest-deadline-first schedule (EdfScheduler).
 * Hosts to use are the healthy hosts, or all hosts in panic (lb-host-set.ts). Health flips are
 * seen at pick time; the schedule is rebuilt lazily when the hosts to use change, and the
 * rotation index survives rebuilds (as Envoy's per-source rr index does). Slow start and
 * locality weighting are not supported.
 */

import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { EdfScheduler } from './lb-edf-scheduler.ts';
import { HostSet, hostWeightsAreEqual } from './lb-host-set.ts';
import { panicThresholdFrom } from '../contracts/lb-options.ts';
import type { CommonLbOptions } from './lb-host-set.ts';

/** Options of the round-robin policy (Envoy's RoundRobin proto has nothing else we support). */
export type RoundRobinOptions = CommonLbOptions;

/** Static weight of a host for the EDF schedule. */
function staticWeight(host: Host): number {
  return host.weight;
}

/** Envoy's RoundRobinLoadBalancer over one cluster's fixed host list. */
export class RoundRobinLoadBalancer implements LoadBalancer {
  readonly #set: HostSet;
  readonly #random: () => number;
  readonly #stats: LbStats | undefined;
  #builtVersion = -1;
  #rrIndex: number;
  #edf: EdfScheduler<Host> | undefined;

  /** `random` returns [0, 1) like Math.random; it seeds the start position. */
  constructor(hosts: readonly Host[], random: () => number, panicThreshold?: number, stats?: LbStats) {
    this.#set = new HostSet(hosts, panicThreshold);
    this.#random = random;
    this.#stats = stats;
    this.#rrIndex = Math.floor(random() * 0x1_0000_0000);
  }

  /** Next host in the rotation or schedule; undefined when there is no host to use. */
  chooseHost(_ctx: LbContext): Host | undefined {
    if (this.#set.refresh() !== this.#builtVersion) this.#rebuild();
    if (this.#set.inPanic) this.#stats?.lbHealthyPanic.inc();
    const hosts = this.#set.hostsToUse;
    if (hosts.length === 0) return undefined;
    if (this.#edf !== undefined) return this.#edf.pickAndAdd();
    const host = hosts[this.#rrIndex % hosts.length];
    this.#rrIndex += 1;
    return host;
  }

  #rebuild(): void {
    this.#builtVersion = this.#set.version;
    const hosts = this.#set.hostsToUse;
    this.#edf = hosts.length > 1 && !hostWeightsAreEqual(hosts)
      ? new EdfScheduler(hosts, staticWeight, Math.floor(this.#random() * hosts.length))
      : undefined;
  }
}

/**
 * Factory for ROUND_ROBIN. Throws ConfigError for an invalid `healthyPanicThreshold`.
 */
export function roundRobin(opts: RoundRobinOptions = {}): LoadBalancerFactory {
  const threshold = panicThresholdFrom(opts.healthyPanicThreshold);
  return (hosts, random, panic = threshold, stats) => new RoundRobinLoadBalancer(hosts, random, panic, stats);
}
