/**
 * A parsed TLS context + its resolved material -> Node TLS: SecureContexts
 * (certificates, key, CA, CRL, versions, ciphers, groups, signature
 * algorithms), server options (SNI certificate selection, client
 * certificate request, ALPN) and client options (SNI, ALPN, session reuse),
 * with the post-handshake verification Node cannot do natively
 * (peer-verification.ts) and the connection facts (certificate-info.ts).
 *
 * Behaviour notes (docs/compatibility.md):
 *  - Sockets use `rejectUnauthorized: false`; `verify(socket)` decides after
 *    the handshake (so require_client_certificate=false still refuses a bad
 *    certificate, ACCEPT_UNTRUSTED works, and every refusal has a reason).
 *    The peer therefore sees the connection closed after the handshake
 *    rather than a TLS alert.
 *  - Own certificates that are expired or not yet valid, or whose key does
 *    not match, are refused when the context is built.
 *  - Several certificates: the one whose DNS SANs (or CN, without SANs)
 *    match the SNI is served, wildcards included (a full scan, as
 *    full_scan_certs_on_sni_mismatch); otherwise the first of each key type.
 *    One RSA and one ECDSA certificate may be served together; OpenSSL picks
 *    by the client's signature algorithms.
 *  - Trusted CAs may be intermediates (X509_V_FLAG_PARTIAL_CHAIN, as Envoy).
 *  - Upstream: like Envoy, the server certificate is only verified when a
 *    validation context is configured; Node's host-name check is off (SAN
 *    matchers or auto_sni_san_validation do that job).
 *  - ALPN without overlap: Node closes the handshake with
 *    no_application_protocol, where Envoy continues without ALPN.
 */
import { constants as cryptoConstants, createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, getCACertificates, type ConnectionOptions, type SecureContext, type SecureContextOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { SecretProvider } from '../../sidecar/contracts/transport-socket.ts';
import {
  dnsNameMatch, mergeValidation, validationProblem, type CommonTlsContextConfig, type DownstreamTlsContextConfig,
  type TlsCertificateConfig, type UpstreamTlsContextConfig, type ValidationContextConfig,
} from './context-config.ts';
import { certificateFromMaterial, validationFromMaterial } from './secrets.ts';
import { verifyPeer, type PeerVerdict } from './peer-verification.ts';
import type { TlsParamsConfig } from './tls-params.ts';

export { verifyPeer, spkiPin, certificateHash, type PeerVerdict, type VerifyOptions, type VerifyFailureStat } from './peer-verification.ts';
export { connectionInfo, certificateInfo, peerPrincipal, peerChainPem, subjectAltNames, rfc2253 } from './certificate-info.ts';

/** A certificate and where it came from (for error messages). */
export interface CertificateSource {
  readonly certificate: TlsCertificateConfig;
  /** `common_tls_context.tls_certificates[0]` or `secret 'default'`. */
  readonly origin: string;
}

/** What a context needs besides its config: certificates and the validation context, resolved. */
export interface TlsMaterial {
  readonly certificates: readonly CertificateSource[];
  readonly validation?: ValidationContextConfig;
}

/** The outcome of resolving a context's SDS references. */
export type MaterialResult =
  | { readonly ok: true; readonly material: TlsMaterial }
  /** Secrets not yet arrived (warming) and/or secrets that are unusable. */
  | { readonly ok: false; readonly missing: readonly string[]; readonly errors: readonly ConfigError[] };

/**
 * Combines a CommonTlsContext's static parts with its secrets (static or
 * SDS): certificates in order (static first), validation context merged as
 * Envoy's combined_validation_context.
 */
export function resolveMaterial(common: CommonTlsContextConfig, secrets?: Pick<SecretProvider, 'get'>): MaterialResult {
  const missing: string[] = [];
  const errors: ConfigError[] = [];
  const certificates: CertificateSource[] = common.certificates.map((certificate, i) => ({ certificate, origin: `common_tls_context.tls_certificates[${i}]` }));
  for (const ref of common.certificateSds) {
    const m = secrets?.get(ref.name);
    if (!m) {
      missing.push(ref.name);
      continue;
    }
    const certificate = certificateFromMaterial(m);
    if (!certificate) errors.push(new ConfigError(`secret '${ref.name}'`, 'holds no tls_certificate'));
    else certificates.push({ certificate, origin: `secret '${ref.name}'` });
  }
  let validation = common.validation;
  if (common.validationSds) {
    const name = common.validationSds.name;
    const m = secrets?.get(name);
    if (!m) missing.push(name);
    else {
      const v = validationFromMaterial(m);
      if (!v.ok) errors.push(...v.errors);
      else if (!v.validation) errors.push(new ConfigError(`secret '${name}'`, 'holds no validation_context'));
      else validation = mergeValidation(common.validation, v.validation);
    }
  }
  if (validation && missing.length === 0) {
    const why = validationProblem(validation);
    if (why) errors.push(new ConfigError('common_tls_context', why));
  }
  if (missing.length || errors.length) return { ok: false, missing, errors };
  return { ok: true, material: Object.freeze({ certificates: Object.freeze(certificates), ...(validation ? { validation } : {}) }) };
}

interface LoadedCertificate {
  readonly source: CertificateSource;
  readonly leaf?: X509Certificate;
  readonly keyType: string;
  /** Names it serves: DNS SANs, or the CN without them. */
  readonly names: readonly string[];
}

/** Checks one certificate (validity window, key match) and learns its names. */
function loadCertificate(s: CertificateSource, now: number, errors: ConfigError[]): LoadedCertificate | undefined {
  const c = s.certificate;
  if (c.pkcs12) return { source: s, keyType: 'pkcs12', names: [] };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(c.certificateChain!);
  } catch (e) {
    errors.push(new ConfigError(s.origin, `certificate_chain is not a valid certificate: ${(e as Error).message}`));
    return undefined;
  }
  if (leaf.validToDate.getTime() < now) {
    errors.push(new ConfigError(s.origin, `certificate expired on ${leaf.validToDate.toISOString()} (serial ${leaf.serialNumber.toLowerCase()})`));
    return undefined;
  }
  if (leaf.validFromDate.getTime() > now) {
    errors.push(new ConfigError(s.origin, `certificate is not valid before ${leaf.validFromDate.toISOString()}`));
    return undefined;
  }
  try {
    const key = createPrivateKey({ key: c.privateKey!, ...(c.password ? { passphrase: c.password } : {}) });
    if (!leaf.checkPrivateKey(key)) {
      errors.push(new ConfigError(s.origin, 'private_key does not match the certificate'));
      return undefined;
    }
  } catch (e) {
    errors.push(new ConfigError(s.origin, `private_key cannot be loaded: ${(e as Error).message}`));
    return undefined;
  }
  const dns = (leaf.subjectAltName ?? '').split(', ').filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  return { source: s, leaf, keyType: leaf.publicKey.asymmetricKeyType ?? 'unknown', names: dns.length ? dns : cn ? [cn] : [] };
}

function contextOptions(params: TlsParamsConfig, certs: readonly LoadedCertificate[], validation: ValidationContextConfig | undefined, extra: SecureContextOptions): SecureContextOptions {
  const pem = certs.filter((c) => !c.source.certificate.pkcs12).map((c) => c.source.certificate);
  const pfx = certs.filter((c) => c.source.certificate.pkcs12).map((c) => c.source.certificate);
  let ca: SecureContextOptions['ca'];
  if (validation?.trustedCa) ca = validation.trustedCa;
  else if (validation?.systemRootCerts) ca = getCACertificates('system') as string[];
  return {
    ...(pem.length ? { cert: pem.map((c) => c.certificateChain!), key: pem.map((c) => ({ pem: c.privateKey!, ...(c.password ? { passphrase: c.password } : {}) })) } : {}),
    ...(pfx.length ? { pfx: pfx.map((c) => ({ buf: c.pkcs12!, ...(c.password ? { passphrase: c.password } : {}) })) } : {}),
    ...(ca ? { ca, allowPartialTrustChain: true } : {}),
    ...(validation?.crl ? { crl: validation.crl } : {}),
    minVersion: params.minVersion,
    maxVersion: params.maxVersion,
    ciphers: params.ciphers,
    ecdhCurve: params.ecdhCurve,
    ...(params.sigalgs ? { sigalgs: params.sigalgs } : {}),
    ...extra,
  } as SecureContextOptions;
}

function build(opts: SecureContextOptions, origin: string, errors: ConfigError[]): SecureContext | undefined {
  try {
    return createSecureContext(opts);
  } catch (e) {
    errors.push(new ConfigError(origin, `cannot build the TLS context: ${(e as Error).message}`));
    return undefined;
  }
}

/** The first certificate of each key type, in order. */
function onePerKeyType(certs: readonly LoadedCertificate[]): LoadedCertificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => (seen.has(c.keyType) ? false : (seen.add(c.keyType), true)));
}

/** A server-side TLS setup for one filter chain. */
export interface DownstreamTls {
  /** The default context (no SNI match). */
  readonly secureContext: SecureContext;
  /** Its options (what tls.createServer takes; it builds its own context from them). */
  readonly contextOptions: SecureContextOptions;
  /** For `tls.createServer(serverOptions)`. */
  readonly serverOptions: TlsOptions;
  /** For `new TLSSocket(socket, socketOptions)` (isServer, secureContext, SNI, client certificate request). */
  readonly socketOptions: TlsOptions & { readonly isServer: true; readonly secureContext: SecureContext };
  readonly validation?: ValidationContextConfig;
  /** require_sni + the peer checks, after the handshake. */
  verify(socket: TLSSocket): PeerVerdict;
}

/** Builds the server side of a DownstreamTlsContext with its resolved material. */
export function createDownstreamTls(ctx: DownstreamTlsContextConfig, material: TlsMaterial, opts: { now?: number } = {}): ParseResult<DownstreamTls> {
  const errors: ConfigError[] = [];
  const now = opts.now ?? Date.now();
  const loaded = material.certificates.map((s) => loadCertificate(s, now, errors)).filter((c): c is LoadedCertificate => c !== undefined);
  if (errors.length) return { ok: false, errors };
  if (loaded.length === 0) return { ok: false, errors: [new ConfigError('common_tls_context', 'a server TLS context needs a certificate')] };
  const validation = material.validation;
  const extra: SecureContextOptions = {
    honorCipherOrder: !ctx.preferClientCiphers,
    ...(ctx.sessionTimeoutS !== undefined ? { sessionTimeout: ctx.sessionTimeoutS } : {}),
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION | (ctx.disableStatelessSessionResumption ? cryptoConstants.SSL_OP_NO_TICKET : 0),
  };
  const dflt = onePerKeyType(loaded);
  const defaultOptions = contextOptions(ctx.common.params, dflt, validation, extra);
  const secureContext = build(defaultOptions, loaded[0]!.source.origin, errors);
  // Contexts for SNI matches, built once per distinct selection.
  const bySelection = new Map<string, SecureContext>();
  let SNICallback: TlsOptions['SNICallback'];
  if (loaded.length > 1) {
    const selections: LoadedCertificate[][] = [];
    const selectFor = (name: string): LoadedCertificate[] => onePerKeyType(loaded.filter((c) => c.names.some((n) => dnsNameMatch(name, n))));
    for (const c of loaded) for (const n of c.names) selections.push(selectFor(n.startsWith('*.') ? `x${n.slice(1)}` : n));
    for (const sel of selections) {
      const key = sel.map((c) => loaded.indexOf(c)).join(',');
      if (!bySelection.has(key)) {
        const sc = build(contextOptions(ctx.common.params, sel, validation, extra), sel[0]!.source.origin, errors);
        if (sc) bySelection.set(key, sc);
      }
    }
    SNICallback = (servername, cb) => {
      const sel = selectFor(servername);
      const sc = sel.length ? bySelection.get(sel.map((c) => loaded.indexOf(c)).join(',')) : undefined;
      cb(null, sc ?? secureContext);
    };
  }
  if (errors.length || !secureContext) return { ok: false, errors };
  const requestCert = validation !== undefined || ctx.requireClientCertificate;
  const common: TlsOptions = {
    requestCert,
    rejectUnauthorized: false,
    ...(ctx.common.alpnProtocols.length ? { ALPNProtocols: [...ctx.common.alpnProtocols] } : {}),
    ...(SNICallback ? { SNICallback } : {}),
  };
  const requireCertificate = ctx.requireClientCertificate;
  return {
    ok: true,
    config: Object.freeze({
      secureContext,
      contextOptions: defaultOptions,
      serverOptions: { ...defaultOptions, ...common },
      socketOptions: { ...common, isServer: true as const, secureContext },
      ...(validation ? { validation } : {}),
      verify(socket: TLSSocket): PeerVerdict {
        if (ctx.requireSni && !(socket as TLSSocket & { servername?: string | false }).servername) {
          return { ok: false, reason: 'client sent no SNI and require_sni is set', stat: 'fail_verify_sni' };
        }
        return verifyPeer(socket, validation, { requireCertificate });
      },
    }),
  };
}

/** A client-side TLS setup for one cluster. */
export interface UpstreamTls {
  readonly secureContext: SecureContext;
  readonly validation?: ValidationContextConfig;
  /**
   * Options for `tls.connect({ socket | host, port, ...connectOptions(host) })`:
   * SNI (configured, or the host with auto_host_sni), ALPN (`alpn`
   * overrides the context's list), a remembered session to resume.
   */
  connectOptions(host?: string, alpn?: readonly string[]): ConnectionOptions;
  /** Remembers the sessions this socket receives (up to max_session_keys). */
  track(socket: TLSSocket): void;
  /** The peer checks after the handshake (SAN matchers, pins, auto_sni_san_validation). */
  verify(socket: TLSSocket): PeerVerdict;
}

const IP = /^(\d{1,3}\.){3}\d{1,3}$|:/;

/** Builds the client side of an UpstreamTlsContext with its resolved material. */
export function createUpstreamTls(ctx: UpstreamTlsContextConfig, material: TlsMaterial, opts: { now?: number } = {}): ParseResult<UpstreamTls> {
  const errors: ConfigError[] = [];
  const now = opts.now ?? Date.now();
  const loaded = material.certificates.map((s) => loadCertificate(s, now, errors)).filter((c): c is LoadedCertificate => c !== undefined);
  if (errors.length) return { ok: false, errors };
  const validation = material.validation;
  const options = contextOptions(ctx.common.params, loaded, validation, { secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION });
  const secureContext = build(options, 'common_tls_context', errors);
  if (!secureContext) return { ok: false, errors };
  const sessions = new Map<string, Buffer>();
  const sniFor = (host?: string): string | undefined => {
    const s = ctx.sni ?? (ctx.autoHostSni ? host : undefined);
    return s && !IP.test(s) ? s : undefined;
  };
  return {
    ok: true,
    config: Object.freeze({
      secureContext,
      ...(validation ? { validation } : {}),
      connectOptions(host?: string, alpn?: readonly string[]): ConnectionOptions {
        const servername = sniFor(host);
        const protocols = alpn ?? ctx.common.alpnProtocols;
        const session = ctx.maxSessionKeys > 0 ? sessions.get(servername ?? '') : undefined;
        return {
          secureContext,
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
          ...(servername ? { servername } : {}),
          ...(protocols.length ? { ALPNProtocols: [...protocols] } : {}),
          ...(session ? { session } : {}),
        };
      },
      track(socket: TLSSocket): void {
        if (ctx.maxSessionKeys === 0) return;
        socket.on('session', (s: Buffer) => {
          const key = (socket as TLSSocket & { servername?: string }).servername ?? '';
          sessions.delete(key);
          sessions.set(key, s);
          while (sessions.size > ctx.maxSessionKeys) sessions.delete(sessions.keys().next().value!);
        });
      },
      verify(socket: TLSSocket): PeerVerdict {
        const sni = ctx.autoSniSanValidation ? (socket as TLSSocket & { servername?: string }).servername : undefined;
        return verifyPeer(socket, validation, { requireCertificate: validation !== undefined, ...(sni ? { sniSanValidation: sni } : {}) });
      },
    }),
  };
}
