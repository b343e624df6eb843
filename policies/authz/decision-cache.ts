/**
 * A bounded cache of authorization decisions keyed by (principal, resource,
 * access type, client IP). It is invalidated whenever policies change: the
 * policy source bumps a generation counter and every entry of an older
 * generation is a miss (the whole map is dropped lazily on the next lookup).
 * Entries also expire after a TTL, because a policy's conditions may depend
 * on time (validity schedules) that no policy change announces.
 *
 * Eviction is least-recently-used on a Map (insertion order; a hit is
 * re-inserted), so memory is bounded by maxEntries.
 */
import type { AuthzDecision, AuthzRequest } from './authorizer.ts';
import type { Counter, Gauge, StatsScope } from '../../sidecar/contracts/stats.ts';

/** Cache sizing. */
export interface DecisionCacheOptions {
  /** Most entries kept (0 disables the cache). */
  readonly maxEntries: number;
  /** Milliseconds an entry stays valid (0: until the next policy change). */
  readonly ttlMs: number;
  /** Milliseconds since the epoch (Date.now by default). */
  readonly now?: () => number;
  /** Scope for `hits`, `misses`, `evictions`, `size` (optional). */
  readonly stats?: StatsScope;
}

interface Entry {
  readonly decision: AuthzDecision;
  readonly expires: number;
}

/** The cache key of a request: every input a policy can see except the clock. */
export function decisionKey(req: AuthzRequest): string {
  const p = req.principal;
  let k = `${p.user}\u0000${p.groups.join('\u0001')}\u0000${p.roles.join('\u0001')}\u0000${req.accessType}\u0000${req.context.clientIp ?? ''}\u0000${req.context.action ?? ''}`;
  for (const name in req.resource) {
    const v = req.resource[name]!;
    k += `\u0000${name}=${typeof v === 'string' ? v : v.join('\u0001')}`;
  }
  return k;
}

/** Decisions by key, valid for one policy generation. */
export class DecisionCache {
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private map = new Map<string, Entry>();
  private generation = -1;
  private readonly hits?: Counter;
  private readonly misses?: Counter;
  private readonly evictions?: Counter;
  private readonly size?: Gauge;

  constructor(opts: DecisionCacheOptions) {
    this.max = Math.max(0, Math.floor(opts.maxEntries));
    this.ttlMs = opts.ttlMs;
    this.now = opts.now ?? Date.now;
    if (opts.stats) {
      this.hits = opts.stats.counter('hits');
      this.misses = opts.stats.counter('misses');
      this.evictions = opts.stats.counter('evictions');
      this.size = opts.stats.gauge('size');
    }
  }

  /** Entries held now. */
  get entries(): number {
    return this.map.size;
  }

  /** The cached decision for `key` under `generation`, or undefined. */
  get(key: string, generation: number): AuthzDecision | undefined {
    if (generation !== this.generation) {
      this.reset(generation);
      this.misses?.inc();
      return undefined;
    }
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses?.inc();
      return undefined;
    }
    if (this.ttlMs > 0 && this.now() >= e.expires) {
      this.map.delete(key);
      this.size?.set(this.map.size);
      this.misses?.inc();
      return undefined;
    }
    // Most recently used goes last.
    this.map.delete(key);
    this.map.set(key, e);
    this.hits?.inc();
    return e.decision;
  }

  /** Stores a decision made under `generation` (ignored when policies changed since). */
  set(key: string, generation: number, decision: AuthzDecision): void {
    if (this.max === 0) return;
    if (generation !== this.generation) {
      if (generation < this.generation) return; // decided on older policies
      this.reset(generation);
    }
    this.map.delete(key);
    this.map.set(key, { decision, expires: this.ttlMs > 0 ? this.now() + this.ttlMs : Infinity });
    while (this.map.size > this.max) {
      this.map.delete(this.map.keys().next().value!);
      this.evictions?.inc();
    }
    this.size?.set(this.map.size);
  }

  /** Drops everything (policies changed). */
  private reset(generation: number): void {
    this.generation = generation;
    if (this.map.size) this.map = new Map();
    this.size?.set(0);
  }
}
