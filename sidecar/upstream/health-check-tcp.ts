/**
 * TCP (L3/L4) active health checking (Envoy's TcpHealthCheckerImpl): connect
 * to the host (TCP or a unix pipe), write tcp_health_check.send if set, and
 * pass when the bytes received so far contain every receive buffer in order
 * (Envoy's fuzzy PayloadMatcher: each one searched after the end of the
 * previous match). With no receive buffers, connecting is enough. A refused
 * or reset connection, or the peer closing before the bytes matched, is a
 * NETWORK failure; bytes that never match run into the scheduler's timeout,
 * as in Envoy, which cannot tell wrong data from not enough data.
 *
 * Divergence: Envoy keeps the connection between checks (reuse_connection,
 * default true); we connect once per attempt and close afterwards.
 */

import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../contracts/snapshot.ts';
import { ProbeAttempt } from './health-check-probe.ts';
import type { HealthCheckDialer, HealthCheckDone, HealthCheckProbe, HealthCheckStart } from './health-check-probe.ts';
import type { UpstreamHost } from './host.ts';

/** The tcp_health_check part of a health check config. */
export type TcpHealthCheckConfig = NonNullable<HealthCheckConfig['tcp']>;

/** Envoy's PayloadMatcher::match: every segment found in `data`, in order, without overlap. */
export function payloadMatches(expected: readonly Buffer[], data: Buffer): boolean {
  let from = 0;
  for (const segment of expected) {
    const at = data.indexOf(segment, from);
    if (at < 0) return false;
    from = at + segment.length;
  }
  return true;
}

/** Builds the start function of TCP checks for one cluster's health check config. */
export function tcpHealthCheck(config: TcpHealthCheckConfig, dial?: HealthCheckDialer): HealthCheckStart {
  const send = config.send !== undefined && config.send.length > 0 ? config.send : undefined;
  const receive = config.receive.filter((b) => b.length > 0);
  return (host, done) => startTcpCheck(host, send, receive, done, dial);
}

function startTcpCheck(
  host: UpstreamHost,
  send: Buffer | undefined,
  receive: readonly Buffer[],
  done: HealthCheckDone,
  dial: HealthCheckDialer | undefined,
): HealthCheckProbe {
  const attempt = new ProbeAttempt(done);
  // Through the cluster's transport socket (TLS) when it has one: "connected" is then the end of the handshake.
  let onReady: () => void = () => undefined;
  const viaTransport = dial?.(host, [], () => onReady());
  let s: Socket;
  try {
    s = viaTransport ?? (host.socket.kind === 'pipe' ? connect({ path: host.socket.path }) : connect({ host: host.socket.host, port: host.socket.port }));
  } catch (err) {
    return attempt.failToStart(`connect failed: ${(err as Error).message}`);
  }
  attempt.connection = s;
  let received: Buffer = Buffer.alloc(0);

  s.on('error', (err: NodeJS.ErrnoException) => attempt.failNetwork(err.code ?? err.message));
  s.on('close', () => attempt.failNetwork('connection closed before the expected bytes arrived'));
  const connected = (): void => {
    if (receive.length > 0) return;
    // Connect-only check (send, if any, was queued before connecting).
    attempt.finish({ ok: true });
    if (send === undefined) s.destroy();
    else s.end(() => s.destroy());
  };
  if (viaTransport) onReady = connected;
  else s.on('connect', connected);
  if (receive.length > 0) {
    s.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (payloadMatches(receive, received)) {
        attempt.finish({ ok: true });
        s.destroy();
      }
    });
  }
  // Written before the connection is up, as Envoy does; the socket queues it.
  if (send !== undefined) s.write(send);
  return attempt;
}
