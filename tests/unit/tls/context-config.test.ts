/**
 * DownstreamTlsContext / UpstreamTlsContext parsing: defaults, every field
 * family, refusals with their field paths, and the real Istio contexts of
 * ../shared/fixtures/istio/configdump.
 */
import { readFileSync } from 'node:fs';
import { fromFixtures } from '../../../sidecar/paths.ts';
import {
  dnsNameMatch, mergeValidation, parseDownstreamTlsContext, parseUpstreamTlsContext, sanMatchersOf,
  type DownstreamTlsContextConfig, type UpstreamTlsContextConfig,
} from '../../../protocols/tls/context-config.ts';
import { DEFAULT_TLS_PARAMS } from '../../../protocols/tls/tls-params.ts';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';

const ca = createDevCa();
const leaf = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/db/sa/pg'] });
const inline = (s: string) => ({ inline_string: s });
const cert = { certificate_chain: inline(leaf.certPem), private_key: inline(leaf.keyPem) };

function down(v: Record<string, unknown>): DownstreamTlsContextConfig {
  const r = parseDownstreamTlsContext(v, 'tc');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}
function downErrors(v: Record<string, unknown>): string[] {
  const r = parseDownstreamTlsContext(v, 'tc');
  return r.ok ? [] : r.errors.map((e) => e.message);
}
function up(v: Record<string, unknown>): UpstreamTlsContextConfig {
  const r = parseUpstreamTlsContext(v, 'tc');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}
function upErrors(v: Record<string, unknown>): string[] {
  const r = parseUpstreamTlsContext(v, 'tc');
  return r.ok ? [] : r.errors.map((e) => e.message);
}

/** Every object with a given @type in a JSON tree. */
function findTyped(o: unknown, type: string, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(o)) o.forEach((x) => findTyped(x, type, out));
  else if (o && typeof o === 'object') {
    const r = o as Record<string, unknown>;
    if (typeof r['@type'] === 'string' && (r['@type'] as string).endsWith(type)) out.push(r);
    Object.values(r).forEach((x) => findTyped(x, type, out));
  }
  return out;
}

describe('DownstreamTlsContext', () => {
  it('defaults to TLS 1.3 only with modern suites when tls_params is absent', () => {
    const c = down({ common_tls_context: { tls_certificates: [cert] } });
    expect(c.common.params).toBe(DEFAULT_TLS_PARAMS);
    expect(c.common.params.minVersion).toBe('TLSv1.3');
    expect(c.common.params.maxVersion).toBe('TLSv1.3');
    expect(c.common.params.ciphers.startsWith('TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256')).toBe(true);
    expect(c.common.params.ecdhCurve).toBe('X25519:P-256');
    expect(c.requireClientCertificate).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.common.certificates[0]!.certificateChain!.toString()).toBe(leaf.certPem);
  });

  it('TLS_AUTO is TLS 1.3; explicit versions are kept; Envoy names are mapped', () => {
    const c = down({
      common_tls_context: {
        tls_certificates: [cert],
        tls_params: {
          tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLS_AUTO',
          cipher_suites: ['[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256'],
          ecdh_curves: ['P-256', 'X25519'],
          signature_algorithms: ['ecdsa_secp256r1_sha256', 'rsa_pss_rsae_sha256'],
        },
        alpn_protocols: ['h2', 'http/1.1'],
      },
    });
    expect(c.common.params.minVersion).toBe('TLSv1.2');
    expect(c.common.params.maxVersion).toBe('TLSv1.3');
    expect(c.common.params.cipherSuites).toEqual(['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES256-GCM-SHA384']);
    expect(c.common.params.ecdhCurve).toBe('P-256:X25519');
    expect(c.common.params.sigalgs).toBe('ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256');
    expect(c.common.alpnProtocols).toEqual(['h2', 'http/1.1']);
  });

  it('reads session and SNI options', () => {
    const c = down({
      common_tls_context: { tls_certificates: [cert] },
      require_sni: true, session_timeout: '120s', disable_stateless_session_resumption: true, full_scan_certs_on_sni_mismatch: true,
    });
    expect(c.requireSni).toBe(true);
    expect(c.sessionTimeoutS).toBe(120);
    expect(c.disableStatelessSessionResumption).toBe(true);
    expect(c.fullScanCertsOnSniMismatch).toBe(true);
  });

  it('reads DataSource files through the injected reader, and refuses them without one', () => {
    const files: Record<string, string> = { '/etc/certs/cert.pem': leaf.certPem, '/etc/certs/key.pem': leaf.keyPem };
    const v = { common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/etc/certs/cert.pem' }, private_key: { filename: '/etc/certs/key.pem' } }] } };
    const r = parseDownstreamTlsContext(v, 'tc', { readFile: (p) => { if (!files[p]) throw new Error('ENOENT'); return files[p]!; } });
    expect(r.ok && r.config.common.certificates[0]!.privateKey!.toString()).toBe(leaf.keyPem);
    expect(downErrors(v)).toEqual([
      "tc.common_tls_context.tls_certificates[0].certificate_chain.filename: '/etc/certs/cert.pem': DataSource files are not read here; use inline_string or inline_bytes",
      "tc.common_tls_context.tls_certificates[0].private_key.filename: '/etc/certs/key.pem': DataSource files are not read here; use inline_string or inline_bytes",
    ]);
    const missing = parseDownstreamTlsContext({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/nope' }, private_key: inline(leaf.keyPem) }] } }, 'tc', { readFile: () => { throw new Error('ENOENT: no such file'); } });
    expect(missing.ok ? [] : missing.errors.map((e) => e.message)).toEqual(["tc.common_tls_context.tls_certificates[0].certificate_chain.filename: cannot read '/nope': ENOENT: no such file"]);
  });

  it('accepts inline_bytes', () => {
    const c = down({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_bytes: Buffer.from(leaf.certPem).toString('base64') }, private_key: { inline_bytes: Buffer.from(leaf.keyPem).toString('base64') } }] } });
    expect(c.common.certificates[0]!.certificateChain!.toString()).toBe(leaf.certPem);
  });

  it('reads a validation context: CA, typed and deprecated SAN matchers, pins, trust mode', () => {
    const c = down({
      common_tls_context: {
        tls_certificates: [cert],
        validation_context: {
          trusted_ca: inline(ca.caPem),
          match_typed_subject_alt_names: [
            { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/db/' } },
            { san_type: 'DNS', matcher: { exact: 'api.example.com' } },
            { san_type: 'EMAIL', matcher: { suffix: '@example.com', ignore_case: true } },
            { san_type: 'IP_ADDRESS', matcher: { safe_regex: { regex: '10\\..*' } } },
          ],
          match_subject_alt_names: [{ exact: 'ignored' }],
          verify_certificate_spki: ['NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A='],
          verify_certificate_hash: ['DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1A', 'df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1b'],
          trust_chain_verification: 'ACCEPT_UNTRUSTED',
        },
      },
      require_client_certificate: true,
    });
    const v = c.common.validation!;
    expect(v.trustedCa!.toString()).toBe(ca.caPem);
    expect(v.hashPins).toEqual(['df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a', 'df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1b']);
    expect(v.spkiPins).toEqual(['NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A=']);
    expect(v.trustChainVerification).toBe('ACCEPT_UNTRUSTED');
    // typed matchers win: the deprecated field is ignored (Envoy's rule)
    const m = sanMatchersOf(v);
    expect(m.map((x) => x.sanType)).toEqual(['URI', 'DNS', 'EMAIL', 'IP_ADDRESS']);
    expect(m[0]!.match('spiffe://cluster.local/ns/db/sa/pg')).toBe(true);
    expect(m[1]!.match('*.example.com')).toBe(true); // exact DNS matchers follow DNS wildcard rules
    expect(m[1]!.match('*.other.com')).toBe(false);
    expect(m[2]!.match('Ops@EXAMPLE.com')).toBe(true);
    expect(m[3]!.match('10.1.2.3')).toBe(true);
  });

  it('expands the deprecated match_subject_alt_names to every SAN type', () => {
    const c = down({ common_tls_context: { tls_certificates: [cert], validation_context: { trusted_ca: inline(ca.caPem), match_subject_alt_names: [{ exact: 'spiffe://a' }] } } });
    expect(sanMatchersOf(c.common.validation!).map((m) => m.sanType)).toEqual(['DNS', 'URI', 'EMAIL', 'IP_ADDRESS']);
  });

  it('refuses security-relevant fields it cannot honour, each with its path', () => {
    const errors = downErrors({
      common_tls_context: {
        tls_certificates: [{ ...cert, private_key_provider: { provider_name: 'cryptomb' }, ocsp_staple: inline('x') }],
        tls_certificate_provider_instance: { instance_name: 'x' },
        key_log: { path: '/tmp/keys' },
        custom_handshaker: { name: 'x' },
        validation_context: {
          trusted_ca: inline(ca.caPem),
          custom_validator_config: { name: 'envoy.tls.cert_validator.spiffe' },
          allow_expired_certificate: true,
          only_verify_leaf_cert_crl: true,
          max_verify_depth: 2,
          match_typed_subject_alt_names: [{ san_type: 'OTHER_NAME', matcher: { exact: 'x' }, oid: '1.2.3' }],
        },
      },
      session_ticket_keys: { keys: [inline('k')] },
      ocsp_staple_policy: 'MUST_STAPLE',
    });
    const paths = errors.map((e) => e.slice(0, e.indexOf(': ')));
    expect(paths).toEqual(expect.arrayContaining([
      'tc.session_ticket_keys',
      'tc.ocsp_staple_policy',
      'tc.common_tls_context.tls_certificate_provider_instance',
      'tc.common_tls_context.key_log',
      'tc.common_tls_context.custom_handshaker',
      'tc.common_tls_context.tls_certificates[0].private_key_provider',
      'tc.common_tls_context.tls_certificates[0].ocsp_staple',
      'tc.common_tls_context.validation_context.custom_validator_config',
      'tc.common_tls_context.validation_context.allow_expired_certificate',
      'tc.common_tls_context.validation_context.only_verify_leaf_cert_crl',
      'tc.common_tls_context.validation_context.max_verify_depth',
      'tc.common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type',
    ]));
    expect(errors).toContain('tc.common_tls_context.key_log: TLS key logging is not supported (it would write session keys to disk)');
    expect(errors.find((e) => e.includes('allow_expired_certificate'))).toMatch(/expired certificates is not supported/);
  });

  it('refuses bad values with their paths', () => {
    const errors = downErrors({
      common_tls_context: {
        tls_certificates: [{ certificate_chain: inline('not pem') }],
        tls_params: {
          tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_2',
          cipher_suites: ['ECDHE-RSA-AES128-GCM-SHA256', 'NOT-A-CIPHER', '-ALL'],
          ecdh_curves: ['P-256', 'brainpoolP256r1'],
          signature_algorithms: ['rsa_md5'],
        },
        validation_context: {
          verify_certificate_spki: ['not-base64!'],
          verify_certificate_hash: ['abcd', 'DF:6F'],
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { safe_regex: { regex: '(' } } }],
        },
        alpn_protocols: [''],
      },
      session_timeout: '1.5s',
    });
    expect(errors).toEqual(expect.arrayContaining([
      'tc.common_tls_context.tls_params.tls_minimum_protocol_version: minimum TLS version TLSv1.3 is above the maximum TLSv1.2',
      "tc.common_tls_context.tls_params.cipher_suites[1]: unknown cipher 'NOT-A-CIPHER'",
      "tc.common_tls_context.tls_params.cipher_suites[2]: cipher rule '-ALL' is not supported; list cipher names (operators and aliases are refused)",
      "tc.common_tls_context.tls_params.ecdh_curves[1]: unknown or unsupported ECDH curve 'brainpoolP256r1' (X25519, P-224, P-256, P-384, P-521, X25519MLKEM768)",
      "tc.common_tls_context.tls_params.signature_algorithms[0]: unknown signature algorithm 'rsa_md5'",
      'tc.common_tls_context.tls_certificates[0].certificate_chain: not a PEM certificate chain',
      'tc.common_tls_context.tls_certificates[0].private_key: a TLS certificate needs private_key (or pkcs12)',
      "tc.common_tls_context.validation_context.verify_certificate_spki[0]: 'not-base64!' is not a base64 SHA-256 hash",
      "tc.common_tls_context.validation_context.verify_certificate_hash[0]: 'abcd' is not a hex SHA-256 hash (with or without colons)",
      "tc.common_tls_context.validation_context.verify_certificate_hash[1]: 'DF:6F' is not a hex SHA-256 hash (with or without colons)",
      'tc.common_tls_context.alpn_protocols[0]: an ALPN protocol name is 1 to 255 bytes',
      'tc.session_timeout: session_timeout is whole seconds',
    ]));
    expect(errors.some((e) => e.startsWith('tc.common_tls_context.validation_context.match_typed_subject_alt_names[0].matcher.safe_regex.regex: invalid regex'))).toBe(true);
  });

  it('refuses SAN matching without a trusted CA, a server without a certificate, and client certificates without validation', () => {
    expect(downErrors({ common_tls_context: { tls_certificates: [cert], validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://a' } }] } } }))
      .toEqual(['tc.common_tls_context.validation_context: SAN-based verification of peer certificates without trusted CA is insecure and not allowed']);
    expect(downErrors({ common_tls_context: {} })).toEqual(['tc.common_tls_context: a server TLS context needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)']);
    expect(downErrors({ common_tls_context: { tls_certificates: [cert] }, require_client_certificate: true }))
      .toEqual(['tc.require_client_certificate: requiring a client certificate without a validation context would accept any certificate; add trusted_ca (or certificate pins)']);
    // pins alone need no CA (certificate pinning)
    expect(downErrors({ common_tls_context: { tls_certificates: [cert], validation_context: { verify_certificate_hash: ['df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a'] } }, require_client_certificate: true })).toEqual([]);
  });

  it('refuses unknown fields rather than ignoring them', () => {
    expect(downErrors({ common_tls_context: { tls_certificates: [cert], something_new: true } })).toEqual(['tc.common_tls_context.something_new: unsupported field']);
  });
});

describe('UpstreamTlsContext', () => {
  it('reads sni, session keys and the client certificate', () => {
    const c = up({ common_tls_context: { tls_certificates: [cert] }, sni: 'db.example.com', max_session_keys: 4 });
    expect(c.sni).toBe('db.example.com');
    expect(c.maxSessionKeys).toBe(4);
    expect(up({}).maxSessionKeys).toBe(1);
    expect(up({}).common.params.minVersion).toBe('TLSv1.3');
  });

  it('refuses renegotiation and several client certificates', () => {
    expect(upErrors({ allow_renegotiation: true })).toEqual(['tc.allow_renegotiation: TLS renegotiation is not supported']);
    expect(upErrors({ allow_renegotiation: false })).toEqual([]);
    expect(upErrors({ common_tls_context: { tls_certificates: [cert, cert] } })).toEqual(['tc.common_tls_context: an upstream TLS context takes at most one client certificate']);
  });
});

describe('Istio configdump TLS contexts', () => {
  const listeners = JSON.parse(readFileSync(fromFixtures('istio', 'configdump', 'sidecar-listeners.yaml'), 'utf8')) as unknown;
  const clusters = JSON.parse(readFileSync(fromFixtures('istio', 'configdump', 'routes-clusters.json'), 'utf8')) as unknown;

  it('parses every inbound DownstreamTlsContext (SDS default + combined ROOTCA, mTLS required)', () => {
    const contexts = findTyped(listeners, 'tls.v3.DownstreamTlsContext');
    expect(contexts.length).toBeGreaterThanOrEqual(4);
    for (const [i, ctx] of contexts.entries()) {
      const r = parseDownstreamTlsContext(ctx, `ctx[${i}]`);
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
      const c = r.config;
      expect(c.requireClientCertificate).toBe(true);
      expect(c.common.certificateSds.map((s) => s.name)).toEqual(['default']);
      expect(c.common.certificateSds[0]!.sdsConfig!['api_config_source']).toMatchObject({ api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] });
      expect(c.common.validationSds!.name).toBe('ROOTCA');
      // Istio's default inbound policy allows TLS 1.2 with its cipher list; one listener is TLS 1.3 only
      expect(['TLSv1.2', 'TLSv1.3']).toContain(c.common.params.minVersion);
      expect(c.common.params.maxVersion).toBe('TLSv1.3');
      expect(c.common.params.cipherSuites).toContain('ECDHE-ECDSA-AES256-GCM-SHA384');
      const m = sanMatchersOf(c.common.validation!);
      expect(m.some((x) => x.sanType === 'URI' && x.match('spiffe://cluster.local/ns/default/sa/x'))).toBe(true);
      expect(c.common.alpnProtocols).toContain('h2');
    }
  });

  it('parses the UpstreamTlsContext of the transport_socket_matches', () => {
    const [ctx] = findTyped(clusters, 'tls.v3.UpstreamTlsContext');
    const c = up(ctx!);
    expect(c.sni).toBe('outbound_.9080_.v1_.productpage.default.svc.cluster.local');
    expect(c.common.alpnProtocols).toEqual(['istio-peer-exchange', 'istio']);
    const m = sanMatchersOf(c.common.validation!);
    // the deprecated field applies to every SAN type; two matchers -> 8
    expect(m).toHaveLength(8);
    expect(m.filter((x) => x.sanType === 'URI' && x.match('spiffe://cluster.local/ns/default/sa/bookinfo-productpage'))).toHaveLength(1);
    expect(m.some((x) => x.match('spiffe://cluster.local/ns/default/sa/other'))).toBe(false);
  });
});

describe('helpers', () => {
  it('dnsNameMatch follows Envoy: one label per wildcard, case-insensitive', () => {
    expect(dnsNameMatch('api.example.com', '*.example.com')).toBe(true);
    expect(dnsNameMatch('API.Example.com', 'api.example.COM')).toBe(true);
    expect(dnsNameMatch('a.b.example.com', '*.example.com')).toBe(false);
    expect(dnsNameMatch('example.com', '*.example.com')).toBe(false);
  });

  it('mergeValidation: SDS singular fields win, lists concatenate, ACCEPT_UNTRUSTED sticks', () => {
    const a = down({ common_tls_context: { tls_certificates: [cert], validation_context: { trusted_ca: inline(ca.caPem), verify_certificate_hash: ['df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a'] } } }).common.validation!;
    const other = createDevCa({ trustDomain: 'other.local' });
    const b = down({ common_tls_context: { tls_certificates: [cert], validation_context: { trusted_ca: inline(other.caPem), verify_certificate_hash: ['df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1b'], trust_chain_verification: 'ACCEPT_UNTRUSTED' } } }).common.validation!;
    const m = mergeValidation(a, b)!;
    expect(m.trustedCa!.toString()).toBe(other.caPem);
    expect(m.hashPins).toHaveLength(2);
    expect(m.trustChainVerification).toBe('ACCEPT_UNTRUSTED');
    expect(mergeValidation(undefined, b)).toBe(b);
  });
});
