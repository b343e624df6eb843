/**
 * The per-cluster stats Envoy keeps (`cluster.<name>.*`), looked up once per
 * cluster so the data path only increments handles.
 */
import type { Counter, Gauge, Histogram, StatsScope } from '../contracts/stats.ts';

/** Handles of one cluster's stats. */
export class ClusterStats {
  readonly scope: StatsScope;
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqCompleted: Counter;
  readonly rqTime: Histogram;
  readonly rqTimeout: Counter;
  readonly rqPerTryTimeout: Counter;
  readonly rqRetry: Counter;
  readonly rqRetrySuccess: Counter;
  readonly rqRxReset: Counter;
  readonly rqTxReset: Counter;
  readonly rqPendingTotal: Counter;
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxConnectFail: Counter;
  readonly cxNoneHealthy: Counter;
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly lbHealthyPanic: Counter;
  private readonly byCode: Array<Counter | undefined> = [];
  private readonly byClass: Array<Counter | undefined> = [];

  constructor(scope: StatsScope) {
    this.scope = scope;
    this.rqTotal = scope.counter('upstream_rq_total');
    this.rqActive = scope.gauge('upstream_rq_active');
    this.rqCompleted = scope.counter('upstream_rq_completed');
    this.rqTime = scope.histogram('upstream_rq_time');
    this.rqTimeout = scope.counter('upstream_rq_timeout');
    this.rqPerTryTimeout = scope.counter('upstream_rq_per_try_timeout');
    this.rqRetry = scope.counter('upstream_rq_retry');
    this.rqRetrySuccess = scope.counter('upstream_rq_retry_success');
    this.rqRxReset = scope.counter('upstream_rq_rx_reset');
    this.rqTxReset = scope.counter('upstream_rq_tx_reset');
    this.rqPendingTotal = scope.counter('upstream_rq_pending_total');
    this.cxTotal = scope.counter('upstream_cx_total');
    this.cxActive = scope.gauge('upstream_cx_active');
    this.cxConnectFail = scope.counter('upstream_cx_connect_fail');
    this.cxNoneHealthy = scope.counter('upstream_cx_none_healthy');
    this.membershipTotal = scope.gauge('membership_total');
    this.membershipHealthy = scope.gauge('membership_healthy');
    this.lbHealthyPanic = scope.counter('lb_healthy_panic');
  }

  /** Counts a response code: upstream_rq_<code> and upstream_rq_<N>xx. */
  response(code: number): void {
    let c = this.byCode[code];
    if (!c) c = this.byCode[code] = this.scope.counter(`upstream_rq_${code}`);
    c.inc();
    const cls = (code / 100) | 0;
    let k = this.byClass[cls];
    if (!k) k = this.byClass[cls] = this.scope.counter(`upstream_rq_${cls}xx`);
    k.inc();
  }
}
