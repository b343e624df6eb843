/**
 * The HTTP filter contract, modelled on Envoy's StreamDecoderFilter /
 * StreamEncoderFilter. Hooks are synchronous and return a status, so the
 * common path allocates no Promise; a filter that must wait returns
 * StopIteration and later calls `callbacks.continueDecoding()` or
 * `callbacks.sendLocalReply()`. Request hooks run in configured order,
 * response hooks in reverse. Filters never throw on the data path.
 */

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
  /** Resume the request path after StopIteration. */
  continueDecoding(): void;
  /** Answer locally (Envoy's sendLocalReply) with a response flag for the logs. */
  sendLocalReply(status: number, body: string, headers?: HeaderMap, responseFlag?: string): void;
}

/** One filter instance, created per stream by its factory. */
export interface HttpFilter {
  /** Request headers arrived; `endStream` when the request has no body. */
  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus;
  /** Response headers are about to be sent downstream. */
  encodeHeaders?(headers: HeaderMap, endStream: boolean): FilterStatus;
  /** The stream ended (completed or reset); release what the filter holds. */
  onDestroy?(): void;
}

/** Builds filter instances for one validated config. */
export interface HttpFilterFactory {
  /** Envoy's filter name as configured (`envoy.filters.http.rbac`). */
  readonly name: string;
  create(callbacks: HttpFilterCallbacks): HttpFilter;
}
