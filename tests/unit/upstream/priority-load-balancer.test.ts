/**
 * The priority and locality balancer (priority-load-balancer.ts via lb-factory.ts) over plain
 * hosts, with a seeded random so the distributions are deterministic.
 */

import { describe, expect, it } from '@jest/globals';
import type { Host } from '../../../sidecar/contracts/load-balancer.ts';
import { clusterLoadBalancerFactory } from '../../../sidecar/upstream/lb-factory.ts';
import { PriorityLoadBalancer } from '../../../sidecar/upstream/priority-load-balancer.ts';
import { countPicks, seededRandom } from './lb-fixtures.ts';

interface Spec { readonly priority?: number; readonly locality?: string; readonly localityWeight?: number; readonly healthy?: boolean; readonly weight?: number }

function hosts(specs: readonly Spec[]): Host[] {
  return specs.map((s, i) => ({
    key: `10.0.0.${i + 1}:80`, address: `10.0.0.${i + 1}`, port: 80, weight: s.weight ?? 1, healthy: s.healthy ?? true, activeRequests: 0,
    priority: s.priority ?? 0, locality: s.locality ?? '', localityWeight: s.localityWeight,
  }));
}

/** Share of picks per host index. */
function shares(list: readonly Host[], counts: Map<string, number>, n: number): number[] {
  return list.map((h) => (counts.get(h.key) ?? 0) / n);
}

describe('priority load balancer', () => {
  it('is not used when every host is at priority 0 and localities are not weighted', () => {
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(hosts([{}, {}]), seededRandom(1));
    expect(lb).not.toBeInstanceOf(PriorityLoadBalancer);
  });

  it('fails over to priority 1 when priority 0 has no healthy host, and back', () => {
    const list = hosts([{ priority: 0 }, { priority: 0 }, { priority: 1 }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(list, seededRandom(2));
    expect(lb).toBeInstanceOf(PriorityLoadBalancer);
    let counts = countPicks(100, () => lb.chooseHost({}));
    expect(counts.get(list[2]!.key)).toBeUndefined();
    list[0]!.healthy = false;
    list[1]!.healthy = false;
    counts = countPicks(100, () => lb.chooseHost({}));
    expect(counts.get(list[2]!.key)).toBe(100);
    list[0]!.healthy = true;
    list[1]!.healthy = true;
    counts = countPicks(100, () => lb.chooseHost({}));
    expect(counts.get(list[2]!.key)).toBeUndefined();
  });

  it('splits 70/30 when half of priority 0 is healthy (factor 140)', () => {
    const list = hosts([{ priority: 0 }, { priority: 0, healthy: false }, { priority: 1 }]);
    const lb = clusterLoadBalancerFactory('RANDOM', {})(list, seededRandom(3)) as PriorityLoadBalancer;
    expect(lb.priorityLoad.load).toEqual([70, 30]);
    const n = 10_000;
    const s = shares(list, countPicks(n, () => lb.chooseHost({})), n);
    expect(s[0]).toBeCloseTo(0.7, 1);
    expect(s[1]).toBe(0);
    expect(s[2]).toBeCloseTo(0.3, 1);
  });

  it('takes the overprovisioning factor from the load assignment', () => {
    const list = hosts([{ priority: 0 }, { priority: 0, healthy: false }, { priority: 1 }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, { overprovisioningFactor: 200 })(list, seededRandom(4)) as PriorityLoadBalancer;
    expect(lb.priorityLoad.load).toEqual([100, 0]);
  });

  it('in total panic shares by host counts and balances over all hosts', () => {
    const list = hosts([{ priority: 0, healthy: false }, { priority: 0, healthy: false }, { priority: 1, healthy: false }, { priority: 1, healthy: false }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(list, seededRandom(5)) as PriorityLoadBalancer;
    expect(lb.priorityLoad.load).toEqual([50, 50]);
    const n = 4000;
    const s = shares(list, countPicks(n, () => lb.chooseHost({})), n);
    for (const x of s) expect(x).toBeCloseTo(0.25, 1);
  });

  it('a level below the threshold is not in panic while the total is 100: its share goes to its healthy host', () => {
    // P0 1 of 3 healthy (health 46), P1 healthy: load [46, 54], P0 not in panic (as Envoy).
    const list = hosts([{ priority: 0 }, { priority: 0, healthy: false }, { priority: 0, healthy: false }, { priority: 1 }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(list, seededRandom(14)) as PriorityLoadBalancer;
    expect(lb.priorityLoad).toEqual({ load: [46, 54], panic: [false, false] });
    const n = 4000;
    const s = shares(list, countPicks(n, () => lb.chooseHost({})), n);
    expect(s[1]).toBe(0);
    expect(s[2]).toBe(0);
    expect(s[0]).toBeCloseTo(0.46, 1);
  });

  it('a single level with a threshold above 71% panics only when its health is below 100 too', () => {
    // Threshold 80, 3 of 4 healthy: 75% < 80%, but 140 × 3/4 >= 100: healthy hosts only.
    const list = hosts([{}, {}, {}, { healthy: false }]);
    const lb = clusterLoadBalancerFactory('RANDOM', { healthyPanicThreshold: 80 })(list, seededRandom(15));
    expect(countPicks(200, () => lb.chooseHost({})).get(list[3]!.key)).toBeUndefined();
    // 2 of 4 healthy: health 70, in panic: all hosts.
    list[2]!.healthy = false;
    expect(countPicks(200, () => lb.chooseHost({})).get(list[3]!.key)).toBeGreaterThan(0);
  });

  it('with panic disabled (healthy_panic_threshold 0) and nothing healthy, finds no host', () => {
    const list = hosts([{ priority: 0, healthy: false }, { priority: 1, healthy: false }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', { healthyPanicThreshold: 0 })(list, seededRandom(6));
    expect(lb.chooseHost({})).toBeUndefined();
  });

  it('chooses the level by the request hash for RING_HASH', () => {
    const list = hosts([{ priority: 0 }, { priority: 0, healthy: false }, { priority: 1 }]);
    const lb = clusterLoadBalancerFactory('RING_HASH', { minimumRingSize: 64 })(list, seededRandom(7));
    // load [70, 30]: hash % 100 + 1 <= 70 -> P0.
    expect(lb.chooseHost({ hash: 5n })!.key).toBe(list[0]!.key);
    expect(lb.chooseHost({ hash: 95n })!.key).toBe(list[2]!.key);
    expect(lb.chooseHost({ hash: 95n })!.key).toBe(list[2]!.key);
  });
});

describe('locality weighted load balancing', () => {
  const weighted = { localityWeighted: true };

  it('picks localities 3:1 by weight, then a host within', () => {
    const list = hosts([
      { locality: 'r/a/', localityWeight: 3 }, { locality: 'r/a/', localityWeight: 3 },
      { locality: 'r/b/', localityWeight: 1 }, { locality: 'r/b/', localityWeight: 1 },
    ]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, weighted)(list, seededRandom(8));
    const counts = countPicks(800, () => lb.chooseHost({}));
    expect(shares(list, counts, 800)).toEqual([0.375, 0.375, 0.125, 0.125]);
  });

  it('ignores locality weights unless locality_weighted_lb_config is set', () => {
    const list = hosts([{ locality: 'a', localityWeight: 3 }, { locality: 'b', localityWeight: 1 }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {})(list, seededRandom(9));
    expect(shares(list, countPicks(100, () => lb.chooseHost({})), 100)).toEqual([0.5, 0.5]);
  });

  it('gives a locality without a weight no load', () => {
    const list = hosts([{ locality: 'a', localityWeight: 1 }, { locality: 'b' }]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, weighted)(list, seededRandom(10));
    expect(shares(list, countPicks(100, () => lb.chooseHost({})), 100)).toEqual([1, 0]);
  });

  it('scales a locality\'s weight by its availability and picks only its healthy hosts', () => {
    // a: weight 1, 1 of 2 healthy -> 0.7; b: weight 1, healthy -> 1. a's share 0.7 / 1.7.
    const list = hosts([
      { locality: 'a', localityWeight: 1 }, { locality: 'a', localityWeight: 1, healthy: false },
      { locality: 'b', localityWeight: 1 }, { locality: 'b', localityWeight: 1 },
    ]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, weighted)(list, seededRandom(11));
    const n = 1700;
    const s = shares(list, countPicks(n, () => lb.chooseHost({})), n);
    expect(s[0]).toBeCloseTo(0.7 / 1.7, 2);
    expect(s[1]).toBe(0);
    expect(s[2]! + s[3]!).toBeCloseTo(1 / 1.7, 2);
  });

  it('applies per priority level: failover lands on the weighted localities of P1', () => {
    const list = hosts([
      { priority: 0, locality: 'a', localityWeight: 1, healthy: false },
      { priority: 1, locality: 'b', localityWeight: 1 }, { priority: 1, locality: 'c', localityWeight: 3 },
    ]);
    const lb = clusterLoadBalancerFactory('LEAST_REQUEST', {}, weighted)(list, seededRandom(12));
    expect(shares(list, countPicks(400, () => lb.chooseHost({})), 400)).toEqual([0, 0.25, 0.75]);
  });

  it('ignores locality weights in panic (all hosts of the level)', () => {
    const list = hosts([
      { locality: 'a', localityWeight: 100, healthy: false }, { locality: 'a', localityWeight: 100, healthy: false },
      { locality: 'b', localityWeight: 1, healthy: false }, { locality: 'b', localityWeight: 1 },
    ]);
    const lb = clusterLoadBalancerFactory('ROUND_ROBIN', {}, weighted)(list, seededRandom(13));
    expect(shares(list, countPicks(400, () => lb.chooseHost({})), 400)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});
