/**
 * HistogramImpl: Envoy's default buckets, cumulative counts, sum/count, and
 * quantiles interpolated inside buckets (P0 = min, P100 = max).
 */

import { DEFAULT_BUCKETS, HistogramImpl, SUPPORTED_QUANTILES } from '../../../sidecar/stats/histogram.ts';

describe('HistogramImpl', () => {
  test("uses Envoy's default buckets and supported quantiles", () => {
    expect(DEFAULT_BUCKETS).toEqual([
      0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
      3600000,
    ]);
    expect(SUPPORTED_QUANTILES).toEqual([0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1]);
    expect(Array.from(new HistogramImpl('h').bounds)).toEqual(DEFAULT_BUCKETS);
  });

  test('bucket bounds are inclusive upper bounds (Prometheus le)', () => {
    const h = new HistogramImpl('h');
    for (const v of [0, 0.5, 0.6, 1, 5, 5.0001, 3600000, 3600001]) h.record(v);
    const cum = h.cumulativeBucketCounts();
    expect(cum[0]).toBe(2); // 0, 0.5
    expect(cum[1]).toBe(4); // + 0.6, 1
    expect(cum[2]).toBe(5); // + 5
    expect(cum[3]).toBe(6); // + 5.0001
    expect(cum[DEFAULT_BUCKETS.length - 1]).toBe(7); // + 3600000; 3600001 only in +Inf
    expect(h.sampleCount).toBe(8);
    expect(h.disjointBucketCounts().slice(0, 4)).toEqual([2, 2, 1, 1]);
  });

  test('keeps count and sum; negative samples count as 0 and NaN is dropped', () => {
    const h = new HistogramImpl('h');
    h.record(2.5);
    h.record(7.5);
    h.record(-3);
    h.record(Number.NaN);
    expect(h.sampleCount).toBe(3);
    expect(h.sampleSum).toBe(10);
    expect(h.cumulativeBucketCounts()[0]).toBe(1);
  });

  test('an empty histogram is unused and has NaN quantiles', () => {
    const h = new HistogramImpl('h');
    expect(h.used).toBe(false);
    expect(h.computedQuantiles().every(Number.isNaN)).toBe(true);
    h.record(1);
    expect(h.used).toBe(true);
  });

  test('P0 is the minimum and P100 the maximum', () => {
    const h = new HistogramImpl('h');
    for (const v of [7, 3, 42, 12]) h.record(v);
    expect(h.quantile(0)).toBe(3);
    expect(h.quantile(1)).toBe(42);
  });

  test('a single sample gives that value at every quantile', () => {
    const h = new HistogramImpl('h');
    h.record(17);
    expect(h.computedQuantiles()).toEqual(SUPPORTED_QUANTILES.map(() => 17));
  });

  test('quantiles interpolate linearly inside the bucket holding the rank', () => {
    const h = new HistogramImpl('h');
    // 100 samples spread over (10, 25]: 11..25 would be exact; bucket edges are 10 and 25.
    for (let i = 0; i < 100; i++) h.record(10 + (15 * (i + 1)) / 100);
    // Lower edge narrowed to min (10.15), upper to max (25).
    expect(h.quantile(0.5)).toBeCloseTo(10.15 + (25 - 10.15) * 0.5, 6);
    expect(h.quantile(0.9)).toBeCloseTo(10.15 + (25 - 10.15) * 0.9, 6);
  });

  test('quantiles across buckets land in the right bucket', () => {
    const h = new HistogramImpl('h');
    for (let i = 0; i < 90; i++) h.record(3); // (1, 5]
    for (let i = 0; i < 10; i++) h.record(400); // (250, 500]
    const p50 = h.quantile(0.5);
    expect(p50).toBeGreaterThanOrEqual(3);
    expect(p50).toBeLessThanOrEqual(5);
    const p95 = h.quantile(0.95);
    expect(p95).toBeGreaterThanOrEqual(250);
    expect(p95).toBeLessThanOrEqual(400);
    const p99 = h.quantile(0.99);
    expect(p99).toBeGreaterThan(p95);
    expect(p99).toBeLessThanOrEqual(400);
  });

  test('samples above the last bound use the maximum as the upper edge', () => {
    const h = new HistogramImpl('h', [1, 10]);
    h.record(20);
    h.record(40);
    expect(h.quantile(0.5)).toBeCloseTo(30, 6);
    expect(h.quantile(1)).toBe(40);
  });

  test('clear forgets every sample', () => {
    const h = new HistogramImpl('h');
    h.record(5);
    h.clear();
    expect(h.used).toBe(false);
    expect(h.sampleSum).toBe(0);
    expect(h.cumulativeBucketCounts().every((c) => c === 0)).toBe(true);
  });
});
