/**
 * The contract between the health-check scheduler (health-checker.ts) and one
 * kind of check (health-check-http.ts, health-check-tcp.ts): a probe is one
 * attempt against one host, started by a function that reports its result
 * once through a callback. The failure types are Envoy's
 * `envoy.data.core.v3.HealthCheckFailureType`. ProbeAttempt keeps that
 * promise for every kind of check.
 */

import type { Socket } from 'node:net';
import type { UpstreamHost } from './host.ts';

/**
 * Why a check failed, in Envoy's words. `ACTIVE`: the host answered, wrongly
 * (an HTTP status outside expected_statuses) and fails at once; `NETWORK` and
 * `NETWORK_TIMEOUT` (set by the scheduler, never by a probe) count toward
 * unhealthy_threshold.
 */
export type HealthCheckFailureType = 'ACTIVE' | 'NETWORK' | 'NETWORK_TIMEOUT';

/** The outcome of one attempt. */
export type HealthCheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly type: HealthCheckFailureType; readonly reason: string };

/** Receives the outcome of one attempt, at most once and never synchronously from the start call. */
export type HealthCheckDone = (result: HealthCheckResult) => void;

/**
 * One attempt in flight (or just finished and closing its socket).
 * `cancel()` is idempotent, may be called at any time, destroys every socket
 * the attempt holds, and guarantees that `done` is not called afterwards.
 */
export interface HealthCheckProbe {
  cancel(): void;
}

/**
 * One attempt's side of the contract, shared by every kind of check: `finish`
 * reports the first result only; `cancel()` silences it and destroys the
 * attempt's connection (`connection`, set once it exists).
 */
export class ProbeAttempt implements HealthCheckProbe {
  /** The request or socket the attempt holds; destroyed by `cancel()`. */
  connection: { destroy(): void } | undefined;
  readonly #done: HealthCheckDone;
  #finished = false;

  constructor(done: HealthCheckDone) {
    this.#done = done;
  }

  /** Reports `result` unless a result was reported or the attempt cancelled already. */
  finish(result: HealthCheckResult): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done(result);
  }

  /** Reports a NETWORK failure with `reason`. */
  failNetwork(reason: string): void {
    this.finish({ ok: false, type: 'NETWORK', reason });
  }

  /** A failure to start, reported later (never synchronously from the start call); returns the probe. */
  failToStart(reason: string): HealthCheckProbe {
    queueMicrotask(() => this.failNetwork(reason));
    return this;
  }

  cancel(): void {
    this.#finished = true;
    this.connection?.destroy();
  }
}

/** Starts one attempt against `host`; never throws (a failure to start is reported through `done`). */
export type HealthCheckStart = (host: UpstreamHost, done: HealthCheckDone) => HealthCheckProbe;

/**
 * Dials a host through the cluster's transport socket (TLS), as Envoy's
 * health checks do: returns the socket and calls `onReady` when bytes may
 * flow, or undefined for plain TCP.
 */
export type HealthCheckDialer = (host: UpstreamHost, alpn: readonly string[], onReady: () => void) => Socket | undefined;
