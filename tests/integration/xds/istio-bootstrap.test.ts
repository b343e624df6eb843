/**
 * Every bootstrap Istio generates (../shared/fixtures/istio/bootstrap/*.json)
 * started for real, as pilot-agent runs Envoy: the sidecar process with
 * pilot-agent's flags, the `xds-grpc` pipe to the test ADS server on a Unix
 * socket (standing in for pilot-agent's XDS proxy: empty CDS and LDS over
 * delta ADS), the `sds-grpc` pipe to a test SDS server (pilot-agent's
 * `sds-grpc`: `default` and `ROOTCA` from a dev PKI, and the `file-root:` /
 * `file-cert:` secrets read from certificate files written to the temp
 * directory), ports moved to free loopback ports (tests/support/
 * istio-bootstrap.ts). Each golden reaches LIVE, passes pilot-agent's
 * readiness query, and serves its static listeners: 15090 stats (compressed
 * Prometheus text from the admin API), 15021 health (proxied to the agent),
 * and secure_metrics' 15091/15092 mTLS stats listeners with the SDS
 * certificates. The goldens that cannot start exit 1 with the exact reason,
 * and so does an xds-grpc/sds-grpc cluster with a TLS transport socket (the
 * clients dial plaintext only; refused rather than silently downgraded).
 * One ADS server, one SDS server and one fake agent serve every process;
 * processes start PARALLEL at a time. For local debugging:
 * THEMIS_ISTIO_ONLY=<substring> starts only matching goldens,
 * THEMIS_ISTIO_PARALLEL=<n>, THEMIS_TEST_TIMINGS=1 prints start-up times.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { createDevCa, issueDevWorkload, spiffeId } from '../../../protocols/tls/dev-pki.ts';
import { istioGoldens, PILOT_AGENT_FLAGS, PILOT_AGENT_READINESS_PATH, rewriteIstioBootstrap, type RewrittenBootstrap } from '../../support/istio-bootstrap.ts';
import { freePort, runCli, startProcess, type SidecarProcess } from '../../support/process.ts';
import { istioSdsConfig, startSdsServer, tlsCertificateSecret, validationSecret, type SdsServer } from '../../support/sds-server.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, LISTENER, startXdsServer, type XdsServer } from '../../support/xds-server.ts';

/** Goldens that cannot start, with the exact reason the sidecar gives. */
const REFUSED: Record<string, string> = {
  'ambient_golden.json': "bootstrap_extensions[0]: unsupported extension 'type.googleapis.com/istio.workload.BootstrapExtension' (metadata_discovery)",
};
const ALL = istioGoldens();
const STARTS = ALL.filter((f) => !(f in REFUSED) && (!process.env["THEMIS_ISTIO_ONLY"] || f.includes(process.env["THEMIS_ISTIO_ONLY"])));
/** Processes started at once (CI shares two cores). */
const PARALLEL = Number(process.env["THEMIS_ISTIO_PARALLEL"] ?? 4);

interface Started {
  boot: RewrittenBootstrap;
  proc?: SidecarProcess;
  error?: unknown;
  ms: number;
}

const dir = mkdtempSync(join(tmpdir(), 'themis-istio-'));
const ca = createDevCa({ trustDomain: 'cluster.local' });
const workload = issueDevWorkload(ca, { ips: ['127.0.0.1'], uris: [spiffeId('cluster.local', 'foo', 'bar')] });
const scraper = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'istio-system', 'prometheus')] });
const files = { '/etc/istio/ms/': join(dir, 'ms') + '/', '/etc/zipkin/': join(dir, 'zipkin') + '/', '/var/lib/istio/data/': dir + '/' };
let xds: XdsServer, sds: SdsServer, agent: http.Server, agentPort: number;
const started = new Map<string, Started>();

/** pilot-agent's SecretManager: `file-root:<ca>` and `file-cert:<cert>~<key>` are read from the files. */
function fileSecret(name: string): Record<string, unknown> | undefined {
  const root = /^file-root:(.+)$/.exec(name);
  if (root) return validationSecret(name, readFileSync(root[1]!, 'utf8'));
  const cert = /^file-cert:(.+)~(.+)$/.exec(name);
  if (cert) return tlsCertificateSecret(name, { chainPem: readFileSync(cert[1]!, 'utf8'), keyPem: readFileSync(cert[2]!, 'utf8') });
  return undefined;
}

async function launch(name: string): Promise<void> {
  const ports: Record<number, number> = { 15020: agentPort };
  for (const p of [15000, 15005, 15021, 15090, 15091, 15092]) ports[p] = await freePort();
  const boot = rewriteIstioBootstrap(name, { xdsPath: xds.address.slice('unix:'.length), sdsPath: sds.path, files, ports });
  const file = join(dir, name.replace(/\.json$/, '-envoy-rev.json'));
  writeFileSync(file, boot.text);
  const t0 = Date.now();
  try {
    const proc = await startProcess(file, boot.adminPort, [...PILOT_AGENT_FLAGS], 60000);
    started.set(name, { boot, proc, ms: Date.now() - t0 });
  } catch (error) {
    started.set(name, { boot, error, ms: Date.now() - t0 });
  }
}

beforeAll(async () => {
  for (const sub of ['ms', 'zipkin']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'ms', 'ca.pem'), ca.caPem);
  writeFileSync(join(dir, 'ms', 'client.pem'), workload.chainPem);
  writeFileSync(join(dir, 'ms', 'key.pem'), workload.keyPem);
  writeFileSync(join(dir, 'zipkin', 'ca.pem'), ca.caPem);
  xds = await startXdsServer({ address: `unix:${join(dir, 'XDS')}` });
  xds.setResources(CLUSTER, {}, 'c0');
  xds.setResources(LISTENER, {}, 'l0');
  sds = await startSdsServer();
  agent = http.createServer((req, res) => res.end(req.url === '/healthz/ready' ? '' : '# agent metrics\n'));
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  agentPort = (agent.address() as { port: number }).port;
  // Every secret any golden references, as pilot-agent would serve it.
  const names = new Set<string>();
  for (const f of STARTS) for (const s of rewriteIstioBootstrap(f, { xdsPath: '', sdsPath: '', files, ports: {} }).secrets) names.add(s);
  const secrets: Record<string, unknown> = {};
  for (const n of names) secrets[n] = n === 'default' ? tlsCertificateSecret(n, workload) : n === 'ROOTCA' ? validationSecret(n, ca.caPem) : fileSecret(n);
  sds.setSecrets(secrets, 's0');
  const queue = [...STARTS];
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) await launch(f);
  }));
}, 180000);

afterAll(async () => {
  await Promise.all([...started.values()].map(async (s) => {
    s.proc?.child.kill('SIGTERM');
    await s.proc?.exited;
  }));
  await xds?.close();
  await sds?.close();
  await new Promise((r) => agent?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function sidecar(name: string): { boot: RewrittenBootstrap; proc: SidecarProcess } {
  const s = started.get(name);
  if (!s?.proc) throw new Error(`${name} did not start: ${String(s?.error)}`);
  return { boot: s.boot, proc: s.proc };
}

async function stats(adminPort: number, filter: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(filter)}`)).text();
  return new Map(text.split('\n').filter(Boolean).map((l) => {
    const i = l.lastIndexOf(': ');
    return [l.slice(0, i), Number(l.slice(i + 2))] as const;
  }));
}

function get(o: https.RequestOptions & { tls?: boolean }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    (o.tls ? https : http).get({ host: '127.0.0.1', agent: false, ...o }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('every golden is either started or refused with a reason', () => {
  expect(ALL.length).toBeGreaterThan(20);
  expect(ALL).toEqual(expect.arrayContaining(Object.keys(REFUSED)));
  const timings = STARTS.map((f) => `${f}: ${started.get(f)?.proc ? `LIVE in ${started.get(f)!.ms} ms` : `FAILED ${String(started.get(f)?.error)}`}`);
  if (process.env['THEMIS_TEST_TIMINGS']) console.log(timings.join('\n'));
  expect(STARTS.filter((f) => !started.get(f)?.proc)).toEqual([]);
});

describe.each(STARTS)('%s', (name) => {
  test("LIVE, pilot-agent's readiness query and /ready", async () => {
    const { proc } = sidecar(name);
    const text = await (await fetch(`http://127.0.0.1:${proc.adminPort}${PILOT_AGENT_READINESS_PATH}`)).text();
    expect(text).toMatch(/^server\.state: 0$/m);
    expect(text).toMatch(/^listener_manager\.workers_started: 1$/m);
    expect((await fetch(`http://127.0.0.1:${proc.adminPort}/ready`)).status).toBe(200);
  });

  test('CDS and LDS ACKed over delta ADS on the xds-grpc Unix socket; SDS secrets delivered', async () => {
    const { proc, boot } = sidecar(name);
    const s = await stats(proc.adminPort, '^(control_plane\\.connected_state|cluster_manager\\.cds\\.update_success|listener_manager\\.lds\\.update_success|sds\\.)');
    expect(s.get('control_plane.connected_state')).toBe(1);
    expect(s.get('cluster_manager.cds.update_success')).toBeGreaterThanOrEqual(1);
    expect(s.get('listener_manager.lds.update_success')).toBeGreaterThanOrEqual(1);
    // Envoy's SdsApi stats, per secret: sds.<name>.update_success.
    const delivered = boot.secrets.filter((secret) => (s.get(`sds.${secret}.update_success`) ?? 0) >= 1);
    expect(delivered).toEqual(boot.secrets);
  });

  test('the 15090 stats listener serves compressed Prometheus text; 15021 proxies /healthz/ready to the agent', async () => {
    const { boot } = sidecar(name);
    const prom = await get({ port: boot.listeners['0.0.0.0_15090']!, path: '/stats/prometheus', headers: { 'accept-encoding': 'gzip' } });
    expect(prom.status).toBe(200);
    // Istio adds the compressor filters unless compression is turned off (stats_compression, legacy_stats_tags_regex).
    const listener = (JSON.parse(boot.text) as { static_resources: { listeners: { name: string }[] } }).static_resources.listeners.find((l) => l.name === '0.0.0.0_15090');
    const gzip = JSON.stringify(listener).includes('envoy.filters.http.compressor.gzip');
    expect([gzip, prom.headers['content-encoding']]).toEqual([gzip, gzip ? 'gzip' : undefined]);
    expect((gzip ? zlib.gunzipSync(prom.body) : prom.body).toString('utf8')).toMatch(/^envoy_server_state(\{[^}]*\})? 0$/m);
    const health = await get({ port: boot.listeners['0.0.0.0_15021']!, path: '/healthz/ready' });
    expect(health.status).toBe(200);
  });
});

test('secure_metrics: the 15091/15092 listeners serve stats over mTLS with the SDS `default` certificate and `ROOTCA`', async () => {
  const { boot } = sidecar('secure_metrics_golden.json');
  expect(boot.secrets).toEqual(['ROOTCA', 'default']);
  const tlsOpts = { tls: true, ca: ca.caPem, cert: scraper.chainPem, key: scraper.keyPem };
  const own = await get({ ...tlsOpts, port: boot.listeners['0.0.0.0_15091']!, path: '/stats/prometheus' });
  expect(own.status).toBe(200);
  expect(own.body.toString('utf8')).toMatch(/^envoy_server_state(\{[^}]*\})? 0$/m);
  const merged = await get({ ...tlsOpts, port: boot.listeners['0.0.0.0_15092']!, path: '/stats/prometheus' });
  expect([merged.status, merged.body.toString('utf8')]).toEqual([200, '# agent metrics\n']);
  // Without a client certificate the handshake is refused (require_client_certificate).
  await expect(get({ tls: true, ca: ca.caPem, port: boot.listeners['0.0.0.0_15091']!, path: '/stats/prometheus' })).rejects.toThrow();
});

test.each(Object.entries(REFUSED))('%s is refused at start-up: %s', async (name, reason) => {
  const boot = rewriteIstioBootstrap(name, { xdsPath: join(dir, 'XDS'), sdsPath: sds.path, files, ports: { 15000: await freePort() } });
  const file = join(dir, name.replace(/\.json$/, '-envoy-rev.json'));
  writeFileSync(file, boot.text);
  const r = await runCli(['-c', file, ...PILOT_AGENT_FLAGS]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`error initializing configuration '${file}':\n${reason}\n`);
});

/** Istio's UpstreamTlsContext to istiod (before pilot-agent's XDS proxy): `default` and `ROOTCA` over sds-grpc. */
const ISTIOD_TLS = {
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    sni: 'istiod.istio-system.svc',
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: istioSdsConfig() }],
      combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: istioSdsConfig() } },
    },
  },
};

test.each([
  ['xds-grpc', 'default_golden.json', "dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: the xDS cluster 'xds-grpc' has a transport socket: xDS over TLS is not supported (plaintext over TCP or a Unix socket only, as Istio's pilot-agent XDS proxy is reached)"],
  ['sds-grpc', 'secure_metrics_golden.json', "listener '0.0.0.0_15091': secret 'default': the SDS cluster 'sds-grpc' has a transport socket: SDS over TLS is not supported (plaintext over TCP or a Unix socket only)"],
])('a %s cluster with a TLS transport socket is refused, not dialed in plaintext (%s)', async (cluster, name, reason) => {
  const boot = rewriteIstioBootstrap(name, { xdsPath: join(dir, 'XDS'), sdsPath: sds.path, files, ports: { 15000: await freePort(), 15090: 0, 15091: 0, 15092: 0, 15021: 0 } });
  const doc = JSON.parse(boot.text) as { static_resources: { clusters: Record<string, unknown>[] } };
  doc.static_resources.clusters.find((c) => c['name'] === cluster)!['transport_socket'] = ISTIOD_TLS;
  const file = join(dir, `${cluster}-tls-envoy-rev.json`);
  writeFileSync(file, JSON.stringify(doc));
  const r = await runCli(['-c', file, ...PILOT_AGENT_FLAGS]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(reason);
});

test('the shared servers saw every process: delta ADS only, Istio node metadata', async () => {
  await until(() => xds.nodes().length >= STARTS.length, 5000, 'one ADS stream per sidecar');
  expect(xds.requests.every((r) => r.kind === 'delta')).toBe(true);
  const node = xds.nodes()[0] as Record<string, unknown>;
  expect(node['id']).toBe('sidecar~1.2.3.4~foo~bar');
  expect((node['metadata'] as Record<string, unknown>)['ISTIO_VERSION']).toBe('binary-1.0');
  expect(sds.nacks()).toEqual([]);
});
