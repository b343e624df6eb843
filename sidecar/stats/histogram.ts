/**
 * Histograms with Envoy's default bucket bounds and its supported quantiles.
 *
 * Envoy keeps a log-linear histogram (libcircllhist) per interval and merges
 * them into a cumulative one; /stats prints quantiles from it and
 * /stats/prometheus prints the counts at the configured bucket bounds
 * (`stats_config.histogram_bucket_settings`, default
 * `Stats::HistogramSettingsImpl::defaultBuckets()`). We keep only the
 * cumulative counts at those bounds, plus min, max, sum and count, and
 * estimate quantiles by linear interpolation inside the bucket that holds
 * the rank. There is no interval (per flush) view: renderers print `nan` or
 * `null` where Envoy prints interval values.
 *
 * `record()` is on the data path: a bound search over 19 numbers and a few
 * field updates, no allocation.
 */

import type { Histogram } from '../contracts/stats.ts';
import type { TaggedName } from './tag-extraction.ts';

/** Envoy's default histogram bucket upper bounds (milliseconds for time histograms). */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
]);

/** The quantiles Envoy computes (`HistogramStatisticsImpl::supportedQuantiles()`), as fractions. */
export const SUPPORTED_QUANTILES: readonly number[] = Object.freeze([
  0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1,
]);

/** A histogram in the store: cumulative bucket counts, sample count, sum, min and max. */
export class HistogramImpl implements Histogram {
  /** The full stat name, e.g. `cluster.foo.upstream_rq_time`. */
  readonly name: string;
  /** Upper bounds (inclusive, Prometheus `le`) of the buckets, ascending. */
  readonly bounds: Float64Array;
  /** Tag extraction result, filled by the first Prometheus render. */
  tagged: TaggedName | undefined = undefined;
  /** Samples per bucket (disjoint); the last slot counts samples above every bound. */
  private readonly counts: Float64Array;
  private n = 0;
  private total = 0;
  private lo = Infinity;
  private hi = -Infinity;

  constructor(name: string, bounds: readonly number[] = DEFAULT_BUCKETS) {
    this.name = name;
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one sample; negative values count as 0 (Envoy records unsigned integers), NaN is dropped. */
  record(v: number): void {
    if (!(v >= 0)) {
      if (Number.isNaN(v)) return;
      v = 0;
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.n++;
    this.total += v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
  }

  /** True once a sample was recorded (Envoy's `used()`: printed by `usedonly`). */
  get used(): boolean {
    return this.n > 0;
  }

  /** Number of samples recorded. */
  get sampleCount(): number {
    return this.n;
  }

  /** Sum of the samples recorded. */
  get sampleSum(): number {
    return this.total;
  }

  /** Cumulative counts: entry i is the number of samples <= bounds[i]. */
  cumulativeBucketCounts(): number[] {
    const out = new Array<number>(this.bounds.length);
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      out[i] = acc;
    }
    return out;
  }

  /** Disjoint counts: entry i is the number of samples in (bounds[i-1], bounds[i]]. */
  disjointBucketCounts(): number[] {
    return Array.from(this.counts.subarray(0, this.bounds.length));
  }

  /**
   * The estimated value at quantile `q` (0..1), NaN when nothing was recorded.
   * P0 is the smallest sample and P100 the largest; in between, linear
   * interpolation inside the bucket holding rank q*count, whose ends are
   * narrowed to [min, max].
   */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    if (q <= 0) return this.lo;
    if (q >= 1) return this.hi;
    const rank = q * this.n;
    const counts = this.counts;
    let before = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      if (before + c >= rank) {
        const lower = Math.max(i === 0 ? 0 : this.bounds[i - 1]!, this.lo);
        const upper = Math.min(i < this.bounds.length ? this.bounds[i]! : this.hi, this.hi);
        return lower + ((upper - lower) * (rank - before)) / c;
      }
      before += c;
    }
    return this.hi;
  }

  /** The values at every supported quantile, in SUPPORTED_QUANTILES order. */
  computedQuantiles(): number[] {
    return SUPPORTED_QUANTILES.map((q) => this.quantile(q));
  }

  /** Forgets every sample (used by tests and by a store rebuilt for hot restart). */
  clear(): void {
    this.counts.fill(0);
    this.n = 0;
    this.total = 0;
    this.lo = Infinity;
    this.hi = -Infinity;
  }
}
