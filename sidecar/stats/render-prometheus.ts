/**
 * Admin `/stats/prometheus` in the Prometheus text exposition format, as
 * Envoy's PrometheusStatsFormatter writes it:
 *
 *   # TYPE envoy_cluster_upstream_rq counter
 *   envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="foo"} 3
 *
 * The metric name is `envoy_` + the tag-extracted name with every character
 * outside [a-zA-Z0-9_] turned into '_'; labels are the extracted tags in
 * extraction order. Counters come first, then gauges, then histograms; each
 * family is printed once, families sorted by metric name, members by full
 * stat name. Histograms are Prometheus histograms: cumulative `_bucket`
 * lines with `le` (ending with `+Inf`), then `_sum` and `_count`.
 * The filter and `usedonly` apply to the full (untagged) stat name.
 */

import type { HistogramImpl } from './histogram.ts';
import type { CounterImpl, GaugeImpl } from './metrics.ts';
import { statSelector, wantsType } from './render-common.ts';
import type { StatsQuery } from './render-common.ts';
import type { AnyStat, StatsStore } from './store.ts';
import type { StatTag } from './tag-extraction.ts';

/** `/stats/prometheus` options. */
export interface PrometheusRenderOptions extends StatsQuery {
  /**
   * Envoy's custom stat namespaces (`Stats::CustomStatNamespaces`, e.g. Wasm's
   * `istiocustom`): a stat `<ns>.rest` is printed as `rest`, without `envoy_`.
   */
  readonly customNamespaces?: readonly string[];
}

/** Envoy's `sanitizeName`: every character outside [a-zA-Z0-9_] becomes '_'. */
export function sanitizePrometheusName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** A label value escaped for the exposition format (backslash, quote, newline). */
function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A label name: sanitized, and never starting with a digit. */
function labelName(tagName: string): string {
  const s = sanitizePrometheusName(tagName);
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** `name="value",...` for a stat's tags (no braces). */
function formatLabels(tags: readonly StatTag[]): string {
  let out = '';
  for (const t of tags) out += `${out === '' ? '' : ','}${labelName(t.name)}="${escapeLabelValue(t.value)}"`;
  return out;
}

/** A sample value: integers as is, NaN and infinities as Prometheus spells them. */
function formatSample(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

/** The metric name of a tag-extracted stat name. */
function metricName(extractedName: string, namespaces: readonly string[]): string {
  for (const ns of namespaces) {
    if (extractedName.startsWith(`${ns}.`)) return sanitizePrometheusName(extractedName.slice(ns.length + 1));
  }
  return `envoy_${sanitizePrometheusName(extractedName)}`;
}

interface Member<T> {
  readonly stat: T;
  readonly labels: string;
}

/** Groups selected stats into metric families keyed by metric name, sorted by that name. */
function families<T extends AnyStat>(
  store: StatsStore,
  stats: readonly T[],
  select: (name: string, used: boolean) => boolean,
  namespaces: readonly string[],
): Array<[string, Array<Member<T>>]> {
  const byName = new Map<string, Array<Member<T>>>();
  for (const stat of stats) {
    if (!select(stat.name, stat.used)) continue;
    const tagged = store.taggedName(stat);
    const name = metricName(tagged.extractedName, namespaces);
    let list = byName.get(name);
    if (list === undefined) byName.set(name, (list = []));
    list.push({ stat, labels: formatLabels(tagged.tags) });
  }
  return [...byName.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function renderScalars(
  out: string[],
  type: 'counter' | 'gauge',
  groups: Array<[string, Array<Member<CounterImpl | GaugeImpl>>]>,
): void {
  for (const [name, members] of groups) {
    out.push(`# TYPE ${name} ${type}\n`);
    for (const { stat, labels } of members) {
      out.push(`${name}${labels === '' ? '' : `{${labels}}`} ${formatSample(stat.value())}\n`);
    }
  }
}

function renderHistograms(out: string[], groups: Array<[string, Array<Member<HistogramImpl>>]>): void {
  for (const [name, members] of groups) {
    out.push(`# TYPE ${name} histogram\n`);
    for (const { stat, labels } of members) {
      const sep = labels === '' ? '' : ',';
      const counts = stat.cumulativeBucketCounts();
      for (let i = 0; i < counts.length; i++) {
        out.push(`${name}_bucket{${labels}${sep}le="${String(stat.bounds[i])}"} ${counts[i]}\n`);
      }
      out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${stat.sampleCount}\n`);
      const braces = labels === '' ? '' : `{${labels}}`;
      out.push(`${name}_sum${braces} ${formatSample(stat.sampleSum)}\n`);
      out.push(`${name}_count${braces} ${stat.sampleCount}\n`);
    }
  }
}

/** Renders admin `/stats/prometheus`. */
export function renderPrometheus(store: StatsStore, options: PrometheusRenderOptions = {}): string {
  const select = statSelector(options);
  const namespaces = options.customNamespaces ?? [];
  const out: string[] = [];
  if (wantsType(options, 'Counters')) renderScalars(out, 'counter', families(store, store.counters(), select, namespaces));
  if (wantsType(options, 'Gauges')) renderScalars(out, 'gauge', families(store, store.gauges(), select, namespaces));
  if (wantsType(options, 'Histograms')) renderHistograms(out, families(store, store.histograms(), select, namespaces));
  return out.join('');
}
