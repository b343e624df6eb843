/**
 * The HTTP filter contract, modelled on Envoy's StreamDecoderFilter /
 * StreamEncoderFilter. Hooks are synchronous and return a status, so the
 * common path allocates no Promise. Request hooks run in configured order,
 * response hooks in reverse. Filters never throw on the data path.
 * StopIteration (a filter that must wait: JWKS, Redis, Ranger) is part of the
 * contract but not yet driven: no registered filter returns it, and the
 * chain runner treats it as a bug (InvariantError) until the first one
 * arrives with resume support.
 */
import type { Transform } from 'node:stream';

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
  /** The peer's authenticated identity (SPIFFE URI SAN), when TLS gives one. */
  readonly peerPrincipal?: string;
}

/** What a filter can do to the stream it sits on. */
export interface HttpFilterCallbacks {
  readonly connection: ConnectionInfo;
  /**
   * Per-stream state shared by the filters of one stream (Envoy's filter
   * state), e.g. the encodings the compressor filters offer.
   */
  readonly filterState: Map<string, unknown>;
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
}
