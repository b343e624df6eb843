/**
 * RING_HASH (envoy.load_balancing_policies.ring_hash), as Envoy's RingHashLoadBalancer::Ring
 * (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc):
 *  - weights are normalized to sum 1; scale = min(ceil(min_w * minimum_ring_size) / min_w,
 *    maximum_ring_size), so the lightest host gets a whole number of points; hosts are walked in
 *    order keeping running sums (current/target hashes) and each point is
 *    xxHash64("<address>:<port>_<i>", seed 0) for i = 0, 1, ...;
 *  - lookup takes the first point whose hash is >= the request hash, wrapping to the first
 *    point (ketama), by binary search; with no request hash, a random 64-bit hash is used.
 * The ring is built over the hosts to use (healthy ones, or all in panic; lb-host-set.ts). Health
 * is re-read at each pick and the ring is rebuilt lazily, on that pick, when the hosts to use
 * changed (HostSet.version). A host-selection retry (LbContext.attempt > 0, the previous_hosts
 * predicate) takes the attempt-th point after the hashed one, as Envoy's Ring::chooseHost does.
 * Not supported: MURMUR_HASH_2, hash_balance_factor, locality weighting, use_hostname_for_hashing.
 *
 * Cost: building hashes one BigInt XXH64 per point (~2 us), so the default 1024-point ring takes
 * a few milliseconds; very skewed weights can push the ring towards maximum_ring_size (8M points,
 * tens of seconds) on the data path.
 */

import type { Host, LbContext, LbStats, LoadBalancer, LoadBalancerFactory } from '../contracts/load-balancer.ts';
import { HostSet, hostHashKey } from './lb-host-set.ts';
import { panicThresholdFrom, ringSizes } from '../contracts/lb-options.ts';
import type { CommonLbOptions } from './lb-host-set.ts';
import { xxHash64String } from './xxhash64.ts';


/** Options of the ring-hash policy (fields of Envoy's RingHash proto). */
export interface RingHashOptions extends CommonLbOptions {
  /** Default 1024; 1..8388608. */
  readonly minimumRingSize?: number;
  /** Default 8388608; 1..8388608, and >= minimumRingSize. */
  readonly maximumRingSize?: number;
}

/** Envoy's ring_hash_lb gauges for the current ring. */
export interface RingHashStats {
  /** ring_hash_lb.size: the ring size computed from the scale (ceil). */
  readonly size: number;
  /** ring_hash_lb.min_hashes_per_host. */
  readonly minHashesPerHost: number;
  /** ring_hash_lb.max_hashes_per_host. */
  readonly maxHashesPerHost: number;
}

const TWO_POW_32 = 0x1_0000_0000;

/** A sorted ring: point k has hash (hi[k] << 32 | lo[k]) and is owned by hosts[host[k]]. */
export interface HashRing {
  /** High 32 bits of each point's hash, ascending with `lo`. */
  readonly hi: Uint32Array;
  /** Low 32 bits of each point's hash. */
  readonly lo: Uint32Array;
  /** Index into `hosts` of each point's owner. */
  readonly host: Uint32Array;
  /** The hosts the ring was built over. */
  readonly hosts: readonly Host[];
  /** Envoy's ring gauges for this ring. */
  readonly stats: RingHashStats;
}

const EMPTY_RING: HashRing = {
  hi: new Uint32Array(0),
  lo: new Uint32Array(0),
  host: new Uint32Array(0),
  hosts: [],
  stats: { size: 0, minHashesPerHost: 0, maxHashesPerHost: 0 },
};

/** Builds Envoy's ring for `hosts` (in the order given). */
export function buildRing(hosts: readonly Host[], minRingSize: number, maxRingSize: number): HashRing {
  if (hosts.length === 0) return EMPTY_RING;
  let sum = 0;
  for (const h of hosts) sum += h.weight;
  let minNormalized = 1;
  for (const h of hosts) minNormalized = Math.min(minNormalized, h.weight / sum);
  const scale = Math.min(Math.ceil(minNormalized * minRingSize) / minNormalized, maxRingSize);

  const his: number[] = [];
  const los: number[] = [];
  const owners: number[] = [];
  let current = 0;
  let target = 0;
  let minPerHost = Math.ceil(scale);
  let maxPerHost = 0;
  for (let j = 0; j < hosts.length; j++) {
    const host = hosts[j]!;
    const prefix = `${hostHashKey(host)}_`;
    target += scale * (host.weight / sum);
    let i = 0;
    while (current < target) {
      const h = xxHash64String(prefix + i);
      his.push(Number(h >> 32n));
      los.push(Number(h & 0xffff_ffffn));
      owners.push(j);
      i += 1;
      current += 1;
    }
    minPerHost = Math.min(minPerHost, i);
    maxPerHost = Math.max(maxPerHost, i);
  }

  const n = his.length;
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  order.sort((a, b) => his[a]! - his[b]! || los[a]! - los[b]!);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const host = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const src = order[k]!;
    hi[k] = his[src]!;
    lo[k] = los[src]!;
    host[k] = owners[src]!;
  }
  return { hi, lo, host, hosts, stats: { size: Math.ceil(scale), minHashesPerHost: minPerHost, maxHashesPerHost: maxPerHost } };
}

/** Envoy's ring hash balancer over one cluster's fixed host list. */
export class RingHashLoadBalancer implements LoadBalancer {
  readonly #set: HostSet;
  readonly #random: () => number;
  readonly #minRingSize: number;
  readonly #maxRingSize: number;
  readonly #stats: LbStats | undefined;
  #builtVersion = -1;
  #ring: HashRing = EMPTY_RING;

  /** `random` returns [0, 1); it supplies the hash when a request has none. */
  constructor(hosts: readonly Host[], random: () => number, minRingSize: number, maxRingSize: number, panicThreshold?: number, stats?: LbStats) {
    this.#set = new HostSet(hosts, panicThreshold);
    this.#random = random;
    this.#minRingSize = minRingSize;
    this.#maxRingSize = maxRingSize;
    this.#stats = stats;
  }

  /** Size and spread of the current ring (rebuilding it first if health changed). */
  get stats(): RingHashStats {
    this.#current();
    return this.#ring.stats;
  }

  /** The ring point owner for `ctx.hash` (a random point when undefined). */
  chooseHost(ctx: LbContext): Host | undefined {
    const ring = this.#current();
    // Envoy counts a panic once per selection, not per host-selection retry of a hash balancer.
    const attempt = ctx.attempt ?? 0;
    if (this.#set.inPanic && attempt === 0) this.#stats?.lbHealthyPanic.inc();
    const n = ring.hi.length;
    if (n === 0) return undefined;
    let hi: number;
    let lo: number;
    if (ctx.hash === undefined) {
      hi = Math.floor(this.#random() * TWO_POW_32);
      lo = Math.floor(this.#random() * TWO_POW_32);
    } else {
      const h = BigInt.asUintN(64, ctx.hash);
      hi = Number(h >> 32n);
      lo = Number(h & 0xffff_ffffn);
    }
    // First point with hash >= (hi, lo); past the end wraps to point 0.
    const his = ring.hi;
    const los = ring.lo;
    let a = 0;
    let b = n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const mh = his[mid]!;
      if (mh < hi || (mh === hi && los[mid]! < lo)) a = mid + 1;
      else b = mid;
    }
    const index = ((a === n ? 0 : a) + attempt) % n;
    return ring.hosts[ring.host[index]!];
  }

  #current(): HashRing {
    if (this.#set.refresh() !== this.#builtVersion) {
      this.#builtVersion = this.#set.version;
      this.#ring = buildRing(this.#set.hostsToUse, this.#minRingSize, this.#maxRingSize);
    }
    return this.#ring;
  }
}

/** Factory for RING_HASH. Throws ConfigError for invalid sizes (and min > max, as Envoy). */
export function ringHash(opts: RingHashOptions = {}): LoadBalancerFactory {
  const { min, max } = ringSizes(opts.minimumRingSize, opts.maximumRingSize);
  const threshold = panicThresholdFrom(opts.healthyPanicThreshold);
  return (hosts, random, panic = threshold, stats) => new RingHashLoadBalancer(hosts, random, min, max, panic, stats);
}
