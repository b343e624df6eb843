/**
 * `themis-sidecar certs ...`: a development PKI on disk for local runs and
 * demos (dev-pki.ts). Writes PEM files into a directory:
 *   cert.pem   the certificate
 *   key.pem    its PKCS#8 private key (mode 0600)
 *   chain.pem  the certificate and its intermediates (what a server sends)
 *   ca.pem     the root CA (what peers trust)
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDevCa, issueDevWorkload, loadDevCa, type DevCa, type DevCertificate, type DevKeyType } from './dev-pki.ts';

/** `themis-sidecar certs --help`. */
export const CERTS_HELP = `themis-sidecar certs: a development PKI (never for production)

USAGE
  themis-sidecar certs ca --out DIR [--trust-domain cluster.local] [--issuer CA_DIR] [--days N] [--key-type ec|rsa]
      a self-signed root CA (subject O=<trust domain>), or an intermediate CA under --issuer
  themis-sidecar certs workload --ca CA_DIR --out DIR [--spiffe URI]... [--dns NAME]... [--ip ADDR]...
                              [--cn NAME] [--days N] [--key-type ec|rsa] [--expired] [--not-yet-valid]
      a workload certificate (serverAuth + clientAuth) with SPIFFE URI SANs, as Istio's CA issues them
      e.g. --spiffe spiffe://cluster.local/ns/db/sa/postgres

FILES WRITTEN TO DIR
  cert.pem   the certificate          key.pem   its private key (PKCS#8, mode 0600)
  chain.pem  certificate + intermediates (serve this)
  ca.pem     the root CA (trust this)

OPTIONS
  --key-type ec|rsa   ECDSA P-256 (default) or RSA-2048
  --days N            validity in days (default 3650 for a CA, 365 for a workload)
  --expired           issue a certificate that expired yesterday (for tests)
  -h, --help          this text
`;

interface Io {
  out(s: string): void;
  err(s: string): void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

async function write(dir: string, c: DevCertificate): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cert.pem'), c.certPem);
  await writeFile(join(dir, 'key.pem'), c.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'chain.pem'), c.chainPem);
  await writeFile(join(dir, 'ca.pem'), c.caPem);
}

async function readCa(dir: string): Promise<DevCa> {
  const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
  const [certPem, keyPem] = await Promise.all([read('cert.pem'), read('key.pem')]);
  const caPem = await read('ca.pem').catch(() => undefined);
  const chainPem = await read('chain.pem').catch(() => undefined);
  return loadDevCa({ certPem, keyPem, ...(caPem ? { caPem } : {}), ...(chainPem ? { chainPem } : {}) });
}

function keyType(s: string | undefined): DevKeyType {
  if (s === undefined || s === 'ec' || s === 'ec-p256') return 'ec-p256';
  if (s === 'rsa' || s === 'rsa-2048') return 'rsa-2048';
  throw new Error(`--key-type must be ec or rsa, not '${s}'`);
}

function days(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(s)) throw new Error(`--days needs a positive integer, not '${s}'`);
  return Number(s);
}

/** Runs `certs <argv>`; resolves with the exit code. */
export async function runCertsCommand(argv: readonly string[], io: Io = stdio): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(CERTS_HELP);
    return sub === undefined ? 1 : 0;
  }
  try {
    const { values: v } = parseArgs({
      args: [...rest],
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: 'string' },
        ca: { type: 'string' },
        issuer: { type: 'string' },
        'trust-domain': { type: 'string' },
        spiffe: { type: 'string', multiple: true },
        dns: { type: 'string', multiple: true },
        ip: { type: 'string', multiple: true },
        cn: { type: 'string' },
        days: { type: 'string' },
        'key-type': { type: 'string' },
        expired: { type: 'boolean' },
        'not-yet-valid': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) {
      io.out(CERTS_HELP);
      return 0;
    }
    if (!v.out) throw new Error('--out DIR is required');
    const validity = { keyType: keyType(v['key-type']), days: days(v.days), expired: v.expired === true, notYetValid: v['not-yet-valid'] === true };
    if (sub === 'ca') {
      const issuer = v.issuer ? await readCa(v.issuer) : undefined;
      const ca = createDevCa({ ...validity, ...(v['trust-domain'] ? { trustDomain: v['trust-domain'] } : {}), ...(issuer ? { issuer } : {}), ...(v.cn ? { commonName: v.cn } : {}) });
      await write(v.out, ca);
      io.out(`wrote ${issuer ? 'intermediate' : 'root'} CA O=${ca.trustDomain} (${ca.keyType}, serial ${ca.x509.serialNumber.toLowerCase()}) to ${v.out}\n`);
      return 0;
    }
    if (sub === 'workload') {
      if (!v.ca) throw new Error('--ca CA_DIR is required');
      const uris = v.spiffe ?? [];
      for (const u of uris) if (!/^spiffe:\/\/[^/]+\/.+/.test(u)) throw new Error(`--spiffe needs spiffe://<trust domain>/<path>, not '${u}'`);
      if (!uris.length && !v.dns?.length && !v.ip?.length && !v.cn) throw new Error('a workload needs --spiffe, --dns, --ip or --cn');
      const ca = await readCa(v.ca);
      const cert = issueDevWorkload(ca, { ...validity, uris, dnsNames: v.dns ?? [], ips: v.ip ?? [], ...(v.cn ? { commonName: v.cn } : {}) });
      await write(v.out, cert);
      io.out(`wrote workload certificate ${cert.x509.subjectAltName ?? cert.x509.subject} (${cert.keyType}, until ${cert.x509.validToDate.toISOString()}) to ${v.out}\n`);
      return 0;
    }
    throw new Error(`unknown certs command '${sub}' (ca, workload)`);
  } catch (e) {
    io.err(`themis-sidecar certs: ${(e as Error).message}\n(see themis-sidecar certs --help)\n`);
    return 1;
  }
}
