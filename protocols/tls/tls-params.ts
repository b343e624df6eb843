/**
 * envoy.extensions.transport_sockets.tls.v3.TlsParameters -> what Node's
 * TLS (OpenSSL) is given: protocol versions, cipher list, ECDH groups and
 * signature algorithms, with Envoy's (BoringSSL's) names translated and
 * checked against the OpenSSL this process runs.
 *
 * Decisions (docs/compatibility.md, TLS rows):
 *  - Default when unspecified (no tls_params, or TLS_AUTO): TLS 1.3 only, for
 *    downstream and upstream alike. This is stricter than Envoy (whose
 *    TLS_AUTO minimum is TLSv1_2): the TLS issue asks for it. A config that
 *    names TLSv1_2 (as Istio's does) gets TLS 1.2 as asked.
 *  - cipher_suites apply to TLS 1.0-1.2 only. TLS 1.3 suites are fixed, as in
 *    BoringSSL (and so in Envoy, which ignores cipher_suites for 1.3):
 *    TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 *    TLS_CHACHA20_POLY1305_SHA256. TLS 1.3 names in cipher_suites are
 *    accepted and have no effect.
 *  - BoringSSL equal-preference groups (`[A|B]`) are flattened in order:
 *    OpenSSL has no such groups. Cipher rule operators and aliases (`-ALL`,
 *    `!aNULL`, `HIGH`) are refused; name each cipher.
 *  - The server prefers its own cipher order (Envoy's default; BoringSSL
 *    servers honour their list).
 */
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { list, msg, str } from '../../xds/translate/proto-values.ts';

/** Node/OpenSSL protocol version names. */
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** Validated TLS parameters, in Node's option vocabulary. */
export interface TlsParamsConfig {
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** TLS 1.0-1.2 ciphers, OpenSSL names, in preference order. */
  readonly cipherSuites: readonly string[];
  /** Node's `ciphers`: the fixed TLS 1.3 suites, then `cipherSuites`. */
  readonly ciphers: string;
  /** Node's `ecdhCurve` (`X25519:P-256`). */
  readonly ecdhCurve: string;
  /** Node's `sigalgs`, when configured. */
  readonly sigalgs?: string;
}

/** The TLS 1.3 suites BoringSSL always offers, in its order. */
export const TLS13_SUITES: readonly string[] = Object.freeze(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

/** Envoy's default cipher list (client and server), flattened. */
export const DEFAULT_CIPHER_SUITES: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
]);

/** Envoy's default ECDH curves. */
export const DEFAULT_ECDH_CURVES: readonly string[] = Object.freeze(['X25519', 'P-256']);

const VERSIONS: Readonly<Record<string, TlsVersion | undefined>> = {
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};
const ORDER: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * BoringSSL cipher names (TLS <= 1.2) and their IANA names. The OpenSSL name
 * is the BoringSSL one for every cipher BoringSSL has.
 */
const BORINGSSL_CIPHERS: readonly (readonly [string, string])[] = [
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  ['ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  ['ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  ['ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  ['ECDHE-PSK-CHACHA20-POLY1305', 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
  ['ECDHE-ECDSA-AES128-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'],
  ['ECDHE-RSA-AES128-SHA', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
  ['ECDHE-PSK-AES128-CBC-SHA', 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA'],
  ['ECDHE-ECDSA-AES256-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
  ['ECDHE-RSA-AES256-SHA', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'],
  ['ECDHE-PSK-AES256-CBC-SHA', 'TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA'],
  ['ECDHE-RSA-AES128-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'],
  ['AES128-GCM-SHA256', 'TLS_RSA_WITH_AES_128_GCM_SHA256'],
  ['AES256-GCM-SHA384', 'TLS_RSA_WITH_AES_256_GCM_SHA384'],
  ['AES128-SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  ['PSK-AES128-CBC-SHA', 'TLS_PSK_WITH_AES_128_CBC_SHA'],
  ['AES256-SHA', 'TLS_RSA_WITH_AES_256_CBC_SHA'],
  ['PSK-AES256-CBC-SHA', 'TLS_PSK_WITH_AES_256_CBC_SHA'],
  ['DES-CBC3-SHA', 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'],
];
const CIPHER_BY_NAME = new Map<string, string>();
for (const [name, iana] of BORINGSSL_CIPHERS) {
  CIPHER_BY_NAME.set(name, name);
  CIPHER_BY_NAME.set(iana, name);
}

/** BoringSSL curve names -> OpenSSL group names. */
const CURVES: Readonly<Record<string, string>> = {
  X25519: 'X25519',
  'P-224': 'P-224',
  'P-256': 'P-256',
  'P-384': 'P-384',
  'P-521': 'P-521',
  X25519MLKEM768: 'X25519MLKEM768',
};

/** BoringSSL signature algorithm names -> OpenSSL names. */
const SIGALGS: Readonly<Record<string, string>> = {
  rsa_pkcs1_sha1: 'RSA+SHA1',
  rsa_pkcs1_sha256: 'rsa_pkcs1_sha256',
  rsa_pkcs1_sha384: 'rsa_pkcs1_sha384',
  rsa_pkcs1_sha512: 'rsa_pkcs1_sha512',
  ecdsa_sha1: 'ECDSA+SHA1',
  ecdsa_secp256r1_sha256: 'ecdsa_secp256r1_sha256',
  ecdsa_secp384r1_sha384: 'ecdsa_secp384r1_sha384',
  ecdsa_secp521r1_sha512: 'ecdsa_secp521r1_sha512',
  rsa_pss_rsae_sha256: 'rsa_pss_rsae_sha256',
  rsa_pss_rsae_sha384: 'rsa_pss_rsae_sha384',
  rsa_pss_rsae_sha512: 'rsa_pss_rsae_sha512',
  ed25519: 'ed25519',
};

const probeCache = new Map<string, string | undefined>();
/** Whether this process's OpenSSL accepts an option value; the reason when not. */
function probe(kind: 'ciphers' | 'ecdhCurve' | 'sigalgs', value: string): string | undefined {
  const key = `${kind}:${value}`;
  if (probeCache.has(key)) return probeCache.get(key);
  let reason: string | undefined;
  try {
    if (kind === 'ciphers') createSecureContext({ ciphers: `${TLS13_SUITES[0]}:${value}` });
    else if (kind === 'ecdhCurve') createSecureContext({ ecdhCurve: value });
    else createSecureContext({ sigalgs: value });
  } catch (e) {
    reason = (e as Error).message;
  }
  probeCache.set(key, reason);
  return reason;
}

function version(v: unknown, path: string, dflt: TlsVersion): TlsVersion {
  const s = str(v);
  if (s === '' || s === 'TLS_AUTO') return dflt;
  const n = VERSIONS[s];
  if (!n) throw new ConfigError(path, `unknown TLS version '${s}'`);
  return n;
}

/** The default parameters (no tls_params): TLS 1.3 only, Envoy's default ciphers and curves. */
export const DEFAULT_TLS_PARAMS: TlsParamsConfig = Object.freeze({
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  cipherSuites: DEFAULT_CIPHER_SUITES,
  ciphers: [...TLS13_SUITES, ...DEFAULT_CIPHER_SUITES].join(':'),
  ecdhCurve: DEFAULT_ECDH_CURVES.join(':'),
});

const KNOWN = new Set(['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves', 'signature_algorithms']);

/** Parses TlsParameters (undefined -> the defaults); pushes every error found. */
export function parseTlsParams(v: unknown, path: string, errors: ConfigError[]): TlsParamsConfig {
  const m = msg(v);
  if (!m) return DEFAULT_TLS_PARAMS;
  const start = errors.length;
  for (const k of Object.keys(m)) {
    if (k === 'compliance_policies') errors.push(new ConfigError(`${path}.${k}`, 'compliance policies (FIPS_202205) are not supported'));
    else if (!KNOWN.has(k)) errors.push(new ConfigError(`${path}.${k}`, 'unsupported TlsParameters field'));
  }
  let minVersion: TlsVersion = 'TLSv1.3';
  let maxVersion: TlsVersion = 'TLSv1.3';
  try {
    minVersion = version(m['tls_minimum_protocol_version'], `${path}.tls_minimum_protocol_version`, 'TLSv1.3');
  } catch (e) {
    errors.push(e as ConfigError);
  }
  try {
    maxVersion = version(m['tls_maximum_protocol_version'], `${path}.tls_maximum_protocol_version`, 'TLSv1.3');
  } catch (e) {
    errors.push(e as ConfigError);
  }
  if (ORDER.indexOf(minVersion) > ORDER.indexOf(maxVersion)) {
    errors.push(new ConfigError(`${path}.tls_minimum_protocol_version`, `minimum TLS version ${minVersion} is above the maximum ${maxVersion}`));
  }

  let cipherSuites: string[] = [...DEFAULT_CIPHER_SUITES];
  if (Array.isArray(m['cipher_suites']) && m['cipher_suites'].length > 0) {
    cipherSuites = [];
    (m['cipher_suites'] as unknown[]).forEach((entry, i) => {
      const p = `${path}.cipher_suites[${i}]`;
      const s = str(entry).trim();
      const group = /^\[(.*)\]$/.exec(s);
      const names = group ? group[1]!.split('|') : [s];
      for (const raw of names) {
        const name = raw.trim();
        if (/^[-!+@]/.test(name) || /^[A-Z0-9]+$/.test(name) && !CIPHER_BY_NAME.has(name)) {
          errors.push(new ConfigError(p, `cipher rule '${name}' is not supported; list cipher names (operators and aliases are refused)`));
          continue;
        }
        if (TLS13_SUITES.includes(name)) continue; // fixed for TLS 1.3, as in BoringSSL
        const openssl = CIPHER_BY_NAME.get(name);
        if (!openssl) {
          errors.push(new ConfigError(p, `unknown cipher '${name}'`));
          continue;
        }
        const why = probe('ciphers', openssl);
        if (why) errors.push(new ConfigError(p, `cipher '${name}' is not available in this build's OpenSSL (${why})`));
        else if (!cipherSuites.includes(openssl)) cipherSuites.push(openssl);
      }
    });
    if (cipherSuites.length === 0 && errors.length === start && ORDER.indexOf(minVersion) < ORDER.indexOf('TLSv1.3')) {
      errors.push(new ConfigError(`${path}.cipher_suites`, 'no TLS 1.2 cipher left while TLS 1.2 or lower is allowed'));
    }
    // Node needs a non-empty TLS 1.2 list; with 1.3 only it is never used.
    if (cipherSuites.length === 0) cipherSuites = [...DEFAULT_CIPHER_SUITES];
  }

  let curves = [...DEFAULT_ECDH_CURVES];
  if (Array.isArray(m['ecdh_curves']) && m['ecdh_curves'].length > 0) {
    curves = [];
    (m['ecdh_curves'] as unknown[]).forEach((c, i) => {
      const p = `${path}.ecdh_curves[${i}]`;
      const name = CURVES[str(c)];
      if (!name) {
        errors.push(new ConfigError(p, `unknown or unsupported ECDH curve '${str(c)}' (X25519, P-224, P-256, P-384, P-521, X25519MLKEM768)`));
        return;
      }
      const why = probe('ecdhCurve', name);
      if (why) errors.push(new ConfigError(p, `ECDH curve '${name}' is not available in this build's OpenSSL (${why})`));
      else curves.push(name);
    });
  }

  let sigalgs: string | undefined;
  const sa = list(m['signature_algorithms']) as unknown[];
  if (sa.length > 0) {
    const names: string[] = [];
    sa.forEach((s, i) => {
      const name = SIGALGS[str(s)];
      if (!name) errors.push(new ConfigError(`${path}.signature_algorithms[${i}]`, `unknown signature algorithm '${str(s)}'`));
      else if (probe('sigalgs', name)) errors.push(new ConfigError(`${path}.signature_algorithms[${i}]`, `signature algorithm '${str(s)}' is not available in this build's OpenSSL`));
      else names.push(name);
    });
    sigalgs = names.join(':');
  }

  // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level; a config
  // that asks for them gets them, as Envoy would.
  const legacy = ORDER.indexOf(minVersion) < ORDER.indexOf('TLSv1.2') ? ':@SECLEVEL=0' : '';
  return Object.freeze({
    minVersion,
    maxVersion,
    cipherSuites: Object.freeze(cipherSuites),
    ciphers: [...TLS13_SUITES, ...cipherSuites].join(':') + legacy,
    ecdhCurve: curves.join(':'),
    ...(sigalgs ? { sigalgs } : {}),
  });
}
