/**
 * envoy.filters.http.router: forwards a downstream stream to an upstream
 * host and the response back, with Envoy's route actions (rewrites, host
 * rewrites, redirects, direct responses), timeouts, retries with jittered
 * back-off, hashing for RING_HASH/MAGLEV, x-forwarded-*, x-request-id,
 * x-envoy-* headers, and Envoy's local replies and response flags.
 * Bodies stream in both directions with backpressure; a request body is
 * buffered only when a retry might need to replay it (Envoy's
 * per_connection_buffer_limit_bytes bounds that).
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AccessLogEntry, AccessLogger } from '../../../sidecar/contracts/access-log.ts';
import { Continue, type BodyTransform, type ConnectionInfo, type HeaderMap, type HttpFilter, type HttpFilterCallbacks, type HttpFilterFactory, type LocalReplySpec } from '../../../sidecar/contracts/http-filter.ts';
import type { LogFilter } from '../access-log-filter.ts';
import type { TlsConnectionInfo } from '../../../sidecar/contracts/tls.ts';
import type { LbContext } from '../../../sidecar/contracts/load-balancer.ts';
import { mutateXfcc, XFCC, type XfccConnection } from '../../tls/xfcc.ts';
import type { Cluster } from '../../../sidecar/upstream/cluster.ts';
import type { UpstreamHost } from '../../../sidecar/upstream/host.ts';
import type { UpstreamFailure, UpstreamRequest, UpstreamResponseHandler } from '../../../sidecar/upstream/upstream-request.ts';
import { xxHash64String } from '../../../sidecar/upstream/xxhash64.ts';
import type { HcmConfig } from '../connection-manager/config.ts';
import type { Downstream } from '../connection-manager/downstream.ts';
import { grpcStatusForHttp, isGrpcRequest, mapLocalReply } from '../connection-manager/local-reply.ts';
import type { HcmStats } from '../connection-manager/hcm-stats.ts';
import { applyHeaderMutation, type HeaderFormatContext } from '../route/header-mutation.ts';
import type { RouteTable } from '../route/route-match.ts';
import { parseRetryOn, type ForwardAction, type RedirectAction, type RetryPolicy, type Route, type VirtualHost, type WeightedCluster } from '../route/route-config.ts';

/** What the router needs from the process around it. */
export interface RouterRuntime {
  cluster(name: string): Cluster | undefined;
  /** True while the listener drains: responses ask the client to close. */
  readonly draining: boolean;
  /** RDS: the current route table of a route configuration name. */
  routeTable(name: string): RouteTable | undefined;
  /** The HCM's access logs (empty: no entry is built). */
  readonly accessLogs: readonly RouterAccessLog[];
  /** Logs a defect caught on a stream (the stream ends with a 500 or a reset; the process goes on). */
  readonly log?: { warn(o: object, m: string): void };
}

/** An access log with its filter, as the router runs it. */
export interface RouterAccessLog {
  readonly filter: LogFilter | undefined;
  readonly logger: AccessLogger;
}

const MAX_REPLAY_BODY = 1024 * 1024;
/** Filter-state key of the client address as the connection manager determined it (RBAC remote_ip). */
export const DOWNSTREAM_REMOTE_ADDRESS = 'envoy.downstream.remote_address';

/** gRPC's grpc-timeout header (`100m`, `5S`, up to 8 digits and a unit) in milliseconds. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H': return n * 3_600_000;
    case 'M': return n * 60_000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return Math.ceil(n / 1000);
    default: return Math.ceil(n / 1_000_000);
  }
}

/** What XFCC needs of a TLS connection. */
function xfccConnection(t: TlsConnectionInfo): XfccConnection {
  return { peer: t.peer, localUriSans: t.local?.uriSans ?? [], peerChainPem: t.peer?.pem ? [t.peer.pem] : undefined };
}
const NO_FILTERS: readonly HttpFilterFactory[] = Object.freeze([]);
/** Responses up to this size may have headers and body sent together. */
const COALESCE_LIMIT = 16 * 1024;
/** Envoy's RESPONSE_CODE_DETAILS for the local replies the router makes. */
const LOCAL_REPLY_DETAILS: Record<string, string> = {
  NR: 'route_not_found',
  NC: 'cluster_not_found',
  UH: 'no_healthy_upstream',
  UF: 'upstream_reset_before_response_started{connection_failure}',
  'UF,URX': 'upstream_reset_before_response_started{connection_failure}',
  UC: 'upstream_reset_before_response_started{connection_termination}',
  'UC,URX': 'upstream_reset_before_response_started{connection_termination}',
  UT: 'upstream_response_timeout',
  SI: 'stream_idle_timeout',
  DT: 'max_duration_timeout',
};
/** The load-balancer context of a request without a hash (shared: nothing writes to it). */
const NO_LB_CONTEXT: LbContext = Object.freeze({});
/** Request headers that steer the router and are not forwarded. */
const CONSUMED_REQUEST_HEADERS = new Set(['x-envoy-upstream-rq-timeout-ms', 'x-envoy-retry-on', 'x-envoy-max-retries', 'x-envoy-upstream-rq-per-try-timeout-ms']);

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** One request through the router. Created by the connection manager per stream. */
export class RouterStream implements UpstreamResponseHandler {
  private readonly cfg: HcmConfig;
  private readonly table: RouteTable | undefined;
  private readonly filterFactories: readonly HttpFilterFactory[];
  /** The last transform of the chain: its output goes downstream. */
  private transformTail: BodyTransform | undefined;
  private filters: HttpFilter[] | undefined;
  /** The filter whose decodeHeaders returned StopIteration (-1: none waiting). */
  private stoppedAt = -1;
  /** A response body transform from the filters (compression), when one applies. */
  private transform: BodyTransform | undefined;
  private readonly ds: Downstream;
  private readonly conn: ConnectionInfo;
  private readonly rt: RouterRuntime;
  private readonly stats: HcmStats;
  private readonly start = performance.now();
  private route: Route | undefined;
  private vhost: VirtualHost | undefined;
  private cluster: Cluster | undefined;
  private host: UpstreamHost | undefined;
  private upstream: UpstreamRequest | undefined;
  private upstreamStart = 0;
  private retry: RetryPolicy | undefined;
  private retriesLeft = 0;
  private attempts = 0;
  private body: Buffer | Readable | null = null;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private heldHeaders: HeaderMap | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  /** Hosts tried so far (only with the previous_hosts retry predicate). */
  private tried: Set<string> | undefined;
  private completed = false;
  private heldBody: Buffer | undefined;
  private lastReceived = -1;
  private perTryTimer: NodeJS.Timeout | undefined;
  private done = false;
  private upstreamHeaders: HeaderMap = {};
  private authority = '';
  private path = '';
  /** Envoy's %RESPONSE_FLAGS% for this stream. */
  responseFlags = '';
  // What access logs report (kept up to date only as cheap assignments).
  private responseCode = 0;
  private responseHeaders: HeaderMap | undefined;
  private responseTrailers: HeaderMap | undefined;
  private responseStart = 0;
  private bytesSent = 0;
  private upstreamKey: string | undefined;
  private failureReason: string | undefined;
  private details = '';
  private readonly startEpoch = Date.now();
  private hash: bigint | undefined;
  private fmt: HeaderFormatContext;
  /** The weighted cluster picked, whose header mutations apply. */
  private weighted: WeightedCluster | undefined;

  /**
   * `table` is the route table the stream started with: the inline one, or
   * the RDS one current at that moment (undefined until RDS delivers it:
   * every request is then NR).
   */
  constructor(cfg: HcmConfig, table: RouteTable | undefined, ds: Downstream, conn: ConnectionInfo, rt: RouterRuntime, stats: HcmStats, filters: readonly HttpFilterFactory[] = NO_FILTERS) {
    this.cfg = cfg;
    this.table = table;
    this.filterFactories = filters;
    this.ds = ds;
    this.conn = conn;
    this.rt = rt;
    this.stats = stats;
    this.fmt = { connection: conn, protocol: ds.protocol };
  }

  /** Runs the request. Never throws: a defect (in a filter or here) ends this stream, not the process. */
  run(): void {
    try {
      this.start_();
    } catch (e) {
      this.internalError(e);
    }
  }

  /**
   * A throw from a filter or from this stream's own code: logged, answered
   * 500 (a reset once the response started), the upstream attempt dropped.
   * Envoy would have asserted; a sidecar in front of a database keeps every
   * other stream going.
   */
  private internalError(e: unknown): void {
    this.rt.log?.warn({ err: e instanceof Error ? e.stack ?? e.message : String(e) }, 'internal error on a stream; answered 500 or reset');
    try {
      this.upstream?.abort();
      this.finishAttempt();
      this.dropHeld();
      // Thrown while answering (done already set): nothing more can be said; reset.
      if (this.done) this.resetAfterDefect();
      else this.localReply(500, 'internal error', '');
    } catch {
      this.resetAfterDefect();
    }
  }

  /** Ends a stream a defect left half-answered: downstream reset, accounting closed (once). */
  private resetAfterDefect(): void {
    this.done = true;
    this.clearTimeout();
    try {
      this.ds.reset();
    } finally {
      this.complete();
    }
  }

  private start_(): void {
    const h = this.ds.headers;
    this.ds.onAbort(() => this.onDownstreamAbort());
    // A request body that fails (client gone) is handled by the abort path.
    this.ds.body?.on('error', () => undefined);
    // As Envoy's connection manager: x-forwarded-*, x-request-id and XFCC are
    // settled before any filter sees the request, so a filter (RBAC's
    // remote_ip) cannot be steered by what the client claims.
    this.prepareForwardedHeaders(h);
    if (this.filterFactories.length) {
      const callbacks = this.filterCallbacks();
      callbacks.filterState.set(DOWNSTREAM_REMOTE_ADDRESS, this.clientAddress(h));
      this.filters = this.filterFactories.map((f) => f.create(callbacks));
      if (!this.decodeFilters(0)) return;
    }
    this.route_();
  }

  /** After the request hooks: routes and forwards (or answers locally). */
  private route_(): void {
    const h = this.ds.headers;
    if (this.rt.draining) this.ds.closeConnectionAfter();
    const authority = first(h[':authority']) ?? '';
    const table = this.table;
    const vh = table?.virtualHost(authority, this.cfg.portStripping, this.conn.localPort);
    const path = first(h[':path']) ?? '/';
    const route = vh ? table!.route(vh, h, path) : undefined;
    if (!vh || !route) {
      this.stats.noRoute.inc();
      this.localReply(404, '', 'NR');
      return;
    }
    this.vhost = vh;
    this.route = route;
    const action = route.action;
    if (action.kind === 'direct') {
      this.stats.rqDirectResponse.inc();
      const headers: HeaderMap = {};
      if (action.body) headers['content-type'] = 'text/plain';
      this.sendLocal(action.status, action.body, headers, '', true);
      return;
    }
    if (action.kind === 'redirect') {
      this.stats.rqRedirect.inc();
      this.sendLocal(action.status, '', { location: this.redirectLocation(action, h) }, '', true);
      return;
    }
    this.forward(action, h, authority, path);
  }

  /** What the filters of this stream may call back (one object: they share filterState). */
  private filterCallbacks(): HttpFilterCallbacks {
    return {
      connection: this.conn,
      protocol: this.ds.protocol,
      filterState: new Map(),
      continueDecoding: () => {
        const at = this.stoppedAt;
        if (at < 0 || this.done) return;
        this.stoppedAt = -1;
        // The wait is over; forward() arms the route's own idle timer.
        if (this.idleTimer !== undefined) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
        // Called from a filter's own callback (a timer, a socket): a throw here has no caller to catch it.
        try {
          if (this.decodeFilters(at + 1)) this.route_();
        } catch (e) {
          this.internalError(e);
        }
      },
      sendLocalReply: (r: LocalReplySpec) => {
        if (this.done) return;
        this.stoppedAt = -1;
        // Often called from a filter's own callback: a throw here has no caller to catch it.
        try {
          this.filterReply(r);
        } catch (e) {
          this.internalError(e);
        }
      },
    };
  }

  /**
   * Runs the request hooks in configured order from filter `from`; false
   * when one stopped (it resumes or replies later) or replied.
   */
  private decodeFilters(from: number): boolean {
    const filters = this.filters!;
    const h = this.ds.headers;
    const endStream = this.ds.body === null;
    for (let i = from; i < filters.length; i++) {
      if (filters[i]!.decodeHeaders(h, endStream) !== Continue || this.done) {
        if (!this.done) {
          this.stoppedAt = i;
          // Envoy's stream idle timeout runs from the stream's start: a filter that never
          // resumes (a stalled authorization server with no timeout of its own) ends in 408 SI.
          if (this.cfg.streamIdleTimeoutMs > 0 && this.idleTimer === undefined) {
            this.lastReceived = this.ds.bytesReceived();
            this.idleTimer = setTimeout(() => this.onIdleTimeout(), this.cfg.streamIdleTimeoutMs);
          }
        }
        return false;
      }
    }
    return true;
  }

  /** A filter's local reply; gRPC requests get a trailers-only response. */
  private filterReply(r: LocalReplySpec): void {
    this.sendLocal(r.status, r.body, { ...r.headers }, r.responseFlag ?? '', false, r.details, r.grpcStatus);
  }

  /** Runs the response hooks in reverse order; chains their body transforms. */
  private encodeFilters(status: number, headers: HeaderMap): void {
    const filters = this.filters!;
    let out: BodyTransform | undefined;
    for (let i = filters.length - 1; i >= 0; i--) {
      const t = filters[i]!.encodeHeaders?.(status, headers, this.ds.headers, false);
      if (!t) continue;
      if (out) out.pipe(t);
      out = out ?? t;
      this.transformTail = t;
    }
    this.transform = out;
  }

  private prepareForwardedHeaders(h: HeaderMap): void {
    const cfg = this.cfg;
    if (cfg.useRemoteAddress) {
      if (!cfg.skipXffAppend) {
        const xff = first(h['x-forwarded-for']);
        h['x-forwarded-for'] = xff ? `${xff}, ${this.conn.remoteAddress}` : this.conn.remoteAddress;
      }
      h['x-forwarded-proto'] = this.conn.scheme;
      if (h['x-envoy-external-address'] === undefined) h['x-envoy-external-address'] = this.conn.remoteAddress;
    } else if (h['x-forwarded-proto'] === undefined) {
      h['x-forwarded-proto'] = this.conn.scheme;
    }
    if (cfg.generateRequestId && (h['x-request-id'] === undefined || (cfg.useRemoteAddress && !cfg.preserveExternalRequestId))) {
      h['x-request-id'] = randomUUID();
    }
    const x = mutateXfcc(first(h[XFCC]), this.conn.tls ? xfccConnection(this.conn.tls) : undefined, cfg.xfcc);
    if (x.action === 'remove') delete h[XFCC];
    else if (x.action === 'set') h[XFCC] = x.value;
  }

  /** The client address as Envoy determines it (XFF with xff_num_trusted_hops). */
  private clientAddress(h: HeaderMap): string {
    if (this.cfg.useRemoteAddress && this.cfg.xffNumTrustedHops === 0) return this.conn.remoteAddress;
    const xff = first(h['x-forwarded-for']);
    if (!xff) return this.conn.remoteAddress;
    const parts = xff.split(',').map((s) => s.trim());
    const idx = parts.length - 1 - this.cfg.xffNumTrustedHops;
    return parts[Math.max(0, idx)] ?? this.conn.remoteAddress;
  }

  private redirectLocation(a: RedirectAction, h: HeaderMap): string {
    const scheme = a.scheme ?? this.conn.scheme;
    let host = first(h[':authority']) ?? '';
    let port = '';
    const colon = host.lastIndexOf(':');
    if (colon > 0 && host.indexOf(']') < colon) { port = host.slice(colon); host = host.slice(0, colon); }
    if (a.host !== undefined) host = a.host;
    if (a.port !== undefined) port = a.port ? `:${a.port}` : '';
    else if (a.scheme !== undefined && (port === ':80' || port === ':443')) port = '';
    let path = first(h[':path']) ?? '/';
    const q = path.indexOf('?');
    let query = q >= 0 ? path.slice(q) : '';
    path = q >= 0 ? path.slice(0, q) : path;
    if (a.path !== undefined) {
      const pq = a.path.indexOf('?');
      if (pq >= 0) { query = a.path.slice(pq); path = a.path.slice(0, pq); } else path = a.path;
    } else if (a.prefixRewrite !== undefined && this.route?.path.kind === 'prefix') {
      path = a.prefixRewrite + path.slice(this.route.path.value.length);
    } else if (a.regexRewrite) {
      path = path.replace(a.regexRewrite.re, a.regexRewrite.substitution);
    }
    if (a.stripQuery) query = '';
    return `${scheme}://${host}${port}${path}${query}`;
  }

  private pickCluster(a: ForwardAction, h: HeaderMap): string | undefined {
    if (a.cluster) return a.cluster;
    if (a.clusterHeader) return first(h[a.clusterHeader]);
    const w = a.weighted!;
    let r = Math.floor(Math.random() * w.total);
    for (const c of w.clusters) {
      if (r < c.weight) { this.weighted = c; return c.name; }
      r -= c.weight;
    }
    return w.clusters[w.clusters.length - 1]!.name;
  }

  private computeHash(a: ForwardAction, h: HeaderMap): bigint | undefined {
    let hash: bigint | undefined;
    for (const p of a.hashPolicy) {
      let key: string | undefined;
      if (p.kind === 'header') { const v = h[p.name]; key = Array.isArray(v) ? v.join(',') : v; }
      else if (p.kind === 'source_ip') key = this.clientAddress(h);
      else if (p.kind === 'cookie') {
        const cookies = first(h['cookie']);
        if (cookies) for (const part of cookies.split(';')) {
          const eq = part.indexOf('=');
          if (eq > 0 && part.slice(0, eq).trim() === p.name) { key = part.slice(eq + 1).trim(); break; }
        }
      } else {
        const path = first(h[':path']) ?? '';
        const q = path.indexOf('?');
        if (q >= 0) for (const kv of path.slice(q + 1).split('&')) {
          const eq = kv.indexOf('=');
          if ((eq < 0 ? kv : kv.slice(0, eq)) === p.name) { key = eq < 0 ? '' : kv.slice(eq + 1); break; }
        }
      }
      if (key === undefined) continue;
      const kh = xxHash64String(key);
      // Envoy combines successive hashes: ((hash << 1) | (hash >> 63)) ^ new.
      hash = hash === undefined ? kh : ((((hash << 1n) | (hash >> 63n)) & 0xffffffffffffffffn) ^ kh);
      if (p.terminal) break;
    }
    return hash;
  }

  private forward(a: ForwardAction, h: HeaderMap, authority: string, path: string): void {
    const clusterName = this.pickCluster(a, h);
    const cluster = clusterName ? this.rt.cluster(clusterName) : undefined;
    if (!cluster) {
      this.stats.noCluster.inc();
      this.localReply(503, '', 'NC');
      return;
    }
    this.cluster = cluster;
    // ClusterLoadAssignment drop_overloads, as Envoy's checkDropOverload once the cluster is known.
    if (cluster.shouldDrop()) {
      cluster.stats.response(503);
      this.sendLocal(503, 'drop overload', this.cfg.router.suppressEnvoyHeaders ? {} : { 'x-envoy-drop-overload': 'true' }, 'DO', false, 'drop_overload');
      return;
    }
    this.hash = a.hashPolicy.length ? this.computeHash(a, h) : undefined;

    // Path and host rewrites.
    if (a.prefixRewrite !== undefined && this.route!.path.kind !== 'regex') {
      const matched = this.route!.path.kind === 'path' || this.route!.path.kind === 'prefix' || this.route!.path.kind === 'separated' ? this.route!.path.value.length : 0;
      let rest = path.slice(matched);
      if (a.prefixRewrite.endsWith('/') && rest.startsWith('/')) rest = rest.slice(1);
      path = a.prefixRewrite + rest;
    } else if (a.regexRewrite) {
      const q = path.indexOf('?');
      const p = q >= 0 ? path.slice(0, q) : path;
      path = p.replace(a.regexRewrite.re, a.regexRewrite.substitution) + (q >= 0 ? path.slice(q) : '');
    }
    const original = authority;
    if (a.hostRewriteLiteral !== undefined) authority = a.hostRewriteLiteral;
    else if (a.hostRewriteHeader && first(h[a.hostRewriteHeader])) authority = first(h[a.hostRewriteHeader])!;
    if (authority !== original) h['x-forwarded-host'] = original;
    this.authority = authority;
    this.path = path;

    // Timeouts and retries, with the x-envoy-* request header overrides.
    let timeoutMs = a.timeoutMs;
    const tHeader = first(h['x-envoy-upstream-rq-timeout-ms']);
    if (tHeader !== undefined && /^\d+$/.test(tHeader)) timeoutMs = Number(tHeader);
    let retry = a.retry;
    const retryOn = first(h['x-envoy-retry-on']);
    if (retryOn) {
      try {
        const on = parseRetryOn(retryOn, 'x-envoy-retry-on');
        const base = retry ?? { on5xx: false, gatewayError: false, reset: false, connectFailure: false, retriable4xx: false, grpcStatuses: [], retriableStatusCodes: [], numRetries: 1, perTryTimeoutMs: 0, baseIntervalMs: 25, maxIntervalMs: 250, avoidPreviousHosts: false, hostSelectionRetryMaxAttempts: 1 };
        retry = {
          ...base,
          on5xx: base.on5xx || on.on5xx,
          gatewayError: base.gatewayError || on.gatewayError,
          reset: base.reset || on.reset,
          connectFailure: base.connectFailure || on.connectFailure,
          retriable4xx: base.retriable4xx || on.retriable4xx,
          grpcStatuses: [...base.grpcStatuses, ...on.grpcStatuses],
        };
      } catch { /* Envoy ignores unknown x-envoy-retry-on values */ }
    }
    const maxRetries = first(h['x-envoy-max-retries']);
    if (retry && maxRetries !== undefined && /^\d+$/.test(maxRetries)) retry = { ...retry, numRetries: Number(maxRetries) };
    const perTry = first(h['x-envoy-upstream-rq-per-try-timeout-ms']);
    if (retry && perTry !== undefined && /^\d+$/.test(perTry)) retry = { ...retry, perTryTimeoutMs: Number(perTry) };
    this.retry = retry;
    this.retriesLeft = retry ? retry.numRetries : 0;

    // Upstream headers: everything but pseudo-headers and the x-envoy-*
    // request controls consumed above, then mutations from the most specific
    // level out (weighted cluster, route, vhost, config), so the route
    // configuration's level is applied last.
    const up: HeaderMap = {};
    for (const k in h) {
      if (k.charCodeAt(0) === 58 /* ':' */ || (k.charCodeAt(0) === 120 /* 'x' */ && CONSUMED_REQUEST_HEADERS.has(k))) continue;
      up[k] = h[k];
    }
    if (timeoutMs > 0 && !this.cfg.router.suppressEnvoyHeaders) up['x-envoy-expected-rq-timeout-ms'] = String(retry?.perTryTimeoutMs || timeoutMs);
    if (this.weighted) applyHeaderMutation(up, this.weighted.requestHeaders, this.fmt);
    applyHeaderMutation(up, this.route!.requestHeaders, this.fmt);
    applyHeaderMutation(up, this.vhost!.requestHeaders, this.fmt);
    applyHeaderMutation(up, this.table!.config.requestHeaders, this.fmt);
    this.upstreamHeaders = up;

    // Envoy's route timeout runs from the end of the downstream request; the
    // stream idle timeout (route idle_timeout, else the HCM's
    // stream_idle_timeout) from the start, refreshed by activity either way.
    const idleMs = a.idleTimeoutMs ?? this.cfg.streamIdleTimeoutMs;
    // Without a request body both timers start now and the route timer runs
    // to the end of the response; an idle timer at least as long could never
    // fire first, so it is not armed (the common case: 15 s vs 5 min).
    const idleCanFire = idleMs > 0 && !(this.ds.body === null && timeoutMs > 0 && idleMs >= timeoutMs);
    if (idleCanFire) {
      this.lastReceived = this.ds.bytesReceived();
      this.idleTimer = setTimeout(() => this.onIdleTimeout(), idleMs);
    }
    const maxDuration = this.maxStreamDuration(a, h);
    if (maxDuration > 0) this.durationTimer = setTimeout(() => this.onMaxDuration(), Math.max(0, maxDuration - (performance.now() - this.start)));
    if (timeoutMs > 0) {
      if (this.ds.body === null) this.timeoutTimer = setTimeout(() => this.onGlobalTimeout(), timeoutMs);
      else this.ds.body.once('end', () => {
        if (!this.done) this.timeoutTimer = setTimeout(() => this.onGlobalTimeout(), timeoutMs);
      });
    }
    if (this.ds.body === null) {
      this.body = null;
      this.attempt();
    } else if (this.retriesLeft > 0) {
      this.bufferBodyThenAttempt(this.ds.body);
    } else {
      this.body = this.ds.body;
      this.attempt();
    }
  }

  /** Buffers the request body for replay (up to the limit), else streams it without retries. */
  private bufferBodyThenAttempt(body: Readable): void {
    const len = Number(first(this.ds.headers['content-length']) ?? NaN);
    if (!(len <= MAX_REPLAY_BODY)) {
      this.retriesLeft = 0;
      this.body = body;
      this.attempt();
      return;
    }
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => {
      if (this.done) return;
      this.body = Buffer.concat(chunks);
      this.attempt();
    });
  }

  /**
   * Envoy's route max_stream_duration: the configured maximum, or, with
   * grpc_timeout_header_max set, the request's grpc-timeout (capped by it
   * unless 0, minus grpc_timeout_header_offset). 0: none.
   */
  private maxStreamDuration(a: ForwardAction, h: HeaderMap): number {
    if (a.grpcTimeoutHeaderMaxMs !== undefined) {
      const g = parseGrpcTimeout(first(h['grpc-timeout']));
      if (g !== undefined) {
        const capped = a.grpcTimeoutHeaderMaxMs > 0 ? Math.min(g, a.grpcTimeoutHeaderMaxMs) : g;
        return Math.max(1, capped - a.grpcTimeoutHeaderOffsetMs);
      }
    }
    return a.maxStreamDurationMs;
  }

  /** max_stream_duration reached: 408 before the response starts (DT), else a reset. */
  private onMaxDuration(): void {
    this.durationTimer = undefined;
    if (this.done || this.abandonUpstream('DT')) return;
    // Envoy answers a gRPC request DEADLINE_EXCEEDED here.
    this.sendLocal(408, 'downstream duration timeout', {}, 'DT', false, undefined, 4);
  }

  /**
   * Picks the host of an attempt. With the previous_hosts retry predicate a
   * retry asks the load balancer again (up to host_selection_retry_max_attempts)
   * for a host not tried yet, as Envoy does.
   */
  private chooseHost(cluster: Cluster): UpstreamHost | undefined {
    // ORIGINAL_DST: the destination header (use_http_header) or the downstream local address.
    const od = cluster.originalDst;
    if (od) return od.choose(od.headerName === undefined ? undefined : first(this.ds.headers[od.headerName]), this.conn);
    const hash = this.hash;
    let host = cluster.chooseHost(hash === undefined ? NO_LB_CONTEXT : { hash });
    const r = this.retry;
    if (host && this.tried && r?.avoidPreviousHosts) {
      for (let i = 0; i < r.hostSelectionRetryMaxAttempts && this.tried.has(host.key); i++) {
        // The attempt number lets a hash balancer move off the hashed host (Envoy's chooseHost(hash, attempt)).
        const next = cluster.chooseHost({ hash, attempt: i + 1 });
        if (!next) break;
        host = next;
      }
    }
    return host;
  }

  private attempt(): void {
    if (this.done) return;
    const cluster = this.cluster!;
    const host = this.chooseHost(cluster);
    if (host && this.retry?.avoidPreviousHosts) (this.tried ??= new Set()).add(host.key);
    if (!host) {
      cluster.stats.cxNoneHealthy.inc();
      this.localReply(503, 'no healthy upstream', 'UH');
      return;
    }
    this.host = host;
    this.upstreamKey = host.key;
    this.attempts++;
    if (this.route!.action.kind === 'forward' && this.route!.action.autoHostRewrite) {
      this.authority = host.hostname ? (host.port ? `${host.hostname}:${host.port}` : host.hostname) : host.key;
    }
    this.fmt = { connection: this.conn, protocol: this.ds.protocol, upstreamAddress: host.key };
    cluster.stats.rqTotal.inc();
    cluster.stats.rqActive.inc();
    host.activeRequests++;
    this.upstreamStart = performance.now();
    // The first attempt sends the headers object itself; a retry sends a copy.
    const headers = this.attempts > 1 ? { ...this.upstreamHeaders, 'x-envoy-attempt-count': String(this.attempts) } : this.upstreamHeaders;
    if (this.retry?.perTryTimeoutMs) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), this.retry.perTryTimeoutMs);
    this.upstream = cluster.pool(host).request(
      { method: first(this.ds.headers[':method']) ?? 'GET', path: this.path, authority: this.authority, headers, body: this.body },
      this,
    );
  }

  /** Ends the current attempt's accounting; safe to call more than once. */
  private finishAttempt(): void {
    if (this.perTryTimer) { clearTimeout(this.perTryTimer); this.perTryTimer = undefined; }
    if (this.host) {
      this.host.activeRequests--;
      this.cluster!.stats.rqActive.dec();
      this.host = undefined;
    }
  }

  private canRetry(): boolean {
    return this.retriesLeft > 0 && !this.done && (this.body === null || Buffer.isBuffer(this.body));
  }

  private scheduleRetry(): void {
    this.retriesLeft--;
    this.cluster!.stats.rqRetry.inc();
    const r = this.retry!;
    // Envoy's fully jittered exponential back-off.
    const n = this.attempts;
    const ceiling = Math.min(r.maxIntervalMs, r.baseIntervalMs * (2 ** (n - 1)));
    const delay = Math.random() * ceiling;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.attempt();
    }, delay);
  }

  private retriableStatus(status: number, headers: HeaderMap): boolean {
    const r = this.retry;
    if (!r) return false;
    // gRPC: a trailers-only response carries grpc-status in its headers.
    if (r.grpcStatuses.length) {
      const gs = headers['grpc-status'];
      if (gs !== undefined && r.grpcStatuses.includes(Number(gs))) return true;
    }
    if (r.on5xx && status >= 500) return true;
    if (r.gatewayError && (status === 502 || status === 503 || status === 504)) return true;
    if (r.retriable4xx && status === 409) return true;
    return r.retriableStatusCodes.includes(status);
  }

  // --- UpstreamResponseHandler ---------------------------------------------

  onHeaders(status: number, headers: HeaderMap): void {
    if (this.done) return;
    if (this.canRetry() && this.retriableStatus(status, headers)) {
      this.upstream?.abort();
      this.finishAttempt();
      this.cluster!.stats.response(status);
      this.scheduleRetry();
      return;
    }
    if (this.attempts > 1) this.cluster!.stats.rqRetrySuccess.inc();
    this.cluster!.stats.response(status);
    // Hop-by-hop response headers are dropped by the downstream codec.
    if (!this.cfg.router.suppressEnvoyHeaders) headers['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - this.upstreamStart));
    this.applyResponseMutations(headers);
    this.setServerHeader(headers);
    // The response is accepted (no retry from here on): the per-try timeout
    // no longer applies; the route and idle timeouts govern the rest.
    if (this.perTryTimer) { clearTimeout(this.perTryTimer); this.perTryTimer = undefined; }
    this.responseCode = status;
    this.responseHeaders = headers;
    this.responseStart = performance.now();
    this.details = 'via_upstream';
    if (this.filters) {
      this.encodeFilters(status, headers);
      if (this.transform) {
        this.countDownstream(status);
        this.ds.sendHeaders(status, headers, false);
        const tail = this.transformTail!;
        tail.on('data', (c: Buffer) => {
          this.bytesSent += c.length;
          if (!this.ds.write(c)) {
            tail.pause();
            this.ds.onDrain(() => tail.resume());
          }
        });
        return;
      }
    }
    // A small response whose whole body is announced by content-length is
    // usually complete within the same read: hold the headers until the body
    // or the end arrives and send all of it in one go (one write path
    // instead of three). Anything else is sent at once.
    const len = headers['content-length'];
    if (typeof len === 'string' && len.length <= 5 && Number(len) <= COALESCE_LIMIT) {
      this.heldHeaders = headers;
      return;
    }
    this.countDownstream(status);
    this.ds.sendHeaders(status, headers, false);
  }

  /** Sends held response headers (and a held body chunk) now. */
  private flushHeld(): void {
    const h = this.heldHeaders;
    if (!h) return;
    this.heldHeaders = undefined;
    this.countDownstream(this.responseCode);
    this.ds.sendHeaders(this.responseCode, h, false);
    const b = this.heldBody;
    if (b) {
      this.heldBody = undefined;
      this.ds.write(b);
    }
  }

  /** Forgets held response headers/body that were never written downstream. */
  private dropHeld(): void {
    this.heldHeaders = undefined;
    this.heldBody = undefined;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.idleTimer?.refresh();
    const t = this.transform;
    if (t) {
      if (t.write(chunk)) return true;
      t.once('drain', () => this.upstream?.resume());
      return false;
    }
    this.bytesSent += chunk.length;
    if (this.heldHeaders) {
      if (!this.heldBody && chunk.length === Number(this.heldHeaders['content-length'])) {
        this.heldBody = chunk;
        return true;
      }
      this.flushHeld();
    }
    const ok = this.ds.write(chunk);
    if (!ok) this.ds.onDrain(() => this.upstream?.resume());
    return ok;
  }

  onEnd(trailers: HeaderMap | undefined): void {
    if (this.done) return;
    this.responseTrailers = trailers;
    this.finishAttempt();
    this.clearTimeout();
    this.cluster!.stats.rqCompleted.inc();
    this.cluster!.stats.rqTime.record(performance.now() - this.upstreamStart);
    this.done = true;
    const t = this.transform;
    if (t) {
      // The stream completes when the transform has flushed its last bytes
      // (so access logs see them), or when it is torn down (downstream gone).
      const tail = this.transformTail!;
      tail.once('end', () => {
        this.ds.end(trailers);
        this.complete();
      });
      tail.once('close', () => this.complete());
      t.end();
      return;
    }
    if (this.heldHeaders && !trailers) {
      const h = this.heldHeaders;
      this.heldHeaders = undefined;
      this.countDownstream(this.responseCode);
      this.ds.respond(this.responseCode, h, this.heldBody);
      this.heldBody = undefined;
    } else {
      this.flushHeld();
      this.ds.end(trailers);
    }
    this.complete();
  }

  onError(kind: UpstreamFailure, detail: string, afterHeaders: boolean): void {
    if (this.done) return;
    this.finishAttempt();
    if (afterHeaders || this.ds.headersSent) {
      // Mid-body: nothing can be retried or replied; reset downstream (UR).
      this.flushHeld();
      this.transform?.destroy();
      this.cluster!.stats.rqRxReset.inc();
      this.responseFlags = 'UR';
      this.done = true;
      this.clearTimeout();
      this.ds.reset();
      this.complete();
      return;
    }
    const r = this.retry;
    const retriable = r && (kind === 'connect' ? r.connectFailure || r.on5xx || r.gatewayError || r.reset : r.reset || r.on5xx || r.gatewayError);
    if (retriable && this.canRetry()) {
      this.scheduleRetry();
      return;
    }
    if (kind === 'reset') this.cluster!.stats.rqRxReset.inc();
    const reason = kind === 'connect' ? 'connection failure' : 'connection termination';
    const flag = this.attempts > 1 && r && this.retriesLeft === 0 ? (kind === 'connect' ? 'UF,URX' : 'UC,URX') : kind === 'connect' ? 'UF' : 'UC';
    if (kind === 'connect') this.failureReason = detail;
    this.localReply(503, `upstream connect error or disconnect/reset before headers. ${this.attempts > 1 ? 'retried and the latest ' : ''}reset reason: ${reason}${kind === 'connect' ? `, transport failure reason: ${detail}` : ''}`, flag);
  }

  // --- timeouts and aborts ---------------------------------------------------

  private onGlobalTimeout(): void {
    this.timeoutTimer = undefined;
    if (this.done) return;
    if (this.cluster) this.cluster.stats.rqTimeout.inc();
    // Held headers were never written: answer 504 instead of a truncated response.
    if (this.abandonUpstream('UT')) return;
    this.localReply(504, 'upstream request timeout', 'UT');
  }

  private onPerTryTimeout(): void {
    this.perTryTimer = undefined;
    if (this.done || this.ds.headersSent) return;
    this.upstream?.abort();
    this.finishAttempt();
    this.cluster!.stats.rqPerTryTimeout.inc();
    if (this.canRetry()) { this.scheduleRetry(); return; }
    this.localReply(504, 'upstream request timeout', 'UT');
  }

  private onDownstreamAbort(): void {
    if (this.done) {
      // Upstream finished but the compressor is still flushing: stop it.
      this.transform?.destroy();
      return;
    }
    this.done = true;
    this.responseFlags = 'DC';
    this.transform?.destroy();
    this.stats.rqRxReset.inc();
    this.clearTimeout();
    if (this.upstream) {
      this.upstream.abort();
      this.finishAttempt();
      this.cluster?.stats.rqTxReset.inc();
    }
    this.complete();
  }

  private clearTimeout(): void {
    if (this.timeoutTimer) { clearTimeout(this.timeoutTimer); this.timeoutTimer = undefined; }
    if (this.durationTimer) { clearTimeout(this.durationTimer); this.durationTimer = undefined; }
  }

  /** Envoy's stream idle timeout: 408 `stream timeout` (SI) before headers, else a reset. */
  private onIdleTimeout(): void {
    this.idleTimer = undefined;
    if (this.done) return;
    // Downstream bytes arriving (an upload in progress) count as activity:
    // checked here rather than per chunk, so the body stream is left alone.
    const received = this.ds.bytesReceived();
    if (received !== this.lastReceived) {
      this.lastReceived = received;
      // Before routing (a filter waiting) there is no route and no route idle_timeout yet.
      const a = this.route?.action as ForwardAction | undefined;
      this.idleTimer = setTimeout(() => this.onIdleTimeout(), a?.idleTimeoutMs ?? this.cfg.streamIdleTimeoutMs);
      return;
    }
    this.stats.rqIdleTimeout.inc();
    if (this.abandonUpstream('SI')) return;
    this.localReply(408, 'stream timeout', 'SI');
  }

  /**
   * A timeout ends the stream: the upstream attempt is dropped; when the
   * response has started, the downstream stream is reset with `flag` (true
   * returned); otherwise the caller answers with a local reply.
   */
  private abandonUpstream(flag: string): boolean {
    this.upstream?.abort();
    this.finishAttempt();
    this.dropHeld();
    if (!this.ds.headersSent) return false;
    this.done = true;
    this.transform?.destroy();
    this.responseFlags = flag;
    this.clearTimeout();
    this.ds.reset();
    this.complete();
    return true;
  }

  // --- responses -------------------------------------------------------------

  private applyResponseMutations(headers: HeaderMap): void {
    if (this.weighted) applyHeaderMutation(headers, this.weighted.responseHeaders, this.fmt);
    if (this.route) applyHeaderMutation(headers, this.route.responseHeaders, this.fmt);
    if (this.vhost) applyHeaderMutation(headers, this.vhost.responseHeaders, this.fmt);
    if (this.table) applyHeaderMutation(headers, this.table.config.responseHeaders, this.fmt);
  }

  private setServerHeader(headers: HeaderMap): void {
    const mode = this.cfg.serverHeader;
    if (mode === 'OVERWRITE' || (mode === 'APPEND_IF_ABSENT' && headers['server'] === undefined)) headers['server'] = this.cfg.serverName;
  }

  private localReply(status: number, body: string, flag: string): void {
    this.sendLocal(status, body, {}, flag, false);
  }

  /**
   * Envoy's sendLocalReply: text/plain body, content-length, server, date.
   * A gRPC request gets a trailers-only response (HTTP 200, grpc-status
   * mapped from the status as Envoy does, grpc-message the body).
   */
  private sendLocal(status: number, body: string, extra: HeaderMap, flag: string, fromRoute: boolean, details?: string, grpcStatus?: number): void {
    if (this.done) return;
    this.done = true;
    this.clearTimeout();
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    this.responseFlags = flag;
    if (this.ds.headersSent) {
      this.ds.reset();
      this.complete();
      return;
    }
    let reply = { status, body, contentType: 'text/plain' };
    if (!fromRoute) reply = mapLocalReply(this.cfg.localReply, reply, this.ds.headers, flag, performance.now() - this.start);
    const headers: HeaderMap = { ...extra };
    this.details = details ?? (fromRoute ? 'direct_response' : LOCAL_REPLY_DETAILS[flag] ?? 'local_reply');
    if (!fromRoute && isGrpcRequest(this.ds.headers)) {
      this.grpcLocalReply(reply.status, reply.body, headers, grpcStatus);
      return;
    }
    if (reply.body) {
      headers['content-type'] = fromRoute ? (extra['content-type'] ?? 'text/plain') : reply.contentType;
    }
    headers['content-length'] = String(Buffer.byteLength(reply.body));
    if (fromRoute) this.applyResponseMutations(headers);
    this.setServerHeader(headers);
    this.countDownstream(reply.status);
    const head = first(this.ds.headers[':method']) === 'HEAD';
    this.responseCode = reply.status;
    this.responseHeaders = headers;
    this.responseStart = performance.now();
    this.ds.sendHeaders(reply.status, headers, !reply.body || head);
    if (reply.body && !head) {
      this.bytesSent += Buffer.byteLength(reply.body);
      this.ds.write(Buffer.from(reply.body));
      this.ds.end();
    }
    this.complete();
  }

  private grpcLocalReply(status: number, message: string, headers: HeaderMap, grpcStatus: number | undefined): void {
    headers['content-type'] = 'application/grpc';
    headers['grpc-status'] = String(grpcStatus ?? grpcStatusForHttp(status));
    if (message) headers['grpc-message'] = encodeURIComponent(message);
    this.setServerHeader(headers);
    this.countDownstream(200);
    this.responseCode = 200;
    this.responseHeaders = headers;
    this.responseStart = performance.now();
    this.ds.sendHeaders(200, headers, true);
    this.complete();
  }

  private countDownstream(status: number): void {
    this.stats.response(status);
  }

  /** Ends the stream's accounting; runs once. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    if (this.filters) for (const f of this.filters) f.onDestroy?.();
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    const now = performance.now();
    this.stats.rqTime.record(now - this.start);
    this.stats.streamDone();
    if (this.rt.accessLogs.length) this.writeAccessLogs(now);
  }

  private writeAccessLogs(now: number): void {
    const h = this.ds.headers;
    const len = Number(first(h['content-length']) ?? 0);
    const entry: AccessLogEntry = {
      startTime: this.startEpoch,
      durationMs: now - this.start,
      responseDurationMs: this.responseStart ? this.responseStart - this.start : undefined,
      requestHeaders: h,
      responseHeaders: this.responseHeaders,
      responseTrailers: this.responseTrailers,
      responseCode: this.ds.headersSent || this.responseCode ? this.responseCode : 0,
      responseFlags: this.responseFlags,
      responseCodeDetails: this.details,
      bytesReceived: Number.isFinite(len) ? len : 0,
      bytesSent: this.bytesSent,
      protocol: this.ds.protocol,
      connection: this.conn,
      upstreamHost: this.upstreamKey,
      upstreamCluster: this.cluster?.config.name,
      upstreamTransportFailureReason: this.failureReason,
      routeName: this.route?.name,
      attemptCount: this.attempts,
    };
    for (const a of this.rt.accessLogs) {
      if (a.filter && !a.filter({ responseCode: entry.responseCode, requestHeaders: h, responseFlags: entry.responseFlags, durationMs: entry.durationMs })) continue;
      a.logger.log(entry);
    }
  }
}
