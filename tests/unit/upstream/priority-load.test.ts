/**
 * Envoy's priority load (priority-load.ts) with the examples of Envoy's docs
 * (arch_overview priority levels, overprovisioning factor, panic threshold), and the
 * effective locality weights of the locality weighted load balancing table.
 */

import { describe, expect, it } from '@jest/globals';
import { effectiveLocalityWeight, LocalityScheduler } from '../../../sidecar/upstream/locality-weights.ts';
import { choosePriority, computePriorityLoad, levelHealth } from '../../../sidecar/upstream/priority-load.ts';

const level = (total: number, healthy: number) => ({ total, healthy });

describe('priority load', () => {
  it('keeps all traffic on a fully healthy P0', () => {
    expect(computePriorityLoad([level(4, 4), level(4, 4)], 140, 50).load).toEqual([100, 0]);
  });

  it('keeps P0 at 100% down to ~72% healthy (overprovisioning factor 140), then spills to P1', () => {
    expect(levelHealth(level(100, 72), 140)).toBe(100);
    expect(computePriorityLoad([level(100, 72), level(10, 10)], 140, 50).load).toEqual([100, 0]);
    expect(computePriorityLoad([level(100, 71), level(10, 10)], 140, 50).load).toEqual([99, 1]);
    expect(computePriorityLoad([level(100, 50), level(10, 10)], 140, 50).load).toEqual([70, 30]);
  });

  it('sends everything to P1 when P0 has no healthy host', () => {
    expect(computePriorityLoad([level(2, 0), level(2, 2)], 140, 50).load).toEqual([0, 100]);
  });

  it('spills through three levels', () => {
    // P0 20% -> 28, P1 40% -> 56, P2 healthy -> 100 (normalized 100): 28 / 56 / 16.
    expect(computePriorityLoad([level(10, 2), level(10, 4), level(10, 10)], 140, 50).load).toEqual([28, 56, 16]);
  });

  it('uses the overprovisioning factor given', () => {
    expect(computePriorityLoad([level(10, 5), level(10, 10)], 100, 50).load).toEqual([50, 50]);
    expect(computePriorityLoad([level(10, 5), level(10, 10)], 200, 50).load).toEqual([100, 0]);
  });

  it('normalizes the load when the levels together cannot take 100%', () => {
    // P0 50% -> 70 (not in panic), P1 none healthy: normalized 70, P0 takes it all.
    const r = computePriorityLoad([level(4, 2), level(2, 0)], 140, 50);
    expect(r.load).toEqual([100, 0]);
    expect(r.panic).toEqual([false, true]);
  });

  it('shares by host counts when every level is in panic (total panic)', () => {
    const r = computePriorityLoad([level(4, 1), level(4, 0)], 140, 50);
    expect(r.panic).toEqual([true, true]);
    expect(r.load).toEqual([50, 50]);
    expect(computePriorityLoad([level(3, 0), level(1, 0)], 140, 50).load).toEqual([75, 25]);
  });

  it('never flags a level in panic while the total availability is 100, as Envoy', () => {
    // P0 1/3 healthy (health 46, below the threshold), P1 healthy: the total is 100, so P0 keeps
    // 46% and balances over its healthy host (Envoy's recalculatePerPriorityPanic).
    const r = computePriorityLoad([level(3, 1), level(2, 2)], 140, 50);
    expect(r.load).toEqual([46, 54]);
    expect(r.panic).toEqual([false, false]);
  });

  it('flags the levels below the threshold in panic when the total is below 100', () => {
    // Factor 140: P0 1/4 healthy (35), P1 1/2 healthy (70): the total is 100, no panic. Factor
    // 100: P0 25, P1 50, total 75: P0 (25% healthy) is in panic, P1 (50%) is not.
    expect(computePriorityLoad([level(4, 1), level(2, 1)], 140, 50).panic).toEqual([false, false]);
    const r = computePriorityLoad([level(4, 1), level(4, 2)], 100, 50);
    expect(r.panic).toEqual([true, false]);
    expect(r.load).toEqual([34, 66]);
  });

  it('on a single level, panic needs the level\'s health below 100 too (thresholds above 71%)', () => {
    // 3 of 4 healthy: 75% < 80%, but 140 × 3/4 = 105 -> health 100: not in panic.
    expect(computePriorityLoad([level(4, 3)], 140, 80).panic).toEqual([false]);
    expect(computePriorityLoad([level(4, 2)], 140, 80).panic).toEqual([true]);
  });

  it('with panic disabled and nothing healthy, puts the load on P0 (which then finds no host)', () => {
    const r = computePriorityLoad([level(2, 0), level(2, 0)], 140, 0);
    expect(r.load).toEqual([100, 0]);
    expect(r.panic).toEqual([false, false]);
  });

  it('puts everything on P0 when there are no hosts at all', () => {
    expect(computePriorityLoad([level(0, 0)], 140, 50).load).toEqual([100]);
  });

  it('chooses the first level whose cumulative load reaches the point (1..100)', () => {
    expect(choosePriority([70, 30], 1)).toBe(0);
    expect(choosePriority([70, 30], 70)).toBe(0);
    expect(choosePriority([70, 30], 71)).toBe(1);
    expect(choosePriority([0, 100], 1)).toBe(1);
    expect(choosePriority([100, 0], 100)).toBe(0);
  });
});

describe('effective locality weight', () => {
  // Envoy's docs: X weight 1, Y weight 2 (fully available), factor 1.4.
  const share = (healthyPct: number): number => {
    const x = effectiveLocalityWeight(1, 100, healthyPct, 140);
    const y = effectiveLocalityWeight(2, 100, 100, 140);
    return Math.floor((100 * x) / (x + y));
  };
  it('matches the table of Envoy\'s locality weighted load balancing docs', () => {
    expect(share(100)).toBe(33);
    expect(share(70)).toBe(32); // 32.9%: Envoy's table rounds to 33
    expect(share(69)).toBe(32);
    expect(share(50)).toBe(25); // 25.9%: the table says 26
    expect(share(25)).toBe(14); // 14.9%: the table says 15
    expect(share(0)).toBe(0);
  });

  it('is 0 without a weight or without hosts', () => {
    expect(effectiveLocalityWeight(0, 4, 4, 140)).toBe(0);
    expect(effectiveLocalityWeight(3, 0, 0, 140)).toBe(0);
  });

  it('schedules localities by weight, skipping those at 0', () => {
    const s = new LocalityScheduler([3, 0, 1]);
    const counts = [0, 0, 0];
    for (let i = 0; i < 400; i++) counts[s.pick()!]!++;
    expect(counts).toEqual([300, 0, 100]);
    expect(new LocalityScheduler([0, 0]).pick()).toBeUndefined();
  });
});
