/**
 * Counters and gauges as the store holds them: a number and a "used" flag
 * (Envoy's `Metric::used()`, what `/stats?usedonly` prints). The hot-path
 * methods are plain field updates; the tag-extracted name for Prometheus is
 * computed on first render and kept on the metric (see tag-extraction.ts).
 */

import type { Counter, Gauge } from '../contracts/stats.ts';
import type { TaggedName } from './tag-extraction.ts';

/** A counter in the store. Envoy's CounterImpl without the per-flush `latch()`. */
export class CounterImpl implements Counter {
  /** The full stat name, e.g. `cluster.foo.upstream_rq_total`. */
  readonly name: string;
  /** Set by the first `inc()`, even by 0, as Envoy's `Flags::Used`; survives `reset()`. */
  used = false;
  /** Tag extraction result, filled by the first Prometheus render. */
  tagged: TaggedName | undefined = undefined;
  private v = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Adds `by` (default 1). */
  inc(by = 1): void {
    this.v += by;
    this.used = true;
  }

  /** The current value. */
  value(): number {
    return this.v;
  }

  /** Back to zero (admin `/reset_counters`); the used flag stays, as in Envoy. */
  reset(): void {
    this.v = 0;
  }
}

/** A gauge in the store. Envoy's GaugeImpl (import modes are not modelled). */
export class GaugeImpl implements Gauge {
  /** The full stat name, e.g. `server.state`. */
  readonly name: string;
  /** Set by the first `set()`, `inc()` or `dec()`. */
  used = false;
  /** Tag extraction result, filled by the first Prometheus render. */
  tagged: TaggedName | undefined = undefined;
  private v = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Sets the value. */
  set(v: number): void {
    this.v = v;
    this.used = true;
  }

  /** Adds `by` (default 1). */
  inc(by = 1): void {
    this.v += by;
    this.used = true;
  }

  /** Subtracts `by` (default 1). */
  dec(by = 1): void {
    this.v -= by;
    this.used = true;
  }

  /** The current value. */
  value(): number {
    return this.v;
  }
}
