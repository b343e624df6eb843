/**
 * MAGLEV (envoy.load_balancing_policies.maglev), as Envoy's OriginalMaglevTable
 * (source/extensions/load_balancing_policies/maglev/maglev_lb.cc, the paper's listing 1):
 *  - hosts are sorted by their hash key ("ip:port") so the table does not depend on host order;
 *  - each host's permutation is offset = xxHash64(key, 0) % M, skip = xxHash64(key, 1) % (M-1) + 1,
 *    slot(next) = (offset + skip * next) % M, with M = table_size (prime, default 65537);
 *  - the table is filled round by round; weights are normalized and a host takes a slot in
 *    round `r` only if r * weight >= its target (which grows by the max normalized weight per
 *    slot taken), so a host of half the largest weight fills about half as many slots;
 *  - lookup is table[hash % M]; with no request hash, a random slot.
 * The table is built over the hosts to use (healthy ones, or all in panic; lb-host-set.ts).
 * Health is re-read at each pick and the table is rebuilt lazily, on that pick, when the hosts
 * to use changed (HostSet.version). Not supported: hash_balance_factor, locality weighting,
 * use_hostname_for_hashing.
 */

import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { HostSet, hostHashKey } from './lb-host-set.ts';
import { maglevTableSize, panicThresholdFrom } from '../contracts/lb-options.ts';
import type { CommonLbOptions } from './lb-host-set.ts';
import { xxHash64String } from './xxhash64.ts';


/** Options of the Maglev policy (fields of Envoy's Maglev proto). */
export interface MaglevOptions extends CommonLbOptions {
  /** A prime no larger than 5000011; default 65537. */
  readonly tableSize?: number;
}

/** A filled Maglev table: slot s is owned by hosts[slots[s]]. */
export interface MaglevTable {
  /** table_size entries, each an index into `hosts`. */
  readonly slots: Uint32Array;
  /** The hosts the table was built over, sorted by hash key. */
  readonly hosts: readonly Host[];
}

/** One host's state while filling (Envoy's TableBuildEntry). */
interface BuildEntry {
  readonly index: number;
  readonly offset: number;
  readonly skip: number;
  readonly weight: number;
  target: number;
  next: number;
}

/** Trial division; table sizes are at most 5000011. */
/** Builds Envoy's Maglev table of `tableSize` slots (prime) for `hosts`. */
export function buildMaglevTable(hosts: readonly Host[], tableSize: number): MaglevTable {
  if (hosts.length === 0) return { slots: new Uint32Array(0), hosts: [] };
  const m = BigInt(tableSize);
  const keyed = hosts.map((host) => ({ host, key: hostHashKey(host) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const sorted = keyed.map((k) => k.host);

  let sum = 0;
  for (const h of sorted) sum += h.weight;
  let maxNormalized = 0;
  const entries: BuildEntry[] = keyed.map(({ host, key }, index) => {
    const weight = host.weight / sum;
    maxNormalized = Math.max(maxNormalized, weight);
    return {
      index,
      offset: Number(xxHash64String(key, 0n) % m),
      skip: Number(xxHash64String(key, 1n) % (m - 1n)) + 1,
      weight,
      target: 0,
      next: 0,
    };
  });

  // Slot values are host index + 1; 0 marks an empty slot while filling.
  const slots = new Uint32Array(tableSize);
  let filled = 0;
  for (let round = 1; filled < tableSize; round++) {
    for (let i = 0; i < entries.length && filled < tableSize; i++) {
      const e = entries[i]!;
      if (round * e.weight < e.target) continue;
      e.target += maxNormalized;
      // offset + skip * next < 5000011 + 5000011 * 5000011 < 2^53: exact in a double.
      let c = (e.offset + e.skip * e.next) % tableSize;
      while (slots[c] !== 0) {
        e.next += 1;
        c = (e.offset + e.skip * e.next) % tableSize;
      }
      slots[c] = e.index + 1;
      e.next += 1;
      filled += 1;
    }
  }
  for (let s = 0; s < tableSize; s++) slots[s] = slots[s]! - 1;
  return { slots, hosts: sorted };
}

/** Envoy's Maglev balancer over one cluster's fixed host list. */
export class MaglevLoadBalancer implements LoadBalancer {
  readonly #set: HostSet;
  readonly #random: () => number;
  readonly #tableSize: number;
  readonly #tableSizeBig: bigint;
  readonly #stats: LbStats | undefined;
  #builtVersion = -1;
  #table: MaglevTable = { slots: new Uint32Array(0), hosts: [] };

  /** `random` returns [0, 1); it supplies the slot when a request has no hash. */
  constructor(hosts: readonly Host[], random: () => number, tableSize: number, panicThreshold?: number, stats?: LbStats) {
    this.#set = new HostSet(hosts, panicThreshold);
    this.#random = random;
    this.#tableSize = tableSize;
    this.#tableSizeBig = BigInt(tableSize);
    this.#stats = stats;
  }

  /** The current table (rebuilding it first if health changed); for admin output and tests. */
  get table(): MaglevTable {
    return this.#current();
  }

  /** The owner of slot `ctx.hash % table_size` (a random slot when there is no hash). */
  chooseHost(ctx: LbContext): Host | undefined {
    const table = this.#current();
    // Envoy counts a panic once per selection, not per host-selection retry of a hash balancer.
    const attempt = ctx.attempt ?? 0;
    if (this.#set.inPanic && attempt === 0) this.#stats?.lbHealthyPanic.inc();
    if (table.hosts.length === 0) return undefined;
    let slot: number;
    if (ctx.hash === undefined) slot = Math.floor(this.#random() * this.#tableSize);
    else {
      // A host-selection retry alters the hash as Envoy's MaglevTable::chooseHost does:
      // hash ^= ~0 - attempt + 1 (most bits set, so retries spread over the table).
      const h = attempt > 0 ? BigInt.asUintN(64, ctx.hash) ^ (0xffff_ffff_ffff_ffffn - BigInt(attempt) + 1n) : ctx.hash;
      slot = Number(BigInt.asUintN(64, h) % this.#tableSizeBig);
    }
    return table.hosts[table.slots[slot]!];
  }

  #current(): MaglevTable {
    if (this.#set.refresh() !== this.#builtVersion) {
      this.#builtVersion = this.#set.version;
      this.#table = buildMaglevTable(this.#set.hostsToUse, this.#tableSize);
    }
    return this.#table;
  }
}

/** Factory for MAGLEV. Throws ConfigError when table_size is not a prime <= 5000011. */
export function maglev(opts: MaglevOptions = {}): LoadBalancerFactory {
  const tableSize = maglevTableSize(opts.tableSize);
  const threshold = panicThresholdFrom(opts.healthyPanicThreshold);
  return (hosts, random, panic = threshold, stats) => new MaglevLoadBalancer(hosts, random, tableSize, panic, stats);
}
