/**
 * Transport sockets (Envoy's `transport_socket` on filter chains and
 * clusters): what turns an accepted or connected TCP socket into the byte
 * stream the network filters see. raw_buffer passes the socket through;
 * envoy.transport_sockets.tls terminates or originates TLS. They are
 * extensions (ARCHITECTURE.md idea 1); their secrets come by name from the
 * secret store (static_resources.secrets or SDS).
 */
import type { Socket } from 'node:net';
import type { Extension } from './extension.ts';
import type { StatsScope } from './stats.ts';
import type { TlsConnectionInfo } from './tls.ts';

/** A TLS Secret's material (envoy.extensions.transport_sockets.tls.v3.Secret), resolved to bytes. */
export interface SecretMaterial {
  readonly name: string;
  /** tls_certificate: PEM chain and key. */
  readonly certificateChain?: Buffer;
  readonly privateKey?: Buffer;
  /** validation_context: trusted CA PEM (and CRL). */
  readonly trustedCa?: Buffer;
  readonly crl?: Buffer;
  /** The validation_context message as given (canonical JSON), for SAN matchers etc. */
  readonly validationContext?: Readonly<Record<string, unknown>>;
  /** generic_secret bytes. */
  readonly generic?: Buffer;
  /** The version the secret arrived with (SDS version_info, or `static`). */
  readonly version: string;
}

/** Secrets by name: static ones and those SDS delivers. */
export interface SecretProvider {
  /** The current material of a secret, undefined until it arrives. */
  get(name: string): SecretMaterial | undefined;
  /** Calls `cb` whenever the named secret changes; returns the unsubscribe function. */
  watch(name: string, cb: (s: SecretMaterial) => void): () => void;
}

/** What a transport socket needs from the process. */
export interface TransportSocketRuntime {
  readonly secrets: SecretProvider;
  /** `listener.<address>.` or `cluster.<name>.` scope for ssl.* stats. */
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** Facts of an accepted connection as the listener knows them before the filters. */
export interface AcceptedConnectionFacts {
  /** SNI from tls_inspector. */
  readonly serverName?: string;
  /** `tls` or `raw_buffer`. */
  readonly transportProtocol: string;
  /** ALPN offers (tls_inspector) or the HTTP version (http_inspector). */
  readonly applicationProtocols: readonly string[];
}

/** The outcome of securing a downstream connection. */
export type SecuredConnection =
  | { readonly ok: true; readonly socket: Socket; readonly tls?: TlsConnectionInfo; readonly peerPrincipal?: string }
  | { readonly ok: false; readonly reason: string };

/** A downstream transport socket of one filter chain. */
export interface DownstreamTransport {
  /** Takes the accepted socket (bytes may have been unshifted by inspectors) and calls back once. */
  secure(socket: Socket, facts: AcceptedConnectionFacts, done: (r: SecuredConnection) => void): void;
  /** Secret names this transport waits for (listener warming). */
  readonly secretNames: readonly string[];
  /** True when every secret it needs has arrived. */
  ready(): boolean;
  /** Releases secret watches. */
  close(): void;
}

/** Where an upstream connection goes. */
export interface UpstreamTarget {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
}

/** An upstream transport socket of one cluster. */
export interface UpstreamTransport {
  /** Opens a connection; the returned socket emits 'connect'-equivalent `ready` via the callback. */
  connect(target: UpstreamTarget, alpn: readonly string[], done: (err: string | undefined, socket?: Socket, tls?: TlsConnectionInfo) => void): Socket;
  readonly secretNames: readonly string[];
  ready(): boolean;
  close(): void;
}

/** A transport socket extension (raw_buffer, tls). */
export interface TransportSocketExtension<C = unknown> extends Extension<C> {
  readonly category: 'envoy.transport_sockets.downstream' | 'envoy.transport_sockets.upstream';
  createDownstream?(config: C, rt: TransportSocketRuntime): DownstreamTransport;
  createUpstream?(config: C, rt: TransportSocketRuntime): UpstreamTransport;
}
