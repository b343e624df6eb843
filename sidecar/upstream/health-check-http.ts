/**
 * HTTP active health checking (Envoy's HttpHealthCheckerImpl): one HTTP/1.1
 * `GET <path>` per attempt on a fresh connection, with `host` set to
 * http_health_check.host or else the cluster name, `user-agent: Envoy/HC`
 * and request_headers_to_add. The host passes when the response is complete
 * and its status lies in one of expected_statuses' half-open ranges (default
 * [200, 201)); any other status is an ACTIVE failure, which Envoy applies at
 * once, ignoring unhealthy_threshold. A connection error or a reset before the
 * response ends is a NETWORK failure. The body is drained, not kept.
 *
 * Divergence: Envoy keeps the connection between checks (reuse_connection,
 * default true); we open one per attempt (`agent: false`, which also sends
 * `connection: close`). Envoy's degraded (`x-envoy-degraded`) and
 * service_name_matcher are not implemented.
 */

import { request } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, RequestOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../contracts/snapshot.ts';
import { ProbeAttempt } from './health-check-probe.ts';
import type { HealthCheckDialer, HealthCheckDone, HealthCheckProbe, HealthCheckStart } from './health-check-probe.ts';
import type { UpstreamHost } from './host.ts';

/** The http_health_check part of a health check config. */
export type HttpHealthCheckConfig = NonNullable<HealthCheckConfig['http']>;

/** Envoy's expected_statuses when none are configured: 200 only. */
const DEFAULT_EXPECTED_STATUSES: ReadonlyArray<readonly [number, number]> = [[200, 201]];

/** Envoy's health checker user agent (`Http::Headers::get().UserAgentValues.EnvoyHealthChecker`). */
export const HEALTH_CHECK_USER_AGENT = 'Envoy/HC';

/** True when `status` lies in one of the half-open ranges (Envoy's HttpStatusChecker). */
export function httpStatusExpected(status: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [start, end] of ranges.length > 0 ? ranges : DEFAULT_EXPECTED_STATUSES) {
    if (status >= start && status < end) return true;
  }
  return false;
}

/**
 * The request headers of every attempt. `host` (and `:`-prefixed names)
 * cannot be set through request_headers_to_add, as in Envoy; a configured
 * header of the same name replaces `user-agent`.
 */
export function httpHealthCheckHeaders(config: HttpHealthCheckConfig, clusterName: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { host: config.host || clusterName, 'user-agent': HEALTH_CHECK_USER_AGENT };
  for (const [name, value] of Object.entries(config.requestHeaders)) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower.startsWith(':')) continue;
    headers[lower] = value;
  }
  return headers;
}

/** Builds the start function of HTTP checks for one cluster's health check config. */
export function httpHealthCheck(config: HttpHealthCheckConfig, clusterName: string, dial?: HealthCheckDialer): HealthCheckStart {
  const headers = httpHealthCheckHeaders(config, clusterName);
  const path = config.path || '/';
  const ranges = config.expectedStatuses;
  return (host, done) => startHttpCheck(host, path, headers, ranges, done, dial);
}

function startHttpCheck(
  host: UpstreamHost,
  path: string,
  headers: OutgoingHttpHeaders,
  ranges: ReadonlyArray<readonly [number, number]>,
  done: HealthCheckDone,
  dial: HealthCheckDialer | undefined,
): HealthCheckProbe {
  const attempt = new ProbeAttempt(done);
  const options: RequestOptions = { method: 'GET', path, headers, agent: false, setHost: false };
  if (host.socket.kind === 'pipe') {
    options.socketPath = host.socket.path;
  } else {
    options.host = host.socket.host;
    options.port = host.socket.port;
  }
  let tlsSocket: Socket | undefined;
  let sent: ClientRequest;
  try {
    // Through the cluster's transport socket (TLS) when it has one; node:http
    // writes the request at once and the TLS socket holds it until secure.
    tlsSocket = dial?.(host, ['http/1.1'], () => undefined);
    if (tlsSocket) {
      const dialled = tlsSocket;
      // node:http uses createConnection only without an agent (agent: false would build one).
      delete options.agent;
      options.createConnection = () => dialled;
    }
    sent = request(options);
  } catch (err) {
    // Bad header bytes, a bad path or port: the connection already dialled
    // belongs to nobody else, so it goes now; the failure is reported like a
    // failed connection, later, as promised.
    tlsSocket?.destroy();
    return attempt.failToStart(`request not sent: ${(err as Error).message}`);
  }
  attempt.connection = sent;
  sent.on('error', (err: NodeJS.ErrnoException) => attempt.failNetwork(err.code ?? err.message));
  sent.on('response', (res: IncomingMessage) => {
    const status = res.statusCode ?? 0;
    res.on('error', (err: NodeJS.ErrnoException) => attempt.failNetwork(err.code ?? err.message));
    res.on('end', () => {
      attempt.finish(
        httpStatusExpected(status, ranges)
          ? { ok: true }
          : { ok: false, type: 'ACTIVE', reason: `unexpected HTTP status ${status}` },
      );
      // The attempt is over: close now rather than waiting for the peer.
      sent.destroy();
    });
    // Ends the attempt when the connection drops mid-body; a no-op after 'end'.
    res.on('close', () => attempt.failNetwork('connection closed before the response completed'));
    res.resume();
  });
  sent.end();
  return attempt;
}
