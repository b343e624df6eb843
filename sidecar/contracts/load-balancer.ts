/**
 * What the cluster manager hands a load balancer, and what it asks of it.
 * Load balancers see hosts, never sockets or config protos.
 */

import type { Counter } from './stats.ts';

/** One upstream endpoint of a cluster, as the load balancer sees it. */
export interface Host {
  /** `ip:port` or `unix:/path`; unique within the cluster. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** Envoy's load_balancing_weight, >= 1. */
  readonly weight: number;
  /** False when active health checking or EDS says the host is unhealthy. */
  healthy: boolean;
  /** Requests in flight to this host (for LEAST_REQUEST). */
  activeRequests: number;
  /** The endpoint's priority (LocalityLbEndpoints.priority); 0, the highest, when absent. */
  readonly priority?: number;
  /** Its locality (`region/zone/sub_zone`); hosts of one priority are grouped by it. */
  readonly locality?: string;
  /** Its locality's load_balancing_weight; absent or 0: no load under locality weighted LB. */
  readonly localityWeight?: number;
}

/** Per-request input to host selection. */
export interface LbContext {
  /** Hash from the route's hash_policy; undefined when none produced one. */
  readonly hash?: bigint;
  /**
   * The host-selection attempt of a retry host predicate (previous_hosts): 0 or absent for the
   * first pick. Hash balancers move away from the hashed host on later attempts, as Envoy's do
   * (ring hash: the attempt-th next ring point; maglev: the hash xor'ed with 2^64 - attempt);
   * the others pick afresh anyway.
   */
  readonly attempt?: number;
}

/** The cluster stats a load balancer counts in (part of Envoy's ClusterLbStats). */
export interface LbStats {
  /** cluster.<name>.lb_healthy_panic: host selections made while the chosen level was in panic. */
  readonly lbHealthyPanic: Counter;
}

/** Picks a host for a request; built once per (cluster, host set). */
export interface LoadBalancer {
  chooseHost(ctx: LbContext): Host | undefined;
}

/**
 * Builds a load balancer for a fixed host list (rebuilt when hosts change). `panicThreshold`
 * overrides the policy's healthy_panic_threshold: the priority balancer, which decides panic
 * itself, passes 0 for a balancer over the healthy hosts only and 100 for one over all hosts.
 * With `stats`, every `chooseHost` made in panic counts in lb_healthy_panic (the priority balancer
 * counts itself and gives its inner balancers none).
 */
export type LoadBalancerFactory = (hosts: readonly Host[], random: () => number, panicThreshold?: number, stats?: LbStats) => LoadBalancer;
