/**
 * Admin /stats text and JSON rendering for real Envoy stat names, with
 * filter, usedonly and type, and histogram lines in Envoy's forms.
 */

import { renderJson, statsToJson } from '../../../sidecar/stats/render-json.ts';
import { quantileSummary, renderText } from '../../../sidecar/stats/render-text.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';

function envoyLikeStore(): StatsStore {
  const store = new StatsStore();
  const cluster = store.scope('cluster.x');
  cluster.counter('upstream_rq_200').inc(3);
  cluster.counter('upstream_rq_total').inc(3);
  cluster.counter('upstream_rq_timeout'); // never incremented
  cluster.gauge('upstream_cx_active').set(2);
  store.scope('http.ingress_http').counter('downstream_rq_2xx').inc(4);
  store.scope('listener.127.0.0.1_10000').counter('downstream_cx_total').inc();
  store.gauge('server.state').set(0);
  store.gauge('server.live').set(1);
  const t = cluster.histogram('upstream_rq_time');
  for (const v of [1, 2, 3, 4]) t.record(v);
  cluster.histogram('upstream_cx_connect_ms'); // no samples
  return store;
}

describe('renderText', () => {
  test('prints counters and gauges merged in name order, then histograms', () => {
    const text = renderText(envoyLikeStore());
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 8)).toEqual([
      'cluster.x.upstream_cx_active: 2',
      'cluster.x.upstream_rq_200: 3',
      'cluster.x.upstream_rq_timeout: 0',
      'cluster.x.upstream_rq_total: 3',
      'http.ingress_http.downstream_rq_2xx: 4',
      'listener.127.0.0.1_10000.downstream_cx_total: 1',
      'server.live: 1',
      'server.state: 0',
    ]);
    expect(lines[8]).toBe('cluster.x.upstream_cx_connect_ms: No recorded values');
    expect(lines[9]).toMatch(/^cluster\.x\.upstream_rq_time: P0\(nan,1\) P25\(nan,[0-9.]+\) P50\(/);
    expect(lines).toHaveLength(10);
    expect(text.endsWith('\n')).toBe(true);
  });

  test('histogram summary names every supported quantile like Envoy', () => {
    const store = new StatsStore();
    const h = store.histogram('h');
    h.record(8);
    expect(quantileSummary(h)).toBe(
      'P0(nan,8) P25(nan,8) P50(nan,8) P75(nan,8) P90(nan,8) P95(nan,8) P99(nan,8) P99.5(nan,8) P99.9(nan,8) P100(nan,8)',
    );
  });

  test('usedOnly drops counters never incremented, gauges never set and empty histograms', () => {
    const text = renderText(envoyLikeStore(), { usedOnly: true });
    expect(text).not.toContain('upstream_rq_timeout');
    expect(text).not.toContain('upstream_cx_connect_ms');
    expect(text).toContain('server.state: 0');
    expect(text).toContain('cluster.x.upstream_rq_time: P0(');
  });

  test('filter is a regex searched in the full name', () => {
    const store = envoyLikeStore();
    expect(renderText(store, { filter: /^server\./ })).toBe('server.live: 1\nserver.state: 0\n');
    expect(renderText(store, { filter: /rq_2/ })).toBe(
      'cluster.x.upstream_rq_200: 3\nhttp.ingress_http.downstream_rq_2xx: 4\n',
    );
    // A global regex is safe to reuse across names.
    expect(renderText(store, { filter: /server/g })).toBe('server.live: 1\nserver.state: 0\n');
    expect(renderText(store, { filter: /upstream_rq_time/, usedOnly: true })).toMatch(/^cluster\.x\.upstream_rq_time: P0/);
  });

  test('type selects counters, gauges or histograms', () => {
    const store = envoyLikeStore();
    expect(renderText(store, { type: 'Gauges' })).toBe(
      'cluster.x.upstream_cx_active: 2\nserver.live: 1\nserver.state: 0\n',
    );
    const counters = renderText(store, { type: 'Counters' });
    expect(counters).toContain('cluster.x.upstream_rq_total: 3');
    expect(counters).not.toContain('server.state');
    expect(counters).not.toContain('P0');
    const hist = renderText(store, { type: 'Histograms' }).trimEnd().split('\n');
    expect(hist).toHaveLength(2);
  });

  test('histogramBuckets prints bucket counts instead of quantiles', () => {
    const store = new StatsStore({ histogramBuckets: [1, 5, 10] });
    const h = store.histogram('cluster.x.upstream_rq_time');
    for (const v of [0.5, 3, 4, 20]) h.record(v);
    expect(renderText(store, { histogramBuckets: 'cumulative' })).toBe(
      'cluster.x.upstream_rq_time: B1(0,1) B5(0,3) B10(0,3)\n',
    );
    expect(renderText(store, { histogramBuckets: 'disjoint' })).toBe(
      'cluster.x.upstream_rq_time: B1(0,1) B5(0,2) B10(0,0)\n',
    );
  });

  test('an empty store renders nothing', () => {
    expect(renderText(new StatsStore())).toBe('');
  });
});

describe('renderJson', () => {
  test("has Envoy's /stats?format=json shape", () => {
    const doc = JSON.parse(renderJson(envoyLikeStore()));
    const stats = doc.stats as Array<Record<string, unknown>>;
    expect(stats[0]).toEqual({ name: 'cluster.x.upstream_cx_active', value: 2 });
    expect(stats).toContainEqual({ name: 'listener.127.0.0.1_10000.downstream_cx_total', value: 1 });
    expect(stats).toContainEqual({ name: 'server.state', value: 0 });
    const last = stats[stats.length - 1] as { histograms: any };
    expect(last.histograms.supported_quantiles).toEqual([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    const computed = last.histograms.computed_quantiles as Array<{ name: string; values: any[] }>;
    expect(computed.map((c) => c.name)).toEqual(['cluster.x.upstream_cx_connect_ms', 'cluster.x.upstream_rq_time']);
    expect(computed[0]!.values).toHaveLength(10);
    expect(computed[0]!.values[0]).toEqual({ interval: null, cumulative: null });
    expect(computed[1]!.values[0]).toEqual({ interval: null, cumulative: 1 });
    expect(computed[1]!.values[9]).toEqual({ interval: null, cumulative: 4 });
  });

  test('omits the histograms element when no histogram is selected', () => {
    const doc = statsToJson(envoyLikeStore(), { filter: /^server/ });
    expect(doc.stats).toEqual([
      { name: 'server.live', value: 1 },
      { name: 'server.state', value: 0 },
    ]);
  });

  test('usedOnly applies to JSON too', () => {
    const doc = statsToJson(envoyLikeStore(), { usedOnly: true });
    const names = doc.stats.flatMap((s) => ('name' in s ? [s.name] : []));
    expect(names).not.toContain('cluster.x.upstream_rq_timeout');
    const hist = doc.stats[doc.stats.length - 1] as { histograms: { computed_quantiles: Array<{ name: string }> } };
    expect(hist.histograms.computed_quantiles.map((c) => c.name)).toEqual(['cluster.x.upstream_rq_time']);
  });
});
