/**
 * `envoy.filters.http.fault` (envoy.extensions.filters.http.fault.v3.HTTPFault):
 * injects delays and aborts into requests, as Envoy's fault filter does.
 *  - delay: fixed_delay or header_delay (`x-envoy-fault-delay-request`, ms),
 *    with percentage (or `x-envoy-fault-delay-request-percentage`); the
 *    request waits, then continues (an abort, if any, is decided after it);
 *  - abort: http_status, grpc_status or header_abort
 *    (`x-envoy-fault-abort-request`, `x-envoy-fault-abort-grpc-request`,
 *    `x-envoy-fault-abort-request-percentage`), with percentage: a local
 *    reply `fault filter abort` with %RESPONSE_FLAGS% FI and details
 *    `fault_filter_abort`;
 *  - headers (every matcher must match) and downstream_nodes (against
 *    `x-envoy-downstream-service-node`) select the requests;
 *  - max_active_faults caps concurrent faults (`faults_overflow`).
 * Stats `http.<stat_prefix>.fault.aborts_injected`, `delays_injected`,
 * `faults_overflow`, gauge `active_faults` (requests being delayed or
 * aborted right now; Envoy keeps them counted until the stream ends). An empty config (Istio inserts
 * one on every HTTP listener) injects nothing.
 * Not here: upstream_cluster (refused: the route's cluster is not known to
 * HTTP filters yet), response_rate_limit (refused), the DI response flag on
 * delayed requests (filters cannot set flags without a local reply), per-route
 * overrides (typed_per_filter_config, refused by the route configuration),
 * runtime overrides (`fault.http.*` keys: there is no runtime layer).
 */
import { Continue, StopIteration, type HeaderMap, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import type { Counter, Gauge } from '../../../../sidecar/contracts/stats.ts';
import { compileHeaderMatcher, matchesHeaders, type HeaderMatcher } from '../../../../xds/translate/header-matcher.ts';
import { durationMs, list, msg, str, type Json } from '../../../../xds/translate/proto-values.ts';

/** Type name of the filter config. */
export const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

/** A FractionalPercent as a probability in [0, 1]. */
export type Fraction = number;

/** The validated HTTPFault. */
export interface FaultConfig {
  readonly delay?: { readonly fixedMs?: number; readonly fromHeader: boolean; readonly fraction: Fraction };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly fromHeader: boolean; readonly fraction: Fraction };
  readonly headers: readonly HeaderMatcher[];
  readonly downstreamNodes: readonly string[];
  /** undefined: unlimited. */
  readonly maxActiveFaults: number | undefined;
  /** Probability source, injectable for tests. */
  readonly random: () => number;
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** Parses a FractionalPercent (default 100 %, as Envoy's fault filter defaults when percentage is absent). */
function fraction(v: unknown, p: string): Fraction {
  const f = msg(v);
  if (!f) return 1;
  const d = DENOMINATORS[str(f['denominator']) || 'HUNDRED'];
  if (d === undefined) throw new ConfigError(`${p}.denominator`, `unknown denominator '${String(f['denominator'])}'`);
  const n = Number(f['numerator'] ?? 0);
  return Math.min(1, Math.max(0, n / d));
}

/** Parses an HTTPFault. */
export function parseFault(c: Json, path: string, random: () => number = Math.random): FaultConfig {
  for (const k of ['upstream_cluster', 'response_rate_limit']) {
    if (c[k] !== undefined && c[k] !== '') {
      throw new ConfigError(`${path}.${k}`, k === 'upstream_cluster' ? 'faults limited to an upstream cluster are not supported yet (HTTP filters do not see the route\'s cluster)' : 'response rate limiting is not supported yet');
    }
  }
  let delay: FaultConfig['delay'];
  const d = msg(c['delay']);
  if (d) {
    const p = `${path}.delay`;
    const fromHeader = d['header_delay'] !== undefined;
    const fixedMs = durationMs(d['fixed_delay'], `${p}.fixed_delay`);
    if (!fromHeader && fixedMs === undefined) throw new ConfigError(p, 'one of fixed_delay, header_delay is required');
    delay = Object.freeze({ fixedMs, fromHeader, fraction: fraction(d['percentage'], `${p}.percentage`) });
  }
  let abort: FaultConfig['abort'];
  const a = msg(c['abort']);
  if (a) {
    const p = `${path}.abort`;
    const fromHeader = a['header_abort'] !== undefined;
    const httpStatus = a['http_status'] !== undefined ? Number(a['http_status']) : undefined;
    const grpcStatus = a['grpc_status'] !== undefined ? Number(a['grpc_status']) : undefined;
    if (httpStatus !== undefined && (!Number.isInteger(httpStatus) || httpStatus < 200 || httpStatus >= 600)) throw new ConfigError(`${p}.http_status`, `status ${httpStatus} must be in [200, 600)`);
    if (!fromHeader && httpStatus === undefined && grpcStatus === undefined) throw new ConfigError(p, 'one of http_status, grpc_status, header_abort is required');
    abort = Object.freeze({ httpStatus, grpcStatus, fromHeader, fraction: fraction(a['percentage'], `${p}.percentage`) });
  }
  const maf = msg(c['max_active_faults']);
  return Object.freeze({
    delay,
    abort,
    headers: Object.freeze(list(c['headers']).map((h, i) => compileHeaderMatcher(h, `${path}.headers[${i}]`))),
    downstreamNodes: Object.freeze(Array.isArray(c['downstream_nodes']) ? (c['downstream_nodes'] as string[]).map(String) : []),
    maxActiveFaults: c['max_active_faults'] === undefined ? undefined : Number(maf ? maf['value'] ?? 0 : c['max_active_faults']),
    random,
  });
}

/** Shared state of one filter config: its stats and the active-fault count. */
interface FaultRuntime {
  readonly aborts: Counter;
  readonly delays: Counter;
  readonly overflow: Counter;
  readonly active: Gauge;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A header percentage (`x-envoy-fault-*-percentage`) caps the configured one: numerator over the config's denominator. */
function headerFraction(h: HeaderMap, name: string, configured: Fraction): Fraction {
  const v = first(h[name]);
  if (v === undefined || !/^\d+$/.test(v)) return configured;
  return Math.min(configured, Number(v) / 100);
}

class FaultFilter implements HttpFilter {
  private readonly cfg: FaultConfig;
  private readonly cb: HttpFilterCallbacks;
  private readonly rt: FaultRuntime;
  private timer: NodeJS.Timeout | undefined;
  private counted = false;
  private headers: HeaderMap | undefined;

  constructor(cfg: FaultConfig, cb: HttpFilterCallbacks, rt: FaultRuntime) {
    this.cfg = cfg;
    this.cb = cb;
    this.rt = rt;
  }

  decodeHeaders(h: HeaderMap): typeof Continue | typeof StopIteration {
    const c = this.cfg;
    if (!c.delay && !c.abort) return Continue;
    // Envoy's HeaderUtility::matchHeaders: a repeated header's values joined with ','.
    for (const m of c.headers) if (!matchesHeaders(m, h)) return Continue;
    if (c.downstreamNodes.length) {
      const node = first(h['x-envoy-downstream-service-node']);
      if (!node || !c.downstreamNodes.includes(node)) return Continue;
    }
    const delayMs = this.delayMs(h);
    const willAbort = delayMs === undefined ? this.abortStatus(h) : undefined;
    if (delayMs === undefined && willAbort === undefined) return Continue;
    if (c.maxActiveFaults !== undefined && this.rt.active.value() >= c.maxActiveFaults) {
      this.rt.overflow.inc();
      return Continue;
    }
    this.rt.active.inc();
    this.counted = true;
    if (delayMs !== undefined) {
      this.rt.delays.inc();
      this.headers = h;
      this.timer = setTimeout(() => this.afterDelay(), delayMs);
      return StopIteration;
    }
    this.sendAbort(willAbort!);
    return StopIteration;
  }

  private delayMs(h: HeaderMap): number | undefined {
    const d = this.cfg.delay;
    if (!d) return undefined;
    let ms = d.fixedMs;
    let frac = d.fraction;
    if (d.fromHeader) {
      const v = first(h['x-envoy-fault-delay-request']);
      if (v === undefined || !/^\d+$/.test(v)) return undefined;
      ms = Number(v);
      frac = headerFraction(h, 'x-envoy-fault-delay-request-percentage', frac);
    }
    if (ms === undefined || this.cfg.random() >= frac) return undefined;
    return ms;
  }

  private abortStatus(h: HeaderMap): { http?: number; grpc?: number } | undefined {
    const a = this.cfg.abort;
    if (!a) return undefined;
    let http = a.httpStatus;
    let grpc = a.grpcStatus;
    let frac = a.fraction;
    if (a.fromHeader) {
      const hv = first(h['x-envoy-fault-abort-request']);
      const gv = first(h['x-envoy-fault-abort-grpc-request']);
      http = hv !== undefined && /^\d+$/.test(hv) && Number(hv) >= 200 && Number(hv) < 600 ? Number(hv) : undefined;
      grpc = gv !== undefined && /^\d+$/.test(gv) ? Number(gv) : undefined;
      if (http === undefined && grpc === undefined) return undefined;
      frac = headerFraction(h, 'x-envoy-fault-abort-request-percentage', frac);
    }
    if (this.cfg.random() >= frac) return undefined;
    return { http, grpc };
  }

  private afterDelay(): void {
    this.timer = undefined;
    const abort = this.headers ? this.abortStatus(this.headers) : undefined;
    if (abort) {
      this.sendAbort(abort);
      return;
    }
    this.release();
    this.cb.continueDecoding();
  }

  /** The fault is over (delay elapsed, abort sent, or the stream ended): no longer active. */
  private release(): void {
    if (this.counted) this.rt.active.dec();
    this.counted = false;
  }

  private sendAbort(s: { http?: number; grpc?: number }): void {
    this.release();
    this.rt.aborts.inc();
    this.cb.sendLocalReply({
      status: s.http ?? 200,
      body: 'fault filter abort',
      details: 'fault_filter_abort',
      responseFlag: 'FI',
      ...(s.grpc !== undefined ? { grpcStatus: s.grpc } : {}),
    });
  }

  onDestroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.release();
  }
}

/** Registers envoy.filters.http.fault. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<FaultConfig> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.fault', 'envoy.fault'],
    typeNames: [FAULT_TYPE],
    parse(cfg, ctx): ParseResult<FaultConfig> {
      try {
        return { ok: true, config: parseFault(cfg, ctx.path) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config, rt) {
      const s = rt.stats.scope('fault');
      const runtime: FaultRuntime = { aborts: s.counter('aborts_injected'), delays: s.counter('delays_injected'), overflow: s.counter('faults_overflow'), active: s.gauge('active_faults') };
      return { name: 'envoy.filters.http.fault', create: (cb) => new FaultFilter(config, cb, runtime) };
    },
  };
  registry.register(ext);
}
