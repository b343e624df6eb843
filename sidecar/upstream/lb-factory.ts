/**
 * Maps a cluster's lb_policy (and its options) to a load-balancer factory.
 */
import type { LoadBalancerFactory } from '../contracts/load-balancer.ts';
import type { LbPolicyName } from '../contracts/snapshot.ts';
import { leastRequest } from './lb-least-request.ts';
import { maglev } from './lb-maglev.ts';
import { random } from './lb-random.ts';
import { ringHash } from './lb-ring-hash.ts';
import { roundRobin } from './lb-round-robin.ts';

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
  }
}
