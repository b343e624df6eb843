/**
 * Admin `/stats` in Envoy's plain-text form: `name: value` lines for counters
 * and gauges, merged and sorted by name, then one line per histogram:
 *
 *   cluster.foo.upstream_rq_time: P0(nan,1) P25(nan,2.5) ... P100(nan,40)
 *
 * Each pair is (interval, cumulative) as in Envoy's `quantileSummary()`; we
 * keep no interval histogram, so the interval side is always `nan`. An unused
 * histogram prints `No recorded values`. With `histogramBuckets` set, the
 * line lists bucket counts instead (`B0.5(0,3) B1(0,4) ...`, Envoy's
 * `histogram_buckets=cumulative|disjoint`).
 */

import { SUPPORTED_QUANTILES } from './histogram.ts';
import type { HistogramImpl } from './histogram.ts';
import { formatStatValue, selectCountersAndGauges, selectHistograms } from './render-common.ts';
import type { StatsQuery } from './render-common.ts';
import type { StatsStore } from './store.ts';

/** How histograms are printed (Envoy's `histogram_buckets=`; 'summary' prints quantiles). */
export type HistogramBucketsMode = 'summary' | 'cumulative' | 'disjoint';

/** `/stats` text options. */
export interface TextRenderOptions extends StatsQuery {
  /** Default 'summary'. */
  readonly histogramBuckets?: HistogramBucketsMode;
}

/** Envoy's quantile summary of one histogram: `P0(nan,1) P25(nan,2.5) ...` or `No recorded values`. */
export function quantileSummary(h: HistogramImpl): string {
  if (!h.used) return 'No recorded values';
  const values = h.computedQuantiles();
  return SUPPORTED_QUANTILES.map((q, i) => `P${formatStatValue(q * 100)}(nan,${formatStatValue(values[i]!)})`).join(' ');
}

function bucketSummary(h: HistogramImpl, mode: 'cumulative' | 'disjoint'): string {
  const counts = mode === 'cumulative' ? h.cumulativeBucketCounts() : h.disjointBucketCounts();
  const parts: string[] = [];
  for (let i = 0; i < counts.length; i++) parts.push(`B${formatStatValue(h.bounds[i]!)}(0,${counts[i]})`);
  return parts.join(' ');
}

/** Renders admin `/stats` (text). Ends with a newline unless empty. */
export function renderText(store: StatsStore, options: TextRenderOptions = {}): string {
  let out = '';
  for (const s of selectCountersAndGauges(store, options)) out += `${s.name}: ${formatStatValue(s.value())}\n`;
  const mode = options.histogramBuckets ?? 'summary';
  for (const h of selectHistograms(store, options)) {
    out += `${h.name}: ${mode === 'summary' ? quantileSummary(h) : bucketSummary(h, mode)}\n`;
  }
  return out;
}
