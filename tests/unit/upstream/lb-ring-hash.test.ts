/** RING_HASH: Envoy's ring layout, consistent lookup, minimal remapping, panic. */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { Host } from '../../../sidecar/contracts/load-balancer.ts';
import { buildRing, RingHashLoadBalancer, ringHash } from '../../../sidecar/upstream/lb-ring-hash.ts';
import { xxHash64String } from '../../../sidecar/upstream/xxhash64.ts';
import { makeHosts, seededRandom } from './lb-fixtures.ts';

const KEYS = Array.from({ length: 3000 }, (_, i) => xxHash64String(`request-${i}`));

function owners(lb: { chooseHost(ctx: { hash?: bigint }): Host | undefined }): string[] {
  return KEYS.map((hash) => lb.chooseHost({ hash })!.key);
}

describe('ringHash', () => {
  it('returns undefined for an empty host list', () => {
    expect(ringHash()([], seededRandom(1)).chooseHost({ hash: 1n })).toBeUndefined();
    expect(ringHash()([], seededRandom(1)).chooseHost({})).toBeUndefined();
  });

  it('builds a 1024-point ring by default, split evenly', () => {
    const lb = ringHash()(makeHosts(4), seededRandom(1)) as RingHashLoadBalancer;
    expect(lb.stats).toEqual({ size: 1024, minHashesPerHost: 256, maxHashesPerHost: 256 });
  });

  it('scales the ring so the lightest host gets whole points, as Envoy', () => {
    const ring = buildRing(makeHosts(2, [1, 2]), 1024, 8 * 1024 * 1024);
    // min normalized weight 1/3: ceil(1024 / 3) * 3 = 1026 points, 342 and 684.
    expect(ring.stats).toEqual({ size: 1026, minHashesPerHost: 342, maxHashesPerHost: 684 });
    // 1 : 10000 would need 10001 points; the cap keeps 4096 and the light host still gets one.
    expect(buildRing(makeHosts(2, [1, 10000]), 1024, 4096).stats).toEqual({ size: 4096, minHashesPerHost: 1, maxHashesPerHost: 4095 });
  });

  it('places points at xxHash64("<ip>:<port>_<i>") and maps a hash to the next point', () => {
    const hosts = makeHosts(3);
    const lb = ringHash()(hosts, seededRandom(1));
    for (const [host, i] of [[hosts[0]!, 0], [hosts[1]!, 17], [hosts[2]!, 340]] as const) {
      const point = xxHash64String(`${host.address}:${host.port}_${i}`);
      expect(lb.chooseHost({ hash: point })).toBe(host);
    }
  });

  it('wraps past the last point to the first', () => {
    const hosts = makeHosts(3);
    const ring = buildRing(hosts, 1024, 8 * 1024 * 1024);
    const first = hosts[ring.host[0]!];
    const lb = ringHash()(hosts, seededRandom(1));
    expect(lb.chooseHost({ hash: 0xffff_ffff_ffff_ffffn })).toBe(first);
    expect(lb.chooseHost({ hash: 0n })).toBe(first);
  });

  it('a host-selection retry (attempt n) takes the n-th point after the hashed one, wrapping (Envoy Ring::chooseHost)', () => {
    const hosts = makeHosts(3);
    const ring = buildRing(hosts, 1024, 8 * 1024 * 1024);
    const lb = ringHash()(hosts, seededRandom(1));
    const n = ring.host.length;
    const owner = (i: number): Host => ring.hosts[ring.host[i % n]!]!;
    for (const [start, attempt] of [[5, 1], [5, 2], [n - 1, 1], [n - 1, 3]] as const) {
      // A point's own hash maps to that point; attempt k to the k-th point after it.
      const hash = (BigInt(ring.hi[start]!) << 32n) | BigInt(ring.lo[start]!);
      expect(lb.chooseHost({ hash })).toBe(owner(start));
      expect(lb.chooseHost({ hash, attempt })).toBe(owner(start + attempt));
    }
  });

  it('is consistent: same hash, same host, whatever the host order', () => {
    const hosts = makeHosts(8);
    const a = owners(ringHash()(hosts, seededRandom(1)));
    expect(owners(ringHash()(hosts, seededRandom(2)))).toEqual(a);
    expect(owners(ringHash()([...hosts].reverse(), seededRandom(3)))).toEqual(a);
  });

  it('spreads keys roughly evenly', () => {
    const counts = new Map<string, number>();
    for (const k of owners(ringHash()(makeHosts(4), seededRandom(1)))) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const n of counts.values()) expect(n / KEYS.length).toBeGreaterThan(0.15);
  });

  // Envoy gives every host ceil(minimum_ring_size / N) points, so when a host leaves, the others
  // gain points (i = 103..113 for 10 -> 9 hosts) and take a few keys from each other too: about
  // 1/N of the keys move off the removed host and up to another 1/N move between survivors.
  function remapped(before: string[], after: string[], removed: string): { moved: number; elsewhere: number } {
    let moved = 0;
    let elsewhere = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === before[i]) continue;
      moved++;
      if (before[i] !== removed) elsewhere++;
    }
    return { moved: moved / KEYS.length, elsewhere: elsewhere / KEYS.length };
  }

  it('remaps about 1/N of the keys (plus Envoy\'s re-pointing) when a host is removed', () => {
    const hosts = makeHosts(10);
    const before = owners(ringHash()(hosts, seededRandom(1)));
    const removed = hosts[4]!.key;
    const after = owners(ringHash()(hosts.filter((h) => h.key !== removed), seededRandom(1)));
    const share = before.filter((k) => k === removed).length / KEYS.length;
    const { moved, elsewhere } = remapped(before, after, removed);
    expect(after).not.toContain(removed);
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.15);
    expect(moved).toBeCloseTo(share + elsewhere, 10);
    expect(elsewhere).toBeLessThan(0.1);
  });

  it('with a ring capped by maximum_ring_size, survivors keep their points and keys', () => {
    // 4 -> 3 hosts with a 4096-point cap: hosts keep points 0..1023 and gain 1024..1365.
    const hosts = makeHosts(4);
    const opts = { minimumRingSize: 4096, maximumRingSize: 4096 };
    const before = owners(ringHash(opts)(hosts, seededRandom(1)));
    const removed = hosts[0]!.key;
    const after = owners(ringHash(opts)(hosts.slice(1), seededRandom(1)));
    const { elsewhere } = remapped(before, after, removed);
    expect(elsewhere).toBeLessThan(0.12);
  });

  it('rebuilds lazily when a host turns unhealthy, and back when it recovers', () => {
    const hosts = makeHosts(10);
    const lb = ringHash()(hosts, seededRandom(1));
    const before = owners(lb);
    hosts[2]!.healthy = false;
    const after = owners(lb);
    expect(after).not.toContain(hosts[2]!.key);
    expect(after).toEqual(owners(ringHash()(hosts.filter((h) => h !== hosts[2]), seededRandom(1))));
    expect(remapped(before, after, hosts[2]!.key).elsewhere).toBeLessThan(0.1);
    hosts[2]!.healthy = true;
    expect(owners(lb)).toEqual(before);
  });

  it('builds over all hosts in panic', () => {
    const hosts = makeHosts(4);
    for (const h of hosts.slice(1)) h.healthy = false;
    expect(new Set(owners(ringHash()(hosts, seededRandom(1)))).size).toBe(4);
  });

  it('uses a random hash when the request has none', () => {
    const lb = ringHash()(makeHosts(4), seededRandom(9));
    const seen = new Set(Array.from({ length: 200 }, () => lb.chooseHost({})!.key));
    expect(seen.size).toBe(4);
  });

  it('validates ring sizes', () => {
    expect(() => ringHash({ minimumRingSize: 2048, maximumRingSize: 1024 })).toThrow(/minimum_ring_size \(2048\) > maximum_ring_size \(1024\)/);
    expect(() => ringHash({ maximumRingSize: 8 * 1024 * 1024 + 1 })).toThrow(ConfigError);
    expect(() => ringHash({ minimumRingSize: 0 })).toThrow(/minimum_ring_size/);
  });
});
