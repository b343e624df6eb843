/**
 * Envoy's priority load (LoadBalancerBase::recalculatePerPriorityState and
 * recalculatePerPriorityPanic, source/common/upstream/load_balancer_impl.cc): how much of the
 * traffic, in percent, each priority level of a cluster takes, given how many of its hosts are
 * healthy.
 *
 * - A level's health is `min(100, overprovisioning_factor × healthy / total)` (integer percent;
 *   the factor defaults to 140, so a level keeps all its traffic until fewer than ~72% of its
 *   hosts are healthy).
 * - The normalized total availability is `min(100, Σ health)`. Load is handed out from the
 *   highest priority (0) down: each level takes `min(left, health × 100 / normalized)`, so what
 *   a degraded level cannot take spills to the next one; rounding leftovers go to the first
 *   level with any health.
 * - A level is in panic when the normalized total availability is below 100 and fewer than
 *   healthy_panic_threshold percent of its hosts are healthy (a threshold of 0 disables panic).
 *   Envoy never sets a level in panic while the total is 100, however few of that level's hosts
 *   are healthy: the level then takes only its share and balances over its healthy hosts. When
 *   every level is in panic, load is shared by host counts instead (recalculateLoadInTotalPanic);
 *   a level chosen while in panic balances over all its hosts.
 *
 * Degraded hosts count as healthy here (EDS DEGRADED is routed to like HEALTHY; Envoy gives them
 * their own, lower, availability), and weighted_priority_health is not supported.
 */

import { isHostSetInPanic } from './lb-host-set.ts';

/** Envoy's default ClusterLoadAssignment.Policy.overprovisioning_factor, in percent. */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

/** Host counts of one priority level. */
export interface LevelCounts {
  readonly total: number;
  readonly healthy: number;
}

/** The outcome for a cluster: per level, its load in percent (summing to 100) and its panic flag. */
export interface PriorityLoad {
  readonly load: readonly number[];
  readonly panic: readonly boolean[];
}

/** A level's health percentage: `min(100, factor × healthy / total)`, 0 for an empty level. */
export function levelHealth(counts: LevelCounts, overprovisioningFactor: number): number {
  if (counts.total === 0) return 0;
  return Math.min(100, Math.floor((overprovisioningFactor * counts.healthy) / counts.total));
}

/** Computes the load of every level (Envoy's per_priority_load_ and per_priority_panic_). */
export function computePriorityLoad(levels: readonly LevelCounts[], overprovisioningFactor: number, panicThreshold: number): PriorityLoad {
  const n = Math.max(1, levels.length);
  const load = new Array<number>(n).fill(0);
  const panic = new Array<boolean>(n).fill(false);
  const health = levels.map((l) => levelHealth(l, overprovisioningFactor));
  let sum = 0;
  for (const h of health) sum += h;
  const normalized = Math.min(100, sum);

  if (panicThreshold === 0 && normalized === 0) {
    // Panic disabled and nothing healthy: the load must add up to 100; P0 finds no host.
    load[0] = 100;
    return { load, panic };
  }
  // Envoy (recalculatePerPriorityPanic): "Never set panic mode if normalized total health is
  // 100%, even when individual priority level has very low # of healthy hosts."
  for (let i = 0; i < levels.length; i++) {
    panic[i] = normalized === 100 ? false : isHostSetInPanic(levels[i]!.total, levels[i]!.healthy, panicThreshold);
  }
  if (normalized > 0) {
    let left = 100;
    let firstHealthy = -1;
    for (let i = 0; i < levels.length; i++) {
      if (firstHealthy < 0 && health[i]! > 0) firstHealthy = i;
      const take = Math.min(left, Math.floor((health[i]! * 100) / normalized));
      load[i] = take;
      left -= take;
    }
    if (left > 0 && firstHealthy >= 0) load[firstHealthy]! += left;
    // Enough healthy hosts overall: no level is in panic (above), so no total panic.
    if (normalized === 100) return { load, panic };
  }
  if (panic.every(Boolean)) return { load: totalPanicLoad(levels), panic };
  return { load, panic };
}

/** Every level in panic: load by host counts, regardless of health (the rest to the first non-empty level). */
function totalPanicLoad(levels: readonly LevelCounts[]): number[] {
  const n = Math.max(1, levels.length);
  const load = new Array<number>(n).fill(0);
  let total = 0;
  for (const l of levels) total += l.total;
  if (total === 0) {
    load[0] = 100;
    return load;
  }
  let left = 100;
  let firstNonEmpty = -1;
  for (let i = 0; i < levels.length; i++) {
    if (firstNonEmpty < 0 && levels[i]!.total > 0) firstNonEmpty = i;
    const l = Math.floor((100 * levels[i]!.total) / total);
    load[i] = l;
    left -= l;
  }
  load[firstNonEmpty]! += left;
  return load;
}

/**
 * Envoy's choosePriority: `point` is 1..100 (a random or hash value `% 100 + 1`); the first level
 * whose cumulative load reaches it.
 */
export function choosePriority(load: readonly number[], point: number): number {
  let acc = 0;
  for (let i = 0; i < load.length; i++) {
    acc += load[i]!;
    if (point <= acc) return i;
  }
  return 0;
}
