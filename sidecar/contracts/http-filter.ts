/**
 * The HTTP filter contract, modelled on Envoy's StreamDecoderFilter /
 * StreamEncoderFilter. Hooks are synchronous and return a status, so the
 * common path allocates no Promise. Request hooks run in configured order,
 * response hooks in reverse. Filters never throw on the data path.
 * A filter that must wait (a JWKS fetch, a Redis round trip) returns
 * StopIteration from decodeHeaders and later calls `continueDecoding()` or
 * `sendLocalReply()` on its callbacks; a filter that denies calls
 * `sendLocalReply()` and returns StopIteration.
 */
import type { Transform } from 'node:stream';
import type { TlsConnectionInfo } from './tls.ts';

/** Continue with the next filter. */
export const Continue = 0;
/** Stop here; the filter resumes the chain (or replies) later. */
export const StopIteration = 1;
/** What a hook returns. */
export type FilterStatus = typeof Continue | typeof StopIteration;

/**
 * Request/response headers: lower-case names; pseudo-headers (`:method`,
 * `:path`, `:authority`, `:scheme`, `:status`) included, as in HTTP/2.
 * Multi-valued headers are arrays.
 */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Facts about the downstream connection a stream arrived on. */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** `http` or `https`. */
  readonly scheme: string;
  /**
   * The peer's authenticated identity, when TLS gives one: its first URI SAN
   * (the SPIFFE id), else its first DNS SAN, else its subject, as Envoy's
   * `principal_name` matches.
   */
  readonly peerPrincipal?: string;
  /** The TLS session, when the connection is TLS. */
  readonly tls?: TlsConnectionInfo;
}

/** A local reply a filter sends instead of forwarding (Envoy's sendLocalReply). */
export interface LocalReplySpec {
  readonly status: number;
  /** Response body (text/plain); Envoy's RBAC sends `RBAC: access denied`. */
  readonly body: string;
  /** Extra response headers (`www-authenticate` ...). */
  readonly headers?: HeaderMap;
  /** %RESPONSE_CODE_DETAILS% (`rbac_access_denied_matched_policy[none]`). */
  readonly details: string;
  /** grpc-status for gRPC requests (trailers-only reply); else mapped from status. */
  readonly grpcStatus?: number;
  /** %RESPONSE_FLAGS% short name when Envoy sets one (`UAEX`, `RL`); none by default. */
  readonly responseFlag?: string;
}

/** What a filter can do to the stream it sits on. */
export interface HttpFilterCallbacks {
  readonly connection: ConnectionInfo;
  /** The downstream protocol of the stream (`HTTP/1.0`, `HTTP/1.1`, `HTTP/2`), when the connection manager says. */
  readonly protocol?: string;
  /**
   * Per-stream state shared by the filters of one stream (Envoy's filter
   * state), e.g. the encodings the compressor filters offer.
   */
  readonly filterState: Map<string, unknown>;
  /**
   * After a decodeHeaders that returned StopIteration: runs the next
   * filters and forwards the request. Once; ignored after the stream ended
   * or replied.
   */
  continueDecoding(): void;
  /**
   * Answers locally instead of forwarding; the stream ends. Call it inside
   * decodeHeaders (then return StopIteration) or after StopIteration.
   * Ignored after the stream ended.
   */
  sendLocalReply(reply: LocalReplySpec): void;
}

/**
 * A response body transform (a Node Transform stream, e.g. a zlib
 * compressor): the router writes the upstream body into it and sends what
 * comes out, with backpressure both ways.
 */
export type BodyTransform = Transform;

/** One filter instance, created per stream by its factory. */
export interface HttpFilter {
  /** Request headers arrived; `endStream` when the request has no body. Mutates headers in place. */
  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus;
  /**
   * Response headers are about to be sent downstream (upstream responses);
   * mutates them in place and may return a transform for the body.
   */
  encodeHeaders?(status: number, headers: HeaderMap, requestHeaders: HeaderMap, endStream: boolean): BodyTransform | undefined;
  /** The stream ended (completed or reset); release what the filter holds. */
  onDestroy?(): void;
}

/** Builds filter instances for one validated config. */
export interface HttpFilterFactory {
  /** Envoy's filter name as configured (`envoy.filters.http.compressor`). */
  readonly name: string;
  create(callbacks: HttpFilterCallbacks): HttpFilter;
  /** The connection manager that owns this factory is gone: release what the config holds (pollers, sinks). */
  close?(): void;
}

/** A request a filter sends to a cluster of its own (Envoy's AsyncClient), whole body, whole response. */
export interface AsyncRequestSpec {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** Lower-case names, no pseudo-headers. */
  readonly headers: HeaderMap;
  readonly body: Buffer | null;
  /** The whole exchange must end within this (0: no limit). */
  readonly timeoutMs: number;
}

/** How an async request ended. */
export type AsyncResponse =
  | { readonly ok: true; readonly status: number; readonly headers: HeaderMap; readonly body: Buffer; readonly trailers: HeaderMap | undefined }
  | { readonly ok: false; readonly reason: 'no_cluster' | 'no_healthy_upstream' | 'connect' | 'reset' | 'protocol' | 'timeout' | 'too_large'; readonly detail: string };

/** An async request in flight. */
export interface AsyncRequestHandle {
  /** Drops the request; its callback is not called. */
  cancel(): void;
}

/** Sends requests to clusters by name through the sidecar's own upstream pools. */
export interface HttpAsyncClient {
  /** `done` is called once, never synchronously. */
  send(cluster: string, spec: AsyncRequestSpec, done: (r: AsyncResponse) => void): AsyncRequestHandle;
}
