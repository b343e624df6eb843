/**
 * Active health checking of one cluster's hosts: Envoy's HealthCheckerImplBase
 * and its per-host ActiveHealthCheckSession, with the HTTP and TCP checks in
 * health-check-http.ts and health-check-tcp.ts.
 *
 * Per host: after initial_jitter (a random [0, initial_jitter)), an attempt
 * starts and a timeout timer runs; when the attempt reports (or the timeout
 * fires, a NETWORK_TIMEOUT failure) the next attempt is scheduled after
 * interval plus a random [0, interval_jitter). Hosts start failed
 * (FAILED_ACTIVE_HC). The first result decides at once: a first success
 * makes the host healthy whatever healthy_threshold says (Envoy: "makes
 * startup faster"). After that, healthy_threshold consecutive successes make
 * an unhealthy host healthy; unhealthy_threshold consecutive NETWORK or
 * NETWORK_TIMEOUT failures make a healthy host unhealthy, and an ACTIVE
 * failure (a wrong HTTP status) does so at once.
 *
 * Stats, under the cluster's scope (`cluster.<name>.health_check.`), are
 * Envoy's: attempt, success, failure, network_failure, passive_failure,
 * verify_cluster (counters; the last two are never incremented: no outlier
 * detection feed, no service_name_matcher) and healthy, degraded (gauges).
 *
 * Divergences: Envoy checks a cluster that has never had traffic only every
 * no_traffic_interval (default 60 s), and has unhealthy_interval,
 * unhealthy_edge_interval and healthy_edge_interval; we always use interval.
 */

import { ConfigError } from '../contracts/errors.ts';
import type { HealthCheckConfig } from '../contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';
import { httpHealthCheck } from './health-check-http.ts';
import type { HealthCheckDialer, HealthCheckFailureType, HealthCheckProbe, HealthCheckResult, HealthCheckStart } from './health-check-probe.ts';
import { tcpHealthCheck } from './health-check-tcp.ts';
import type { UpstreamHost } from './host.ts';

/** What a health checker needs: its frozen config and the run-time handles around it. */
export interface HealthCheckerOptions {
  readonly config: HealthCheckConfig;
  readonly clusterName: string;
  readonly hosts: readonly UpstreamHost[];
  /** The cluster's scope (`cluster.<name>.`); stats go under its `health_check.` child. */
  readonly stats: StatsScope;
  /** Called when a host flips between healthy and unhealthy (not for the initial marking). */
  readonly onHostChange?: (host: UpstreamHost) => void;
  readonly log?: (msg: string, fields?: object) => void;
  /** [0, 1) like Math.random (the default); draws the jitters. */
  readonly random?: () => number;
  /** The cluster's transport socket for a host (TLS), when it has one. */
  readonly dial?: HealthCheckDialer;
}

/** Envoy's ALL_HEALTH_CHECKER_STATS. */
interface HealthCheckerStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly networkFailure: Counter;
  readonly passiveFailure: Counter;
  readonly verifyCluster: Counter;
  readonly healthy: Gauge;
  readonly degraded: Gauge;
}

/** Envoy's ActiveHealthCheckSession state, one per host. */
interface HostSession {
  readonly host: UpstreamHost;
  /** No result yet: the next success makes the host healthy at once. */
  firstCheck: boolean;
  numHealthy: number;
  numUnhealthy: number;
  /** Initial-jitter or interval timer. */
  intervalTimer: NodeJS.Timeout | undefined;
  timeoutTimer: NodeJS.Timeout | undefined;
  /** The current (or last, possibly still closing) attempt. */
  probe: HealthCheckProbe | undefined;
  /** Number of the attempt awaiting its result; 0 when none is. */
  pending: number;
  attempts: number;
}

/** Active health checking of one cluster's hosts (one `health_checks` entry). */
export class HealthChecker {
  readonly #config: HealthCheckConfig;
  readonly #clusterName: string;
  readonly #stats: HealthCheckerStats;
  readonly #sessions: readonly HostSession[];
  readonly #startProbe: HealthCheckStart;
  readonly #onHostChange: ((host: UpstreamHost) => void) | undefined;
  readonly #log: (msg: string, fields?: object) => void;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #healthyThreshold: number;
  readonly #unhealthyThreshold: number;
  #started: Promise<void> | undefined;
  #resolveStarted: (() => void) | undefined;
  #awaitingFirst = 0;
  #stopped = false;

  /**
   * Marks every host failed by active health checking (Envoy's initial
   * FAILED_ACTIVE_HC) and creates the stats; checking starts with start().
   * Throws ConfigError when the config names neither an HTTP nor a TCP check.
   */
  constructor(o: HealthCheckerOptions) {
    const { config } = o;
    if (config.http !== undefined) this.#startProbe = httpHealthCheck(config.http, o.clusterName, o.dial);
    else if (config.tcp !== undefined) this.#startProbe = tcpHealthCheck(config.tcp, o.dial);
    else throw new ConfigError('health_checker', 'one of http_health_check or tcp_health_check is required');
    this.#config = config;
    this.#clusterName = o.clusterName;
    this.#onHostChange = o.onHostChange;
    this.#log = o.log ?? (() => {});
    this.#random = o.random ?? Math.random;
    this.#timeoutMs = Math.max(1, config.timeoutMs);
    // A threshold of 0 would never be reached by `++n === 0`; treat it as 1.
    this.#healthyThreshold = Math.max(1, config.healthyThreshold);
    this.#unhealthyThreshold = Math.max(1, config.unhealthyThreshold);
    const scope = o.stats.scope('health_check');
    this.#stats = {
      attempt: scope.counter('attempt'),
      success: scope.counter('success'),
      failure: scope.counter('failure'),
      networkFailure: scope.counter('network_failure'),
      passiveFailure: scope.counter('passive_failure'),
      verifyCluster: scope.counter('verify_cluster'),
      healthy: scope.gauge('healthy'),
      degraded: scope.gauge('degraded'),
    };
    this.#sessions = o.hosts.map((host) => {
      host.failedActiveHealthCheck = true;
      return {
        host,
        firstCheck: true,
        numHealthy: 0,
        numUnhealthy: 0,
        intervalTimer: undefined,
        timeoutTimer: undefined,
        probe: undefined,
        pending: 0,
        attempts: 0,
      };
    });
  }

  /**
   * Starts checking every host. Resolves once every host has its first
   * result (Envoy's cluster warming waits for this), or when stop() is
   * called first. Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.#started !== undefined) return this.#started;
    this.#started = new Promise<void>((resolve) => {
      this.#resolveStarted = resolve;
    });
    this.#awaitingFirst = this.#sessions.length;
    if (this.#awaitingFirst === 0 || this.#stopped) {
      this.#resolveFirstRound();
      return this.#started;
    }
    const initialJitter = this.#config.initialJitterMs;
    for (const s of this.#sessions) {
      if (initialJitter > 0) {
        s.intervalTimer = setTimeout(this.#onInterval, Math.max(1, this.#jitter(initialJitter)), s);
      } else {
        this.#onInterval(s);
      }
    }
    return this.#started;
  }

  /**
   * Stops checking: clears every timer and destroys every socket. Hosts keep
   * their last health; the healthy gauge drops them, as when Envoy deletes
   * its sessions. A pending start() promise resolves.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of this.#sessions) {
      clearTimeout(s.intervalTimer);
      clearTimeout(s.timeoutTimer);
      s.intervalTimer = undefined;
      s.timeoutTimer = undefined;
      s.pending = 0;
      s.probe?.cancel();
      s.probe = undefined;
      if (!s.host.failedActiveHealthCheck) this.#stats.healthy.dec();
    }
    this.#resolveFirstRound();
  }

  /** Starts one attempt (Envoy's onIntervalBase). Arrow: used as a timer callback. */
  readonly #onInterval = (s: HostSession): void => {
    s.intervalTimer = undefined;
    if (this.#stopped) return;
    // Whatever the previous attempt still holds (a socket closing) goes now.
    s.probe?.cancel();
    const attempt = ++s.attempts;
    s.pending = attempt;
    const done = (result: HealthCheckResult): void => {
      if (s.pending === attempt && !this.#stopped) this.#onResult(s, result);
    };
    try {
      s.probe = this.#startProbe(s.host, done);
    } catch (err) {
      // Probes report start failures through `done`; this is a bug guard, never a crash from a timer.
      s.probe = undefined;
      const reason = `health check did not start: ${(err as Error).message}`;
      queueMicrotask(() => done({ ok: false, type: 'NETWORK', reason }));
    }
    s.timeoutTimer = setTimeout(this.#onTimeout, this.#timeoutMs, s, attempt);
    this.#stats.attempt.inc();
  };

  /** The attempt took longer than `timeout`: a NETWORK_TIMEOUT failure. */
  readonly #onTimeout = (s: HostSession, attempt: number): void => {
    s.timeoutTimer = undefined;
    if (s.pending !== attempt || this.#stopped) return;
    s.probe?.cancel();
    s.probe = undefined;
    this.#onResult(s, { ok: false, type: 'NETWORK_TIMEOUT', reason: `no answer within ${this.#timeoutMs} ms` });
  };

  #onResult(s: HostSession, result: HealthCheckResult): void {
    s.pending = 0;
    clearTimeout(s.timeoutTimer);
    s.timeoutTimer = undefined;
    const first = s.firstCheck;
    s.firstCheck = false;
    if (result.ok) this.#handleSuccess(s, first);
    else this.#handleFailure(s, result.type, result.reason, first);
    // onHostChange may have stopped us.
    if (!this.#stopped) {
      s.intervalTimer = setTimeout(this.#onInterval, this.#nextInterval(), s);
    }
    if (first && --this.#awaitingFirst === 0) this.#resolveFirstRound();
  }

  #handleSuccess(s: HostSession, first: boolean): void {
    s.numUnhealthy = 0;
    let changed = false;
    if (s.host.failedActiveHealthCheck && (first || ++s.numHealthy >= this.#healthyThreshold)) {
      s.host.failedActiveHealthCheck = false;
      this.#stats.healthy.inc();
      changed = true;
    }
    this.#stats.success.inc();
    if (changed) {
      this.#safeLog('health check: host healthy', { cluster: this.#clusterName, host: s.host.key, firstCheck: first });
      this.#notify(s.host);
    }
  }

  #handleFailure(s: HostSession, type: HealthCheckFailureType, reason: string, first: boolean): void {
    s.numHealthy = 0;
    const network = type !== 'ACTIVE';
    let changed = false;
    if (!s.host.failedActiveHealthCheck && (!network || ++s.numUnhealthy >= this.#unhealthyThreshold)) {
      s.host.failedActiveHealthCheck = true;
      this.#stats.healthy.dec();
      changed = true;
    }
    this.#stats.failure.inc();
    if (network) this.#stats.networkFailure.inc();
    if (changed || first) {
      const msg = changed ? 'health check: host unhealthy' : 'health check: first check failed';
      this.#safeLog(msg, { cluster: this.#clusterName, host: s.host.key, type, reason });
    }
    if (changed) this.#notify(s.host);
  }

  /** interval + [0, interval_jitter), at least 1 ms (Envoy's intervalWithJitter). */
  #nextInterval(): number {
    return Math.max(1, this.#config.intervalMs + this.#jitter(this.#config.intervalJitterMs));
  }

  #jitter(maxMs: number): number {
    return maxMs > 0 ? Math.floor(this.#random() * maxMs) : 0;
  }

  #resolveFirstRound(): void {
    const resolve = this.#resolveStarted;
    this.#resolveStarted = undefined;
    resolve?.();
  }

  #notify(host: UpstreamHost): void {
    if (this.#onHostChange === undefined) return;
    try {
      this.#onHostChange(host);
    } catch (err) {
      this.#safeLog('health check: onHostChange threw', { cluster: this.#clusterName, host: host.key, error: String(err) });
    }
  }

  #safeLog(msg: string, fields: object): void {
    try {
      this.#log(msg, fields);
    } catch {
      // A broken logger must not break health checking.
    }
  }
}
