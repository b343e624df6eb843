/**
 * The stats interface every room writes to. Names are Envoy's
 * (`cluster.<name>.upstream_rq_total`); the store behind it (sidecar/stats)
 * renders Envoy's text/JSON and Prometheus with Envoy's tag extraction.
 * Handles are looked up once (at config time) and then only incremented on
 * the data path: no string building per request.
 */

/** A monotonically increasing count. */
export interface Counter {
  inc(by?: number): void;
  value(): number;
}

/** A value that goes up and down. */
export interface Gauge {
  set(v: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
  value(): number;
}

/** Recorded samples (Envoy histograms: milliseconds unless named otherwise). */
export interface Histogram {
  record(v: number): void;
}

/** A named scope: `scope('cluster.foo.').counter('upstream_rq_total')`. */
export interface StatsScope {
  /** The full prefix of this scope, ending with '.' unless empty. */
  readonly prefix: string;
  counter(name: string): Counter;
  gauge(name: string): Gauge;
  histogram(name: string): Histogram;
  /** A child scope; `name` is appended with a trailing '.'. */
  scope(name: string): StatsScope;
}
