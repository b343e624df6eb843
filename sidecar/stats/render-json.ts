/**
 * Admin `/stats?format=json` in Envoy's shape:
 *
 *   {"stats":[{"name":"cluster.foo.upstream_rq_total","value":3}, ...,
 *     {"histograms":{"supported_quantiles":[0,25,50,...,100],
 *       "computed_quantiles":[{"name":"cluster.foo.upstream_rq_time",
 *         "values":[{"interval":null,"cumulative":1}, ...]}]}}]}
 *
 * Counters and gauges come first, merged by name; the histograms element is
 * last and only present when a histogram was selected. `interval` is always
 * null (no interval histograms are kept); `cumulative` is null for a
 * histogram without samples, as Envoy prints NaN quantiles.
 */

import { SUPPORTED_QUANTILES } from './histogram.ts';
import { selectCountersAndGauges, selectHistograms } from './render-common.ts';
import type { StatsQuery } from './render-common.ts';
import type { StatsStore } from './store.ts';

/** One quantile value pair as Envoy prints it. */
export interface JsonQuantileValue {
  readonly interval: number | null;
  readonly cumulative: number | null;
}

/** The JSON document of admin `/stats?format=json`. */
export interface JsonStats {
  readonly stats: Array<
    | { readonly name: string; readonly value: number }
    | {
        readonly histograms: {
          readonly supported_quantiles: number[];
          readonly computed_quantiles: Array<{ readonly name: string; readonly values: JsonQuantileValue[] }>;
        };
      }
  >;
}

/** Rounds interpolation noise away (2.0500000000000003 -> 2.05); NaN becomes null. */
function jsonNumber(v: number): number | null {
  return Number.isFinite(v) ? Number(v.toPrecision(12)) : null;
}

/** Builds the `/stats?format=json` document. */
export function statsToJson(store: StatsStore, query: StatsQuery = {}): JsonStats {
  const stats: JsonStats['stats'] = [];
  for (const s of selectCountersAndGauges(store, query)) stats.push({ name: s.name, value: s.value() });
  const histograms = selectHistograms(store, query);
  if (histograms.length > 0) {
    stats.push({
      histograms: {
        supported_quantiles: SUPPORTED_QUANTILES.map((q) => Number((q * 100).toPrecision(12))),
        computed_quantiles: histograms.map((h) => ({
          name: h.name,
          values: h.computedQuantiles().map((v) => ({ interval: null, cumulative: jsonNumber(v) })),
        })),
      },
    });
  }
  return { stats };
}

/** Renders admin `/stats?format=json` as a string. */
export function renderJson(store: StatsStore, query: StatsQuery = {}): string {
  return JSON.stringify(statsToJson(store, query));
}
