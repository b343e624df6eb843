/**
 * envoy.extensions.transport_sockets.tls.v3.Secret (static_resources.secrets
 * and SDS resources) -> the material a TLS context needs, and the redaction
 * Envoy applies to secrets in /config_dump.
 *
 * Redaction follows Envoy's MessageUtil::redact: inside a field annotated
 * `(udpa.annotations.sensitive)` (TlsCertificate.private_key, password,
 * pkcs12; GenericSecret.secret(s); TlsSessionTicketKeys.keys) every string
 * and bytes value becomes `[redacted]` (bytes: its UTF-8, so `inline_bytes`
 * reads `W3JlZGFjdGVkXQ==` in JSON) and every other scalar is cleared; a
 * `filename` is redacted too.
 */
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { SecretMaterial } from '../../sidecar/contracts/transport-socket.ts';
import { msg, str, type Json } from '../../xds/translate/proto-values.ts';
import { dataSource, parseTlsCertificate, parseValidationContext, type TlsCertificateConfig, type TlsParseOptions, type ValidationContextConfig } from './context-config.ts';

/** A parsed Secret: exactly one of its kinds. */
export interface SecretConfig {
  readonly name: string;
  readonly tlsCertificate?: TlsCertificateConfig;
  readonly validationContext?: ValidationContextConfig;
  /** The validation_context message as given (SecretMaterial keeps it for SAN matchers and pins). */
  readonly validationContextJson?: Readonly<Json>;
  readonly genericSecret?: Buffer;
}

/** Parses a Secret resource (`path` is its position, e.g. `static_resources.secrets[0]`). */
export function parseSecret(v: Json, path: string, opts: TlsParseOptions = {}): ParseResult<SecretConfig> {
  const errors: ConfigError[] = [];
  const name = str(v['name']);
  if (!name) errors.push(new ConfigError(`${path}.name`, 'a secret needs a name'));
  for (const k of Object.keys(v)) {
    if (k === '@type' || k === 'name' || k === 'tls_certificate' || k === 'validation_context' || k === 'generic_secret') continue;
    if (k === 'session_ticket_keys') errors.push(new ConfigError(`${path}.${k}`, 'session ticket key secrets are not supported'));
    else errors.push(new ConfigError(`${path}.${k}`, 'unsupported field'));
  }
  let tlsCertificate: TlsCertificateConfig | undefined;
  let validationContext: ValidationContextConfig | undefined;
  let genericSecret: Buffer | undefined;
  const tc = msg(v['tls_certificate']);
  if (tc) tlsCertificate = parseTlsCertificate(tc, `${path}.tls_certificate`, opts, errors);
  const vc = msg(v['validation_context']);
  // Not standalone: Istio's ROOTCA is merged with a default context that holds the SAN matchers.
  if (vc) validationContext = parseValidationContext(vc, `${path}.validation_context`, opts, errors, false);
  const gs = msg(v['generic_secret']);
  if (gs) {
    if (gs['secrets'] !== undefined) errors.push(new ConfigError(`${path}.generic_secret.secrets`, 'named generic secrets are not supported; use secret'));
    try {
      genericSecret = dataSource(gs['secret'], `${path}.generic_secret.secret`, opts) ?? Buffer.alloc(0);
    } catch (e) {
      errors.push(e as ConfigError);
    }
  }
  if (!tc && !vc && !gs && errors.length === 0) errors.push(new ConfigError(path, 'a secret needs tls_certificate, validation_context or generic_secret'));
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      name,
      ...(tlsCertificate ? { tlsCertificate } : {}),
      ...(validationContext ? { validationContext, validationContextJson: Object.freeze(vc!) } : {}),
      ...(genericSecret ? { genericSecret } : {}),
    }),
  };
}

/** A parsed Secret as the secret store's SecretMaterial. */
export function secretToMaterial(s: SecretConfig, version: string): SecretMaterial {
  const cert = s.tlsCertificate;
  const vc = s.validationContext;
  return Object.freeze({
    name: s.name,
    version,
    ...(cert?.certificateChain ? { certificateChain: cert.certificateChain } : {}),
    ...(cert?.privateKey ? { privateKey: cert.privateKey } : {}),
    ...(vc?.trustedCa ? { trustedCa: vc.trustedCa } : {}),
    ...(vc?.crl ? { crl: vc.crl } : {}),
    ...(s.validationContextJson ? { validationContext: s.validationContextJson } : {}),
    ...(s.genericSecret ? { generic: s.genericSecret } : {}),
  });
}

/** The TlsCertificate of a SecretMaterial (undefined when it holds none). */
export function certificateFromMaterial(m: SecretMaterial): TlsCertificateConfig | undefined {
  if (!m.certificateChain || !m.privateKey) return undefined;
  return Object.freeze({ certificateChain: m.certificateChain, privateKey: m.privateKey });
}

/**
 * The CertificateValidationContext of a SecretMaterial: its message when kept
 * (SAN matchers, pins), else its trusted CA and CRL. Throws ConfigErrors-like
 * errors as a list.
 */
export function validationFromMaterial(m: SecretMaterial, path = `secret '${m.name}'`): { ok: true; validation?: ValidationContextConfig } | { ok: false; errors: ConfigError[] } {
  if (m.validationContext) {
    const errors: ConfigError[] = [];
    // Files were read when the secret was parsed: use those bytes, not the paths.
    const vc: Json = { ...(m.validationContext as Json) };
    if (m.trustedCa) vc['trusted_ca'] = { inline_bytes: m.trustedCa.toString('base64') };
    if (m.crl) vc['crl'] = { inline_bytes: m.crl.toString('base64') };
    const v = parseValidationContext(vc, path, {}, errors, false);
    return errors.length ? { ok: false, errors } : { ok: true, validation: v };
  }
  if (!m.trustedCa) return { ok: true };
  const errors: ConfigError[] = [];
  const v = parseValidationContext({
    trusted_ca: { inline_bytes: m.trustedCa.toString('base64') },
    ...(m.crl ? { crl: { inline_bytes: m.crl.toString('base64') } } : {}),
  }, path, {}, errors, false);
  return errors.length ? { ok: false, errors } : { ok: true, validation: v };
}

/** What Envoy writes for a redacted string/bytes value. */
export const REDACTED = '[redacted]';
const REDACTED_BYTES = Buffer.from(REDACTED).toString('base64');

/** Bytes-typed fields that may sit under a sensitive field (DataSource.inline_bytes). */
const BYTES_FIELDS: ReadonlySet<string> = new Set(['inline_bytes']);

/** Sensitive fields by the message (named by the field that holds it) they belong to. */
const SENSITIVE: Readonly<Record<string, ReadonlySet<string>>> = {
  tls_certificate: new Set(['private_key', 'password', 'pkcs12']),
  tls_certificates: new Set(['private_key', 'password', 'pkcs12']),
  generic_secret: new Set(['secret', 'secrets']),
  session_ticket_keys: new Set(['keys']),
  private_key_provider: new Set(['typed_config']),
};

function redactAll(v: unknown, key: string): unknown {
  if (typeof v === 'string') return BYTES_FIELDS.has(key) ? REDACTED_BYTES : REDACTED;
  if (Array.isArray(v)) return v.map((x) => redactAll(x, key));
  if (typeof v === 'object' && v !== null) {
    const out: Json = {};
    for (const [k, x] of Object.entries(v as Json)) {
      if (k === '@type') {
        out[k] = x;
        continue;
      }
      const r = redactAll(x, k);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  return undefined; // numbers, bools: cleared
}

function walk(v: unknown, holder: string): unknown {
  if (Array.isArray(v)) return v.map((x) => walk(x, holder));
  if (typeof v !== 'object' || v === null) return v;
  const sensitive = SENSITIVE[holder];
  const out: Json = {};
  for (const [k, x] of Object.entries(v as Json)) {
    if (sensitive?.has(k)) {
      const r = redactAll(x, k);
      if (r !== undefined) out[k] = r;
    } else {
      out[k] = walk(x, k);
    }
  }
  return out;
}

/**
 * A copy of any config JSON (a Secret, a TLS context, a whole listener or
 * config dump) with its sensitive fields redacted as Envoy's /config_dump
 * shows them.
 */
export function redactSensitive<T>(json: T): T {
  return walk(json, '') as T;
}
