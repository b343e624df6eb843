/**
 * The development PKI checked by OpenSSL itself (openssl x509 -text,
 * openssl verify, openssl s_client against a node:tls server), and a fuzz
 * test of the TLS context parser: any input yields a result, never a throw.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createDevCa, issueDevWorkload, spiffeId } from '../../../protocols/tls/dev-pki.ts';
import { parseDownstreamTlsContext, parseUpstreamTlsContext } from '../../../protocols/tls/context-config.ts';
import { createDownstreamTls, resolveMaterial } from '../../../protocols/tls/secure-context.ts';

const dir = mkdtempSync(join(tmpdir(), 'themis-pki-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('dev PKI certificates as OpenSSL sees them', () => {
  const ca = createDevCa({ trustDomain: 'cluster.local' });
  const id = spiffeId('cluster.local', 'db', 'postgres');

  it.each(['ec-p256', 'rsa-2048'] as const)('a %s workload certificate carries the SPIFFE URI SAN and verifies', (keyType) => {
    const w = issueDevWorkload(ca, { uris: [id], dnsNames: ['pg.db.svc'], ips: ['127.0.0.1'], keyType, keyLabel: 'pki-test' });
    const text = openssl('x509', '-in', file(`${keyType}.pem`, w.certPem), '-noout', '-text');
    expect(text).toContain(`URI:${id}`);
    expect(text).toContain('DNS:pg.db.svc');
    expect(text).toContain('IP Address:127.0.0.1');
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical/); // empty subject, as Istio's
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toContain('Issuer: O = cluster.local');
    expect(text).toContain(keyType === 'ec-p256' ? 'NIST CURVE: P-256' : 'Public-Key: (2048 bit)');
    expect(openssl('verify', '-CAfile', file('ca.pem', ca.caPem), file(`${keyType}-leaf.pem`, w.certPem)).trim()).toMatch(/: OK$/);
  });

  it('a CA is a CA; an intermediate chains to the root; an expired certificate fails verification', () => {
    const text = openssl('x509', '-in', file('root.pem', ca.certPem), '-noout', '-text');
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    const inter = createDevCa({ issuer: ca });
    const w = issueDevWorkload(inter, { uris: [id] });
    expect(openssl('verify', '-CAfile', file('ca.pem', ca.caPem), '-untrusted', file('inter.pem', inter.certPem), file('deep.pem', w.certPem)).trim()).toMatch(/: OK$/);
    const expired = issueDevWorkload(ca, { uris: [id], expired: true });
    expect(() => openssl('verify', '-CAfile', file('ca.pem', ca.caPem), file('expired.pem', expired.certPem))).toThrow(/certificate has expired/);
  });

  it('openssl s_client negotiates TLS 1.3 with a server built from a DownstreamTlsContext and sees the SPIFFE certificate', async () => {
    const w = issueDevWorkload(ca, { uris: [id], dnsNames: ['pg.db.svc'] });
    const parsed = parseDownstreamTlsContext({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: w.chainPem }, private_key: { inline_string: w.keyPem } }] } }, 'tc');
    if (!parsed.ok) throw new Error('parse');
    const m = resolveMaterial(parsed.config.common);
    const d = m.ok ? createDownstreamTls(parsed.config, m.material) : undefined;
    if (!d?.ok) throw new Error('build');
    const server = tls.createServer(d.config.serverOptions, (s) => s.end('hello\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const run = async (...args: string[]): Promise<string> => {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'pg.db.svc', '-CAfile', file('ca.pem', ca.caPem), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (out += c));
      child.stdin.end();
      await once(child, 'close');
      return out;
    };
    try {
      const ok = await run('-brief');
      expect(ok).toMatch(/Protocol version: TLSv1\.3/);
      expect(ok).toMatch(/Verification: OK/);
      const full = await run('-showcerts');
      expect(full).toMatch(/Verify return code: 0 \(ok\)/);
      const refused = await run('-tls1_2');
      expect(refused).toMatch(/alert protocol version|no protocols available|wrong version/i);
    } finally {
      server.close();
    }
  });
});

describe('TLS context parser fuzz', () => {
  // A deterministic PRNG: the same inputs on every run.
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const atoms: unknown[] = [null, true, false, 0, -1, 1.5, '', 'x', 'TLSv1_3', 'TLS_AUTO', 'URI', '1s', [], {}, { exact: 'a' }, { inline_string: 'x' }, { filename: '/x' }];
  const keys = ['common_tls_context', 'tls_params', 'tls_certificates', 'validation_context', 'combined_validation_context', 'default_validation_context',
    'match_typed_subject_alt_names', 'san_type', 'matcher', 'trusted_ca', 'cipher_suites', 'ecdh_curves', 'tls_minimum_protocol_version', 'alpn_protocols',
    'require_client_certificate', 'session_timeout', 'sni', 'certificate_chain', 'private_key', 'verify_certificate_hash', 'tls_certificate_sds_secret_configs', 'name', 'bogus'];
  const gen = (depth: number): unknown => {
    if (depth > 4 || rnd(3) === 0) return atoms[rnd(atoms.length)];
    if (rnd(4) === 0) return Array.from({ length: rnd(3) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(4); i >= 0; i--) o[keys[rnd(keys.length)]!] = gen(depth + 1);
    return o;
  };

  it('returns a result (never throws) for 2,000 random contexts', () => {
    for (let i = 0; i < 2000; i++) {
      const input = gen(0) as Record<string, unknown>;
      const v = typeof input === 'object' && input !== null && !Array.isArray(input) ? input : { common_tls_context: input };
      for (const parse of [parseDownstreamTlsContext, parseUpstreamTlsContext]) {
        const r = parse(v, 'tc');
        if (!r.ok) for (const e of r.errors) expect(e.path.startsWith('tc')).toBe(true);
      }
    }
  });
});
