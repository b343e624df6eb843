/**
 * Maps a cluster's lb_policy (and its options) to a load-balancer factory, and wraps it in the
 * priority and locality balancer (priority-load-balancer.ts) when the hosts need it.
 */
import type { LoadBalancerFactory } from '../contracts/load-balancer.ts';
import type { LbPolicyName } from '../contracts/snapshot.ts';
import { panicThresholdFrom } from '../contracts/lb-options.ts';
import { leastRequest } from './lb-least-request.ts';
import { maglev } from './lb-maglev.ts';
import { random } from './lb-random.ts';
import { ringHash } from './lb-ring-hash.ts';
import { roundRobin } from './lb-round-robin.ts';
import { DEFAULT_OVERPROVISIONING_FACTOR } from './priority-load.ts';
import { PriorityLoadBalancer } from './priority-load-balancer.ts';

/** The factory for a policy; `options` uses the LB modules' option names. */
export function loadBalancerFactory(policy: LbPolicyName, options: Readonly<Record<string, number>>): LoadBalancerFactory {
  switch (policy) {
    case 'ROUND_ROBIN':
      return roundRobin(options);
    case 'LEAST_REQUEST':
      return leastRequest(options);
    case 'RANDOM':
      return random(options);
    case 'RING_HASH':
      return ringHash(options);
    case 'MAGLEV':
      return maglev(options);
    case 'CLUSTER_PROVIDED':
      // ORIGINAL_DST clusters pick their host themselves (OriginalDstHosts.choose); the
      // balancer over their (empty) configured host list never returns a host.
      return roundRobin(options);
  }
}

/** Cluster-level balancing that is not the policy's: priorities and locality weights. */
export interface ClusterLbShape {
  /** ClusterLoadAssignment.Policy.overprovisioning_factor, percent. */
  readonly overprovisioningFactor?: number;
  /** common_lb_config.locality_weighted_lb_config is set. */
  readonly localityWeighted?: boolean;
}

/**
 * The factory a cluster uses: the policy alone when every host is at priority 0 and localities
 * are not weighted (the common case, unchanged), else the priority balancer over the policy.
 * RING_HASH and MAGLEV do not weight localities (a locality draw would break hash affinity);
 * the translator warns about that combination.
 *
 * The policy alone decides panic from its hosts' health only (lb-host-set.ts), while Envoy also
 * requires the level's availability (overprovisioning factor × healthy / total) to be below 100
 * (priority-load.ts). The two agree whenever threshold × factor <= 100 × 100 (the defaults, 50 and
 * 140, do); above that a single level goes through the priority balancer too.
 */
export function clusterLoadBalancerFactory(policy: LbPolicyName, options: Readonly<Record<string, number>>, shape: ClusterLbShape = {}): LoadBalancerFactory {
  const inner = loadBalancerFactory(policy, options);
  const panicThreshold = panicThresholdFrom(options['healthyPanicThreshold']);
  const hashed = policy === 'RING_HASH' || policy === 'MAGLEV';
  const localityWeighted = shape.localityWeighted === true && !hashed;
  const overprovisioningFactor = shape.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR;
  const policyDecidesPanic = panicThreshold * overprovisioningFactor <= 100 * 100;
  // Envoy's cluster-provided balancer (ORIGINAL_DST) has no panic mode: nothing to count.
  const counted = policy !== 'CLUSTER_PROVIDED';
  return (hosts, rand, _panic, clusterStats) => {
    const stats = counted ? clusterStats : undefined;
    if (!localityWeighted && policyDecidesPanic && hosts.every((h) => (h.priority ?? 0) === 0)) return inner(hosts, rand, undefined, stats);
    return new PriorityLoadBalancer(hosts, rand, inner, { overprovisioningFactor, panicThreshold, localityWeighted, hashChoosesPriority: hashed }, stats);
  };
}
