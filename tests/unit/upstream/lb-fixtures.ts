/**
 * Shared fixtures for the load-balancer tests: a seeded deterministic random function (so
 * distribution assertions never flake) and plain Host objects.
 */

import type { Host } from '../../../sidecar/contracts/load-balancer.ts';

/** mulberry32: a small seeded PRNG returning [0, 1) like Math.random. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` healthy, idle hosts 10.0.0.1:8080 ... with the given weights (default 1). */
export function makeHosts(n: number, weights: readonly number[] = []): Host[] {
  const hosts: Host[] = [];
  for (let i = 0; i < n; i++) {
    const address = `10.0.0.${i + 1}`;
    hosts.push({ key: `${address}:8080`, address, port: 8080, weight: weights[i] ?? 1, healthy: true, activeRequests: 0 });
  }
  return hosts;
}

/** Counts how often each host key is returned by `pick` over `n` calls. */
export function countPicks(n: number, pick: () => Host | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h === undefined ? 'undefined' : h.key;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
