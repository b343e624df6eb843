/**
 * The checks a secret passes before the store takes it from SDS: a
 * certificate must be within its validity period, its private key must be
 * the certificate's, and trusted CA bytes must hold certificates. Envoy
 * refuses such material when it builds the SSL context from an SDS update
 * (the update is rejected, the previous context keeps serving); here the
 * check runs before any TLS context sees the material, so a bad rotation
 * never reaches a listener or a cluster.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { SecretMaterial } from '../contracts/transport-socket.ts';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function describe(x: X509Certificate): string {
  // Node leaves subject undefined for an empty Subject (Istio's workload certificates).
  const subject = (x.subject ?? '').replace(/\n/g, ',') || x.subjectAltName || '(no subject)';
  return `'${subject}' (serial ${x.serialNumber})`;
}

/** Why a secret's material cannot be used (undefined when it can). `now` in ms. */
export function checkSecretMaterial(m: SecretMaterial, now: number = Date.now()): string | undefined {
  if (m.certificateChain) {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(m.certificateChain);
    } catch (e) {
      return `certificate_chain cannot be read: ${(e as Error).message}`;
    }
    if (leaf.validToDate.getTime() < now) return `certificate ${describe(leaf)} expired on ${leaf.validToDate.toISOString()}`;
    if (leaf.validFromDate.getTime() > now) return `certificate ${describe(leaf)} is not valid before ${leaf.validFromDate.toISOString()}`;
    if (m.privateKey) {
      let key;
      try {
        key = createPrivateKey(m.privateKey);
      } catch (e) {
        return `private_key cannot be read: ${(e as Error).message}`;
      }
      if (!leaf.checkPrivateKey(key)) return `private_key does not match certificate ${describe(leaf)}`;
    }
  }
  if (m.trustedCa) {
    const blocks = m.trustedCa.toString('latin1').match(PEM_CERT) ?? [];
    if (blocks.length === 0) return 'trusted_ca holds no PEM certificate';
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (e) {
        return `trusted_ca cannot be read: ${(e as Error).message}`;
      }
    }
  }
  return undefined;
}
