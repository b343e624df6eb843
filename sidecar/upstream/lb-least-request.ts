/**
 * LEAST_REQUEST (envoy.load_balancing_policies.least_request), as Envoy's
 * LeastRequestLoadBalancer (source/extensions/load_balancing_policies/least_request):
 *  - all hosts to use have the same weight: sample `choice_count` hosts at random (with
 *    replacement, default 2: "power of two choices") and keep the one with the fewest active
 *    requests (first sampled wins ties); with selection_method FULL_SCAN, scan every host and
 *    break ties uniformly at random (reservoir sampling);
 *  - weights differ, or `active_request_bias` is set explicitly (Envoy's
 *    least_request_lb_active_request_bias_forces_weighted): weighted round robin (EDF) where a
 *    host's weight, computed when it is (re-)inserted into the schedule, is
 *    `weight / (active_requests + 1) ^ active_request_bias` (bias default 1.0; 0 = plain WRR).
 * Hosts to use are the healthy hosts, or all hosts in panic (lb-host-set.ts), re-read at each
 * pick. Pending requests and slow start are not counted.
 */

import { ConfigError } from '../contracts/errors.ts';
import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { EdfScheduler } from './lb-edf-scheduler.ts';
import type { EdfWeight } from './lb-edf-scheduler.ts';
import { HostSet, hostWeightsAreEqual } from './lb-host-set.ts';
import { leastRequestChoices, panicThresholdFrom } from '../contracts/lb-options.ts';
import type { CommonLbOptions } from './lb-host-set.ts';

/** Envoy's LeastRequest.SelectionMethod for equal weights. */
export type LeastRequestSelectionMethod = 'N_CHOICES' | 'FULL_SCAN';

/** Options of the least-request policy (fields of Envoy's LeastRequest proto). */
export interface LeastRequestOptions extends CommonLbOptions {
  /** Hosts sampled per pick when weights are equal; >= 2, default 2. */
  readonly choiceCount?: number;
  /**
   * Exponent of (active + 1) dividing the weight; >= 0, default 1.0. Any value given here (even
   * 1.0) counts as "explicitly configured" and forces EDF as in current Envoy, so pass undefined
   * when the proto field is absent.
   */
  readonly activeRequestBias?: number;
  /** N_CHOICES (default) or FULL_SCAN. */
  readonly selectionMethod?: LeastRequestSelectionMethod;
}

/** The validated form of LeastRequestOptions. */
interface LeastRequestConfig {
  readonly panicThreshold: number;
  readonly choiceCount: number;
  readonly activeRequestBias: number;
  readonly alwaysWeighted: boolean;
  readonly fullScan: boolean;
}

/** Envoy's LeastRequestLoadBalancer over one cluster's fixed host list. */
export class LeastRequestLoadBalancer implements LoadBalancer {
  readonly #set: HostSet;
  readonly #random: () => number;
  readonly #config: LeastRequestConfig;
  readonly #hostWeight: EdfWeight<Host>;
  readonly #stats: LbStats | undefined;
  #builtVersion = -1;
  #edf: EdfScheduler<Host> | undefined;

  /** `random` returns [0, 1) like Math.random. */
  constructor(hosts: readonly Host[], random: () => number, config: LeastRequestConfig, stats?: LbStats) {
    this.#set = new HostSet(hosts, config.panicThreshold);
    this.#random = random;
    this.#config = config;
    this.#stats = stats;
    const bias = config.activeRequestBias;
    // Envoy's hostWeight: one closure per balancer, none per pick.
    this.#hostWeight = bias === 0
      ? (h) => h.weight
      : bias === 1
        ? (h) => h.weight / (h.activeRequests + 1)
        : (h) => h.weight / Math.pow(h.activeRequests + 1, bias);
  }

  /** The host with the fewest active requests among the sampled ones (or by EDF when weighted). */
  chooseHost(_ctx: LbContext): Host | undefined {
    if (this.#set.refresh() !== this.#builtVersion) this.#rebuild();
    if (this.#set.inPanic) this.#stats?.lbHealthyPanic.inc();
    const hosts = this.#set.hostsToUse;
    if (hosts.length === 0) return undefined;
    if (this.#edf !== undefined) return this.#edf.pickAndAdd();
    return this.#config.fullScan ? this.#pickFullScan(hosts) : this.#pickNChoices(hosts);
  }

  #pickNChoices(hosts: readonly Host[]): Host {
    const n = hosts.length;
    let candidate = hosts[Math.floor(this.#random() * n)]!;
    for (let i = 1; i < this.#config.choiceCount; i++) {
      const sampled = hosts[Math.floor(this.#random() * n)]!;
      if (sampled.activeRequests < candidate.activeRequests) candidate = sampled;
    }
    return candidate;
  }

  #pickFullScan(hosts: readonly Host[]): Host {
    let candidate = hosts[0]!;
    let tied = 1;
    for (let i = 1; i < hosts.length; i++) {
      const sampled = hosts[i]!;
      if (sampled.activeRequests < candidate.activeRequests) {
        candidate = sampled;
        tied = 1;
      } else if (sampled.activeRequests === candidate.activeRequests) {
        tied += 1;
        if (Math.floor(this.#random() * tied) === 0) candidate = sampled;
      }
    }
    return candidate;
  }

  #rebuild(): void {
    this.#builtVersion = this.#set.version;
    const hosts = this.#set.hostsToUse;
    const weighted = hosts.length > 0 && (this.#config.alwaysWeighted || !hostWeightsAreEqual(hosts));
    this.#edf = weighted ? new EdfScheduler(hosts, this.#hostWeight, Math.floor(this.#random() * hosts.length)) : undefined;
  }
}

/** Validates LeastRequestOptions; throws ConfigError with the Envoy field name. */
function leastRequestConfig(opts: LeastRequestOptions): LeastRequestConfig {
  const { choiceCount, activeRequestBias: bias } = leastRequestChoices(opts.choiceCount, opts.activeRequestBias);
  const method = opts.selectionMethod ?? 'N_CHOICES';
  if (method !== 'N_CHOICES' && method !== 'FULL_SCAN') {
    throw new ConfigError('least_request_lb_config.selection_method', `unknown selection method ${String(method)}`);
  }
  return {
    panicThreshold: panicThresholdFrom(opts.healthyPanicThreshold),
    choiceCount,
    activeRequestBias: bias,
    alwaysWeighted: opts.activeRequestBias !== undefined,
    fullScan: method === 'FULL_SCAN',
  };
}

/** Factory for LEAST_REQUEST. Throws ConfigError for invalid options. */
export function leastRequest(opts: LeastRequestOptions = {}): LoadBalancerFactory {
  const config = leastRequestConfig(opts);
  return (hosts, random, panic, stats) => new LeastRequestLoadBalancer(hosts, random, panic === undefined ? config : { ...config, panicThreshold: panic }, stats);
}
