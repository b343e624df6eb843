/**
 * The connection manager's stats (`http.<stat_prefix>.*`), with Envoy's
 * names, looked up once per HCM config.
 */
import type { Counter, Gauge, Histogram, StatsScope } from '../../../sidecar/contracts/stats.ts';

/** Handles of one HCM's stats. */
export class HcmStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxHttp1Total: Counter;
  readonly cxHttp2Total: Counter;
  readonly cxHttp1Active: Gauge;
  readonly cxHttp2Active: Gauge;
  readonly cxDestroy: Counter;
  readonly cxProtocolError: Counter;
  readonly cxDrainClose: Counter;
  readonly cxIdleTimeout: Counter;
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqHttp1Total: Counter;
  readonly rqHttp2Total: Counter;
  readonly rqCompleted: Counter;
  readonly rqTime: Histogram;
  readonly rqRxReset: Counter;
  readonly rqIdleTimeout: Counter;
  readonly rqHeaderTooLarge: Counter;
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqRedirect: Counter;
  readonly rqDirectResponse: Counter;
  private readonly byClass: Counter[];

  constructor(root: StatsScope, statPrefix: string) {
    const s = root.scope(`http.${statPrefix}`);
    this.cxTotal = s.counter('downstream_cx_total');
    this.cxActive = s.gauge('downstream_cx_active');
    this.cxHttp1Total = s.counter('downstream_cx_http1_total');
    this.cxHttp2Total = s.counter('downstream_cx_http2_total');
    this.cxHttp1Active = s.gauge('downstream_cx_http1_active');
    this.cxHttp2Active = s.gauge('downstream_cx_http2_active');
    this.cxDestroy = s.counter('downstream_cx_destroy');
    this.cxProtocolError = s.counter('downstream_cx_protocol_error');
    this.cxDrainClose = s.counter('downstream_cx_drain_close');
    this.cxIdleTimeout = s.counter('downstream_cx_idle_timeout');
    this.rqTotal = s.counter('downstream_rq_total');
    this.rqActive = s.gauge('downstream_rq_active');
    this.rqHttp1Total = s.counter('downstream_rq_http1_total');
    this.rqHttp2Total = s.counter('downstream_rq_http2_total');
    this.rqCompleted = s.counter('downstream_rq_completed');
    this.rqTime = s.histogram('downstream_rq_time');
    this.rqRxReset = s.counter('downstream_rq_rx_reset');
    this.rqIdleTimeout = s.counter('downstream_rq_idle_timeout');
    this.rqHeaderTooLarge = s.counter('downstream_rq_header_too_large'); // Envoy: downstream_rq_too_large is body; headers count as protocol errors
    this.noRoute = s.counter('no_route');
    this.noCluster = s.counter('no_cluster');
    this.rqRedirect = s.counter('rq_redirect');
    this.rqDirectResponse = s.counter('rq_direct_response');
    this.byClass = [1, 2, 3, 4, 5].map((n) => s.counter(`downstream_rq_${n}xx`));
  }

  /** A request started. */
  streamStart(http2: boolean): void {
    this.rqTotal.inc();
    this.rqActive.inc();
    (http2 ? this.rqHttp2Total : this.rqHttp1Total).inc();
  }

  /** Response headers went out with this status. */
  response(status: number): void {
    const c = this.byClass[((status / 100) | 0) - 1];
    if (c) c.inc();
  }

  /** The stream finished (completed or reset). */
  streamDone(): void {
    this.rqActive.dec();
    this.rqCompleted.inc();
  }
}
