/**
 * Admin `/stats` (text, `?format=json|prometheus`), `/stats/prometheus`,
 * `/reset_counters` and `/stats/recentlookups*`, over the StatsStore and its
 * renderers. Query parsing follows Envoy's StatsParams: `filter=` is an RE2
 * search ("Invalid re2 regex" when it does not compile), `usedonly`,
 * `type=Counters|Gauges|Histograms|TextReadouts|All`, `histogram_buckets=`,
 * `pretty` for JSON.
 */

import { jsonResponse, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import { compileRe2 } from './re2-pattern.ts';
import { renderJson } from '../stats/render-json.ts';
import { renderPrometheus } from '../stats/render-prometheus.ts';
import { renderText } from '../stats/render-text.ts';
import type { HistogramBucketsMode } from '../stats/render-text.ts';
import type { StatsType } from '../stats/render-common.ts';

/** The parsed query, or the 400 answer. */
type ParsedStats =
  | {
      readonly ok: true;
      readonly filter: RegExp | undefined;
      readonly usedOnly: boolean;
      readonly type: StatsType | 'TextReadouts';
      readonly buckets: HistogramBucketsMode;
      readonly format: 'text' | 'json' | 'prometheus';
    }
  | { readonly ok: false; readonly response: AdminResponse };

const TYPES: ReadonlySet<string> = new Set(['All', 'Counters', 'Gauges', 'Histograms', 'TextReadouts']);

function parseStatsQuery(req: AdminRequest, prometheusEndpoint: boolean): ParsedStats {
  const q = req.query;
  let filter: RegExp | undefined;
  const f = q.get('filter');
  if (f !== undefined) {
    const compiled = compileRe2(f, false);
    if (!compiled.ok) return { ok: false, response: textResponse('Invalid re2 regex', 400) };
    filter = compiled.regex;
  }
  let buckets: HistogramBucketsMode = 'summary';
  const hb = q.nonEmpty('histogram_buckets');
  if (hb !== undefined) {
    if (hb === 'cumulative' || hb === 'disjoint') buckets = hb;
    else if (hb !== 'none' && !(prometheusEndpoint && hb === 'summary')) {
      return { ok: false, response: textResponse('usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n', 400) };
    }
  }
  const type = q.get('type') ?? 'All';
  if (!TYPES.has(type)) return { ok: false, response: textResponse('invalid &type= param', 400) };
  let format: 'text' | 'json' | 'prometheus' = prometheusEndpoint ? 'prometheus' : 'text';
  const fmt = q.nonEmpty('format');
  if (!prometheusEndpoint && fmt !== undefined) {
    if (fmt === 'json' || fmt === 'prometheus' || fmt === 'text') format = fmt;
    else if (fmt === 'html' || fmt === 'active-html') {
      const what = fmt === 'html' ? 'HTML' : 'Active HTML';
      return { ok: false, response: textResponse(`${what} output was disabled by building with --define=admin_html=disabled`, 400) };
    } else {
      return { ok: false, response: textResponse('usage: /stats?format=(html|active-html|json|prometheus|text)\n\n', 400) };
    }
  }
  return { ok: true, filter, usedOnly: q.has('usedonly'), type: type as StatsType | 'TextReadouts', buckets, format };
}

function renderStats(req: AdminRequest, ctx: AdminContext, prometheusEndpoint: boolean): AdminResponse {
  const p = parseStatsQuery(req, prometheusEndpoint);
  if (!p.ok) return p.response;
  const store = ctx.view.stats;
  // No text readouts are kept: asking for them alone selects nothing.
  const textReadoutsOnly = p.type === 'TextReadouts';
  const query = { filter: p.filter, usedOnly: p.usedOnly, type: textReadoutsOnly ? 'All' : p.type } as const;
  switch (p.format) {
    case 'json': {
      if (textReadoutsOnly) return jsonResponse({ stats: [] });
      const body = renderJson(store, query);
      return req.query.has('pretty') ? jsonResponse(JSON.parse(body)) : { status: 200, contentType: 'application/json', body };
    }
    case 'prometheus':
      return textResponse(textReadoutsOnly ? '' : renderPrometheus(store, query));
    case 'text':
      return textResponse(textReadoutsOnly ? '' : renderText(store, { ...query, histogramBuckets: p.buckets }));
  }
}

/** Handles GET /stats. */
export function handleStats(req: AdminRequest, ctx: AdminContext): AdminResponse {
  return renderStats(req, ctx, false);
}

/** Handles GET /stats/prometheus. */
export function handleStatsPrometheus(req: AdminRequest, ctx: AdminContext): AdminResponse {
  return renderStats(req, ctx, true);
}

/** Handles POST /reset_counters. */
export function handleResetCounters(_req: AdminRequest, ctx: AdminContext): AdminResponse {
  ctx.view.stats.resetCounters();
  return textResponse('OK\n');
}

/** Handles GET /stats/recentlookups: lookup tracking is never enabled here. */
export function handleRecentLookups(): AdminResponse {
  return textResponse('Lookup tracking is not enabled. Use /stats/recentlookups/enable to enable.\n\ntotal: 0\n');
}

/** Handles POST /stats/recentlookups/{clear,disable,enable}: accepted, nothing to track. */
export function handleRecentLookupsCommand(): AdminResponse {
  return textResponse('OK\n');
}
