/**
 * Facts of certificates and TLS sessions in the shapes of
 * sidecar/contracts/tls.ts, as Envoy reports them: subjects in RFC 2253 form
 * (X509_NAME_print_ex with XN_FLAG_RFC2253), SANs in certificate order,
 * SHA-256 of the DER in lower-case hex, and the peer principal RBAC and
 * Ranger see (URI SAN, else DNS SAN, else subject).
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { CertificateInfo, TlsConnectionInfo } from '../../sidecar/contracts/tls.ts';
import type { SanType } from './context-config.ts';

/** One SubjectAltName entry. */
export interface SubjectAltName {
  readonly type: SanType | 'OTHER';
  readonly value: string;
}

const SAN_TYPES: Readonly<Record<string, SanType>> = { DNS: 'DNS', URI: 'URI', email: 'EMAIL', 'IP Address': 'IP_ADDRESS' };

/** IPv6 text in its compressed form (what inet_ntop, and so Envoy, prints). */
function normalizeIp(v: string): string {
  if (!v.includes(':')) return v;
  try {
    return new URL(`http://[${v}]/`).hostname.slice(1, -1);
  } catch {
    return v.toLowerCase();
  }
}

/**
 * Parses Node's X509Certificate.subjectAltName (`DNS:a, URI:spiffe://...,
 * IP Address:10.0.0.1`); values with special characters arrive JSON-quoted.
 */
export function parseSubjectAltNames(s: string | undefined): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  if (!s) return out;
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const rawType = s.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (s[j] === '"') {
      let k = j + 1;
      while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(j, k + 1)) as string;
      } catch {
        value = s.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const end = s.indexOf(', ', j);
      const e = end < 0 ? s.length : end;
      value = s.slice(j, e);
      j = e;
    }
    const type = SAN_TYPES[rawType] ?? 'OTHER';
    out.push({ type, value: type === 'IP_ADDRESS' ? normalizeIp(value) : value });
    if (s.startsWith(', ', j)) j += 2;
    i = j;
  }
  return out;
}

/**
 * Node's multi-line subject (`O=Ex\, Inc\nCN=app`, RFC 2253 escaping, first
 * RDN first) -> RFC 2253 (`CN=app,O=Ex\, Inc`: last RDN first, non-ASCII
 * escaped as \XX UTF-8 bytes, as OpenSSL's ASN1_STRFLGS_ESC_MSB).
 */
export function rfc2253(multiline: string): string {
  if (!multiline) return '';
  return multiline
    .split('\n')
    .reverse()
    .map((rdn) => rdn.split(' + ').join('+'))
    .join(',')
    .replace(/[^\x00-\x7f]/gu, (ch) => [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** The contract's CertificateInfo of one certificate. */
export function certificateInfo(x: X509Certificate, keepPem = false): CertificateInfo {
  const sans = parseSubjectAltNames(x.subjectAltName);
  return Object.freeze({
    uriSans: Object.freeze(sans.filter((s) => s.type === 'URI').map((s) => s.value)),
    dnsSans: Object.freeze(sans.filter((s) => s.type === 'DNS').map((s) => s.value)),
    subject: rfc2253(x.subject),
    issuer: rfc2253(x.issuer),
    serial: x.serialNumber.toLowerCase(),
    sha256: createHash('sha256').update(x.raw).digest('hex'),
    validFrom: x.validFromDate,
    validTo: x.validToDate,
    ...(keepPem ? { pem: x.toString() } : {}),
  });
}

/** The SANs of a certificate, every type, in certificate order. */
export function subjectAltNames(x: X509Certificate): SubjectAltName[] {
  return parseSubjectAltNames(x.subjectAltName);
}

/**
 * Envoy's peer principal (RBAC principal_name, Ranger's user): the first URI
 * SAN, else the first DNS SAN, else the subject.
 */
export function peerPrincipal(peer: CertificateInfo | undefined): string | undefined {
  if (!peer) return undefined;
  return peer.uriSans[0] ?? peer.dnsSans[0] ?? (peer.subject || undefined);
}

/** The peer's certificates of a socket: the leaf and the issuers Node exposes. */
export interface PeerCertificates {
  readonly leaf?: X509Certificate;
  /** Leaf first, then issuers as Node links them (servers see the leaf only). */
  readonly chain: readonly X509Certificate[];
}

const peerCache = new WeakMap<TLSSocket, PeerCertificates>();

/**
 * The peer's certificates, read once per socket and cached: on client
 * sockets Node (24) hands the peer certificate out only once
 * (getPeerX509Certificate / getPeerCertificate return nothing on a second
 * call), so everything here reads it through this function.
 */
export function peerCertificates(socket: TLSSocket): PeerCertificates {
  let p = peerCache.get(socket);
  if (p) return p;
  const chain: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as { raw?: Buffer; issuerCertificate?: unknown; fingerprint256?: string } | undefined;
  const seen = new Set<unknown>();
  while (c?.raw && !seen.has(c)) {
    seen.add(c);
    chain.push(new X509Certificate(c.raw));
    const issuer = c.issuerCertificate as typeof c | undefined;
    if (!issuer || issuer === c || issuer.fingerprint256 === c.fingerprint256) break;
    c = issuer;
  }
  p = Object.freeze({ ...(chain[0] ? { leaf: chain[0] } : {}), chain: Object.freeze(chain) });
  // Before the handshake there is nothing to cache.
  if (chain.length) peerCache.set(socket, p);
  return p;
}

/**
 * The peer's chain in PEM for XFCC `Chain=`: the leaf, then the issuers Node
 * exposes, without a self-signed trust anchor. Envoy lists what the peer
 * sent; Node shows a server only the client's leaf, so there the chain is
 * the leaf alone.
 */
export function peerChainPem(socket: TLSSocket): string[] {
  const chain = peerCertificates(socket).chain;
  return chain.filter((c, i) => i === 0 || c.subject !== c.issuer || !c.checkIssued(c)).map((c) => c.toString());
}

/** The contract's TlsConnectionInfo of an established TLS socket. */
export function connectionInfo(socket: TLSSocket, opts: { keepPem?: boolean; local?: CertificateInfo } = {}): TlsConnectionInfo {
  const peer = peerCertificates(socket).leaf;
  // Our own certificate is the same on every connection of a context: a
  // caller that knows it passes it (re-describing it costs ~40 us a handshake).
  const local = opts.local ? undefined : socket.getX509Certificate();
  const cipher = socket.getCipher();
  const sni = (socket as TLSSocket & { servername?: string | false }).servername;
  return Object.freeze({
    version: socket.getProtocol() ?? '',
    cipher: cipher?.name ?? '',
    ...(typeof sni === 'string' && sni ? { sni } : {}),
    ...(socket.alpnProtocol ? { alpn: socket.alpnProtocol } : {}),
    ...(peer ? { peer: certificateInfo(peer, opts.keepPem) } : {}),
    ...(opts.local ? { local: opts.local } : local ? { local: certificateInfo(local, opts.keepPem) } : {}),
  });
}
