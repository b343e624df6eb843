/**
 * Admin `/clusters`: upstream cluster status, in Envoy's text form
 *
 *   foo::default_priority::max_connections::1024   (circuit breakers, both priorities)
 *   foo::added_via_api::false
 *   foo::10.0.0.1:80::cx_active::0                 (host stats, sorted by name)
 *   foo::10.0.0.1:80::health_flags::healthy        (or /failed_active_hc ...)
 *   foo::10.0.0.1:80::weight::1  ... region, zone, sub_zone, canary, priority, success_rate
 *
 * or, with `?format=json`, as envoy.admin.v3.Clusters.
 */

import { addressString, socketAddressJson } from './admin-address.ts';
import { jsonResponse, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import { isJsonObject } from './field-mask.ts';
import type { ClusterHostView, ClusterView } from './server-view.ts';

/** Envoy's circuit-breaker defaults (envoy.config.cluster.v3.CircuitBreakers.Thresholds). */
const DEFAULT_THRESHOLDS = { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 };
type Thresholds = typeof DEFAULT_THRESHOLDS;

/** Host counters Envoy keeps per host (HostStats), and its gauges. */
const HOST_COUNTERS = ['cx_connect_fail', 'cx_total', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total'];
const HOST_GAUGES = ['cx_active', 'rq_active'];

/** A UInt32Value as canonical JSON has it (a number) or as a wrapper object. */
function uint32(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (isJsonObject(v) && typeof v['value'] === 'number') return v['value'];
  return undefined;
}

/** The thresholds of one routing priority from the cluster's `circuit_breakers`. */
function thresholds(cluster: ClusterView, priority: 'DEFAULT' | 'HIGH'): Thresholds {
  const cb = cluster.raw['circuit_breakers'];
  const list = isJsonObject(cb) && Array.isArray(cb['thresholds']) ? cb['thresholds'] : [];
  const found = list.find((t) => isJsonObject(t) && (t['priority'] ?? 'DEFAULT') === priority);
  const out = { ...DEFAULT_THRESHOLDS };
  if (isJsonObject(found)) {
    for (const k of Object.keys(out) as Array<keyof Thresholds>) out[k] = uint32(found[k]) ?? out[k];
  }
  return out;
}

/** All per-host stats: Envoy's standard set at 0, overlaid with the view's. */
function hostStats(host: ClusterHostView): Map<string, number> {
  const all = new Map<string, number>();
  for (const name of [...HOST_COUNTERS, ...HOST_GAUGES]) all.set(name, 0);
  all.set('rq_active', host.activeRequests);
  for (const [k, v] of Object.entries(host.stats)) all.set(k, v);
  return new Map([...all].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** Envoy's `HostUtility::healthFlagsToString`. */
export function healthFlags(host: ClusterHostView): string {
  let out = '';
  if (host.failedActiveHealthCheck) out += '/failed_active_hc';
  if (!host.healthy && !host.failedActiveHealthCheck) out += '/failed_eds_health';
  return out === '' ? 'healthy' : out;
}

function clustersText(clusters: readonly ClusterView[]): string {
  let out = '';
  for (const c of clusters) {
    for (const [priority, label] of [['DEFAULT', 'default'], ['HIGH', 'high']] as const) {
      const t = thresholds(c, priority);
      out += `${c.name}::${label}_priority::max_connections::${t.max_connections}\n`;
      out += `${c.name}::${label}_priority::max_pending_requests::${t.max_pending_requests}\n`;
      out += `${c.name}::${label}_priority::max_requests::${t.max_requests}\n`;
      out += `${c.name}::${label}_priority::max_retries::${t.max_retries}\n`;
    }
    out += `${c.name}::added_via_api::false\n`;
    for (const h of c.hosts) {
      const p = `${c.name}::${addressString(h.address, h.port)}::`;
      for (const [k, v] of hostStats(h)) out += `${p}${k}::${v}\n`;
      out += `${p}hostname::\n${p}health_flags::${healthFlags(h)}\n${p}weight::${h.weight}\n`;
      out += `${p}region::\n${p}zone::\n${p}sub_zone::\n${p}canary::false\n${p}priority::0\n`;
      out += `${p}success_rate::-1\n${p}local_origin_success_rate::-1\n`;
    }
  }
  return out;
}

/** Thresholds JSON: the default priority (enum 0) is omitted, as proto3 JSON does. */
function thresholdsJson(t: Thresholds, priority: 'DEFAULT' | 'HIGH'): Record<string, unknown> {
  return priority === 'DEFAULT' ? { ...t } : { priority, ...t };
}

function clustersJson(clusters: readonly ClusterView[]): Record<string, unknown> {
  return {
    cluster_statuses: clusters.map((c) => ({
      name: c.name,
      circuit_breakers: {
        thresholds: [thresholdsJson(thresholds(c, 'DEFAULT'), 'DEFAULT'), thresholdsJson(thresholds(c, 'HIGH'), 'HIGH')],
      },
      added_via_api: false,
      host_statuses: c.hosts.map((h) => ({
        address: socketAddressJson(h.address, h.port),
        stats: [...hostStats(h)].map(([name, value]) => {
          // envoy.admin.v3.SimpleMetric: uint64 as a string; COUNTER (0) and value 0 omitted.
          const metric: Record<string, unknown> = { name };
          if (value !== 0) metric['value'] = String(value);
          if (HOST_GAUGES.includes(name)) metric['type'] = 'GAUGE';
          return metric;
        }),
        health_status: {
          eds_health_status: h.healthy || h.failedActiveHealthCheck ? 'HEALTHY' : 'UNHEALTHY',
          failed_active_health_check: h.failedActiveHealthCheck,
        },
        weight: h.weight,
      })),
    })),
  };
}

/** Handles GET /clusters (`?format=json` for envoy.admin.v3.Clusters). */
export function handleClusters(req: AdminRequest, ctx: AdminContext): AdminResponse {
  const clusters = ctx.view.clusters();
  if (req.query.nonEmpty('format') === 'json') return jsonResponse(clustersJson(clusters));
  return textResponse(clustersText(clusters));
}
