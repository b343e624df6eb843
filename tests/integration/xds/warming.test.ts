/**
 * Warming, seen in /config_dump and on the wire, with the test ADS server:
 * - a dynamic listener whose TLS secret (SDS over ADS) has not arrived is
 *   DynamicListener.warming_state (version_info, listener, last_updated)
 *   and not bound; a later update of an active listener that warms shows
 *   both active_state and warming_state while the active one serves;
 * - a CDS cluster whose UpstreamTlsContext names a secret not yet arrived
 *   warms: not active (requests routed to it get 503 NR, not a TLS failure),
 *   listed in dynamic_warming_clusters with its version_info and counted in
 *   cluster_manager.warming_clusters; once the secret arrives it becomes
 *   active and requests reach the HTTPS upstream through it.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { tlsCertificateSecret, validationSecret } from '../../support/sds-server.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, LISTENER, SECRET, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

const ca = createDevCa({ trustDomain: 'cluster.local' });
const serverCert = issueDevWorkload(ca, { ips: ['127.0.0.1'], keyLabel: 'warming' });
const ads = { ads: {}, resource_api_version: 'V3' };

function hcm(cluster: string): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: 'warming',
      route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    },
  };
}

/** A plain HTTP listener routing to `cluster`. */
const plainListener = (name: string, cluster: string): Record<string, unknown> => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [{ filters: [hcm(cluster)] }],
});

/** A TLS listener whose certificate comes over ADS. */
const tlsListener = (name: string, secret: string): Record<string, unknown> => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [{
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: ads }] },
      },
    },
    filters: [hcm('plain-up')],
  }],
});

/** A cluster to the HTTPS upstream, trusting the CA from the secret `caSecret` (over ADS). */
const tlsCluster = (name: string, port: number, caSecret: string): Record<string, unknown> => ({
  name,
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'localhost',
      common_tls_context: { validation_context_sds_secret_config: { name: caSecret, sds_config: ads } },
    },
  },
});

const plainCluster = (name: string, port: number): Record<string, unknown> => ({
  name,
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
});

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

async function dump(path: string): Promise<Array<Record<string, unknown>>> {
  const r = (await (await fetch(`http://127.0.0.1:${server.adminPort}${path}`)).json()) as { configs?: Array<Record<string, unknown>> };
  return r.configs ?? [];
}

let xds: XdsServer;
let server: Server;
let httpsUp: https.Server;
let plainUp: http.Server;
let httpsPort: number;
let plainPort: number;
const port = (name: string): number | undefined => server.listenerManager.all().find((l) => l.config.name === name)?.port;

beforeAll(async () => {
  httpsUp = https.createServer({ cert: serverCert.chainPem, key: serverCert.keyPem }, (_req, res) => res.end('over tls'));
  plainUp = http.createServer((_req, res) => res.end('plain'));
  await new Promise<void>((r) => httpsUp.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => plainUp.listen(0, '127.0.0.1', r));
  httpsPort = (httpsUp.address() as AddressInfo).port;
  plainPort = (plainUp.address() as AddressInfo).port;
  xds = await startXdsServer();
  xds.setResources(CLUSTER, { 'plain-up': plainCluster('plain-up', plainPort) }, 'c1');
  xds.setResources(LISTENER, { front: plainListener('front', 'tls-up') }, 'l1');
  const registry = createRegistry();
  const snapshot = await buildSnapshot({
    configYaml: adsBootstrap({ xdsPort: xds.port }),
    allowUnknownStaticFields: false,
  }, registry);
  server = new Server({ snapshot, registry, logs: new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  await server.start();
});

afterAll(async () => {
  server?.shutdown('test');
  await server?.exited;
  await xds?.close();
  httpsUp?.close();
  plainUp?.close();
});

test('a cluster whose TLS secret has not arrived warms (dynamic_warming_clusters, 503 NR), then serves over TLS once it arrives', async () => {
  xds.setResources(CLUSTER, { 'plain-up': plainCluster('plain-up', plainPort), 'tls-up': tlsCluster('tls-up', httpsPort, 'up-ca') }, 'c2');
  await xds.waitFor((r) => r.typeUrl === SECRET && (r.resourceNames ?? []).includes('up-ca'));
  await until(() => xds.acked(CLUSTER) === 'c2', 5000, 'CDS ACK');
  const warming = await dump('/config_dump?resource=dynamic_warming_clusters');
  expect(warming).toHaveLength(1);
  expect(warming[0]).toMatchObject({
    '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster',
    version_info: 'c2',
    cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'tls-up' },
  });
  expect(typeof warming[0]!['last_updated']).toBe('string');
  const active = await dump('/config_dump?resource=dynamic_active_clusters');
  expect(active.map((c) => (c['cluster'] as Record<string, unknown>)['name'])).toEqual(['plain-up']);
  expect(server.stats.findGauge('cluster_manager.warming_clusters')?.value()).toBe(1);
  const r = await get(port('front')!);
  expect(r.status).toBe(503);

  xds.setResources(SECRET, { 'up-ca': validationSecret('up-ca', ca.caPem) }, 's1');
  await until(() => server.clusters().some((c) => c.name === 'tls-up'), 5000, 'the warmed cluster');
  expect(await dump('/config_dump?resource=dynamic_warming_clusters')).toEqual([]);
  expect(server.stats.findGauge('cluster_manager.warming_clusters')?.value()).toBe(0);
  const ok = await get(port('front')!);
  expect(ok).toEqual({ status: 200, body: 'over tls' });
});

test('a listener waiting for its secret is warming_state; an update of an active listener shows active_state and warming_state', async () => {
  xds.setResources(LISTENER, { front: plainListener('front', 'tls-up'), secure: tlsListener('secure', 'cert-1') }, 'l2');
  await xds.waitFor((r) => r.typeUrl === SECRET && (r.resourceNames ?? []).includes('cert-1'));
  await until(() => xds.acked(LISTENER) === 'l2', 5000, 'LDS ACK');
  let listeners = await dump('/config_dump?resource=dynamic_listeners');
  const secure = listeners.find((l) => l['name'] === 'secure')!;
  expect(secure['active_state']).toBeUndefined();
  expect(secure['warming_state']).toMatchObject({ version_info: 'l2', listener: { name: 'secure' } });
  // The unchanged listener stays active only.
  const front = listeners.find((l) => l['name'] === 'front')!;
  expect(front['active_state']).toMatchObject({ version_info: 'l1' });
  expect(front['warming_state']).toBeUndefined();
  expect(port('secure')).toBeUndefined();

  xds.setResources(SECRET, { 'up-ca': validationSecret('up-ca', ca.caPem), 'cert-1': tlsCertificateSecret('cert-1', serverCert) }, 's2');
  await until(() => port('secure') !== undefined, 5000, 'the warmed listener');
  listeners = await dump('/config_dump?resource=dynamic_listeners');
  expect(listeners.find((l) => l['name'] === 'secure')).toMatchObject({ active_state: { version_info: 'l2' } });
  expect(listeners.find((l) => l['name'] === 'secure')!['warming_state']).toBeUndefined();

  // The active listener, changed to a secret that has not arrived: both states, the active one serving.
  xds.setResources(LISTENER, { front: plainListener('front', 'tls-up'), secure: tlsListener('secure', 'cert-2') }, 'l3');
  await xds.waitFor((r) => r.typeUrl === SECRET && (r.resourceNames ?? []).includes('cert-2'));
  await until(() => xds.acked(LISTENER) === 'l3', 5000, 'LDS ACK');
  listeners = await dump('/config_dump?resource=dynamic_listeners');
  expect(listeners.find((l) => l['name'] === 'secure')).toMatchObject({ active_state: { version_info: 'l2' }, warming_state: { version_info: 'l3' } });
  expect(port('secure')).toBeDefined();
});
