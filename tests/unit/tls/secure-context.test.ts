/**
 * Secure contexts on real sockets: a node:tls server built from a
 * DownstreamTlsContext and clients built from UpstreamTlsContexts (or plain
 * tls.connect), with the post-handshake verification deciding.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import {
  parseDownstreamTlsContext, parseUpstreamTlsContext, type DownstreamTlsContextConfig, type UpstreamTlsContextConfig,
} from '../../../protocols/tls/context-config.ts';
import {
  certificateHash, connectionInfo, createDownstreamTls, createUpstreamTls, peerPrincipal, resolveMaterial, spkiPin,
  type DownstreamTls, type PeerVerdict,
} from '../../../protocols/tls/secure-context.ts';
import { createDevCa, createDevCrl, issueDevWorkload, type DevCertificate } from '../../../protocols/tls/dev-pki.ts';
import { parseSecret, secretToMaterial } from '../../../protocols/tls/secrets.ts';
import type { SecretMaterial } from '../../../sidecar/contracts/transport-socket.ts';
import type { TlsConnectionInfo } from '../../../sidecar/contracts/tls.ts';

const ca = createDevCa();
const otherCa = createDevCa({ trustDomain: 'other.local' });
const server = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/db/sa/postgres'], dnsNames: ['pg.db.svc', 'localhost'] });
const client = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/web'], dnsNames: ['web.app.svc'] });
const inline = (s: string) => ({ inline_string: s });
const certOf = (c: DevCertificate) => ({ certificate_chain: inline(c.chainPem), private_key: inline(c.keyPem) });

function downstream(v: Record<string, unknown>): DownstreamTlsContextConfig {
  const r = parseDownstreamTlsContext(v, 'tc');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}
function upstream(v: Record<string, unknown>): UpstreamTlsContextConfig {
  const r = parseUpstreamTlsContext(v, 'tc');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}
function build(ctx: DownstreamTlsContextConfig, secrets?: Map<string, SecretMaterial>): DownstreamTls {
  const m = resolveMaterial(ctx.common, secrets);
  if (!m.ok) throw new Error(`material: ${m.missing.join(',')} ${m.errors.map((e) => e.message).join('\n')}`);
  const d = createDownstreamTls(ctx, m.material);
  if (!d.ok) throw new Error(d.errors.map((e) => e.message).join('\n'));
  return d.config;
}

interface Outcome {
  /** The server's verdict and facts (undefined when the handshake itself failed). */
  server?: { verdict: PeerVerdict; info: TlsConnectionInfo; principal?: string };
  /** The client side: handshake error, or the connection facts. */
  clientError?: string;
  clientInfo?: TlsConnectionInfo;
  clientSocket?: TLSSocket;
}

const servers: tls.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** Serves one TLS server from `d`; each connection is verified and answered with "ok". */
async function serve(d: DownstreamTls): Promise<{ port: number; outcomes: Outcome['server'][] }> {
  const outcomes: Outcome['server'][] = [];
  const s = tls.createServer(d.serverOptions, (sock) => {
    const verdict = d.verify(sock);
    const info = connectionInfo(sock, { keepPem: true });
    outcomes.push({ verdict, info, principal: peerPrincipal(info.peer) });
    if (verdict.ok) sock.end('ok');
    else sock.destroy();
  });
  s.on('tlsClientError', () => undefined);
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: (s.address() as AddressInfo).port, outcomes };
}

/** Connects, waits for the handshake and the server's answer (or the close); `verify` runs at secureConnect. */
async function connect(port: number, opts: tls.ConnectionOptions, verify?: (s: TLSSocket) => PeerVerdict): Promise<{ error?: string; info?: TlsConnectionInfo; data: string; verdict?: PeerVerdict }> {
  const sock = tls.connect({ host: '127.0.0.1', port, ...opts });
  let data = '';
  let error: string | undefined;
  let info: TlsConnectionInfo | undefined;
  let verdict: PeerVerdict | undefined;
  sock.on('secureConnect', () => {
    info = connectionInfo(sock);
    if (verify) verdict = verify(sock);
  });
  sock.on('data', (c: Buffer) => (data += c));
  sock.on('error', (e) => (error = (e as NodeJS.ErrnoException).code ?? e.message));
  await new Promise((r) => sock.on('close', r));
  return { error, info, data, verdict };
}

const clientOpts = (c?: DevCertificate, extra: tls.ConnectionOptions = {}): tls.ConnectionOptions => ({
  ca: ca.caPem, servername: 'pg.db.svc', ...(c ? { cert: c.chainPem, key: c.keyPem } : {}), ...extra,
});

const mtls = (validation: Record<string, unknown>, more: Record<string, unknown> = {}) => downstream({
  common_tls_context: { tls_certificates: [certOf(server)], validation_context: { trusted_ca: inline(ca.caPem), ...validation } },
  require_client_certificate: true,
  ...more,
});

describe('downstream TLS on a real socket', () => {
  it('negotiates TLS 1.3 by default and refuses a TLS 1.2 client', async () => {
    const { port } = await serve(build(downstream({ common_tls_context: { tls_certificates: [certOf(server)], alpn_protocols: ['h2', 'http/1.1'] } })));
    const ok = await connect(port, clientOpts(undefined, { ALPNProtocols: ['http/1.1'] }));
    expect(ok.data).toBe('ok');
    expect(ok.info!.version).toBe('TLSv1.3');
    expect(ok.info!.cipher).toMatch(/^TLS_/);
    expect(ok.info!.alpn).toBe('http/1.1');
    expect(ok.info!.peer!.uriSans).toEqual(['spiffe://cluster.local/ns/db/sa/postgres']);
    const old = await connect(port, clientOpts(undefined, { maxVersion: 'TLSv1.2' }));
    expect(old.data).toBe('');
    expect(old.error).toMatch(/ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|EPROTO|ECONNRESET/);
  });

  it('allows TLS 1.2 with the configured cipher when asked (Istio params)', async () => {
    const { port } = await serve(build(downstream({
      common_tls_context: { tls_certificates: [certOf(server)], tls_params: { tls_minimum_protocol_version: 'TLSv1_2', cipher_suites: ['ECDHE-ECDSA-AES256-GCM-SHA384'] } },
    })));
    const r = await connect(port, clientOpts(undefined, { maxVersion: 'TLSv1.2' }));
    expect(r.data).toBe('ok');
    expect(r.info!.version).toBe('TLSv1.2');
    expect(r.info!.cipher).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
  });

  it('mTLS: a client certificate from the trusted CA is accepted, with its principal', async () => {
    const { port, outcomes } = await serve(build(mtls({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] })));
    const r = await connect(port, clientOpts(client));
    expect(r.data).toBe('ok');
    const s = outcomes[0]!;
    expect(s.verdict).toEqual({ ok: true });
    expect(s.principal).toBe('spiffe://cluster.local/ns/app/sa/web');
    expect(s.info.peer!.sha256).toBe(certificateHash(client.x509));
    expect(s.info.peer!.pem).toBe(client.x509.toString());
    expect(s.info.local!.uriSans).toEqual(['spiffe://cluster.local/ns/db/sa/postgres']);
    expect(s.info.version).toBe('TLSv1.3');
    expect(s.info.sni).toBe('pg.db.svc');
  });

  it('mTLS: no client certificate, a certificate from another CA, a SAN mismatch, an expired certificate are refused with reasons', async () => {
    const { port, outcomes } = await serve(build(mtls({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/app/sa/web' } }] })));
    const foreign = issueDevWorkload(otherCa, { uris: ['spiffe://cluster.local/ns/app/sa/web'] });
    const wrongSan = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/intruder'] });
    const expired = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/web'], expired: true });
    for (const c of [undefined, foreign, wrongSan, expired]) {
      const r = await connect(port, clientOpts(c));
      expect(r.data).toBe('');
    }
    const v = outcomes.map((o) => o!.verdict);
    expect(v[0]).toEqual({ ok: false, reason: 'peer did not present a certificate', stat: 'fail_verify_no_cert' });
    expect(v[1]).toMatchObject({ ok: false, stat: 'fail_verify_error' });
    expect(!v[1]!.ok && v[1]!.reason).toMatch(/^peer certificate is not signed by a trusted CA \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
    expect(v[2]).toEqual({ ok: false, stat: 'fail_verify_san', reason: "peer certificate SANs (URI:spiffe://cluster.local/ns/app/sa/intruder) match none of URI exact 'spiffe://cluster.local/ns/app/sa/web'" });
    expect(v[3]).toEqual({ ok: false, stat: 'fail_verify_error', reason: `peer certificate expired on ${expired.x509.validToDate.toISOString()} (CERT_HAS_EXPIRED)` });
  });

  it('without require_client_certificate a client without a certificate passes, a bad one does not', async () => {
    const { port, outcomes } = await serve(build(mtls({}, { require_client_certificate: false })));
    expect((await connect(port, clientOpts())).data).toBe('ok');
    expect((await connect(port, clientOpts(issueDevWorkload(otherCa, { uris: ['spiffe://x/y'] })))).data).toBe('');
    expect(outcomes[1]!.verdict).toMatchObject({ ok: false, stat: 'fail_verify_error' });
  });

  it('ACCEPT_UNTRUSTED accepts another CA but still applies SAN matchers', async () => {
    const { port, outcomes } = await serve(build(mtls({
      trust_chain_verification: 'ACCEPT_UNTRUSTED',
      match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'web.app.svc' } }],
    })));
    expect((await connect(port, clientOpts(issueDevWorkload(otherCa, { dnsNames: ['web.app.svc'] })))).data).toBe('ok');
    expect((await connect(port, clientOpts(issueDevWorkload(otherCa, { dnsNames: ['evil.app.svc'] })))).data).toBe('');
    expect(outcomes[1]!.verdict).toMatchObject({ ok: false, stat: 'fail_verify_san' });
  });

  it('SPKI and certificate-hash pins (hex with colons) accept the pinned client only', async () => {
    const pinnedKey = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/a'], keyLabel: 'pinned' });
    const sameKeyReissued = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/a'], keyLabel: 'pinned' });
    const colonHash = certificateHash(client.x509).toUpperCase().match(/../g)!.join(':');
    const { port, outcomes } = await serve(build(mtls({ verify_certificate_spki: [spkiPin(pinnedKey.x509)], verify_certificate_hash: [colonHash] })));
    expect((await connect(port, clientOpts(sameKeyReissued))).data).toBe('ok'); // SPKI survives reissue
    expect((await connect(port, clientOpts(client))).data).toBe('ok'); // hash pin
    expect((await connect(port, clientOpts(issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/a'] })))).data).toBe('');
    expect(outcomes[2]!.verdict).toMatchObject({ ok: false, stat: 'fail_verify_cert_hash' });
  });

  it('a CRL revokes a client certificate', async () => {
    const revoked = issueDevWorkload(ca, { uris: ['spiffe://cluster.local/ns/app/sa/gone'] });
    const { port, outcomes } = await serve(build(mtls({ crl: inline(createDevCrl(ca, [revoked.x509])) })));
    expect((await connect(port, clientOpts(client))).data).toBe('ok');
    expect((await connect(port, clientOpts(revoked))).data).toBe('');
    expect(outcomes[1]!.verdict).toEqual({ ok: false, stat: 'fail_verify_error', reason: 'peer certificate is revoked by a configured CRL (CERT_REVOKED)' });
  });

  it('accepts a client chained through an intermediate CA', async () => {
    const inter = createDevCa({ issuer: ca });
    const deep = issueDevWorkload(inter, { uris: ['spiffe://cluster.local/ns/app/sa/deep'] });
    const { port, outcomes } = await serve(build(mtls({})));
    expect((await connect(port, clientOpts(deep))).data).toBe('ok');
    expect(outcomes[0]!.principal).toBe('spiffe://cluster.local/ns/app/sa/deep');
  });

  it('serves the certificate that matches the SNI among several', async () => {
    const a = issueDevWorkload(ca, { dnsNames: ['a.example.com'] });
    const b = issueDevWorkload(ca, { dnsNames: ['*.b.example.com'] });
    const { port } = await serve(build(downstream({ common_tls_context: { tls_certificates: [certOf(a), certOf(b)] } })));
    const ra = await connect(port, { ca: ca.caPem, servername: 'a.example.com' });
    const rb = await connect(port, { ca: ca.caPem, servername: 'x.b.example.com' });
    const rn = await connect(port, { ca: ca.caPem, servername: 'unknown.example.com', checkServerIdentity: () => undefined });
    expect(ra.info!.peer!.dnsSans).toEqual(['a.example.com']);
    expect(rb.info!.peer!.dnsSans).toEqual(['*.b.example.com']);
    expect(rn.info!.peer!.dnsSans).toEqual(['a.example.com']); // the first is the default
  });

  it('require_sni refuses a client without SNI', async () => {
    const { port, outcomes } = await serve(build(downstream({ common_tls_context: { tls_certificates: [certOf(server)] }, require_sni: true })));
    expect((await connect(port, { ca: ca.caPem, checkServerIdentity: () => undefined })).data).toBe('');
    expect(outcomes[0]!.verdict).toEqual({ ok: false, reason: 'client sent no SNI and require_sni is set', stat: 'fail_verify_sni' });
  });
});

describe('material', () => {
  it('refuses an expired or mismatched own certificate with a clear reason', () => {
    const expired = issueDevWorkload(ca, { dnsNames: ['x'], expired: true });
    const ctx = downstream({ common_tls_context: { tls_certificates: [certOf(expired)] } });
    const m = resolveMaterial(ctx.common);
    const r = m.ok ? createDownstreamTls(ctx, m.material) : undefined;
    expect(r && !r.ok && r.errors.map((e) => e.message)).toEqual([`common_tls_context.tls_certificates[0]: certificate expired on ${expired.x509.validToDate.toISOString()} (serial ${expired.x509.serialNumber.toLowerCase()})`]);
    const mismatched = downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: inline(server.certPem), private_key: inline(client.keyPem) }] } });
    const m2 = resolveMaterial(mismatched.common);
    const r2 = m2.ok ? createDownstreamTls(mismatched, m2.material) : undefined;
    expect(r2 && !r2.ok && r2.errors.map((e) => e.message)).toEqual(['common_tls_context.tls_certificates[0]: private_key does not match the certificate']);
  });

  it('resolves Istio-style SDS secrets (default + ROOTCA merged with the default validation context)', async () => {
    const ctx = downstream({
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
        combined_validation_context: {
          default_validation_context: { match_subject_alt_names: [{ prefix: 'spiffe://cluster.local/' }] },
          validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {} } },
        },
      },
      require_client_certificate: true,
    });
    const secrets = new Map<string, SecretMaterial>();
    const waiting = resolveMaterial(ctx.common, secrets);
    expect(waiting).toEqual({ ok: false, missing: ['default', 'ROOTCA'], errors: [] });
    const put = (json: Record<string, unknown>) => {
      const s = parseSecret(json, 'secret');
      if (!s.ok) throw new Error(s.errors.map((e) => e.message).join());
      secrets.set(s.config.name, secretToMaterial(s.config, '1'));
    };
    put({ name: 'default', tls_certificate: certOf(server) });
    put({ name: 'ROOTCA', validation_context: { trusted_ca: inline(ca.caPem) } });
    const { port, outcomes } = await serve(build(ctx, secrets));
    expect((await connect(port, clientOpts(client))).data).toBe('ok');
    expect((await connect(port, clientOpts(issueDevWorkload(ca, { uris: ['spiffe://other.domain/ns/a/sa/b'] })))).data).toBe('');
    expect(outcomes[1]!.verdict).toMatchObject({ ok: false, stat: 'fail_verify_san' });
  });

  it('refuses SAN matchers when the merged context still has no CA', () => {
    const ctx = downstream({
      common_tls_context: {
        tls_certificates: [certOf(server)],
        combined_validation_context: {
          default_validation_context: { match_subject_alt_names: [{ prefix: 'spiffe://cluster.local/' }] },
          validation_context_sds_secret_config: { name: 'ROOTCA' },
        },
      },
    });
    const secrets = new Map<string, SecretMaterial>([['ROOTCA', { name: 'ROOTCA', version: '1', validationContext: { verify_certificate_hash: [certificateHash(client.x509)] } }]]);
    const r = resolveMaterial(ctx.common, secrets);
    expect(r).toMatchObject({ ok: false, missing: [] });
    expect(!r.ok && r.errors.map((e) => e.message)).toEqual(['common_tls_context: SAN-based verification of peer certificates without trusted CA is insecure and not allowed']);
  });
});

describe('upstream TLS on a real socket', () => {
  it('sends the configured SNI and ALPN, presents its client certificate, and verifies the server', async () => {
    const { port, outcomes } = await serve(build(mtls({}, { common_tls_context: { tls_certificates: [certOf(server)], validation_context: { trusted_ca: inline(ca.caPem) }, alpn_protocols: ['istio', 'h2'] } })));
    const ctx = upstream({
      common_tls_context: {
        tls_certificates: [certOf(client)],
        validation_context: { trusted_ca: inline(ca.caPem), match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/db/sa/postgres' } }] },
        alpn_protocols: ['istio'],
      },
      sni: 'outbound_.5432_._.pg.db.svc.cluster.local',
    });
    const m = resolveMaterial(ctx.common);
    const u = m.ok ? createUpstreamTls(ctx, m.material) : undefined;
    if (!u?.ok) throw new Error('upstream');
    const r = await connect(port, u.config.connectOptions(), (sock) => u.config.verify(sock));
    expect(r.data).toBe('ok');
    expect(r.verdict).toEqual({ ok: true });
    expect(r.info!.alpn).toBe('istio');
    expect(outcomes[0]!.info.sni).toBe('outbound_.5432_._.pg.db.svc.cluster.local');
    expect(outcomes[0]!.principal).toBe('spiffe://cluster.local/ns/app/sa/web');

    const wrong = upstream({ common_tls_context: { validation_context: { trusted_ca: inline(ca.caPem), match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/db/sa/other' } }] } } });
    const wm = resolveMaterial(wrong.common);
    const w = wm.ok ? createUpstreamTls(wrong, wm.material) : undefined;
    if (!w?.ok) throw new Error('upstream');
    const noClientCert = await serve(build(downstream({ common_tls_context: { tls_certificates: [certOf(server)] } })));
    const r2 = await connect(noClientCert.port, w.config.connectOptions('pg.db.svc'), (sock) => w.config.verify(sock));
    expect(r2.verdict).toMatchObject({ ok: false, stat: 'fail_verify_san' });
  });

  it('refuses a server from another CA', async () => {
    const foreignServer = issueDevWorkload(otherCa, { dnsNames: ['pg.db.svc'] });
    const { port } = await serve(build(downstream({ common_tls_context: { tls_certificates: [certOf(foreignServer)] } })));
    const ctx = upstream({ common_tls_context: { validation_context: { trusted_ca: inline(ca.caPem) } }, sni: 'pg.db.svc' });
    const m = resolveMaterial(ctx.common);
    const u = m.ok ? createUpstreamTls(ctx, m.material) : undefined;
    if (!u?.ok) throw new Error('upstream');
    const r = await connect(port, u.config.connectOptions(), (sock) => u.config.verify(sock));
    const v = r.verdict!;
    expect(v).toMatchObject({ ok: false, stat: 'fail_verify_error' });
    expect(!v.ok && v.reason).toMatch(/not signed by a trusted CA/);
  });
});
