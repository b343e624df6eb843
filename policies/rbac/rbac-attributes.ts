/**
 * What an RBAC engine looks at, in protocol-neutral form: the facts of one
 * connection (addresses, ports, SNI, the peer certificate) and, for HTTP,
 * of one request (headers with pseudo-headers). HTTP builds one per request;
 * the network RBAC filter builds one per connection with no headers. The
 * names follow Envoy's RBAC matchers (envoy.config.rbac.v3): the attribute
 * each Permission / Principal reads is named in its doc comment.
 */

/** The peer certificate facts `authenticated.principal_name` matches. */
export interface RbacPeerCertificate {
  /** URI SANs, tried first (the SPIFFE id). */
  readonly uriSans: readonly string[];
  /** DNS SANs, tried second. */
  readonly dnsSans: readonly string[];
  /** The subject (RFC 2253), tried last. */
  readonly subject: string;
}

/** Request headers: lower-case names, pseudo-headers included; multi-valued headers are arrays. */
export type RbacHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The attributes one RBAC evaluation sees. */
export interface RbacAttributes {
  /** Request headers (HTTP); undefined for a connection (network RBAC). */
  readonly headers: RbacHeaders | undefined;
  /** `destination_ip`: the local (destination) address of the connection. */
  readonly destinationIp: string;
  /** `destination_port` / `destination_port_range`: the local port. */
  readonly destinationPort: number;
  /** `direct_remote_ip`: the physical peer of the connection. */
  readonly directRemoteIp: string;
  /** `remote_ip`: the client address as the HTTP connection manager determined it (XFF). */
  readonly remoteIp: string;
  /** `source_ip` (deprecated in Envoy): the connection's remote address (PROXY protocol honoured, XFF not). */
  readonly sourceIp: string;
  /** The peer certificate when the connection is TLS (no certificate: empty lists); undefined when plaintext. */
  readonly peer: RbacPeerCertificate | undefined;
  /** `requested_server_name`: SNI ('' when none). */
  readonly requestedServerName: string;
  /** Dynamic metadata by namespace (`envoy.filters.http.jwt_authn` -> { payload_key: {...} }). */
  readonly metadata: ReadonlyMap<string, unknown>;
  /** Filter state by key (`filter_state` principals); strings are matched. */
  readonly filterState: ReadonlyMap<string, unknown>;
}

/** The peer certificate facts of a connection: the TLS peer, else a synthetic principal (URI SAN). */
export function peerCertificate(tls: { readonly peer?: RbacPeerCertificate } | undefined, peerPrincipal: string | undefined): RbacPeerCertificate | undefined {
  if (tls) return tls.peer ?? NO_CERTIFICATE;
  if (peerPrincipal !== undefined) return Object.freeze({ uriSans: [peerPrincipal], dnsSans: [], subject: '' });
  return undefined;
}

const NO_CERTIFICATE: RbacPeerCertificate = Object.freeze({ uriSans: Object.freeze([]), dnsSans: Object.freeze([]), subject: '' });

/** An empty map, for attributes a caller does not have. */
export const NO_ENTRIES: ReadonlyMap<string, unknown> = new Map();
