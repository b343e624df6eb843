/**
 * TLS termination on listeners (envoy.transport_sockets.tls) with real TLS
 * clients: openssl s_client (TLS 1.3 negotiated, TLS 1.1 refused), curl with
 * and without client certificates (mTLS), curl --http2 (h2 by ALPN), two SNI
 * names on one port reaching two filter chains, certificates from
 * static_resources.secrets, and bad input (garbage instead of a ClientHello,
 * a truncated or stalled handshake, an expired client certificate).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { createDevCa, issueDevWorkload, spiffeId } from '../../../protocols/tls/dev-pki.ts';
import { startSidecar, staticCluster, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'themis-tls-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const ca = createDevCa({ trustDomain: 'cluster.local' });
const otherCa = createDevCa({ trustDomain: 'evil.local' });
const server = issueDevWorkload(ca, { dnsNames: ['db.example.com'], uris: [spiffeId('cluster.local', 'db', 'postgres')] });
const server2 = issueDevWorkload(ca, { dnsNames: ['admin.example.com'] });
const client = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'app', 'client')] });
const wrongSa = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'other', 'intruder')] });
const foreign = issueDevWorkload(otherCa, { uris: [spiffeId('cluster.local', 'app', 'client')] });
const expired = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'app', 'client')], expired: true });

const caFile = file('ca.pem', ca.caPem);
const accessLog = file('access.log', '');
const certs = {
  client: [file('client.pem', client.chainPem), file('client.key', client.keyPem)],
  wrongSa: [file('wrong.pem', wrongSa.chainPem), file('wrong.key', wrongSa.keyPem)],
  foreign: [file('foreign.pem', foreign.chainPem), file('foreign.key', foreign.keyPem)],
  expired: [file('expired.pem', expired.chainPem), file('expired.key', expired.keyPem)],
} as const;

const indent = (yaml: string): string => yaml.split('\n').map((l) => `  ${l}`).join('\n');
const inline = (pem: string): string => JSON.stringify({ inline_string: pem });

function hcm(prefix: string, cluster: string, extra = '', filters = ''): string {
  return `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${prefix}${extra}
          forward_client_cert_details: SANITIZE_SET
          set_current_client_cert_details: { uri: true, subject: true }
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/scheme", headers: [{ name: ":scheme", string_match: { exact: https } }] }
                direct_response: { status: 200, body: { inline_string: "scheme https" } }
              - match: { prefix: "/" }
                route: { cluster: ${cluster} }
          http_filters:${filters}
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;
}

let sc: TestSidecar;
let up: TestUpstream;
let up2: TestUpstream;
/** A TLS server of its own (certificate for pass.example.com), reached by SNI passthrough. */
let tlsUpstream: https.Server;
const passCert = issueDevWorkload(ca, { dnsNames: ['pass.example.com'] });

beforeAll(async () => {
  up = await startHttpUpstream('db');
  up2 = await startHttpUpstream('admin');
  tlsUpstream = https.createServer({ cert: passCert.chainPem, key: passCert.keyPem }, (req, res) => res.end(`tls upstream saw ${req.url}`));
  await new Promise<void>((r) => tlsUpstream.listen(0, '127.0.0.1', r));
  const tlsUpstreamPort = (tlsUpstream.address() as net.AddressInfo).port;
  sc = await startSidecar(`
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  secrets:
  - name: server-cert
    tls_certificate:
      certificate_chain: ${inline(server.chainPem)}
      private_key: ${inline(server.keyPem)}
  - name: mesh-ca
    validation_context:
      trusted_ca: ${inline(ca.caPem)}
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificates:
            - certificate_chain: ${inline(server.chainPem)}
              private_key: ${inline(server.keyPem)}
            - certificate_chain: ${inline(server2.chainPem)}
              private_key: ${inline(server2.keyPem)}
      filters:${hcm('https', 'db')}
  - name: mtls
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket_connect_timeout: 0.5s
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificate_sds_secret_configs: [{ name: server-cert }]
            combined_validation_context:
              default_validation_context:
                match_typed_subject_alt_names:
                - san_type: URI
                  matcher: { prefix: "spiffe://cluster.local/ns/app/" }
              validation_context_sds_secret_config: { name: mesh-ca }
      filters:${hcm('mtls', 'db', `
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${accessLog}
              log_format: { text_format_source: { inline_string: "%DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %DOWNSTREAM_TLS_VERSION% %REQUESTED_SERVER_NAME% %REQ(:PATH)%\\n" } }`, `
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                policies:
                  app-reads:
                    permissions: [{ url_path: { path: { prefix: /mtls } } }]
                    principals: [{ authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/app/sa/client" } } }]`)}
  - name: sni
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    filter_chains:
    - filter_chain_match: { server_names: [db.example.com] }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates: [{ certificate_chain: ${inline(server.chainPem)}, private_key: ${inline(server.keyPem)} }]
      filters:${hcm('sni_db', 'db')}
    - filter_chain_match: { server_names: [pass.example.com] }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: passthrough, cluster: tls_upstream }
    - filter_chain_match: { server_names: ["*.example.com"] }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates: [{ certificate_chain: ${inline(server2.chainPem)}, private_key: ${inline(server2.keyPem)} }]
      filters:${hcm('sni_admin', 'admin')}
  clusters:
${indent(staticCluster('db', [up.port]))}
${indent(staticCluster('admin', [up2.port]))}
${indent(staticCluster('tls_upstream', [tlsUpstreamPort]))}
`);
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
  await up2?.close();
  tlsUpstream?.close();
});

async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '5', ...args]);
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

/** Runs openssl s_client with stdin closed (it then exits after the handshake). */
function sClient(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-brief', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill(), 5000);
    p.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    p.stdin.end();
  });
}

describe('TLS termination', () => {
  test('openssl s_client negotiates TLS 1.3 with a TLS 1.3 suite', async () => {
    const out = await sClient(['-connect', `127.0.0.1:${sc.port('https')}`, '-servername', 'db.example.com', '-CAfile', caFile]);
    expect(out).toMatch(/Protocol version: TLSv1\.3/);
    expect(out).toMatch(/Ciphersuite: TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)/);
    expect(out).toMatch(/Verification: OK/);
  });

  test('TLS 1.1 and TLS 1.2 are refused by default (TLS 1.3 only)', async () => {
    for (const v of ['-tls1_1', '-tls1_2']) {
      const out = await sClient(['-connect', `127.0.0.1:${sc.port('https')}`, v]);
      expect(out).not.toMatch(/Protocol version: TLSv1\.[12]/);
      expect(out).toMatch(/alert|error|errno/i);
    }
  });

  test('curl over HTTPS gets 200 from the upstream; HTTP/1.1 and, by ALPN, HTTP/2', async () => {
    const base = ['--cacert', caFile, '--resolve', `db.example.com:${sc.port('https')}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code} %{http_version}'];
    expect((await curl([...base, '--http1.1', `https://db.example.com:${sc.port('https')}/h1`])).out).toBe('200 1.1');
    expect((await curl([...base, '--http2', `https://db.example.com:${sc.port('https')}/h2`])).out).toBe('200 2');
    const seen = up.seen.find((r) => r.path === '/h2');
    expect(seen?.headers['x-forwarded-proto']).toBe('https');
    // :scheme is https over TLS on either protocol (route header matchers, redirects, ext_authz read it).
    const scheme = ['--cacert', caFile, '--resolve', `db.example.com:${sc.port('https')}:127.0.0.1`];
    expect((await curl([...scheme, '--http1.1', `https://db.example.com:${sc.port('https')}/scheme`])).out).toBe('scheme https');
    expect((await curl([...scheme, '--http2', `https://db.example.com:${sc.port('https')}/scheme`])).out).toBe('scheme https');
    // No client certificate: a client-sent XFCC is removed (SANITIZE_SET), never forwarded.
    await curl([...base, '--http1.1', '-H', 'x-forwarded-client-cert: URI=spiffe://cluster.local/ns/x/sa/forged', `https://db.example.com:${sc.port('https')}/forged`]);
    expect(up.seen.find((r) => r.path === '/forged')?.headers['x-forwarded-client-cert']).toBeUndefined();
    expect(sc.stat(`listener.127.0.0.1_0.ssl.handshake`)).toBeGreaterThanOrEqual(2);
  });
});

test('one context with two certificates: the SNI picks the one whose SAN matches', async () => {
  const port = sc.port('https');
  const a = await curl(['-v', '--cacert', caFile, '--resolve', `admin.example.com:${port}:127.0.0.1`, '-o', '/dev/null', `https://admin.example.com:${port}/sni-admin`]);
  expect(a.err).toMatch(/subjectAltName: host "admin.example.com" matched cert's "admin.example.com"/);
  const d = await curl(['-v', '--cacert', caFile, '--resolve', `db.example.com:${port}:127.0.0.1`, '-o', '/dev/null', `https://db.example.com:${port}/sni-db`]);
  expect(d.err).toMatch(/subjectAltName: host "db.example.com" matched cert's "db.example.com"/);
});

describe('mTLS (require_client_certificate, SAN matcher, CA and certificate from static secrets)', () => {
  const url = (): string => `https://db.example.com:${sc.port('mtls')}/mtls`;
  const base = (): string[] => ['--cacert', caFile, '--resolve', `db.example.com:${sc.port('mtls')}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code}'];

  test('the right client certificate gets 200; the upstream sees its SPIFFE id in x-forwarded-client-cert, not what the client claimed', async () => {
    const r = await curl([...base(), '--cert', certs.client[0], '--key', certs.client[1], '-H', 'x-forwarded-client-cert: URI=spiffe://cluster.local/ns/kube-system/sa/admin', url()]);
    expect(r.out).toBe('200');
    const xfcc = String(up.seen.filter((x) => x.path === '/mtls').at(-1)?.headers['x-forwarded-client-cert']);
    await until(() => readFileSync(accessLog, 'utf8').includes('/mtls'), 5000, 'access log line');
    expect(readFileSync(accessLog, 'utf8')).toContain('spiffe://cluster.local/ns/app/sa/client spiffe://cluster.local/ns/db/sa/postgres TLSv1.3 db.example.com /mtls');
    expect(xfcc).toMatch(/^By=spiffe:\/\/cluster\.local\/ns\/db\/sa\/postgres;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/app\/sa\/client$/);
  });

  test('HTTP RBAC on the SPIFFE principal: the client may read /mtls* but gets 403 RBAC: access denied elsewhere', async () => {
    const r = await curl(['--cacert', caFile, '--resolve', `db.example.com:${sc.port('mtls')}:127.0.0.1`, '--cert', certs.client[0], '--key', certs.client[1], '-w', ' %{http_code}', `https://db.example.com:${sc.port('mtls')}/admin`]);
    expect(r.out).toBe('RBAC: access denied 403');
    expect(sc.stat('http.mtls.rbac.denied')).toBeGreaterThanOrEqual(1);
    expect(sc.stat('http.mtls.rbac.allowed')).toBeGreaterThanOrEqual(1);
  });

  test('no client certificate fails the handshake', async () => {
    const r = await curl([...base(), url()]);
    expect(r.code).not.toBe(0);
    expect(r.out).not.toBe('200');
  });

  test('a certificate from another CA fails the handshake', async () => {
    const r = await curl([...base(), '--cert', certs.foreign[0], '--key', certs.foreign[1], url()]);
    expect(r.code).not.toBe(0);
    expect(r.out).not.toBe('200');
  });

  test('a certificate whose SPIFFE id matches no SAN matcher is refused and counted', async () => {
    const before = sc.stat(`listener.127.0.0.1_0.ssl.fail_verify_san`);
    const r = await curl([...base(), '--cert', certs.wrongSa[0], '--key', certs.wrongSa[1], url()]);
    expect(r.out).not.toBe('200');
    expect(sc.stat(`listener.127.0.0.1_0.ssl.fail_verify_san`)).toBe(before + 1);
  });

  test('an expired client certificate is refused', async () => {
    const r = await curl([...base(), '--cert', certs.expired[0], '--key', certs.expired[1], url()]);
    expect(r.code).not.toBe(0);
    expect(r.out).not.toBe('200');
  });
});

describe('SNI', () => {
  test('two names on one port reach two filter chains with their own certificates', async () => {
    const port = sc.port('sni');
    const a = await curl(['--cacert', caFile, '--resolve', `db.example.com:${port}:127.0.0.1`, '-w', ' %{http_code}', `https://db.example.com:${port}/a`]);
    const b = await curl(['--cacert', caFile, '--resolve', `admin.example.com:${port}:127.0.0.1`, '-w', ' %{http_code}', `https://admin.example.com:${port}/b`]);
    expect(a.out.endsWith(' 200')).toBe(true);
    expect(b.out.endsWith(' 200')).toBe(true);
    expect(up.seen.some((r) => r.path === '/a')).toBe(true);
    expect(up2.seen.some((r) => r.path === '/b')).toBe(true);
    expect(sc.stat('http.sni_admin.downstream_rq_total')).toBeGreaterThanOrEqual(1);
  });
});

test('TLS passthrough by SNI: the TLS upstream terminates the client\'s session untouched (its own certificate)', async () => {
  const port = sc.port('sni');
  const r = await curl(['-v', '--cacert', caFile, '--resolve', `pass.example.com:${port}:127.0.0.1`, `https://pass.example.com:${port}/through`]);
  expect(r.out).toBe('tls upstream saw /through');
  expect(r.err).toMatch(/subjectAltName: host "pass.example.com" matched cert's "pass.example.com"/);
  expect(sc.stat('tcp.passthrough.downstream_cx_total')).toBeGreaterThanOrEqual(1);
});

describe('bad input', () => {
  test('garbage instead of a ClientHello closes that connection; the next client is served', async () => {
    const s = net.connect(sc.port('https'), '127.0.0.1');
    s.on('error', () => undefined);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    s.resume();
    await new Promise<void>((r) => s.on('close', () => r()));
    const ok = await curl(['--cacert', caFile, '--resolve', `db.example.com:${sc.port('https')}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code}', `https://db.example.com:${sc.port('https')}/after-garbage`]);
    expect(ok.out).toBe('200');
  });

  test('a truncated ClientHello followed by a close frees the connection', async () => {
    const before = sc.stat(`listener.127.0.0.1_0.ssl.connection_error`);
    const s = net.connect(sc.port('https'), '127.0.0.1');
    s.on('error', () => undefined);
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    s.end();
    s.resume();
    await new Promise<void>((r) => s.on('close', () => r()));
    await until(() => sc.stat(`listener.127.0.0.1_0.ssl.connection_error`) > before, 5000, 'connection_error counted');
  });

  test('a client that stalls mid-handshake is closed after transport_socket_connect_timeout', async () => {
    const before = sc.stat('listener.127.0.0.1_0.downstream_cx_transport_socket_connect_timeout');
    const s = net.connect(sc.port('mtls'), '127.0.0.1');
    s.on('error', () => undefined);
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    s.resume();
    const t0 = Date.now();
    await new Promise<void>((r) => s.on('close', () => r()));
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(sc.stat('listener.127.0.0.1_0.downstream_cx_transport_socket_connect_timeout')).toBe(before + 1);
  });

  test('a Node TLS client that offers only TLS 1.2 is refused; others keep being served', async () => {
    const err = await new Promise<string>((resolve) => {
      const c = tls.connect({ port: sc.port('https'), host: '127.0.0.1', servername: 'db.example.com', ca: ca.caPem, maxVersion: 'TLSv1.2' }, () => resolve('connected'));
      c.on('error', (e) => resolve(e.message));
    });
    expect(err).toMatch(/protocol version|alert/i);
  });
});
