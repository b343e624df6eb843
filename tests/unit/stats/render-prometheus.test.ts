/**
 * Admin /stats/prometheus: Envoy's tag-extracted metric names and labels,
 * TYPE lines once per family, Prometheus histograms, filter and usedonly.
 */

import { renderPrometheus, sanitizePrometheusName } from '../../../sidecar/stats/render-prometheus.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';
import { TagProducer } from '../../../sidecar/stats/tag-extraction.ts';

describe('renderPrometheus', () => {
  test('counters with response codes and cluster names as Envoy prints them', () => {
    const store = new StatsStore();
    store.counter('cluster.foo.upstream_rq_total').inc(3);
    store.counter('cluster.bar.upstream_rq_total').inc(1);
    store.counter('cluster.foo.upstream_rq_200').inc(2);
    store.counter('cluster.foo.upstream_rq_2xx').inc(2);
    expect(renderPrometheus(store)).toBe(
      [
        '# TYPE envoy_cluster_upstream_rq counter',
        'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="foo"} 2',
        '# TYPE envoy_cluster_upstream_rq_total counter',
        'envoy_cluster_upstream_rq_total{envoy_cluster_name="bar"} 1',
        'envoy_cluster_upstream_rq_total{envoy_cluster_name="foo"} 3',
        '# TYPE envoy_cluster_upstream_rq_xx counter',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="foo"} 2',
        '',
      ].join('\n'),
    );
  });

  test('HTTP connection manager, listener and server stats', () => {
    const store = new StatsStore();
    store.counter('http.ingress_http.downstream_rq_2xx').inc(5);
    store.counter('listener.127.0.0.1_10000.downstream_cx_total').inc(7);
    store.counter('listener.admin.downstream_cx_total').inc(1);
    store.gauge('server.state').set(0);
    store.gauge('listener_manager.worker_0.dispatcher_state').set(1);
    const out = renderPrometheus(store);
    expect(out).toContain(
      '# TYPE envoy_http_downstream_rq_xx counter\n' +
        'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress_http"} 5\n',
    );
    expect(out).toContain(
      '# TYPE envoy_listener_downstream_cx_total counter\n' +
        'envoy_listener_downstream_cx_total{envoy_listener_address="127.0.0.1_10000"} 7\n',
    );
    // Envoy keeps "admin" in the name: LISTENER_ADDRESS has negative match "admin".
    expect(out).toContain('# TYPE envoy_listener_admin_downstream_cx_total counter\nenvoy_listener_admin_downstream_cx_total 1\n');
    expect(out).toContain('# TYPE envoy_server_state gauge\nenvoy_server_state 0\n');
    expect(out).toContain('envoy_listener_manager_worker_dispatcher_state{envoy_worker_id="0"} 1\n');
    // Counters before gauges.
    expect(out.indexOf('counter')).toBeLessThan(out.indexOf('gauge'));
  });

  test('histograms are Prometheus histograms with cumulative buckets, _sum and _count', () => {
    const store = new StatsStore();
    const h = store.histogram('cluster.foo.upstream_rq_time');
    for (const v of [0.3, 3, 7, 70, 5000000]) h.record(v);
    const lines = renderPrometheus(store).trimEnd().split('\n');
    expect(lines[0]).toBe('# TYPE envoy_cluster_upstream_rq_time histogram');
    expect(lines[1]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="0.5"} 1');
    expect(lines[2]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="1"} 1');
    expect(lines[3]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="5"} 2');
    expect(lines[4]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="10"} 3');
    expect(lines[7]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="100"} 4');
    expect(lines[19]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="3600000"} 4');
    expect(lines[20]).toBe('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="foo",le="+Inf"} 5');
    expect(lines[21]).toBe('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="foo"} 5000080.3');
    expect(lines[22]).toBe('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="foo"} 5');
    expect(lines).toHaveLength(23);
  });

  test('a histogram without tags has no braces on _sum and _count', () => {
    const store = new StatsStore({ histogramBuckets: [1] });
    store.histogram('server.initialization_time_ms').record(2);
    expect(renderPrometheus(store)).toBe(
      [
        '# TYPE envoy_server_initialization_time_ms histogram',
        'envoy_server_initialization_time_ms_bucket{le="1"} 0',
        'envoy_server_initialization_time_ms_bucket{le="+Inf"} 1',
        'envoy_server_initialization_time_ms_sum 2',
        'envoy_server_initialization_time_ms_count 1',
        '',
      ].join('\n'),
    );
  });

  test('usedOnly and filter (on the full, untagged name)', () => {
    const store = new StatsStore();
    store.counter('cluster.foo.upstream_rq_total').inc();
    store.counter('cluster.bar.upstream_rq_total');
    store.histogram('cluster.foo.upstream_rq_time');
    expect(renderPrometheus(store, { usedOnly: true })).toBe(
      '# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="foo"} 1\n',
    );
    expect(renderPrometheus(store, { filter: /cluster\.bar\./ })).toBe(
      '# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="bar"} 0\n',
    );
    expect(renderPrometheus(store, { filter: /^nothing$/ })).toBe('');
  });

  test('invalid characters become underscores; label values are escaped', () => {
    expect(sanitizePrometheusName('cluster.a-b:c/d')).toBe('cluster_a_b_c_d');
    const producer = new TagProducer({ statsTags: [{ tagName: 'note', fixedValue: 'say "hi"\\\n' }] });
    const store = new StatsStore({ tagProducer: producer });
    store.counter('my-app.requests').inc();
    expect(renderPrometheus(store)).toBe(
      '# TYPE envoy_my_app_requests counter\nenvoy_my_app_requests{note="say \\"hi\\"\\\\\\n"} 1\n',
    );
  });

  test('custom namespaces drop the envoy_ prefix', () => {
    const store = new StatsStore();
    store.counter('istiocustom.istio_requests_total').inc(2);
    expect(renderPrometheus(store, { customNamespaces: ['istiocustom'] })).toBe(
      '# TYPE istio_requests_total counter\nistio_requests_total 2\n',
    );
  });

  test('rendering twice gives the same output', () => {
    const store = new StatsStore();
    store.counter('cluster.foo.upstream_rq_503').inc();
    store.gauge('cluster.foo.membership_healthy').set(3);
    expect(renderPrometheus(store)).toBe(renderPrometheus(store));
  });
});
