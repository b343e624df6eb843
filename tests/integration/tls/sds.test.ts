/**
 * SDS end to end. A gRPC SecretDiscoveryService on a Unix socket (as
 * Istio's pilot-agent) serves `default` (workload certificate and key) and
 * `ROOTCA` (the CA) to a listener whose DownstreamTlsContext names them the
 * way Istio does (tls_certificate_sds_secret_configs + combined validation
 * context, sds_config api_config_source to the `sds-grpc` cluster), over
 * SotW and delta: the sidecar is not ready until they arrive, curl with a
 * client certificate then gets 200; a rotated certificate (new serial)
 * reaches new connections while a download on an old connection finishes;
 * a key that does not match its certificate and an expired certificate are
 * NACKed with the reason, counted (sds.default.update_rejected) and the
 * previous certificate keeps serving; the stream reconnects after the
 * server drops it. SDS over ADS (`ads: {}`): a dynamic listener warms until
 * its secret arrives, the initial fetch waits for it, a malformed Secret is
 * NACKed naming it, and a later listener update warms while the old
 * listeners serve. /config_dump shows SecretsConfigDump with keys redacted.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { createDevCa, issueDevWorkload, spiffeId, type DevCertificate } from '../../../protocols/tls/dev-pki.ts';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { istioSdsConfig, sdsClusterYaml, startSdsServer, tlsCertificateSecret, validationSecret, type SdsServer } from '../../support/sds-server.ts';
import { staticCluster } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, LISTENER, SECRET, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'themis-sds-test-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const ca = createDevCa({ trustDomain: 'cluster.local' });
const workload = (): DevCertificate => issueDevWorkload(ca, { ips: ['127.0.0.1'], uris: [spiffeId('cluster.local', 'db', 'postgres')], keyLabel: 'sds-server' });
const client = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'app', 'client')] });
const caFile = file('ca.pem', ca.caPem);
const clientFiles = [file('client.pem', client.chainPem), file('client.key', client.keyPem)] as const;

/** A Server started in the background (start() resolves once LIVE). */
interface Launched {
  readonly server: Server;
  readonly started: Promise<void>;
  port(listener: string): number | undefined;
  stat(name: string): number;
  stop(): Promise<void>;
}

async function launch(yaml: string): Promise<Launched> {
  const registry = createRegistry();
  const snapshot = await buildSnapshot({ configYaml: yaml, allowUnknownStaticFields: false }, registry);
  const logs = new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off');
  const server = new Server({ snapshot, registry, logs, drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  const started = server.start();
  started.catch(() => undefined);
  return {
    server,
    started,
    port: (name) => server.listenerManager.all().find((l) => l.config.name === name)?.port,
    stat: (name) => server.stats.findCounter(name)?.value() ?? server.stats.findGauge(name)?.value() ?? 0,
    async stop() {
      server.shutdown('test');
      await server.exited;
    },
  };
}

const hcm = (cluster: string): Record<string, unknown> => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'tls_in',
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  },
});

/** A listener terminating mTLS with Istio's SDS references. */
function istioListener(name: string, sdsConfig: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          require_client_certificate: true,
          common_tls_context: {
            alpn_protocols: ['h2', 'http/1.1'],
            tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: sdsConfig }],
            combined_validation_context: {
              default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/app/' } }] },
              validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: sdsConfig },
            },
          },
        },
      },
      filters: [hcm('db')],
    }],
  };
}

/** The serial of the certificate a new TLS connection to `port` is shown. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: ca.caPem, cert: client.chainPem, key: client.keyPem, ALPNProtocols: ['http/1.1'] }, () => {
      const serial = s.getPeerX509Certificate()?.serialNumber ?? '';
      s.end();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', agent: false, ca: ca.caPem, cert: client.chainPem, key: client.keyPem, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function adminJson(port: number, path: string): Promise<{ configs: Array<Record<string, unknown>> }> {
  return (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as { configs: Array<Record<string, unknown>> };
}

let up: TestUpstream;
beforeAll(async () => {
  up = await startHttpUpstream('db');
});
afterAll(async () => {
  await up?.close();
});

describe.each(['GRPC', 'DELTA_GRPC'] as const)('SDS from an SDS server on a Unix socket (%s)', (apiType) => {
  let sds: SdsServer;
  let sc: Launched;
  let first: DevCertificate;

  beforeAll(async () => {
    sds = await startSdsServer();
    const yaml = `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  clusters:
${staticCluster('db', [up.port]).split('\n').map((l) => `  ${l}`).join('\n')}
${sdsClusterYaml(sds.path)}
  listeners:
  - ${JSON.stringify(istioListener('tls-in', istioSdsConfig(apiType)))}
`;
    sc = await launch(yaml);
  });
  afterAll(async () => {
    await sc.stop();
    await sds.close();
  });

  test('not ready until default and ROOTCA arrive; then curl with a client certificate gets 200', async () => {
    await sds.requested('default');
    await sds.requested('ROOTCA');
    expect(sc.server.state).toBe('INITIALIZING');
    const admin = sc.server.adminPort;
    expect((await fetch(`http://127.0.0.1:${admin}/ready`)).status).toBe(503);
    // The listener is bound, but a handshake on a chain without its secrets is refused.
    const warming = await adminJson(admin, '/config_dump?resource=dynamic_warming_secrets');
    expect(warming.configs.map((c) => c['name']).sort()).toEqual(['ROOTCA', 'default']);
    expect(warming.configs[0]!['version_info']).toBe('uninitialized');

    first = workload();
    sds.setSecrets({ default: tlsCertificateSecret('default', first), ROOTCA: validationSecret('ROOTCA', ca.caPem) }, 'v1');
    await sc.started;
    expect(sc.server.state).toBe('LIVE');
    expect((await fetch(`http://127.0.0.1:${admin}/ready`)).status).toBe(200);
    const port = sc.port('tls-in')!;
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, '--cert', clientFiles[0], '--key', clientFiles[1], `https://127.0.0.1:${port}/`]);
    expect(stdout).toBe('200');
    // Without a client certificate the handshake fails (ROOTCA from SDS is the trust anchor).
    await expect(run('curl', ['-sS', '--cacert', caFile, `https://127.0.0.1:${port}/`])).rejects.toThrow();
    expect(await servedSerial(port)).toBe(first.x509.serialNumber);
    expect(sc.stat('sds.default.update_success')).toBeGreaterThanOrEqual(1);
    expect(sc.stat('sds.ROOTCA.update_success')).toBeGreaterThanOrEqual(1);
    expect(sc.stat('sds.default.control_plane.connected_state')).toBe(1);
    expect(sds.xds.acks(SECRET).length).toBeGreaterThanOrEqual(1);
  });

  test('config_dump: SecretsConfigDump with the private key redacted', async () => {
    const dump = await adminJson(sc.server.adminPort, '/config_dump');
    const secrets = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump')!;
    const active = secrets['dynamic_active_secrets'] as Array<Record<string, any>>;
    expect(active.map((s) => s['name']).sort()).toEqual(['ROOTCA', 'default']);
    const def = active.find((s) => s['name'] === 'default')!;
    expect(def['version_info']).toBe('v1');
    expect(def['last_updated']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(def['secret']['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
    expect(def['secret']['tls_certificate']['private_key']).toEqual({ inline_bytes: 'W3JlZGFjdGVkXQ==' });
    expect(Buffer.from(def['secret']['tls_certificate']['certificate_chain']['inline_bytes'], 'base64').toString()).toBe(first.chainPem);
    expect(JSON.stringify(dump)).not.toContain(Buffer.from(first.keyPem).toString('base64'));
  });

  test('rotation: new connections get the new certificate; a download on an old connection completes', async () => {
    const port = sc.port('tls-in')!;
    const total = 8 * 1024 * 1024;
    let received = 0;
    let oldSerial = '';
    let response: import('node:http').IncomingMessage | undefined;
    const download = new Promise<number>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/big', agent: false, ca: ca.caPem, cert: client.chainPem, key: client.keyPem, headers: { 'x-test-bytes': String(total) } }, (res) => {
        response = res;
        oldSerial = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
        res.on('data', (c: Buffer) => {
          if (received === 0) res.pause(); // hold the old connection open mid-body
          received += c.length;
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.once('error', reject);
      req.end();
    });
    await until(() => received > 0, 5000, 'first bytes of the download');
    const second = workload();
    expect(second.x509.serialNumber).not.toBe(first.x509.serialNumber);
    sds.setSecrets({ default: tlsCertificateSecret('default', second), ROOTCA: validationSecret('ROOTCA', ca.caPem) }, 'v2');
    await until(async () => (await servedSerial(port)) === second.x509.serialNumber, 5000, 'the rotated certificate');
    expect(received).toBeLessThan(total);
    // Resume the paused download on the connection made before the rotation.
    response!.resume();
    expect(await download).toBe(200);
    expect(received).toBe(total);
    expect(oldSerial).toBe(first.x509.serialNumber);
    expect((await get(port)).status).toBe(200);
    first = second;
  });

  test('a key that does not match its certificate, and an expired certificate, are NACKed and the previous certificate keeps serving', async () => {
    const port = sc.port('tls-in')!;
    const rejectedBefore = sc.stat('sds.default.update_rejected');
    const other = issueDevWorkload(ca, { ips: ['127.0.0.1'], keyLabel: 'sds-other' });
    sds.setSecrets({ default: tlsCertificateSecret('default', { chainPem: other.chainPem, keyPem: first.keyPem }), ROOTCA: validationSecret('ROOTCA', ca.caPem) }, 'bad-key');
    const since = sds.xds.requests.length;
    const nack = await sds.xds.waitFor((r) => r.typeUrl === SECRET && r.verdict === 'nack', 5000, since);
    expect(nack.errorDetail?.message).toMatch(/secret 'default': private_key does not match certificate/);
    expect(sc.stat('sds.default.update_rejected')).toBe(rejectedBefore + 1);
    expect(await servedSerial(port)).toBe(first.x509.serialNumber);

    const expired = issueDevWorkload(ca, { ips: ['127.0.0.1'], expired: true, keyLabel: 'sds-server' });
    sds.setSecrets({ default: tlsCertificateSecret('default', expired), ROOTCA: validationSecret('ROOTCA', ca.caPem) }, 'expired');
    const nack2 = await sds.xds.waitFor((r) => r.typeUrl === SECRET && r.verdict === 'nack', 5000, sds.xds.requests.length);
    expect(nack2.errorDetail?.message).toMatch(/secret 'default': certificate .* expired on/);
    expect(sc.stat('sds.default.update_rejected')).toBe(rejectedBefore + 2);
    expect(await servedSerial(port)).toBe(first.x509.serialNumber);
    expect((await get(port)).status).toBe(200);
  });

  test('the SDS stream reconnects after the server drops it and keeps rotating', async () => {
    const port = sc.port('tls-in')!;
    const since = sds.xds.requests.length;
    sds.xds.dropStreams();
    await sds.xds.waitFor((r) => r.typeUrl === SECRET && r.verdict === 'request', 10_000, since);
    const third = workload();
    sds.setSecrets({ default: tlsCertificateSecret('default', third), ROOTCA: validationSecret('ROOTCA', ca.caPem) }, 'v3');
    await until(async () => (await servedSerial(port)) === third.x509.serialNumber, 10_000, 'the certificate after the reconnect');
    expect(sc.stat('sds.default.control_plane.connected_state')).toBe(1);
  });
});


describe('SDS over ADS ({ ads: {} })', () => {
  let xds: XdsServer;
  let sc: Launched;
  const adsSds = { ads: {}, resource_api_version: 'V3' };
  const cert1 = issueDevWorkload(ca, { ips: ['127.0.0.1'], keyLabel: 'sds-ads' });
  const cert2 = issueDevWorkload(ca, { ips: ['127.0.0.1'], keyLabel: 'sds-ads' });

  /** A listener serving TLS (no client certificate) with its certificate from ADS. */
  function adsListener(name: string, secret: string): Record<string, unknown> {
    return {
      name,
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
            common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: adsSds }] },
          },
        },
        filters: [hcm('db')],
      }],
    };
  }

  beforeAll(async () => {
    xds = await startXdsServer();
    xds.setResources(CLUSTER, {}, 'c1');
    xds.setResources(LISTENER, { 'ads-tls': adsListener('ads-tls', 'ads-cert') }, 'l1');
    sc = await launch(adsBootstrap({ xdsPort: xds.port, setNodeOnFirstMessageOnly: true, clusters: [staticCluster('db', [up.port])] }));
  });
  afterAll(async () => {
    await sc.stop();
    await xds.close();
  });

  const getTls = (port: number): Promise<number> => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/', agent: false, ca: ca.caPem }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).once('error', reject);
  });

  test('the listener warms until its secret arrives over ADS; the initial fetch waits for it', async () => {
    await xds.waitFor((r) => r.typeUrl === SECRET && (r.resourceNames ?? []).includes('ads-cert'));
    // LDS was ACKed, but the listener is warming: not built, and the server not LIVE.
    await xds.waitFor((r) => r.typeUrl === LISTENER && r.verdict === 'ack');
    expect(sc.port('ads-tls')).toBeUndefined();
    expect(sc.server.state).toBe('INITIALIZING');
    expect((await fetch(`http://127.0.0.1:${sc.server.adminPort}/ready`)).status).toBe(503);
    xds.setResources(SECRET, { 'ads-cert': tlsCertificateSecret('ads-cert', cert1) }, 's1');
    await sc.started;
    expect(sc.server.state).toBe('LIVE');
    expect(await getTls(sc.port('ads-tls')!)).toBe(200);
    expect(xds.acked(SECRET)).toBe('s1');
    expect(sc.stat('sds.ads-cert.update_success')).toBe(1);
  });

  test('a malformed Secret is NACKed with a reason naming it; the last good one keeps serving', async () => {
    const since = xds.requests.length;
    xds.setResources(SECRET, { 'ads-cert': { name: 'ads-cert', tls_certificate: { certificate_chain: { inline_string: 'garbage' }, private_key: { inline_string: 'garbage' } } } }, 's2');
    const nack = await xds.waitFor((r) => r.typeUrl === SECRET && r.verdict === 'nack', 5000, since);
    expect(nack.errorDetail?.message).toMatch(/secret 'ads-cert'.*certificate_chain: not a PEM certificate chain/);
    expect(sc.stat('sds.ads-cert.update_rejected')).toBe(1);
    expect(await servedSerial(sc.port('ads-tls')!)).toBe(cert1.x509.serialNumber);
    expect(await getTls(sc.port('ads-tls')!)).toBe(200);
  });

  test('a later listener naming a new secret warms while the active listeners serve, then starts', async () => {
    const since = xds.requests.length;
    xds.setResources(LISTENER, { 'ads-tls': adsListener('ads-tls', 'ads-cert'), 'ads-tls-2': adsListener('ads-tls-2', 'ads-cert-2') }, 'l2');
    await xds.waitFor((r) => r.typeUrl === SECRET && (r.resourceNames ?? []).includes('ads-cert-2'), 5000, since);
    await xds.waitFor((r) => r.typeUrl === LISTENER && r.verdict === 'ack' && r.versionInfo === 'l2', 5000, since);
    expect(sc.port('ads-tls-2')).toBeUndefined();
    expect(await getTls(sc.port('ads-tls')!)).toBe(200);
    const dump = await adminJson(sc.server.adminPort, '/config_dump?resource=dynamic_warming_secrets');
    expect(dump.configs.map((c) => c['name'])).toEqual(['ads-cert-2']);
    xds.setResources(SECRET, { 'ads-cert': tlsCertificateSecret('ads-cert', cert1), 'ads-cert-2': tlsCertificateSecret('ads-cert-2', cert2) }, 's3');
    await until(() => sc.port('ads-tls-2') !== undefined, 5000, 'the warmed listener');
    expect(await servedSerial(sc.port('ads-tls-2')!)).toBe(cert2.x509.serialNumber);
    expect(await getTls(sc.port('ads-tls-2')!)).toBe(200);
  });

  test('a listener naming an SDS cluster that does not exist is NACKed with the reason', async () => {
    const since = xds.requests.length;
    const bad = istioListener('bad-sds', istioSdsConfig('GRPC', 'no-such-cluster'));
    xds.setResources(LISTENER, { 'ads-tls': adsListener('ads-tls', 'ads-cert'), 'ads-tls-2': adsListener('ads-tls-2', 'ads-cert-2'), 'bad-sds': bad }, 'l3');
    const nack = await xds.waitFor((r) => r.typeUrl === LISTENER && r.verdict === 'nack', 5000, since);
    expect(nack.errorDetail?.message).toMatch(/listener 'bad-sds': secret 'default': no static cluster named 'no-such-cluster'/);
    expect(await getTls(sc.port('ads-tls')!)).toBe(200);
  });
});
