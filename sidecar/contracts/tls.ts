/**
 * What a TLS connection tells the rest of the sidecar: the negotiated
 * session and the peer's certificate, in the shapes policies (RBAC
 * principal_name, Ranger's SPIFFE principal), access-log operators
 * (%DOWNSTREAM_PEER_URI_SAN%, %DOWNSTREAM_TLS_VERSION%) and
 * x-forwarded-client-cert use.
 */

/** Facts of one certificate (the peer's or our own). */
export interface CertificateInfo {
  /** URI SANs in certificate order (`spiffe://cluster.local/ns/db/sa/app`). */
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** Subject in RFC 2253 form (`CN=app,O=example`), as Envoy prints it. */
  readonly subject: string;
  readonly issuer: string;
  /** Serial number, lower-case hex. */
  readonly serial: string;
  /** SHA-256 of the DER, lower-case hex (XFCC `Hash=`). */
  readonly sha256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** The certificate in PEM (XFCC `Cert=`), when kept. */
  readonly pem?: string;
}

/** The TLS session of one connection. */
export interface TlsConnectionInfo {
  /** `TLSv1.3`, `TLSv1.2`. */
  readonly version: string;
  /** OpenSSL/IANA cipher name (`TLS_AES_128_GCM_SHA256`). */
  readonly cipher: string;
  readonly sni?: string;
  readonly alpn?: string;
  /** The verified peer certificate, when the peer sent one. */
  readonly peer?: CertificateInfo;
  /** Our certificate on this connection. */
  readonly local?: CertificateInfo;
  readonly sessionId?: string;
}
