/**
 * What every /stats renderer shares: the query Envoy's admin accepts
 * (`filter=<regex>`, `usedonly`, `type=`), the selection of stats it makes,
 * and how numbers are printed.
 * The filter is matched against the full stat name, unanchored, as Envoy's
 * `std::regex_search` / RE2 `PartialMatch` does.
 */

import type { HistogramImpl } from './histogram.ts';
import type { CounterImpl, GaugeImpl } from './metrics.ts';
import type { StatsStore } from './store.ts';

/** Which stat types to print (Envoy's `type=` query parameter, text readouts aside). */
export type StatsType = 'All' | 'Counters' | 'Gauges' | 'Histograms';

/** The query of admin `/stats` and `/stats/prometheus`. */
export interface StatsQuery {
  /** Only stats whose full name matches (searched, not anchored). */
  readonly filter?: RegExp;
  /** Only counters/gauges ever written and histograms with samples (`usedonly`). */
  readonly usedOnly?: boolean;
  /** Stat types to print; default 'All'. */
  readonly type?: StatsType;
}

/** A name/used predicate built once per render from a query. */
export type StatSelector = (name: string, used: boolean) => boolean;

/** Builds the predicate for a query; a global/sticky filter is copied so `lastIndex` cannot leak between names. */
export function statSelector(query: StatsQuery): StatSelector {
  const usedOnly = query.usedOnly === true;
  let re = query.filter;
  if (re !== undefined && (re.global || re.sticky)) re = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
  if (re === undefined) return usedOnly ? (_n, used) => used : () => true;
  const filter = re;
  return (name, used) => (!usedOnly || used) && filter.test(name);
}

/** Whether a query asks for this stat type. */
export function wantsType(query: StatsQuery, type: Exclude<StatsType, 'All'>): boolean {
  return query.type === undefined || query.type === 'All' || query.type === type;
}

/**
 * A number as Envoy's `fmt` prints a double: shortest form, `nan` for NaN
 * (text format). Float noise from interpolation is trimmed to 12 significant
 * digits so 2.0500000000000003 prints as 2.05.
 */
export function formatStatValue(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(12)));
}

/** Counters and gauges that pass the query, merged in name order. */
export function selectCountersAndGauges(store: StatsStore, query: StatsQuery): Array<CounterImpl | GaugeImpl> {
  const select = statSelector(query);
  const counters = wantsType(query, 'Counters') ? store.counters() : [];
  const gauges = wantsType(query, 'Gauges') ? store.gauges() : [];
  const out: Array<CounterImpl | GaugeImpl> = [];
  let i = 0;
  let j = 0;
  while (i < counters.length || j < gauges.length) {
    const c = counters[i];
    const g = gauges[j];
    let stat: CounterImpl | GaugeImpl;
    if (g === undefined || (c !== undefined && c.name <= g.name)) {
      stat = c!;
      i++;
    } else {
      stat = g;
      j++;
    }
    if (select(stat.name, stat.used)) out.push(stat);
  }
  return out;
}

/** Histograms that pass the query, in name order. */
export function selectHistograms(store: StatsStore, query: StatsQuery): HistogramImpl[] {
  if (!wantsType(query, 'Histograms')) return [];
  const select = statSelector(query);
  return store.histograms().filter((h) => select(h.name, h.used));
}
