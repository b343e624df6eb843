/** MAGLEV: Envoy's table construction, weights, consistency, minimal disruption. */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { Host } from '../../../sidecar/contracts/load-balancer.ts';
import { buildMaglevTable, MaglevLoadBalancer, maglev } from '../../../sidecar/upstream/lb-maglev.ts';
import { xxHash64String } from '../../../sidecar/upstream/xxhash64.ts';
import { makeHosts, seededRandom } from './lb-fixtures.ts';

const KEYS = Array.from({ length: 3000 }, (_, i) => xxHash64String(`request-${i}`));

function owners(lb: { chooseHost(ctx: { hash?: bigint }): Host | undefined }): string[] {
  return KEYS.map((hash) => lb.chooseHost({ hash })!.key);
}

function slotCounts(hosts: readonly Host[], tableSize: number): number[] {
  const table = buildMaglevTable(hosts, tableSize);
  const counts = hosts.map(() => 0);
  for (const s of table.slots) counts[hosts.indexOf(table.hosts[s]!)]! += 1;
  return counts;
}

describe('maglev', () => {
  it('returns undefined for an empty host list', () => {
    expect(maglev()([], seededRandom(1)).chooseHost({ hash: 1n })).toBeUndefined();
    expect(maglev()([], seededRandom(1)).chooseHost({})).toBeUndefined();
  });

  it('fills a 65537-slot table evenly for equal weights (counts differ by at most one)', () => {
    const counts = slotCounts(makeHosts(7), 65537);
    expect(counts.reduce((a, b) => a + b)).toBe(65537);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('gives slots in proportion to weight', () => {
    const counts = slotCounts(makeHosts(3, [1, 2, 4]), 65537);
    expect(counts[1]! / counts[0]!).toBeCloseTo(2, 1);
    expect(counts[2]! / counts[0]!).toBeCloseTo(4, 1);
  });

  it('starts each host at its xxHash64(key, 0) % M offset', () => {
    // A single host takes its offset slot first; with two, the first sorted host keeps it.
    const hosts = makeHosts(2);
    const m = 65537n;
    const table = buildMaglevTable(hosts, 65537);
    const offset = Number(xxHash64String('10.0.0.1:8080', 0n) % m);
    expect(table.hosts[table.slots[offset]!]).toBe(hosts[0]);
  });

  it('looks up table[hash % table_size]', () => {
    const hosts = makeHosts(5);
    const lb = maglev()(hosts, seededRandom(1)) as MaglevLoadBalancer;
    const { slots, hosts: sorted } = lb.table;
    expect(lb.chooseHost({ hash: 12345n })).toBe(sorted[slots[12345]!]);
    expect(lb.chooseHost({ hash: 65537n * 3n + 7n })).toBe(sorted[slots[7]!]);
    expect(lb.chooseHost({ hash: 0xffff_ffff_ffff_ffffn })).toBe(sorted[slots[Number(0xffff_ffff_ffff_ffffn % 65537n)]!]);
  });

  it('a host-selection retry (attempt n) looks up hash ^ (2^64 - n), as Envoy MaglevTable::chooseHost', () => {
    const hosts = makeHosts(5);
    const lb = maglev()(hosts, seededRandom(1)) as MaglevLoadBalancer;
    const { slots, hosts: sorted } = lb.table;
    for (const hash of [12345n, 0n, 0xffff_ffff_ffff_ffffn]) {
      for (const attempt of [1, 2, 7]) {
        const altered = hash ^ (2n ** 64n - BigInt(attempt));
        expect(lb.chooseHost({ hash, attempt })).toBe(sorted[slots[Number(altered % 65537n)]!]);
      }
      expect(lb.chooseHost({ hash, attempt: 0 })).toBe(lb.chooseHost({ hash }));
    }
  });

  it('is consistent: same hash, same host, whatever the host order', () => {
    const hosts = makeHosts(8);
    const a = owners(maglev()(hosts, seededRandom(1)));
    expect(owners(maglev()([...hosts].reverse(), seededRandom(2)))).toEqual(a);
  });

  it('remaps about 1/N of keys when a host goes away', () => {
    const hosts = makeHosts(10);
    const before = owners(maglev()(hosts, seededRandom(1)));
    const removed = hosts[6]!.key;
    const after = owners(maglev()(hosts.filter((h) => h.key !== removed), seededRandom(1)));
    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === before[i]) continue;
      moved++;
      if (before[i] !== removed) movedElsewhere++;
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.05);
    expect(moved / KEYS.length).toBeLessThan(0.16);
    // Maglev trades a little disruption for balance: few keys of other hosts move.
    expect(movedElsewhere / KEYS.length).toBeLessThan(0.03);
  });

  it('rebuilds lazily when health changes and uses all hosts in panic', () => {
    const hosts = makeHosts(4);
    const lb = maglev({ tableSize: 251 })(hosts, seededRandom(1));
    hosts[0]!.healthy = false;
    expect(owners(lb)).not.toContain(hosts[0]!.key);
    hosts[1]!.healthy = false;
    hosts[2]!.healthy = false;
    expect(new Set(owners(lb)).size).toBe(4);
  });

  it('uses a random slot when the request has no hash', () => {
    const lb = maglev({ tableSize: 13 })(makeHosts(3), seededRandom(4));
    expect(new Set(Array.from({ length: 100 }, () => lb.chooseHost({})!.key)).size).toBe(3);
  });

  it('requires a prime table size no larger than 5000011', () => {
    expect(() => maglev({ tableSize: 65536 })).toThrow(/must be prime/);
    expect(() => maglev({ tableSize: 5000012 })).toThrow(ConfigError);
    expect(() => maglev({ tableSize: 5000011 })).not.toThrow();
  });
});
