/**
 * The stats store: the root `StatsScope` (prefix '') that every room writes
 * to. Counters, gauges and histograms are created on first lookup and cached
 * by full name, so a scope handed the same name twice returns the same
 * handle (Envoy's ThreadLocalStoreImpl central cache, minus the per-worker
 * caches). Handles are looked up at config time and then only incremented.
 *
 * Renderers (render-text.ts, render-json.ts, render-prometheus.ts) read the
 * sorted lists below; the Prometheus tag extraction result is computed once
 * per stat, on first need, and kept on the stat.
 */

import type { StatsScope } from '../contracts/stats.ts';
import { DEFAULT_BUCKETS, HistogramImpl } from './histogram.ts';
import { CounterImpl, GaugeImpl } from './metrics.ts';
import { defaultTagProducer } from './tag-extraction.ts';
import type { TagProducer, TaggedName } from './tag-extraction.ts';

/** How the store is built (from the bootstrap's `stats_config`). */
export interface StatsStoreOptions {
  /** Tag rules for Prometheus; default: Envoy's default tags. */
  readonly tagProducer?: TagProducer;
  /** Histogram bucket upper bounds; default: Envoy's default buckets. */
  readonly histogramBuckets?: readonly number[];
}

/** Any stat the store holds, as the renderers see it. */
export type AnyStat = CounterImpl | GaugeImpl | HistogramImpl;

/** Joins a scope prefix and a child name into the child's prefix (ending in '.'). */
function childPrefix(prefix: string, name: string): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? prefix : `${prefix}${trimmed}.`;
}

/** A named view of the store; creates stats under its prefix. */
class ScopeImpl implements StatsScope {
  readonly prefix: string;
  private readonly store: StatsStore;

  constructor(store: StatsStore, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  counter(name: string): CounterImpl {
    return this.store.counter(this.prefix + name);
  }

  gauge(name: string): GaugeImpl {
    return this.store.gauge(this.prefix + name);
  }

  histogram(name: string): HistogramImpl {
    return this.store.histogram(this.prefix + name);
  }

  scope(name: string): StatsScope {
    return new ScopeImpl(this.store, childPrefix(this.prefix, name));
  }
}

/** Sorted snapshot of a map's values, rebuilt only after a stat was added. */
class SortedCache<T extends { readonly name: string }> {
  private readonly map: Map<string, T>;
  private sorted: readonly T[] | undefined = undefined;
  constructor(map: Map<string, T>) {
    this.map = map;
  }
  invalidate(): void {
    this.sorted = undefined;
  }
  get(): readonly T[] {
    return (this.sorted ??= [...this.map.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }
}

/** The root stats scope and the registry of every stat. */
export class StatsStore implements StatsScope {
  /** The root prefix: empty. */
  readonly prefix = '';
  /** Tag rules used for Prometheus output. */
  readonly tagProducer: TagProducer;
  private readonly buckets: readonly number[];
  private readonly counterMap = new Map<string, CounterImpl>();
  private readonly gaugeMap = new Map<string, GaugeImpl>();
  private readonly histogramMap = new Map<string, HistogramImpl>();
  private readonly sortedCounters = new SortedCache(this.counterMap);
  private readonly sortedGauges = new SortedCache(this.gaugeMap);
  private readonly sortedHistograms = new SortedCache(this.histogramMap);

  constructor(options: StatsStoreOptions = {}) {
    this.tagProducer = options.tagProducer ?? defaultTagProducer();
    this.buckets = options.histogramBuckets ?? DEFAULT_BUCKETS;
  }

  /** The counter with this full name, created at 0 on first lookup. */
  counter(name: string): CounterImpl {
    let c = this.counterMap.get(name);
    if (c === undefined) {
      c = new CounterImpl(name);
      this.counterMap.set(name, c);
      this.sortedCounters.invalidate();
    }
    return c;
  }

  /** The gauge with this full name, created at 0 on first lookup. */
  gauge(name: string): GaugeImpl {
    let g = this.gaugeMap.get(name);
    if (g === undefined) {
      g = new GaugeImpl(name);
      this.gaugeMap.set(name, g);
      this.sortedGauges.invalidate();
    }
    return g;
  }

  /** The histogram with this full name, created empty on first lookup. */
  histogram(name: string): HistogramImpl {
    let h = this.histogramMap.get(name);
    if (h === undefined) {
      h = new HistogramImpl(name, this.buckets);
      this.histogramMap.set(name, h);
      this.sortedHistograms.invalidate();
    }
    return h;
  }

  /** A child scope: `store.scope('cluster.foo')` has prefix `cluster.foo.`. */
  scope(name: string): StatsScope {
    return new ScopeImpl(this, childPrefix('', name));
  }

  /** The counter with this full name if it exists (does not create). */
  findCounter(name: string): CounterImpl | undefined {
    return this.counterMap.get(name);
  }

  /** The gauge with this full name if it exists (does not create). */
  findGauge(name: string): GaugeImpl | undefined {
    return this.gaugeMap.get(name);
  }

  /** The histogram with this full name if it exists (does not create). */
  findHistogram(name: string): HistogramImpl | undefined {
    return this.histogramMap.get(name);
  }

  /** Every counter, sorted by name (the array is shared: do not mutate). */
  counters(): readonly CounterImpl[] {
    return this.sortedCounters.get();
  }

  /** Every gauge, sorted by name. */
  gauges(): readonly GaugeImpl[] {
    return this.sortedGauges.get();
  }

  /** Every histogram, sorted by name. */
  histograms(): readonly HistogramImpl[] {
    return this.sortedHistograms.get();
  }

  /** Admin `/reset_counters`: every counter back to 0 (gauges, histograms and used flags stay). */
  resetCounters(): void {
    for (const c of this.counterMap.values()) c.reset();
  }

  /** The stat's tag-extracted name and tags, computed on first call and kept on the stat. */
  taggedName(stat: AnyStat): TaggedName {
    return (stat.tagged ??= this.tagProducer.produceTags(stat.name));
  }
}
