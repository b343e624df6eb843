/**
 * cluster.<name>.lb_healthy_panic: one count per host selection made while the chosen priority
 * level is in panic (Envoy's ZoneAwareLoadBalancerBase::hostSourceToUse and
 * ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost), for every policy, through the
 * factory a cluster uses (lb-factory.ts) and the cluster's own stats.
 */

import { describe, expect, it } from '@jest/globals';
import type { Host } from '../../../sidecar/contracts/load-balancer.ts';
import type { LbPolicyName } from '../../../sidecar/contracts/snapshot.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';
import { ClusterStats } from '../../../sidecar/upstream/cluster-stats.ts';
import { clusterLoadBalancerFactory } from '../../../sidecar/upstream/lb-factory.ts';
import { makeHosts, seededRandom } from './lb-fixtures.ts';

const POLICIES: readonly LbPolicyName[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV'];

/** The cluster's stats over a fresh store. */
function clusterStats(): ClusterStats {
  return new ClusterStats(new StatsStore().scope('cluster.c'));
}

/** `n` hosts at the given priorities (default 0), healthy unless listed in `unhealthy`. */
function hostsAt(priorities: readonly number[], unhealthy: readonly number[]): Host[] {
  return makeHosts(priorities.length).map((h, i) => ({ ...h, priority: priorities[i]!, healthy: !unhealthy.includes(i) }));
}

describe.each(POLICIES)('lb_healthy_panic with %s', (policy) => {
  it('counts every pick while 1 of 3 hosts is healthy, and none while all are', () => {
    const stats = clusterStats();
    const hosts = makeHosts(3);
    const lb = clusterLoadBalancerFactory(policy, {})(hosts, seededRandom(1), undefined, stats);
    for (let i = 0; i < 10; i++) expect(lb.chooseHost({ hash: BigInt(i) })).toBeDefined();
    expect(stats.lbHealthyPanic.value()).toBe(0);
    hosts[1]!.healthy = false;
    hosts[2]!.healthy = false;
    for (let i = 0; i < 7; i++) expect(lb.chooseHost({ hash: BigInt(i) })).toBeDefined();
    expect(stats.lbHealthyPanic.value()).toBe(7);
    hosts[1]!.healthy = true; // 2 of 3: out of panic
    lb.chooseHost({});
    expect(stats.lbHealthyPanic.value()).toBe(7);
  });

  it('counts a hash balancer\'s host-selection retries (attempt > 0) as part of one selection, as Envoy', () => {
    const stats = clusterStats();
    const lb = clusterLoadBalancerFactory(policy, {})(hostsAt([0, 0, 0], [1, 2]), seededRandom(4), undefined, stats);
    for (let attempt = 0; attempt < 4; attempt++) lb.chooseHost({ hash: 42n, attempt });
    const hashed = policy === 'RING_HASH' || policy === 'MAGLEV';
    expect(stats.lbHealthyPanic.value()).toBe(hashed ? 1 : 4);
  });

  it('counts nothing with panic disabled (healthy_panic_threshold 0)', () => {
    const stats = clusterStats();
    const lb = clusterLoadBalancerFactory(policy, { healthyPanicThreshold: 0 })(hostsAt([0, 0, 0], [1, 2]), seededRandom(2), undefined, stats);
    for (let i = 0; i < 5; i++) lb.chooseHost({ hash: BigInt(i) });
    expect(stats.lbHealthyPanic.value()).toBe(0);
  });
});

describe('lb_healthy_panic over priority levels', () => {
  it('counts only the picks that land on a level in panic', () => {
    // Factor 100: P0 1 of 4 healthy (25, in panic), P1 2 of 4 (50, not); load [34, 66].
    const stats = clusterStats();
    const hosts = hostsAt([0, 0, 0, 0, 1, 1, 1, 1], [1, 2, 3, 6, 7]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, { overprovisioningFactor: 100 })(hosts, seededRandom(3), undefined, stats);
    let onP0 = 0;
    for (let i = 0; i < 500; i++) if (lb.chooseHost({})!.priority === 0) onP0++;
    expect(onP0).toBeGreaterThan(0);
    expect(onP0).toBeLessThan(500);
    expect(stats.lbHealthyPanic.value()).toBe(onP0);
  });

  it('counts nothing while the total availability is 100, however weak one level is', () => {
    const stats = clusterStats();
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(hostsAt([0, 0, 0, 1, 1], [1, 2]), seededRandom(4), undefined, stats);
    for (let i = 0; i < 100; i++) lb.chooseHost({});
    expect(stats.lbHealthyPanic.value()).toBe(0);
  });

  it('counts every pick in total panic, and an empty cluster\'s picks too (as Envoy)', () => {
    const stats = clusterStats();
    const lb = clusterLoadBalancerFactory('RANDOM', {})(hostsAt([0, 1], [0, 1]), seededRandom(5), undefined, stats);
    for (let i = 0; i < 9; i++) lb.chooseHost({});
    expect(stats.lbHealthyPanic.value()).toBe(9);
    const empty = clusterLoadBalancerFactory('ROUND_ROBIN', {})([], seededRandom(6), undefined, stats);
    expect(empty.chooseHost({})).toBeUndefined();
    expect(stats.lbHealthyPanic.value()).toBe(10);
  });

  it('counts nothing for an ORIGINAL_DST cluster (CLUSTER_PROVIDED has no panic mode)', () => {
    const stats = clusterStats();
    const lb = clusterLoadBalancerFactory('CLUSTER_PROVIDED', {})([], seededRandom(7), undefined, stats);
    expect(lb.chooseHost({})).toBeUndefined();
    expect(stats.lbHealthyPanic.value()).toBe(0);
  });
});
