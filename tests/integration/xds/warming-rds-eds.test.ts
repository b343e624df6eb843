/**
 * Warming on EDS and RDS (Envoy's cluster and listener init), with the test
 * ADS server, after the sidecar is LIVE:
 * - a changed EDS cluster (a new service_name) warms until its assignment
 *   arrives: the previous version keeps serving (no 503 UH), the new one is
 *   in dynamic_warming_clusters and cluster_manager.warming_clusters; once
 *   the assignment arrives requests reach the new endpoints;
 * - a new EDS cluster warms the same way; once warm, a route to it reaches
 *   its endpoints;
 * - a new listener whose HCM uses RDS is warming_state and not bound until
 *   its route configuration arrives; a changed one keeps the old version
 *   serving meanwhile;
 * - initial_fetch_timeout: past it, the listener serves (404, no route) and the
 *   cluster becomes active without hosts (503).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

const rdsListener = (name: string, rds: string, timeout?: string): Record<string, unknown> => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [{
    filters: [{
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: name,
        rds: { route_config_name: rds, config_source: { ads: {}, resource_api_version: 'V3', ...(timeout ? { initial_fetch_timeout: timeout } : {}) } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    }],
  }],
});
const routes = (name: string, cluster: string): Record<string, unknown> => ({ name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] });
const edsCluster = (name: string, serviceName: string, timeout?: string): Record<string, unknown> => ({
  name, type: 'EDS', connect_timeout: '1s',
  eds_cluster_config: { service_name: serviceName, eds_config: { ads: {}, resource_api_version: 'V3', ...(timeout ? { initial_fetch_timeout: timeout } : {}) } },
});
const assignment = (name: string, port: number): Record<string, unknown> => ({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] });

function get(port: number): Promise<{ status: number; body: string; flags: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, flags: res.headers['x-envoy-response-flags'] as string | undefined }));
    }).once('error', reject);
  });
}

async function dump(path: string): Promise<Array<Record<string, unknown>>> {
  const r = (await (await fetch(`http://127.0.0.1:${server.adminPort}${path}`)).json()) as { configs?: Array<Record<string, unknown>> };
  return r.configs ?? [];
}
const names = (cs: Array<Record<string, unknown>>): string[] => cs.map((c) => (c['cluster'] as Record<string, unknown>)['name'] as string).sort();

let xds: XdsServer;
let server: Server;
const ups: http.Server[] = [];
const upPorts: Record<string, number> = {};
const port = (name: string): number | undefined => server.listenerManager.all().find((l) => l.config.name === name)?.port;
let endpoints: Record<string, unknown> = {};
let eVersion = 0;
const setEndpoints = (more: Record<string, unknown>): void => {
  endpoints = { ...endpoints, ...more };
  xds.setResources(ENDPOINT, endpoints, `e${++eVersion}`);
};

beforeAll(async () => {
  for (const n of ['A', 'B', 'C']) {
    const s = http.createServer((_req, res) => res.end(n));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    ups.push(s);
    upPorts[n] = (s.address() as AddressInfo).port;
  }
  xds = await startXdsServer();
  xds.setResources(CLUSTER, { svc: edsCluster('svc', 'svc-v1') }, 'c1');
  endpoints = { 'svc-v1': assignment('svc-v1', upPorts['A']!) };
  xds.setResources(ENDPOINT, endpoints, 'e0');
  xds.setResources(LISTENER, { front: rdsListener('front', 'r1') }, 'l1');
  xds.setResources(ROUTE, { r1: routes('r1', 'svc') }, 'r1');
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
  for (const s of ups) s.close();
});

test('the initial fetch (LIVE) waited for EDS and RDS: the first request is served', async () => {
  expect(await get(port('front')!)).toMatchObject({ status: 200, body: 'A' });
  expect(await dump('/config_dump?resource=dynamic_warming_clusters')).toEqual([]);
});

test('a changed EDS cluster warms (the old version serves, no 503 UH) until its assignment arrives, then reaches the new endpoints', async () => {
  xds.setResources(CLUSTER, { svc: edsCluster('svc', 'svc-v2') }, 'c2');
  await xds.waitFor((r) => r.typeUrl === ENDPOINT && (r.resourceNames ?? []).includes('svc-v2'));
  await until(() => xds.acked(CLUSTER) === 'c2', 5000, 'CDS ACK');
  const warming = await dump('/config_dump?resource=dynamic_warming_clusters');
  expect(warming).toHaveLength(1);
  expect(warming[0]).toMatchObject({ version_info: 'c2', cluster: { name: 'svc', eds_cluster_config: { service_name: 'svc-v2' } } });
  expect(server.stats.findGauge('cluster_manager.warming_clusters')?.value()).toBe(1);
  for (let i = 0; i < 3; i++) expect(await get(port('front')!)).toMatchObject({ status: 200, body: 'A' });

  setEndpoints({ 'svc-v2': assignment('svc-v2', upPorts['B']!) });
  await until(async () => (await get(port('front')!)).body === 'B', 5000, 'the new endpoints');
  expect(await dump('/config_dump?resource=dynamic_warming_clusters')).toEqual([]);
  expect(server.stats.findGauge('cluster_manager.warming_clusters')?.value()).toBe(0);
});

test('a new EDS cluster warms until its assignment arrives; then a route to it reaches its endpoints', async () => {
  xds.setResources(CLUSTER, { svc: edsCluster('svc', 'svc-v2'), fresh: edsCluster('fresh', 'fresh') }, 'c3');
  await until(() => xds.acked(CLUSTER) === 'c3', 5000, 'CDS ACK');
  expect(names(await dump('/config_dump?resource=dynamic_warming_clusters'))).toEqual(['fresh']);
  expect(names(await dump('/config_dump?resource=dynamic_active_clusters'))).toEqual(['svc']);
  expect(server.clusters().some((c) => c.name === 'fresh')).toBe(false);
  expect(await get(port('front')!)).toMatchObject({ status: 200, body: 'B' });

  setEndpoints({ fresh: assignment('fresh', upPorts['C']!) });
  await until(() => server.clusters().some((c) => c.name === 'fresh'), 5000, 'the warmed cluster');
  xds.setResources(ROUTE, { r1: routes('r1', 'fresh') }, 'r2');
  await until(async () => (await get(port('front')!)).body === 'C', 5000, 'the route to the new cluster');
});

test('a new listener using RDS is warming (not bound) until its route configuration arrives; a changed one keeps the old version serving', async () => {
  xds.setResources(LISTENER, { front: rdsListener('front', 'r1'), second: rdsListener('second', 'r2') }, 'l2');
  await xds.waitFor((r) => r.typeUrl === ROUTE && (r.resourceNames ?? []).includes('r2'));
  await until(() => xds.acked(LISTENER) === 'l2', 5000, 'LDS ACK');
  let listeners = await dump('/config_dump?resource=dynamic_listeners');
  const second = listeners.find((l) => l['name'] === 'second')!;
  expect(second['active_state']).toBeUndefined();
  expect(second['warming_state']).toMatchObject({ version_info: 'l2', listener: { name: 'second' } });
  expect(listeners.find((l) => l['name'] === 'front')!['warming_state']).toBeUndefined();
  expect(port('second')).toBeUndefined();

  xds.setResources(ROUTE, { r1: routes('r1', 'fresh'), r2: routes('r2', 'svc') }, 'r3');
  await until(() => port('second') !== undefined, 5000, 'the warmed listener');
  expect(await get(port('second')!)).toMatchObject({ status: 200, body: 'B' });
  listeners = await dump('/config_dump?resource=dynamic_listeners');
  expect(listeners.find((l) => l['name'] === 'second')).toMatchObject({ active_state: { version_info: 'l2' } });
  expect(listeners.find((l) => l['name'] === 'second')!['warming_state']).toBeUndefined();

  // The active listener, changed to a route configuration not yet sent: both states; the old one serves.
  xds.setResources(LISTENER, { front: rdsListener('front', 'r9'), second: rdsListener('second', 'r2') }, 'l3');
  await until(() => xds.acked(LISTENER) === 'l3', 5000, 'LDS ACK');
  listeners = await dump('/config_dump?resource=dynamic_listeners');
  expect(listeners.find((l) => l['name'] === 'front')).toMatchObject({ active_state: { version_info: 'l1' }, warming_state: { version_info: 'l3' } });
  expect(await get(port('front')!)).toMatchObject({ status: 200, body: 'C' });
  xds.setResources(ROUTE, { r1: routes('r1', 'fresh'), r2: routes('r2', 'svc'), r9: routes('r9', 'svc') }, 'r4');
  await until(async () => (await get(port('front')!)).body === 'B', 5000, 'the changed listener');
  listeners = await dump('/config_dump?resource=dynamic_listeners');
  expect(listeners.find((l) => l['name'] === 'front')).toMatchObject({ active_state: { version_info: 'l3' } });
  expect(listeners.find((l) => l['name'] === 'front')!['warming_state']).toBeUndefined();
});

test('initial_fetch_timeout: past it a warming listener serves (404, no route) and a warming cluster is active without hosts (503)', async () => {
  xds.setResources(CLUSTER, { svc: edsCluster('svc', 'svc-v2'), fresh: edsCluster('fresh', 'fresh'), late: edsCluster('late', 'late', '0.3s') }, 'c4');
  xds.setResources(LISTENER, { front: rdsListener('front', 'r9'), second: rdsListener('second', 'r2'), third: rdsListener('third', 'r-late', '0.3s') }, 'l4');
  await until(() => xds.acked(CLUSTER) === 'c4' && xds.acked(LISTENER) === 'l4', 5000, 'ACKs');
  const started = Date.now();
  expect(names(await dump('/config_dump?resource=dynamic_warming_clusters'))).toEqual(['late']);
  expect(port('third')).toBeUndefined();
  await until(() => port('third') !== undefined && server.clusters().some((c) => c.name === 'late'), 5000, 'the timeouts');
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  expect(await get(port('third')!)).toMatchObject({ status: 404 });
  expect(await dump('/config_dump?resource=dynamic_warming_clusters')).toEqual([]);
  // The route configuration still applies when it comes later.
  xds.setResources(ROUTE, { r1: routes('r1', 'fresh'), r2: routes('r2', 'svc'), r9: routes('r9', 'svc'), 'r-late': routes('r-late', 'late') }, 'r5');
  await until(async () => (await get(port('third')!)).status === 503, 5000, 'the late route');
  expect(await get(port('third')!)).toMatchObject({ status: 503 });
});
