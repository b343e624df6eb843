/**
 * envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext and
 * UpstreamTlsContext (canonical proto3 JSON) -> frozen config objects, with
 * every error and its field path (a NACK carries them all).
 *
 * What the messages say is either implemented or refused: a field that
 * changes security and that we cannot honour (certificate providers, custom
 * validators, private key providers, key logging, renegotiation, expired
 * certificates allowed ...) is a ConfigError, never silently ignored.
 * Certificates named by SDS (`tls_certificate_sds_secret_configs`,
 * `validation_context_sds_secret_config`, and Istio's
 * `combined_validation_context`) are kept as references (name + config
 * source) for the secret store; secure-context.ts combines them with the
 * static parts once the material has arrived.
 *
 * DataSource files are read at parse time (start-up or xDS apply) through
 * the injected `readFile`; without one a `filename` is refused.
 */
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import { durationMs, int, list, msg, str, stringMatcher, type Json, type StringMatch } from '../../xds/translate/proto-values.ts';
import { parseTlsParams, type TlsParamsConfig } from './tls-params.ts';

/** How DataSource files are read (start-up/xDS apply time only). */
export interface TlsParseOptions {
  readonly readFile?: (path: string) => Buffer | string;
}

/** A TlsCertificate's material (PEM chain + key, or PKCS#12). */
export interface TlsCertificateConfig {
  readonly certificateChain?: Buffer;
  readonly privateKey?: Buffer;
  /** Password of an encrypted private key or PKCS#12 bundle. */
  readonly password?: string;
  readonly pkcs12?: Buffer;
}

/** A secret named for the secret store (static_resources.secrets or SDS). */
export interface SdsSecretRef {
  readonly name: string;
  /** The ConfigSource as given; absent = a static secret of that name. */
  readonly sdsConfig?: Readonly<Json>;
}

/** SAN types Envoy matches (RFC 5280 GeneralName choices). */
export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';

/** One compiled SubjectAltNameMatcher. */
export interface SanMatcher {
  readonly sanType: SanType;
  readonly match: StringMatch;
  /** The matcher as configured, for diagnostics (`URI exact spiffe://...`). */
  readonly text: string;
}

/** A CertificateValidationContext. */
export interface ValidationContextConfig {
  /** Trusted CA certificates (PEM). */
  readonly trustedCa?: Buffer;
  /** Certificate revocation lists (PEM); checked for the whole chain, as Envoy's default. */
  readonly crl?: Buffer;
  /** Use the system trust store (only when trusted_ca is absent). */
  readonly systemRootCerts: boolean;
  /** match_typed_subject_alt_names. */
  readonly typedSanMatchers: readonly SanMatcher[];
  /** The deprecated match_subject_alt_names, expanded to DNS/URI/EMAIL/IP_ADDRESS; ignored when typed ones exist. */
  readonly legacySanMatchers: readonly SanMatcher[];
  /** verify_certificate_spki: base64 SHA-256 of the SubjectPublicKeyInfo DER. */
  readonly spkiPins: readonly string[];
  /** verify_certificate_hash: SHA-256 of the certificate DER, lower-case hex without colons. */
  readonly hashPins: readonly string[];
  readonly trustChainVerification: 'VERIFY_TRUST_CHAIN' | 'ACCEPT_UNTRUSTED';
}

/** CommonTlsContext. */
export interface CommonTlsContextConfig {
  readonly params: TlsParamsConfig;
  readonly certificates: readonly TlsCertificateConfig[];
  readonly certificateSds: readonly SdsSecretRef[];
  /** validation_context, or combined_validation_context.default_validation_context. */
  readonly validation?: ValidationContextConfig;
  /** validation_context_sds_secret_config, or the combined one. */
  readonly validationSds?: SdsSecretRef;
  readonly alpnProtocols: readonly string[];
}

/** DownstreamTlsContext (a listener's filter chain terminates TLS). */
export interface DownstreamTlsContextConfig {
  readonly kind: 'downstream';
  readonly common: CommonTlsContextConfig;
  readonly requireClientCertificate: boolean;
  readonly requireSni: boolean;
  /** Seconds; undefined = Node's default (300 s, as OpenSSL's). */
  readonly sessionTimeoutS?: number;
  readonly disableStatelessSessionResumption: boolean;
  readonly disableStatefulSessionResumption: boolean;
  readonly fullScanCertsOnSniMismatch: boolean;
  readonly preferClientCiphers: boolean;
}

/** UpstreamTlsContext (a cluster originates TLS). */
export interface UpstreamTlsContextConfig {
  readonly kind: 'upstream';
  readonly common: CommonTlsContextConfig;
  /** SNI sent to the upstream; undefined = none (unless autoHostSni). */
  readonly sni?: string;
  /** Use the request's host as SNI (auto_host_sni; the router sets it). */
  readonly autoHostSni: boolean;
  /** Verify the server certificate against the SNI sent (auto_sni_san_validation). */
  readonly autoSniSanValidation: boolean;
  /** Sessions kept for resumption per cluster (Envoy default 1; 0 disables). */
  readonly maxSessionKeys: number;
}

/** Collects errors and keeps parsing. */
function attempt<T>(errors: ConfigError[], f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) errors.push(e);
    else throw e;
    return undefined;
  }
}

/** Refuses fields outside `known`, with the reason from `refused` when there is one. */
function checkFields(m: Json, path: string, known: ReadonlySet<string>, refused: Readonly<Record<string, string>>, errors: ConfigError[]): void {
  for (const k of Object.keys(m)) {
    if (k === '@type') continue;
    if (refused[k] !== undefined) errors.push(new ConfigError(`${path}.${k}`, refused[k]!));
    else if (!known.has(k)) errors.push(new ConfigError(`${path}.${k}`, 'unsupported field'));
  }
}

/** Envoy's DataSource as bytes (undefined when absent or empty). */
export function dataSource(v: unknown, path: string, opts: TlsParseOptions): Buffer | undefined {
  const m = msg(v);
  if (!m) return undefined;
  if (m['watched_directory'] !== undefined) throw new ConfigError(`${path}.watched_directory`, 'watched directories are not supported; rotate through SDS');
  if (typeof m['inline_string'] === 'string') return Buffer.from(m['inline_string'], 'utf8');
  if (typeof m['inline_bytes'] === 'string') return Buffer.from(m['inline_bytes'], 'base64');
  if (typeof m['filename'] === 'string') {
    const f = m['filename'];
    if (!opts.readFile) throw new ConfigError(`${path}.filename`, `'${f}': DataSource files are not read here; use inline_string or inline_bytes`);
    try {
      const d = opts.readFile(f);
      return typeof d === 'string' ? Buffer.from(d, 'utf8') : d;
    } catch (e) {
      throw new ConfigError(`${path}.filename`, `cannot read '${f}': ${(e as Error).message}`);
    }
  }
  if (m['environment_variable'] !== undefined) throw new ConfigError(`${path}.environment_variable`, 'environment_variable data sources are not supported');
  return undefined;
}

const CERT_FIELDS = new Set(['certificate_chain', 'private_key', 'password', 'pkcs12']);
const CERT_REFUSED: Record<string, string> = {
  private_key_provider: 'private key providers are not supported',
  watched_directory: 'watched directories are not supported; rotate through SDS',
  ocsp_staple: 'OCSP stapling is not supported',
  signed_certificate_timestamp: 'signed certificate timestamps are not supported',
};

/** A TlsCertificate (in a context or an SDS Secret). */
export function parseTlsCertificate(v: Json, path: string, opts: TlsParseOptions, errors: ConfigError[]): TlsCertificateConfig | undefined {
  const start = errors.length;
  checkFields(v, path, CERT_FIELDS, CERT_REFUSED, errors);
  const chain = attempt(errors, () => dataSource(v['certificate_chain'], `${path}.certificate_chain`, opts));
  const key = attempt(errors, () => dataSource(v['private_key'], `${path}.private_key`, opts));
  const pkcs12 = attempt(errors, () => dataSource(v['pkcs12'], `${path}.pkcs12`, opts));
  const password = attempt(errors, () => dataSource(v['password'], `${path}.password`, opts));
  if (errors.length > start) return undefined;
  if (pkcs12) {
    if (chain || key) errors.push(new ConfigError(`${path}.pkcs12`, 'pkcs12 excludes certificate_chain and private_key'));
  } else {
    if (!chain) errors.push(new ConfigError(`${path}.certificate_chain`, 'a TLS certificate needs certificate_chain (or pkcs12)'));
    if (!key) errors.push(new ConfigError(`${path}.private_key`, 'a TLS certificate needs private_key (or pkcs12)'));
    if (chain && !/-----BEGIN CERTIFICATE-----/.test(chain.toString('latin1'))) errors.push(new ConfigError(`${path}.certificate_chain`, 'not a PEM certificate chain'));
    if (key && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'))) errors.push(new ConfigError(`${path}.private_key`, 'not a PEM private key'));
  }
  if (errors.length > start) return undefined;
  return Object.freeze({
    ...(chain ? { certificateChain: chain } : {}),
    ...(key ? { privateKey: key } : {}),
    ...(pkcs12 ? { pkcs12 } : {}),
    ...(password ? { password: password.toString('utf8') } : {}),
  });
}

/** An SdsSecretConfig. */
export function parseSdsSecretConfig(v: unknown, path: string, errors: ConfigError[]): SdsSecretRef | undefined {
  const m = msg(v);
  if (!m) {
    errors.push(new ConfigError(path, 'missing SdsSecretConfig'));
    return undefined;
  }
  checkFields(m, path, new Set(['name', 'sds_config']), {}, errors);
  const name = str(m['name']);
  if (!name) {
    errors.push(new ConfigError(`${path}.name`, 'an SDS secret needs a name'));
    return undefined;
  }
  const source = msg(m['sds_config']);
  return Object.freeze({ name, ...(source ? { sdsConfig: Object.freeze(source) } : {}) });
}

/**
 * Envoy's DNS name match: case-insensitive; a SAN `*.example.com` matches
 * exactly one label (`api.example.com`, not `a.b.example.com`).
 */
export function dnsNameMatch(name: string, san: string): boolean {
  const n = name.toLowerCase();
  const p = san.toLowerCase();
  if (n === p) return true;
  if (p.length > 2 && p.startsWith('*.')) {
    const suffix = p.slice(1);
    if (n.length > suffix.length && n.endsWith(suffix)) return !n.slice(0, n.length - suffix.length).includes('.');
  }
  return false;
}

const SAN_TYPES: ReadonlySet<string> = new Set(['DNS', 'URI', 'EMAIL', 'IP_ADDRESS']);

function describeMatcher(m: Json): string {
  for (const k of ['exact', 'prefix', 'suffix', 'contains']) if (typeof m[k] === 'string') return `${k} '${m[k] as string}'`;
  const re = msg(m['safe_regex']);
  if (re) return `safe_regex '${str(re['regex'])}'`;
  return 'matcher';
}

function sanMatcher(sanType: SanType, mj: Json, path: string): SanMatcher {
  const compiled = stringMatcher(mj, path);
  // An exact DNS matcher follows DNS rules, so that a wildcard SAN matches (Envoy's StringSanMatcher).
  const exact = sanType === 'DNS' && typeof mj['exact'] === 'string' ? mj['exact'] : undefined;
  const match: StringMatch = exact !== undefined ? (san) => dnsNameMatch(exact, san) : compiled;
  return Object.freeze({ sanType, match, text: `${sanType} ${describeMatcher(mj)}${mj['ignore_case'] === true ? ' (ignore_case)' : ''}` });
}

const VALIDATION_FIELDS = new Set([
  'trusted_ca', 'crl', 'verify_certificate_spki', 'verify_certificate_hash', 'match_typed_subject_alt_names',
  'match_subject_alt_names', 'allow_expired_certificate', 'trust_chain_verification', 'only_verify_leaf_cert_crl',
  'system_root_certs', 'require_signed_certificate_timestamp',
]);
const VALIDATION_REFUSED: Record<string, string> = {
  custom_validator_config: 'custom certificate validators (e.g. SPIFFE bundles) are not supported',
  ca_certificate_provider_instance: 'certificate provider instances are not supported; use trusted_ca or SDS',
  watched_directory: 'watched directories are not supported; rotate through SDS',
  verify_subject_alt_name: 'verify_subject_alt_name was removed from the v3 API; use match_typed_subject_alt_names',
};

/** A CertificateValidationContext. `standalone` = not merged with an SDS one later. */
export function parseValidationContext(v: Json, path: string, opts: TlsParseOptions, errors: ConfigError[], standalone: boolean): ValidationContextConfig | undefined {
  const start = errors.length;
  checkFields(v, path, VALIDATION_FIELDS, VALIDATION_REFUSED, errors);
  if (v['allow_expired_certificate'] === true) {
    errors.push(new ConfigError(`${path}.allow_expired_certificate`, 'accepting expired certificates is not supported (OpenSSL reports one verification error, so an expired certificate cannot be told apart safely from an untrusted one)'));
  }
  if (v['only_verify_leaf_cert_crl'] === true) {
    errors.push(new ConfigError(`${path}.only_verify_leaf_cert_crl`, 'CRLs are checked for the whole chain (Envoy\'s default); leaf-only CRL checking is not supported'));
  }
  if (v['require_signed_certificate_timestamp'] === true) {
    errors.push(new ConfigError(`${path}.require_signed_certificate_timestamp`, 'signed certificate timestamps are not supported'));
  }
  const trustedCa = attempt(errors, () => dataSource(v['trusted_ca'], `${path}.trusted_ca`, opts));
  if (trustedCa && !/-----BEGIN CERTIFICATE-----/.test(trustedCa.toString('latin1'))) errors.push(new ConfigError(`${path}.trusted_ca`, 'not PEM certificates'));
  const crl = attempt(errors, () => dataSource(v['crl'], `${path}.crl`, opts));
  if (crl && !/-----BEGIN X509 CRL-----/.test(crl.toString('latin1'))) errors.push(new ConfigError(`${path}.crl`, 'not a PEM CRL'));

  const spkiPins: string[] = [];
  list(v['verify_certificate_spki']).forEach((s, i) => {
    const pin = str(s);
    const raw = /^[A-Za-z0-9+/]+={0,2}$/.test(pin) ? Buffer.from(pin, 'base64') : undefined;
    if (!raw || raw.length !== 32) errors.push(new ConfigError(`${path}.verify_certificate_spki[${i}]`, `'${pin}' is not a base64 SHA-256 hash`));
    else spkiPins.push(raw.toString('base64'));
  });
  const hashPins: string[] = [];
  list(v['verify_certificate_hash']).forEach((s, i) => {
    const pin = str(s);
    const hex = pin.includes(':') ? pin.split(':').join('') : pin;
    const okColons = !pin.includes(':') || /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(pin);
    if (!okColons || !/^[0-9A-Fa-f]{64}$/.test(hex)) errors.push(new ConfigError(`${path}.verify_certificate_hash[${i}]`, `'${pin}' is not a hex SHA-256 hash (with or without colons)`));
    else hashPins.push(hex.toLowerCase());
  });

  const typedSanMatchers: SanMatcher[] = [];
  list(v['match_typed_subject_alt_names']).forEach((t, i) => {
    const p = `${path}.match_typed_subject_alt_names[${i}]`;
    const type = str(t['san_type']);
    if (type === 'OTHER_NAME') {
      errors.push(new ConfigError(`${p}.san_type`, 'OTHER_NAME SAN matching is not supported'));
      return;
    }
    if (!SAN_TYPES.has(type)) {
      errors.push(new ConfigError(`${p}.san_type`, `san_type must be one of DNS, URI, EMAIL, IP_ADDRESS, not '${type || 'SAN_TYPE_UNSPECIFIED'}'`));
      return;
    }
    const mj = msg(t['matcher']);
    if (!mj) {
      errors.push(new ConfigError(`${p}.matcher`, 'a SAN matcher needs a string matcher'));
      return;
    }
    const m = attempt(errors, () => sanMatcher(type as SanType, mj, `${p}.matcher`));
    if (m) typedSanMatchers.push(m);
  });
  const legacySanMatchers: SanMatcher[] = [];
  list(v['match_subject_alt_names']).forEach((mj, i) => {
    for (const type of ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'] as const) {
      const m = attempt(errors, () => sanMatcher(type, mj, `${path}.match_subject_alt_names[${i}]`));
      if (!m) break;
      legacySanMatchers.push(m);
    }
  });

  const tcv = str(v['trust_chain_verification']) || 'VERIFY_TRUST_CHAIN';
  if (tcv !== 'VERIFY_TRUST_CHAIN' && tcv !== 'ACCEPT_UNTRUSTED') errors.push(new ConfigError(`${path}.trust_chain_verification`, `unknown value '${tcv}'`));
  if (v['max_verify_depth'] !== undefined) {
    errors.push(new ConfigError(`${path}.max_verify_depth`, 'max_verify_depth is not supported (Node neither sets a verify depth nor shows a server the client\'s intermediates)'));
  }
  const systemRootCerts = msg(v['system_root_certs']) !== undefined;
  if (errors.length > start) return undefined;
  const config: ValidationContextConfig = Object.freeze({
    ...(trustedCa ? { trustedCa } : {}),
    ...(crl ? { crl } : {}),
    systemRootCerts,
    typedSanMatchers: Object.freeze(typedSanMatchers),
    legacySanMatchers: Object.freeze(legacySanMatchers),
    spkiPins: Object.freeze(spkiPins),
    hashPins: Object.freeze(hashPins),
    trustChainVerification: tcv as ValidationContextConfig['trustChainVerification'],
  });
  if (standalone) {
    const why = validationProblem(config);
    if (why) errors.push(new ConfigError(path, why));
  }
  return config;
}

/** The SAN matchers in force (typed ones win over the deprecated field, as in Envoy). */
export function sanMatchersOf(v: ValidationContextConfig): readonly SanMatcher[] {
  return v.typedSanMatchers.length ? v.typedSanMatchers : v.legacySanMatchers;
}

/** What Envoy refuses in a complete validation context (undefined = fine). */
export function validationProblem(v: ValidationContextConfig): string | undefined {
  const hasCa = v.trustedCa !== undefined || v.systemRootCerts;
  if (!hasCa && sanMatchersOf(v).length) return 'SAN-based verification of peer certificates without trusted CA is insecure and not allowed';
  if (!hasCa && v.crl) return 'a CRL without trusted_ca cannot be checked';
  return undefined;
}

/**
 * Envoy's combination of combined_validation_context: the default context
 * merged with the SDS one (proto MergeFrom: set singular fields of the SDS
 * context win, repeated fields are concatenated).
 */
export function mergeValidation(dflt: ValidationContextConfig | undefined, dynamic: ValidationContextConfig | undefined): ValidationContextConfig | undefined {
  if (!dflt) return dynamic;
  if (!dynamic) return dflt;
  const trustedCa = dynamic.trustedCa ?? dflt.trustedCa;
  const crl = dynamic.crl ?? dflt.crl;
  return Object.freeze({
    ...(trustedCa ? { trustedCa } : {}),
    ...(crl ? { crl } : {}),
    systemRootCerts: dflt.systemRootCerts || dynamic.systemRootCerts,
    typedSanMatchers: Object.freeze([...dflt.typedSanMatchers, ...dynamic.typedSanMatchers]),
    legacySanMatchers: Object.freeze([...dflt.legacySanMatchers, ...dynamic.legacySanMatchers]),
    spkiPins: Object.freeze([...dflt.spkiPins, ...dynamic.spkiPins]),
    hashPins: Object.freeze([...dflt.hashPins, ...dynamic.hashPins]),
    trustChainVerification: dynamic.trustChainVerification === 'ACCEPT_UNTRUSTED' ? 'ACCEPT_UNTRUSTED' : dflt.trustChainVerification,
  });
}

const COMMON_FIELDS = new Set([
  'tls_params', 'tls_certificates', 'tls_certificate_sds_secret_configs', 'validation_context',
  'validation_context_sds_secret_config', 'combined_validation_context', 'alpn_protocols',
]);
const COMMON_REFUSED: Record<string, string> = {
  tls_certificate_provider_instance: 'certificate provider instances are not supported; use tls_certificates or SDS',
  tls_certificate_certificate_provider: 'certificate providers are not supported; use tls_certificates or SDS',
  tls_certificate_certificate_provider_instance: 'certificate providers are not supported; use tls_certificates or SDS',
  validation_context_certificate_provider: 'certificate providers are not supported; use validation_context or SDS',
  validation_context_certificate_provider_instance: 'certificate providers are not supported; use validation_context or SDS',
  custom_handshaker: 'custom handshakers are not supported',
  key_log: 'TLS key logging is not supported (it would write session keys to disk)',
  custom_tls_certificate_selector: 'custom certificate selectors are not supported',
};

/** A CommonTlsContext. */
export function parseCommonTlsContext(v: Json | undefined, path: string, opts: TlsParseOptions, errors: ConfigError[]): CommonTlsContextConfig {
  const m = v ?? {};
  checkFields(m, path, COMMON_FIELDS, COMMON_REFUSED, errors);
  const params = parseTlsParams(m['tls_params'], `${path}.tls_params`, errors);
  const certificates: TlsCertificateConfig[] = [];
  list(m['tls_certificates']).forEach((c, i) => {
    const cert = parseTlsCertificate(c, `${path}.tls_certificates[${i}]`, opts, errors);
    if (cert) certificates.push(cert);
  });
  const certificateSds: SdsSecretRef[] = [];
  list(m['tls_certificate_sds_secret_configs']).forEach((c, i) => {
    const ref = parseSdsSecretConfig(c, `${path}.tls_certificate_sds_secret_configs[${i}]`, errors);
    if (ref) certificateSds.push(ref);
  });
  let validation: ValidationContextConfig | undefined;
  let validationSds: SdsSecretRef | undefined;
  const vc = msg(m['validation_context']);
  if (vc) validation = parseValidationContext(vc, `${path}.validation_context`, opts, errors, true);
  if (m['validation_context_sds_secret_config'] !== undefined) {
    validationSds = parseSdsSecretConfig(m['validation_context_sds_secret_config'], `${path}.validation_context_sds_secret_config`, errors);
  }
  const cvc = msg(m['combined_validation_context']);
  if (cvc) {
    const p = `${path}.combined_validation_context`;
    checkFields(cvc, p, new Set(['default_validation_context', 'validation_context_sds_secret_config']), {
      validation_context_certificate_provider: COMMON_REFUSED['validation_context_certificate_provider']!,
      validation_context_certificate_provider_instance: COMMON_REFUSED['validation_context_certificate_provider_instance']!,
    }, errors);
    validation = parseValidationContext(msg(cvc['default_validation_context']) ?? {}, `${p}.default_validation_context`, opts, errors, false);
    if (cvc['validation_context_sds_secret_config'] === undefined) errors.push(new ConfigError(`${p}.validation_context_sds_secret_config`, 'a combined validation context needs validation_context_sds_secret_config'));
    else validationSds = parseSdsSecretConfig(cvc['validation_context_sds_secret_config'], `${p}.validation_context_sds_secret_config`, errors);
  }
  const alpnProtocols = list(m['alpn_protocols']).map((a) => str(a));
  alpnProtocols.forEach((a, i) => {
    if (a.length === 0 || Buffer.byteLength(a) > 255) errors.push(new ConfigError(`${path}.alpn_protocols[${i}]`, 'an ALPN protocol name is 1 to 255 bytes'));
  });
  return Object.freeze({
    params,
    certificates: Object.freeze(certificates),
    certificateSds: Object.freeze(certificateSds),
    ...(validation ? { validation } : {}),
    ...(validationSds ? { validationSds } : {}),
    alpnProtocols: Object.freeze(alpnProtocols),
  });
}

const DOWNSTREAM_FIELDS = new Set([
  'common_tls_context', 'require_client_certificate', 'require_sni', 'disable_stateless_session_resumption',
  'disable_stateful_session_resumption', 'session_timeout', 'full_scan_certs_on_sni_mismatch', 'ocsp_staple_policy',
  'prefer_client_ciphers',
]);
const DOWNSTREAM_REFUSED: Record<string, string> = {
  session_ticket_keys: 'configured session ticket keys are not supported; tickets use per-process keys (or set disable_stateless_session_resumption)',
  session_ticket_keys_sds_secret_config: 'session ticket keys from SDS are not supported; tickets use per-process keys (or set disable_stateless_session_resumption)',
};

/** Parses a DownstreamTlsContext. */
export function parseDownstreamTlsContext(v: Json, path: string, opts: TlsParseOptions = {}): ParseResult<DownstreamTlsContextConfig> {
  const errors: ConfigError[] = [];
  checkFields(v, path, DOWNSTREAM_FIELDS, DOWNSTREAM_REFUSED, errors);
  const common = parseCommonTlsContext(msg(v['common_tls_context']), `${path}.common_tls_context`, opts, errors);
  const requireClientCertificate = v['require_client_certificate'] === true;
  if (list(msg(v['common_tls_context'])?.['tls_certificates']).length === 0 && common.certificateSds.length === 0) {
    errors.push(new ConfigError(`${path}.common_tls_context`, 'a server TLS context needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)'));
  }
  if (requireClientCertificate && !common.validation && !common.validationSds) {
    errors.push(new ConfigError(`${path}.require_client_certificate`, 'requiring a client certificate without a validation context would accept any certificate; add trusted_ca (or certificate pins)'));
  }
  const policy = str(v['ocsp_staple_policy']) || 'LENIENT_STAPLING';
  if (policy !== 'LENIENT_STAPLING') errors.push(new ConfigError(`${path}.ocsp_staple_policy`, `${policy} needs OCSP stapling, which is not supported`));
  const sessionTimeoutMs = attempt(errors, () => durationMs(v['session_timeout'], `${path}.session_timeout`));
  if (sessionTimeoutMs !== undefined && sessionTimeoutMs % 1000 !== 0) errors.push(new ConfigError(`${path}.session_timeout`, 'session_timeout is whole seconds'));
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      kind: 'downstream',
      common,
      requireClientCertificate,
      requireSni: v['require_sni'] === true,
      ...(sessionTimeoutMs !== undefined ? { sessionTimeoutS: sessionTimeoutMs / 1000 } : {}),
      disableStatelessSessionResumption: v['disable_stateless_session_resumption'] === true,
      disableStatefulSessionResumption: v['disable_stateful_session_resumption'] === true,
      fullScanCertsOnSniMismatch: v['full_scan_certs_on_sni_mismatch'] === true,
      preferClientCiphers: v['prefer_client_ciphers'] === true,
    }),
  };
}

const UPSTREAM_FIELDS = new Set(['common_tls_context', 'sni', 'allow_renegotiation', 'max_session_keys', 'enforce_rsa_key_usage', 'auto_host_sni', 'auto_sni_san_validation']);

/** Parses an UpstreamTlsContext. */
export function parseUpstreamTlsContext(v: Json, path: string, opts: TlsParseOptions = {}): ParseResult<UpstreamTlsContextConfig> {
  const errors: ConfigError[] = [];
  checkFields(v, path, UPSTREAM_FIELDS, {}, errors);
  const common = parseCommonTlsContext(msg(v['common_tls_context']), `${path}.common_tls_context`, opts, errors);
  if (v['allow_renegotiation'] === true) errors.push(new ConfigError(`${path}.allow_renegotiation`, 'TLS renegotiation is not supported'));
  // enforce_rsa_key_usage: accepted either way; key usage checks are OpenSSL's.
  const sni = str(v['sni']);
  if (Buffer.byteLength(sni) > 255) errors.push(new ConfigError(`${path}.sni`, 'SNI is at most 255 bytes'));
  if (common.certificates.length + common.certificateSds.length > 1) {
    errors.push(new ConfigError(`${path}.common_tls_context`, 'an upstream TLS context takes at most one client certificate'));
  }
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      kind: 'upstream',
      common,
      ...(sni ? { sni } : {}),
      autoHostSni: v['auto_host_sni'] === true,
      autoSniSanValidation: v['auto_sni_san_validation'] === true,
      maxSessionKeys: int(v['max_session_keys'], 1, `${path}.max_session_keys`),
    }),
  };
}
