/**
 * StatsStore: handles cached by full name, scopes, the used flag, and
 * /reset_counters, as Envoy's store behaves.
 */

import { StatsStore } from '../../../sidecar/stats/store.ts';

describe('StatsStore', () => {
  test('the root scope has an empty prefix and child scopes end with a dot', () => {
    const store = new StatsStore();
    expect(store.prefix).toBe('');
    const cluster = store.scope('cluster.foo');
    expect(cluster.prefix).toBe('cluster.foo.');
    expect(cluster.scope('grpc').prefix).toBe('cluster.foo.grpc.');
    // A trailing dot in the name is not doubled; an empty name keeps the prefix.
    expect(store.scope('http.ingress.').prefix).toBe('http.ingress.');
    expect(cluster.scope('').prefix).toBe('cluster.foo.');
  });

  test('the same full name returns the same handle, whichever scope asks', () => {
    const store = new StatsStore();
    const a = store.scope('cluster.foo').counter('upstream_rq_total');
    const b = store.counter('cluster.foo.upstream_rq_total');
    const c = store.scope('cluster').scope('foo').counter('upstream_rq_total');
    expect(a).toBe(b);
    expect(a).toBe(c);
    a.inc();
    c.inc(2);
    expect(b.value()).toBe(3);
    expect(store.counters().map((x) => x.name)).toEqual(['cluster.foo.upstream_rq_total']);
  });

  test('counters, gauges and histograms live in separate namespaces', () => {
    const store = new StatsStore();
    store.counter('x').inc(5);
    store.gauge('x').set(7);
    store.histogram('x').record(1);
    expect(store.findCounter('x')!.value()).toBe(5);
    expect(store.findGauge('x')!.value()).toBe(7);
    expect(store.findHistogram('x')!.sampleCount).toBe(1);
  });

  test('find* does not create', () => {
    const store = new StatsStore();
    expect(store.findCounter('nope')).toBeUndefined();
    expect(store.findGauge('nope')).toBeUndefined();
    expect(store.findHistogram('nope')).toBeUndefined();
    expect(store.counters()).toHaveLength(0);
  });

  test('a counter is used once incremented, even by zero', () => {
    const store = new StatsStore();
    const c = store.counter('server.dummy');
    expect(c.used).toBe(false);
    c.inc(0);
    expect(c.used).toBe(true);
    expect(c.value()).toBe(0);
  });

  test('a gauge is used once set, incremented or decremented', () => {
    const store = new StatsStore();
    const set = store.gauge('a');
    const inc = store.gauge('b');
    const dec = store.gauge('c');
    const idle = store.gauge('d');
    set.set(0);
    inc.inc();
    dec.inc(3);
    dec.dec();
    expect([set.used, inc.used, dec.used, idle.used]).toEqual([true, true, true, false]);
    expect(dec.value()).toBe(2);
    inc.dec(1);
    expect(inc.value()).toBe(0);
  });

  test('resetCounters zeroes counters only; used flags, gauges and histograms stay', () => {
    const store = new StatsStore();
    const c = store.counter('cluster.foo.upstream_rq_total');
    const g = store.gauge('cluster.foo.upstream_cx_active');
    const h = store.histogram('cluster.foo.upstream_rq_time');
    c.inc(10);
    g.set(4);
    h.record(3);
    store.resetCounters();
    expect(c.value()).toBe(0);
    expect(c.used).toBe(true);
    expect(g.value()).toBe(4);
    expect(h.sampleCount).toBe(1);
    c.inc();
    expect(c.value()).toBe(1);
  });

  test('listings are sorted by name and pick up stats added later', () => {
    const store = new StatsStore();
    store.counter('b');
    store.counter('a');
    expect(store.counters().map((c) => c.name)).toEqual(['a', 'b']);
    store.counter('aa');
    expect(store.counters().map((c) => c.name)).toEqual(['a', 'aa', 'b']);
    store.gauge('z');
    store.gauge('y');
    expect(store.gauges().map((g) => g.name)).toEqual(['y', 'z']);
  });

  test('custom histogram buckets apply to every histogram of the store', () => {
    const store = new StatsStore({ histogramBuckets: [1, 10] });
    const h = store.histogram('h');
    expect(Array.from(h.bounds)).toEqual([1, 10]);
  });

  test('tag extraction runs once per stat, not once per scrape', () => {
    const store = new StatsStore();
    const c = store.counter('cluster.foo.upstream_rq_200');
    const spy = jest.spyOn(store.tagProducer, 'produceTags');
    try {
      const first = store.taggedName(c);
      const second = store.taggedName(c);
      expect(second).toBe(first);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
