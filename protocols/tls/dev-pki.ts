/**
 * A development PKI: a CA and SPIFFE workload certificates (as Istio's CA
 * issues them: URI SAN `spiffe://<trust domain>/ns/<ns>/sa/<sa>`, empty
 * subject unless a common name is asked for, serverAuth + clientAuth) for
 * local runs (`themis-sidecar certs ...`) and for tests, which create their
 * material in-process.
 *
 * Keys come from Node's crypto (ECDSA P-256 by default, or RSA-2048); the
 * X.509 structure is built with node-forge's ASN.1 and signed with Node's
 * crypto.sign, because node-forge signs with RSA keys only (it has no
 * ECDSA). Never for production: keys are unencrypted and the CA is local.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

const { asn1, pki } = forge;

/** Key algorithms the dev PKI issues. */
export type DevKeyType = 'ec-p256' | 'rsa-2048';

/** A certificate with its key, as PEM, and the issuer's chain. */
export interface DevCertificate {
  /** The certificate alone. */
  readonly certPem: string;
  /** PKCS#8 private key. */
  readonly keyPem: string;
  /** The certificate followed by the intermediates up to (not including) the root. */
  readonly chainPem: string;
  /** The root CA certificate that anchors it. */
  readonly caPem: string;
  readonly keyType: DevKeyType;
  /** The parsed certificate (serial, fingerprint, SANs). */
  readonly x509: X509Certificate;
}

/** A CA that can issue (root or intermediate). */
export interface DevCa extends DevCertificate {
  readonly trustDomain: string;
}

/** Validity and key choices shared by every issue call. */
export interface DevValidity {
  /** Days of validity from now (default 365 for workloads, 3650 for CAs). */
  readonly days?: number;
  /** Issue a certificate that expired yesterday (for refusal tests). */
  readonly expired?: boolean;
  /** Issue a certificate that becomes valid only tomorrow. */
  readonly notYetValid?: boolean;
  readonly keyType?: DevKeyType;
  /**
   * Reuse the key generated earlier under this label (same SPKI pin across
   * reissued certificates; spares RSA generation in tests).
   */
  readonly keyLabel?: string;
  /** The clock (ms since epoch); default Date.now(). */
  readonly now?: number;
}

/** Options of a CA. */
export interface DevCaOptions extends DevValidity {
  /** Trust domain, also the subject O (Istio's self-signed CA uses O=cluster.local). Default cluster.local. */
  readonly trustDomain?: string;
  /** Subject CN (default none for a root, `Intermediate CA` for an intermediate). */
  readonly commonName?: string;
  /** Issue an intermediate CA under this CA instead of a self-signed root. */
  readonly issuer?: DevCa;
}

/** Options of a workload certificate. */
export interface DevWorkloadOptions extends DevValidity {
  /** URI SANs, e.g. `spiffe://cluster.local/ns/db/sa/postgres`. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  readonly emails?: readonly string[];
  /** Subject CN; Istio's workload certificates have an empty subject. */
  readonly commonName?: string;
  /** Subject O. */
  readonly organization?: string;
}

const keyCache = new Map<string, KeyObject>();

/** A fresh key pair of the given type (or the one cached under `label`). */
export function devKey(type: DevKeyType, label?: string): KeyObject {
  const cacheKey = label === undefined ? undefined : `${type}/${label}`;
  const cached = cacheKey === undefined ? undefined : keyCache.get(cacheKey);
  if (cached) return cached;
  const { privateKey } = type === 'rsa-2048'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  if (cacheKey !== undefined) keyCache.set(cacheKey, privateKey);
  return privateKey;
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';

function sigAlg(key: KeyObject): forge.asn1.Asn1 {
  const ec = key.asymmetricKeyType === 'ec';
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(ec ? OID_ECDSA_SHA256 : OID_RSA_SHA256).getBytes())];
  if (!ec) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
}

function time(d: Date): forge.asn1.Asn1 {
  return d.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING. */
function keyIdentifier(spkiDer: Buffer): Buffer {
  const spki = asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')), { decodeBitStrings: false } as unknown as boolean);
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  return createHash('sha1').update(Buffer.from(bits.slice(1), 'binary')).digest();
}

function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

interface IssueSpec {
  readonly subject: forge.pki.CertificateField[];
  readonly key: KeyObject;
  readonly issuer?: { readonly cert: X509Certificate; readonly key: KeyObject };
  readonly extensions: object[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function issue(spec: IssueSpec): { der: Buffer; x509: X509Certificate } {
  // forge fills the attribute/extension encodings; the TBS is assembled here
  // because forge's own assembly needs an RSA public key.
  const shell = pki.createCertificate();
  shell.setSubject(spec.subject);
  const spkiDer = createPublicKey(spec.key).export({ type: 'spki', format: 'der' });
  const ski = keyIdentifier(spkiDer);
  const aki = spec.issuer ? keyIdentifier(createPublicKey(spec.issuer.key).export({ type: 'spki', format: 'der' })) : ski;
  const exts = [
    ...spec.extensions,
    { name: 'subjectKeyIdentifier', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, ski.toString('binary')) },
    {
      name: 'authorityKeyIdentifier',
      value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, aki.toString('binary'))]),
    },
  ];
  shell.setExtensions(exts);
  const issuerName = spec.issuer
    ? asn1.fromDer(forge.util.createBuffer(issuerNameDer(spec.issuer.cert).toString('binary')))
    : pki.distinguishedNameToAsn1(shell.subject);
  const signingKey = spec.issuer?.key ?? spec.key;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f | 0x10; // positive, 16 bytes
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, serial.toString('binary')),
    sigAlg(signingKey),
    issuerName,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [time(spec.notBefore), time(spec.notAfter)]),
    pki.distinguishedNameToAsn1(shell.subject),
    asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary'))),
    (pki as unknown as { certificateExtensionsToAsn1(e: unknown[]): forge.asn1.Asn1 }).certificateExtensionsToAsn1(shell.extensions),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, signingKey);
  const cert = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    sigAlg(signingKey),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + signature.toString('binary')),
  ]);
  const der = Buffer.from(asn1.toDer(cert).getBytes(), 'binary');
  return { der, x509: new X509Certificate(der) };
}

/** The DER of the subject Name of a certificate (the issuer name of what it signs). */
function issuerNameDer(cert: X509Certificate): Buffer {
  const c = asn1.fromDer(forge.util.createBuffer(cert.raw.toString('binary')));
  const tbs = (c.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[];
  // [0] version, serial, signature, issuer, validity, subject
  const subject = tbs[tbs[0]!.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 5 : 4]!;
  return Buffer.from(asn1.toDer(subject).getBytes(), 'binary');
}

function validity(o: DevValidity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = o.now ?? Date.now();
  const day = 86_400_000;
  if (o.expired) return { notBefore: new Date(now - (o.days ?? defaultDays) * day - day), notAfter: new Date(now - day) };
  if (o.notYetValid) return { notBefore: new Date(now + day), notAfter: new Date(now + (o.days ?? defaultDays) * day) };
  // Backdated by a minute against clock skew, as Istio's CA does.
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + (o.days ?? defaultDays) * day) };
}

function keyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Creates a self-signed root CA, or an intermediate when `issuer` is given. */
export function createDevCa(o: DevCaOptions = {}): DevCa {
  const keyType = o.keyType ?? 'ec-p256';
  const trustDomain = o.trustDomain ?? o.issuer?.trustDomain ?? 'cluster.local';
  const key = devKey(keyType, o.keyLabel);
  const subject: forge.pki.CertificateField[] = [{ shortName: 'O', value: trustDomain }];
  const cn = o.commonName ?? (o.issuer ? 'Intermediate CA' : undefined);
  if (cn) subject.push({ shortName: 'CN', value: cn });
  const { notBefore, notAfter } = validity(o, 3650);
  const { der, x509 } = issue({
    subject,
    key,
    issuer: o.issuer ? { cert: o.issuer.x509, key: createPrivateKey(o.issuer.keyPem) } : undefined,
    notBefore,
    notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const certPem = toPem(der);
  const chainPem = o.issuer ? certPem + intermediatesOf(o.issuer) : certPem;
  return Object.freeze({ certPem, keyPem: keyPem(key), chainPem, caPem: o.issuer ? o.issuer.caPem : certPem, keyType, x509, trustDomain });
}

function intermediatesOf(ca: DevCa): string {
  // A root's chain is itself; an intermediate's chain is itself plus its own intermediates.
  return ca.caPem === ca.certPem ? '' : ca.chainPem;
}

/** Issues a workload (leaf) certificate, usable as server and client. */
export function issueDevWorkload(ca: DevCa, o: DevWorkloadOptions = {}): DevCertificate {
  const keyType = o.keyType ?? 'ec-p256';
  const key = devKey(keyType, o.keyLabel);
  const subject: forge.pki.CertificateField[] = [];
  if (o.organization) subject.push({ shortName: 'O', value: o.organization });
  if (o.commonName) subject.push({ shortName: 'CN', value: o.commonName });
  const altNames = [
    ...(o.uris ?? []).map((value) => ({ type: 6, value })),
    ...(o.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(o.ips ?? []).map((ip) => ({ type: 7, ip })),
    ...(o.emails ?? []).map((value) => ({ type: 1, value })),
  ];
  if (altNames.length === 0 && subject.length === 0) throw new Error('a workload certificate needs a SAN or a subject');
  const { notBefore, notAfter } = validity(o, 365);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: keyType === 'rsa-2048', critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
  ];
  // RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
  if (altNames.length) extensions.push({ name: 'subjectAltName', altNames, critical: subject.length === 0 });
  const { der, x509 } = issue({ subject, key, issuer: { cert: ca.x509, key: createPrivateKey(ca.keyPem) }, notBefore, notAfter, extensions });
  const certPem = toPem(der);
  return Object.freeze({ certPem, keyPem: keyPem(key), chainPem: certPem + intermediatesOf(ca), caPem: ca.caPem, keyType, x509 });
}

/** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * A CRL (RFC 5280 5) signed by `ca` revoking the given certificates, in PEM.
 * node-forge has no CRL builder; it is assembled from ASN.1 here.
 */
export function createDevCrl(ca: DevCa, revoked: readonly X509Certificate[], o: { now?: number; days?: number } = {}): string {
  const now = o.now ?? Date.now();
  const key = createPrivateKey(ca.keyPem);
  const entries = revoked.map((c) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, Buffer.from(c.serialNumber.length % 2 ? `0${c.serialNumber}` : c.serialNumber, 'hex').toString('binary')),
    time(new Date(now - 60_000)),
  ]));
  const tbsParts = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(1).getBytes()),
    sigAlg(key),
    asn1.fromDer(forge.util.createBuffer(issuerNameDer(ca.x509).toString('binary'))),
    time(new Date(now - 60_000)),
    time(new Date(now + (o.days ?? 7) * 86_400_000)),
  ];
  if (entries.length) tbsParts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, entries));
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, tbsParts);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    sigAlg(key),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + sign('sha256', tbsDer, key).toString('binary')),
  ]);
  return toPem(Buffer.from(asn1.toDer(crl).getBytes(), 'binary'), 'X509 CRL');
}

/** A CA from its files' contents (what `themis-sidecar certs ca` wrote). */
export function loadDevCa(files: { certPem: string; keyPem: string; caPem?: string; chainPem?: string }): DevCa {
  const x509 = new X509Certificate(files.certPem);
  if (!x509.ca) throw new Error('the certificate is not a CA (basicConstraints CA:FALSE)');
  const key = createPrivateKey(files.keyPem);
  if (!x509.checkPrivateKey(key)) throw new Error('the CA key does not match the CA certificate');
  const keyType: DevKeyType = key.asymmetricKeyType === 'rsa' ? 'rsa-2048' : 'ec-p256';
  const trustDomain = /(?:^|\n)O=([^\n]*)/.exec(x509.subject)?.[1] ?? 'cluster.local';
  return Object.freeze({
    certPem: files.certPem,
    keyPem: files.keyPem,
    chainPem: files.chainPem ?? files.certPem,
    caPem: files.caPem ?? files.certPem,
    keyType,
    x509,
    trustDomain,
  });
}
