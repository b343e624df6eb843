/**
 * x-forwarded-client-cert formats and decisions (Envoy's
 * mutateXfccRequestHeader), Secret parsing and config_dump redaction.
 */
import { readFileSync } from 'node:fs';
import { fromFixtures } from '../../../sidecar/paths.ts';
import { mutateXfcc, parseXfcc, parseXfccConfig, xfccElement, xfccUrlEncode, type XfccConfig } from '../../../protocols/tls/xfcc.ts';
import { parseSecret, redactSensitive, secretToMaterial, validationFromMaterial } from '../../../protocols/tls/secrets.ts';
import { certificateInfo, rfc2253 } from '../../../protocols/tls/certificate-info.ts';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';

const ca = createDevCa();
const leaf = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/web'], dnsNames: ['web.app.svc', 'web'], commonName: 'web', organization: 'Ex, Inc' });
const peer = certificateInfo(leaf.x509, true);
const conn = { peer, localUriSans: ['spiffe://cluster.local/ns/db/sa/postgres'], peerChainPem: [leaf.certPem] };
const cfg = (forward: XfccConfig['forward'], d: Partial<XfccConfig['details']> = {}): XfccConfig =>
  ({ forward, details: { subject: false, cert: false, chain: false, dns: false, uri: false, ...d } });

describe('x-forwarded-client-cert', () => {
  it('writes By, Hash, Cert, Chain, Subject, URI, DNS in Envoy\'s order and quoting', () => {
    const v = xfccElement(conn, { subject: true, cert: true, chain: true, dns: true, uri: true });
    const enc = xfccUrlEncode(leaf.certPem);
    expect(v).toBe(`By=spiffe://cluster.local/ns/db/sa/postgres;Hash=${peer.sha256};Cert="${enc}";Chain="${enc}";Subject="CN=web,O=Ex\\, Inc";URI=spiffe://cluster.local/ns/app/sa/web;DNS=web.app.svc;DNS=web`);
    expect(enc.startsWith('-----BEGIN%20CERTIFICATE-----%0A')).toBe(true);
    expect(enc).not.toMatch(/[+/= \n]/);
    expect(xfccUrlEncode('a+b/c=d ~*-._')).toBe('a%2Bb%2Fc%3Dd%20%7E*-._');
  });

  it('keeps the Subject and URI keys when empty, as Envoy', () => {
    const bare = certificateInfo(issueDevWorkload(ca, { dnsNames: ['x'] }).x509);
    expect(xfccElement({ peer: bare, localUriSans: [] }, { subject: true, cert: false, chain: false, dns: false, uri: true })).toBe(`Hash=${bare.sha256};Subject="";URI=`);
  });

  it('decides per forward_client_cert_details', () => {
    const hop = 'By=spiffe://a;Hash=00';
    const el = xfccElement(conn, cfg('SANITIZE_SET').details);
    expect(mutateXfcc(hop, conn, cfg('SANITIZE'))).toEqual({ action: 'remove' });
    expect(mutateXfcc(undefined, conn, cfg('SANITIZE'))).toEqual({ action: 'keep' });
    expect(mutateXfcc(hop, conn, cfg('FORWARD_ONLY'))).toEqual({ action: 'keep' });
    expect(mutateXfcc(hop, { localUriSans: [] }, cfg('FORWARD_ONLY'))).toEqual({ action: 'remove' }); // not mTLS
    expect(mutateXfcc(hop, { localUriSans: [] }, cfg('ALWAYS_FORWARD_ONLY'))).toEqual({ action: 'keep' });
    expect(mutateXfcc(hop, conn, cfg('APPEND_FORWARD'))).toEqual({ action: 'set', value: `${hop},${el}` });
    expect(mutateXfcc(undefined, conn, cfg('APPEND_FORWARD'))).toEqual({ action: 'set', value: el });
    expect(mutateXfcc(hop, conn, cfg('SANITIZE_SET'))).toEqual({ action: 'set', value: el });
  });

  it('parses the HCM fields and its own output', () => {
    const r = parseXfccConfig({ forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { subject: true, uri: true } }, 'hcm');
    expect(r).toEqual({ ok: true, config: { forward: 'APPEND_FORWARD', details: { subject: true, cert: false, chain: false, dns: false, uri: true } } });
    expect(parseXfccConfig({}, 'hcm')).toMatchObject({ ok: true, config: { forward: 'SANITIZE' } });
    expect(parseXfccConfig({ set_current_client_cert_details: { bogus: true } }, 'hcm')).toMatchObject({ ok: false });
    const parsed = parseXfcc(`By=spiffe://a;Hash=ab;Subject="CN=x,O=a\\, b";URI=spiffe://c,By=spiffe://d;Hash=cd`);
    expect(parsed).toEqual([[['By', 'spiffe://a'], ['Hash', 'ab'], ['Subject', 'CN=x,O=a\\, b'], ['URI', 'spiffe://c']], [['By', 'spiffe://d'], ['Hash', 'cd']]]);
  });

  it('prints subjects in RFC 2253 as OpenSSL does', () => {
    expect(rfc2253('O=Ex\\, Inc\nCN=a\\"b\\+c\nCN=café')).toBe('CN=caf\\C3\\A9,CN=a\\"b\\+c,O=Ex\\, Inc');
  });
});

describe('Secret', () => {
  const dump = JSON.parse(readFileSync(fromFixtures('istio', 'configdump', 'sidecar-full.json'), 'utf8')) as { configs: Array<Record<string, unknown>> };
  const secrets = (dump.configs.find((c) => String(c['@type']).endsWith('SecretsConfigDump'))!['dynamic_active_secrets'] as Array<{ secret: Record<string, unknown> }>).map((s) => s.secret);

  it('parses Istio\'s SDS secrets default and ROOTCA', () => {
    const [dflt, root] = secrets.map((s) => parseSecret(s, 'secret'));
    // The dump is Envoy's own, redacted: its private key reads '[redacted]' and is refused as a key.
    expect(dflt!.ok ? [] : dflt!.errors.map((e) => e.message)).toEqual(['secret.tls_certificate.private_key: not a PEM private key']);
    const withKey = { ...secrets[0]!, tls_certificate: { ...(secrets[0]!['tls_certificate'] as object), private_key: { inline_string: leaf.keyPem } } };
    const ok = parseSecret(withKey, 'secret');
    expect(ok.ok && ok.config.tlsCertificate!.certificateChain!.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(root!.ok && root!.config.validationContext!.trustedCa!.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const material = root!.ok ? secretToMaterial(root!.config, 'v1') : undefined;
    expect(material!.version).toBe('v1');
    const v = validationFromMaterial(material!);
    expect(v.ok && v.validation!.trustedCa!.equals(material!.trustedCa!)).toBe(true);
  });

  it('refuses secrets it cannot use, with paths', () => {
    const bad = parseSecret({ name: 's', session_ticket_keys: { keys: [] }, tls_certificate: { certificate_chain: { inline_string: leaf.certPem } } }, 'secrets[0]');
    expect(bad.ok ? [] : bad.errors.map((e) => e.message)).toEqual([
      'secrets[0].session_ticket_keys: session ticket key secrets are not supported',
      'secrets[0].tls_certificate.private_key: a TLS certificate needs private_key (or pkcs12)',
    ]);
    expect(parseSecret({ name: '' }, 's')).toMatchObject({ ok: false });
    const generic = parseSecret({ name: 'hmac', generic_secret: { secret: { inline_string: 'k3y' } } }, 's');
    expect(generic.ok && generic.config.genericSecret!.toString()).toBe('k3y');
  });

  it('redacts as Envoy\'s config_dump does', () => {
    // Envoy's own dump of the SDS secret is a fixed point of our redaction
    expect(redactSensitive(secrets[0])).toEqual(secrets[0]);
    expect((secrets[0]!['tls_certificate'] as { private_key: unknown }).private_key).toEqual({ inline_bytes: 'W3JlZGFjdGVkXQ==' });
    const secret = {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      name: 'default',
      tls_certificate: { certificate_chain: { inline_bytes: 'Y2VydA==' }, private_key: { inline_bytes: 'a2V5' }, password: { inline_string: 'pw' } },
    };
    expect(redactSensitive(secret)).toEqual({
      ...secret,
      tls_certificate: { certificate_chain: { inline_bytes: 'Y2VydA==' }, private_key: { inline_bytes: 'W3JlZGFjdGVkXQ==' }, password: { inline_string: '[redacted]' } },
    });
    expect(redactSensitive({ name: 'g', generic_secret: { secret: { filename: '/etc/secret' } } })).toEqual({ name: 'g', generic_secret: { secret: { filename: '[redacted]' } } });
    const listener = { filter_chains: [{ transport_socket: { typed_config: { common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: 'c' }, private_key: { inline_string: 'k' } }] } } } }] };
    expect(JSON.stringify(redactSensitive(listener))).toBe(JSON.stringify({ filter_chains: [{ transport_socket: { typed_config: { common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: 'c' }, private_key: { inline_string: '[redacted]' } }] } } } }] }));
    expect(secret.tls_certificate.private_key.inline_bytes).toBe('a2V5'); // the input is not mutated
  });
});
