/**
 * Locality weighted load balancing (common_lb_config.locality_weighted_lb_config), as Envoy's
 * HostSetImpl::effectiveLocalityWeight and chooseHealthyLocality: within a priority level, a
 * locality is picked by an earliest-deadline-first schedule over its effective weight
 *
 *   locality load_balancing_weight × min(1, overprovisioning_factor / 100 × healthy / total)
 *
 * so a locality keeps its share until fewer than ~72% of its hosts are healthy (factor 140) and
 * then gives traffic away in proportion; a locality without a weight, or with no healthy host,
 * takes none. The caller then picks a host among the locality's healthy hosts.
 */

import type { Host } from '../contracts/load-balancer.ts';
import { EdfScheduler } from './lb-edf-scheduler.ts';

/** Envoy's effective locality weight (0 for an empty locality). */
export function effectiveLocalityWeight(weight: number, total: number, healthy: number, overprovisioningFactor: number): number {
  if (total === 0 || weight <= 0) return 0;
  return weight * Math.min(1, (overprovisioningFactor / 100) * (healthy / total));
}

/** The hosts of one priority level grouped by locality, in order of first appearance. */
export function groupByLocality<H extends Host>(hosts: readonly H[]): Array<{ readonly locality: string; readonly weight: number; readonly hosts: H[] }> {
  const groups = new Map<string, { locality: string; weight: number; hosts: H[] }>();
  for (const h of hosts) {
    const key = h.locality ?? '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { locality: key, weight: 0, hosts: [] }));
    // Localities listed twice at one priority: the last weight given wins.
    g.weight = h.localityWeight ?? 0;
    g.hosts.push(h);
  }
  return [...groups.values()];
}

/** Picks locality indexes by effective weight; rebuilt when health changes. */
export class LocalityScheduler {
  readonly #edf: EdfScheduler<number> | undefined;

  /** `weights[i]` is the effective weight of locality i; `initialPicks` staggers the start. */
  constructor(weights: readonly number[], initialPicks = 0) {
    const entries: number[] = [];
    for (let i = 0; i < weights.length; i++) if (weights[i]! > 0) entries.push(i);
    this.#edf = entries.length ? new EdfScheduler(entries, (i) => weights[i]!, initialPicks) : undefined;
  }

  /** The next locality index, or undefined when every effective weight is 0. */
  pick(): number | undefined {
    return this.#edf?.pickAndAdd();
  }
}
