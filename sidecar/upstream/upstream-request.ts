/**
 * The one interface the router uses to send a request upstream, whatever the
 * protocol of the pool behind it (HTTP/1.1 on undici, HTTP/2 on node:http2).
 * Responses stream back through callbacks with backpressure.
 */
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../contracts/http-filter.ts';

/** Why an upstream request failed, in Envoy's response-flag terms. */
export type UpstreamFailure =
  /** UF: connect failure (refused, connect timeout). */
  | 'connect'
  /** UC/UR: the connection was reset or closed before/while responding. */
  | 'reset'
  /** Protocol error from the upstream. */
  | 'protocol';

/** Callbacks for one upstream response. */
export interface UpstreamResponseHandler {
  /** Final (non-1xx) response headers; names lower-case, no pseudo-headers. */
  onHeaders(status: number, headers: HeaderMap): void;
  /** A body chunk; return false to pause the upstream until resume(). */
  onData(chunk: Buffer): boolean;
  /** The response is complete (trailers for HTTP/2 and chunked HTTP/1.1). */
  onEnd(trailers: HeaderMap | undefined): void;
  /** The request failed; `afterHeaders` when headers were already delivered. */
  onError(kind: UpstreamFailure, detail: string, afterHeaders: boolean): void;
}

/** The request body: none, a fully buffered one (replayable), or a stream. */
export type UpstreamBody = null | Buffer | Readable;

/** What the router sends. */
export interface UpstreamRequestSpec {
  readonly method: string;
  readonly path: string;
  /** Authority to send (Host for HTTP/1.1, :authority for HTTP/2). */
  readonly authority: string;
  /** Request headers, lower-case, without pseudo-headers or hop-by-hop headers. */
  readonly headers: HeaderMap;
  readonly body: UpstreamBody;
  readonly expectContinue?: boolean;
}

/** A request in flight; the router uses it for flow control and cancellation. */
export interface UpstreamRequest {
  pause(): void;
  resume(): void;
  /** Cancels the request (downstream reset, timeout); no callback follows. */
  abort(): void;
}

/** A connection pool to one host. */
export interface ConnectionPool {
  request(spec: UpstreamRequestSpec, handler: UpstreamResponseHandler): UpstreamRequest;
  /** Connections currently open (upstream_cx_active). */
  readonly activeConnections: number;
  /** Closes idle connections and refuses new requests; in-flight ones finish. */
  drain(): Promise<void>;
  /** Closes everything now. */
  destroy(): void;
}
