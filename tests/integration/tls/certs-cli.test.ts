/**
 * `themis-sidecar certs` as a real process: a CA, an intermediate and a
 * SPIFFE workload certificate on disk, checked with openssl; usage errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'themis-certs-'));
const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('themis-sidecar certs', () => {
  it('creates a CA and a SPIFFE workload certificate that OpenSSL verifies', async () => {
    const ca = await runCli(['certs', 'ca', '--out', join(dir, 'ca'), '--trust-domain', 'cluster.local']);
    expect(ca.stderr).toBe('');
    expect(ca.code).toBe(0);
    expect(ca.stdout).toMatch(/^wrote root CA O=cluster.local \(ec-p256/);
    const w = await runCli(['certs', 'workload', '--ca', join(dir, 'ca'), '--out', join(dir, 'pg'), '--spiffe', 'spiffe://cluster.local/ns/db/sa/postgres', '--dns', 'pg.db.svc', '--dns', 'localhost', '--days', '7', '--key-type', 'rsa']);
    expect(w.code).toBe(0);
    const text = openssl('x509', '-in', join(dir, 'pg', 'cert.pem'), '-noout', '-text');
    expect(text).toContain('URI:spiffe://cluster.local/ns/db/sa/postgres, DNS:pg.db.svc, DNS:localhost');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(openssl('verify', '-CAfile', join(dir, 'pg', 'ca.pem'), join(dir, 'pg', 'cert.pem')).trim()).toMatch(/: OK$/);
    expect(statSync(join(dir, 'pg', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(openssl('pkey', '-in', join(dir, 'pg', 'key.pem'), '-noout', '-text')).toMatch(/Private-Key: \(2048 bit/);
  }, 60000);

  it('issues through an intermediate CA (chain.pem carries it) and expired certificates on request', async () => {
    await runCli(['certs', 'ca', '--out', join(dir, 'root')]);
    expect((await runCli(['certs', 'ca', '--issuer', join(dir, 'root'), '--out', join(dir, 'inter')])).stdout).toMatch(/^wrote intermediate CA/);
    expect((await runCli(['certs', 'workload', '--ca', join(dir, 'inter'), '--out', join(dir, 'app'), '--spiffe', 'spiffe://cluster.local/ns/app/sa/web'])).code).toBe(0);
    const chain = readFileSync(join(dir, 'app', 'chain.pem'), 'utf8');
    expect(chain.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(openssl('verify', '-CAfile', join(dir, 'app', 'ca.pem'), '-untrusted', join(dir, 'inter', 'cert.pem'), join(dir, 'app', 'cert.pem')).trim()).toMatch(/: OK$/);
    expect((await runCli(['certs', 'workload', '--ca', join(dir, 'root'), '--out', join(dir, 'old'), '--spiffe', 'spiffe://cluster.local/ns/app/sa/old', '--expired'])).code).toBe(0);
    expect(() => openssl('verify', '-CAfile', join(dir, 'old', 'ca.pem'), join(dir, 'old', 'cert.pem'))).toThrow(/certificate has expired/);
  }, 60000);

  it('explains usage errors and prints help', async () => {
    const help = await runCli(['certs', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('themis-sidecar certs workload --ca CA_DIR --out DIR');
    const bad = await runCli(['certs', 'workload', '--ca', join(dir, 'nope'), '--out', join(dir, 'x'), '--spiffe', 'http://not-spiffe']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("themis-sidecar certs: --spiffe needs spiffe://<trust domain>/<path>, not 'http://not-spiffe'\n(see themis-sidecar certs --help)\n");
    const noCa = await runCli(['certs', 'workload', '--ca', join(dir, 'nope'), '--out', join(dir, 'x'), '--spiffe', 'spiffe://a/b']);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(/ENOENT/);
    expect((await runCli(['certs', 'frobnicate', '--out', dir])).stderr).toMatch(/unknown certs command 'frobnicate'/);
    expect((await runCli(['--help'])).stdout).toContain('themis-sidecar certs ca|workload');
  }, 60000);
});
