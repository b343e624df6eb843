/**
 * The peer-certificate checks of Envoy's default certificate validator
 * (DefaultCertValidator) after the handshake: chain verification result (as
 * OpenSSL reported it to Node), SAN matchers, SPKI and
 * certificate-hash pins. Node verifies the chain during the handshake but
 * cannot run these hooks, so sockets are created with
 * `rejectUnauthorized: false` and verifyPeer decides, with a reason and
 * Envoy's ssl.* failure stat.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { dnsNameMatch, sanMatchersOf, type ValidationContextConfig } from './context-config.ts';
import { peerCertificates, subjectAltNames } from './certificate-info.ts';

/** Envoy's stat for each verification failure (`ssl.<name>`). */
export type VerifyFailureStat = 'fail_verify_no_cert' | 'fail_verify_error' | 'fail_verify_san' | 'fail_verify_cert_hash' | 'fail_verify_sni';

/** The verdict on a peer. */
export type PeerVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly stat: VerifyFailureStat };

/** What else the caller knows about the connection. */
export interface VerifyOptions {
  /** A missing certificate is a failure (require_client_certificate; always for upstreams with validation). */
  readonly requireCertificate?: boolean;
  /** The SNI sent upstream, to be matched against DNS SANs (auto_sni_san_validation). */
  readonly sniSanValidation?: string;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
]);

/** A clear reason for OpenSSL's verification error code. */
function chainReason(code: string, x: X509Certificate): string {
  if (code === 'CERT_HAS_EXPIRED') return `peer certificate expired on ${x.validToDate.toISOString()} (CERT_HAS_EXPIRED)`;
  if (code === 'CERT_NOT_YET_VALID') return `peer certificate is not valid before ${x.validFromDate.toISOString()} (CERT_NOT_YET_VALID)`;
  if (code === 'CERT_REVOKED') return 'peer certificate is revoked by a configured CRL (CERT_REVOKED)';
  if (code === 'UNABLE_TO_GET_CRL') return 'no CRL for a CA in the peer\'s chain; with crl set, every CA in the chain needs one (UNABLE_TO_GET_CRL)';
  if (code === 'CRL_HAS_EXPIRED') return 'the configured CRL has expired (CRL_HAS_EXPIRED)';
  if (UNTRUSTED.has(code)) return `peer certificate is not signed by a trusted CA (${code})`;
  return `peer certificate verification failed (${code})`;
}

/** SHA-256 of the SubjectPublicKeyInfo DER, base64 (verify_certificate_spki). */
export function spkiPin(x: X509Certificate): string {
  return createHash('sha256').update(x.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

/** SHA-256 of the certificate DER, lower-case hex (verify_certificate_hash). */
export function certificateHash(x: X509Certificate): string {
  return createHash('sha256').update(x.raw).digest('hex');
}

/** Checks the peer of an established TLS socket against a validation context. */
export function verifyPeer(socket: TLSSocket, validation: ValidationContextConfig | undefined, opts: VerifyOptions = {}): PeerVerdict {
  const x = peerCertificates(socket).leaf;
  if (!x) {
    if (opts.requireCertificate) return { ok: false, reason: 'peer did not present a certificate', stat: 'fail_verify_no_cert' };
    return { ok: true };
  }
  if (!validation) return { ok: true };
  const anchored = validation.trustedCa !== undefined || validation.systemRootCerts;
  if (anchored && validation.trustChainVerification === 'VERIFY_TRUST_CHAIN') {
    if (!socket.authorized) {
      const code = String(socket.authorizationError ?? 'UNKNOWN');
      return { ok: false, reason: chainReason(code, x), stat: 'fail_verify_error' };
    }
  }
  const matchers = sanMatchersOf(validation);
  if (matchers.length || opts.sniSanValidation) {
    const sans = subjectAltNames(x);
    if (matchers.length && !matchers.some((m) => sans.some((s) => s.type === m.sanType && m.match(s.value)))) {
      const have = sans.map((s) => `${s.type}:${s.value}`).join(', ') || 'none';
      return { ok: false, reason: `peer certificate SANs (${have}) match none of ${matchers.map((m) => m.text).join('; ')}`, stat: 'fail_verify_san' };
    }
    const sni = opts.sniSanValidation;
    if (sni && !sans.some((s) => s.type === 'DNS' && dnsNameMatch(sni, s.value))) {
      return { ok: false, reason: `upstream certificate has no DNS SAN for SNI '${sni}'`, stat: 'fail_verify_san' };
    }
  }
  if (validation.hashPins.length || validation.spkiPins.length) {
    const hashOk = validation.hashPins.length > 0 && validation.hashPins.includes(certificateHash(x));
    const spkiOk = !hashOk && validation.spkiPins.length > 0 && validation.spkiPins.includes(spkiPin(x));
    if (!hashOk && !spkiOk) {
      return { ok: false, reason: 'peer certificate matches no pinned certificate hash or SPKI (verify_certificate_hash / verify_certificate_spki)', stat: 'fail_verify_cert_hash' };
    }
  }
  return { ok: true };
}
