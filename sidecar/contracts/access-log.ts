/**
 * What an access logger sees of one finished stream: Envoy's StreamInfo,
 * reduced to the facts this sidecar has. Built once per stream by the
 * router, only when the connection manager has access logs.
 */
import type { ConnectionInfo, HeaderMap } from './http-filter.ts';

/** One finished HTTP stream. */
export interface AccessLogEntry {
  /** Epoch milliseconds of the first request byte (headers). */
  readonly startTime: number;
  /** Milliseconds from start to the end of the stream. */
  readonly durationMs: number;
  /** Milliseconds from start to the first response byte, if any was sent. */
  readonly responseDurationMs: number | undefined;
  readonly requestHeaders: HeaderMap;
  readonly responseHeaders: HeaderMap | undefined;
  readonly responseTrailers: HeaderMap | undefined;
  /** 0 when no response was sent (a reset). */
  readonly responseCode: number;
  /** Envoy's short response flags, comma-separated (`UF,URX`), or ''. */
  readonly responseFlags: string;
  /** Envoy's RESPONSE_CODE_DETAILS (`via_upstream`, `route_not_found` ...). */
  readonly responseCodeDetails: string;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly protocol: string;
  readonly connection: ConnectionInfo;
  readonly upstreamHost: string | undefined;
  readonly upstreamCluster: string | undefined;
  readonly upstreamTransportFailureReason: string | undefined;
  readonly routeName: string | undefined;
  readonly attemptCount: number;
}

/** A configured access log instance (one `access_log` entry). */
export interface AccessLogger {
  log(entry: AccessLogEntry): void;
}

/** Builds loggers from validated logger configs (the server owns the sinks). */
export type AccessLoggerFactory = (config: unknown) => AccessLogger;
