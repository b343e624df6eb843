/**
 * Non-aggregated gRPC config sources: lds_config / cds_config with
 * api_config_source (GRPC and DELTA_GRPC) open one stream per type to
 * ListenerDiscoveryService and ClusterDiscoveryService of the test
 * management server (over TCP, and over a Unix socket): listeners and
 * clusters arrive, traffic flows, an update is applied, a bad resource is
 * NACKed with the reason while the last good config serves; EDS clusters
 * and HCM rds with an api_config_source open EndpointDiscoveryService and
 * RouteDiscoveryService streams (one per type and source); the
 * go-control-plane bootstraps that use this form validate.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { until } from '../../support/wait.ts';
import { buildSnapshot, createRegistry } from '../../../sidecar/main.ts';
import { fromFixtures } from '../../../sidecar/paths.ts';

function apiSource(apiType: string): string {
  return `{ api_config_source: { api_type: ${apiType}, transport_api_version: V3, set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: xds_cluster } }] }, initial_fetch_timeout: 0s, resource_api_version: V3 }`;
}

function bootstrap(xdsAddress: string, apiType: string): string {
  return `
node: { id: test-id, cluster: test-cluster }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  lds_config: ${apiSource(apiType)}
  cds_config: ${apiSource(apiType)}
static_resources:
  clusters:
  - name: xds_cluster
    connect_timeout: 1s
    http2_protocol_options: {}
    load_assignment: { cluster_name: xds_cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address: ${xdsAddress} } }] }] }
`;
}

function staticCluster(name: string, port: number): Record<string, unknown> {
  return {
    name, type: 'STATIC', connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

function listener(port: number, cluster: string, regex?: string): Record<string, unknown> {
  return {
    name: 'ingress',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'ingress',
          route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: regex !== undefined ? { safe_regex: { regex } } : { prefix: '/' }, route: { cluster } }] }] },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

async function answeredBy(port: number): Promise<string> {
  const r = await send('h1', port, { path: '/' });
  return r.status === 200 ? String(r.json()['upstream']) : `status ${r.status}`;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'themis-nonagg-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each([
  ['GRPC', 'tcp'],
  ['DELTA_GRPC', 'tcp'],
  ['DELTA_GRPC', 'pipe'],
  ['GRPC', 'pipe'],
])('lds_config/cds_config api_config_source %s over %s', (apiType, transport) => {
  let xds: XdsServer, a: TestUpstream, b: TestUpstream, sc: TestSidecar, port: number;

  beforeAll(async () => {
    [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
    const sock = path.join(tmp, `${apiType}.sock`);
    xds = await startXdsServer(transport === 'pipe' ? { address: `unix:${sock}` } : {});
    port = await freePort();
    xds.setResources(CLUSTER, { svc: staticCluster('svc', a.port) }, 'c1');
    xds.setResources(LISTENER, { ingress: listener(port, 'svc') }, 'l1');
    const address = transport === 'pipe' ? `{ pipe: { path: "${sock}" } }` : `{ socket_address: { address: 127.0.0.1, port_value: ${xds.port} } }`;
    sc = await startSidecar(bootstrap(address, apiType));
  }, 20000);

  afterAll(async () => {
    await sc.stop();
    await xds.close();
    await Promise.all([a.close(), b.close()]);
  });

  test('one stream per type on the per-type services; listeners and clusters arrive; traffic flows', async () => {
    expect(sc.server.state).toBe('LIVE');
    expect(await answeredBy(port)).toBe('a');
    const method = apiType === 'GRPC' ? ['StreamClusters', 'StreamListeners'] : ['DeltaClusters', 'DeltaListeners'];
    expect(xds.streamMethods().sort()).toEqual([
      `/envoy.service.cluster.v3.ClusterDiscoveryService/${method[0]}`,
      `/envoy.service.listener.v3.ListenerDiscoveryService/${method[1]}`,
    ]);
    expect(xds.acked(CLUSTER)).toBe('c1');
    expect(xds.acked(LISTENER)).toBe('l1');
    // Each stream carries the node on its first message.
    expect(xds.nodes()).toEqual([expect.objectContaining({ id: 'test-id', cluster: 'test-cluster' }), expect.objectContaining({ id: 'test-id' })]);
    expect(sc.stat('cluster_manager.cds.update_success')).toBeGreaterThan(0);
    expect(sc.stat('listener_manager.lds.update_success')).toBeGreaterThan(0);
  });

  test('updates are applied', async () => {
    xds.setResources(CLUSTER, { svc: staticCluster('svc', a.port), other: staticCluster('other', b.port) }, 'c2');
    await until(() => xds.acked(CLUSTER) === 'c2');
    xds.setResources(LISTENER, { ingress: listener(port, 'other') }, 'l2');
    await until(async () => (await answeredBy(port)) === 'b');
    expect(xds.acked(LISTENER)).toBe('l2');
  });

  test('a bad resource is NACKed with the reason; the last good config keeps serving', async () => {
    const lNacks = xds.nacks(LISTENER).length;
    xds.setResources(LISTENER, { ingress: listener(port, 'svc', '(') }, 'l-bad');
    await until(() => xds.nacks(LISTENER).length > lNacks);
    expect(xds.nacks(LISTENER).at(-1)!.errorDetail?.message).toMatch(/ingress.*regex/);
    expect(await answeredBy(port)).toBe('b');
    expect(sc.stat('listener_manager.lds.update_rejected')).toBeGreaterThan(0);

    // Without ads_config, an EDS cluster cannot be served: NACKed, naming it.
    const cNacks = xds.nacks(CLUSTER).length;
    xds.setResources(CLUSTER, { other: staticCluster('other', b.port), e: { name: 'e', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } } }, 'c-bad');
    await until(() => xds.nacks(CLUSTER).length > cNacks);
    expect(xds.nacks(CLUSTER).at(-1)!.errorDetail?.message).toMatch(/cluster 'e': EDS over \{ ads: \{\} \} needs dynamic_resources.ads_config/);
    expect(await answeredBy(port)).toBe('b');
  });

  test('the streams reconnect after the control plane drops them', async () => {
    xds.dropStreams();
    await until(() => xds.streams() === 2, 10000);
    xds.setResources(LISTENER, { ingress: listener(port, 'svc') }, 'l3');
    xds.setResources(CLUSTER, { svc: staticCluster('svc', a.port), other: staticCluster('other', b.port) }, 'c3');
    await until(async () => (await answeredBy(port)) === 'a', 10000);
  }, 15000);
});

function edsCluster(name: string, apiType: string): Record<string, unknown> {
  return {
    name, type: 'EDS', connect_timeout: '1s',
    eds_cluster_config: { service_name: `${name}-cla`, eds_config: { api_config_source: { api_type: apiType, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] }, initial_fetch_timeout: '0s', resource_api_version: 'V3' } },
  };
}

function cla(name: string, port: number): Record<string, unknown> {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] };
}

function rdsListener(port: number, routeName: string, apiType: string): Record<string, unknown> {
  return {
    name: 'ingress',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'ingress',
          rds: { route_config_name: routeName, config_source: { api_config_source: { api_type: apiType, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] }, initial_fetch_timeout: '0s', resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

function routeConfig(name: string, cluster: string): Record<string, unknown> {
  return { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] };
}

describe.each(['GRPC', 'DELTA_GRPC'])('EDS and RDS api_config_source %s (no ads_config)', (apiType) => {
  let xds: XdsServer, a: TestUpstream, b: TestUpstream, sc: TestSidecar, port: number;

  beforeAll(async () => {
    [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
    xds = await startXdsServer();
    port = await freePort();
    xds.setResources(CLUSTER, { svc: edsCluster('svc', apiType) }, 'c1');
    xds.setResources(ENDPOINT, { 'svc-cla': cla('svc-cla', a.port) }, 'e1');
    xds.setResources(LISTENER, { ingress: rdsListener(port, 'routes', apiType) }, 'l1');
    xds.setResources(ROUTE, { routes: routeConfig('routes', 'svc') }, 'r1');
    sc = await startSidecar(bootstrap(`{ socket_address: { address: 127.0.0.1, port_value: ${xds.port} } }`, apiType));
  }, 20000);

  afterAll(async () => {
    await sc.stop();
    await xds.close();
    await Promise.all([a.close(), b.close()]);
  });

  test('EDS and RDS streams open on their own services; endpoints and routes arrive; traffic flows', async () => {
    expect(sc.server.state).toBe('LIVE');
    expect(await answeredBy(port)).toBe('a');
    const m = apiType === 'GRPC' ? ['StreamClusters', 'StreamEndpoints', 'StreamListeners', 'StreamRoutes'] : ['DeltaClusters', 'DeltaEndpoints', 'DeltaListeners', 'DeltaRoutes'];
    expect(xds.streamMethods().sort()).toEqual([
      `/envoy.service.cluster.v3.ClusterDiscoveryService/${m[0]}`,
      `/envoy.service.endpoint.v3.EndpointDiscoveryService/${m[1]}`,
      `/envoy.service.listener.v3.ListenerDiscoveryService/${m[2]}`,
      `/envoy.service.route.v3.RouteDiscoveryService/${m[3]}`,
    ]);
    expect(xds.acked(ENDPOINT)).toBe('e1');
    expect(xds.acked(ROUTE)).toBe('r1');
  });

  test('endpoint and route updates are applied', async () => {
    xds.setResources(ENDPOINT, { 'svc-cla': cla('svc-cla', b.port) }, 'e2');
    await until(async () => (await answeredBy(port)) === 'b');
    xds.setResources(CLUSTER, { svc: edsCluster('svc', apiType), other: edsCluster('other', apiType) }, 'c2');
    xds.setResources(ENDPOINT, { 'svc-cla': cla('svc-cla', b.port), 'other-cla': cla('other-cla', a.port) }, 'e3');
    await until(() => xds.acked(CLUSTER) === 'c2' && xds.acked(ENDPOINT) === 'e3');
    xds.setResources(ROUTE, { routes: routeConfig('routes', 'other') }, 'r2');
    await until(async () => (await answeredBy(port)) === 'a');
    expect(xds.acked(ROUTE)).toBe('r2');
  });

  test('a bad ClusterLoadAssignment is NACKed with the reason; the last good endpoints serve', async () => {
    const n = xds.nacks(ENDPOINT).length;
    const bad = { cluster_name: 'other-cla', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } } }] }] };
    xds.setResources(ENDPOINT, { 'svc-cla': cla('svc-cla', b.port), 'other-cla': bad }, 'e-bad');
    await until(() => xds.nacks(ENDPOINT).length > n);
    expect(xds.nacks(ENDPOINT).at(-1)!.errorDetail?.message).toMatch(/cluster_load_assignment 'other-cla'.*port/);
    expect(await answeredBy(port)).toBe('a');
  });

  test('an api_config_source naming no static cluster is NACKed', async () => {
    const n = xds.nacks(CLUSTER).length;
    const c = edsCluster('x', apiType) as { eds_cluster_config: { eds_config: { api_config_source: { grpc_services: Array<{ envoy_grpc: { cluster_name: string } }> } } } };
    c.eds_cluster_config.eds_config.api_config_source.grpc_services[0]!.envoy_grpc.cluster_name = 'nope';
    xds.setResources(CLUSTER, { svc: edsCluster('svc', apiType), other: edsCluster('other', apiType), x: c as unknown as Record<string, unknown> }, 'c-bad');
    await until(() => xds.nacks(CLUSTER).length > n);
    expect(xds.nacks(CLUSTER).at(-1)!.errorDetail?.message).toMatch(/cluster 'x': eds_cluster_config.eds_config: api_config_source: no static cluster named 'nope'/);
  });
});

describe('go-control-plane bootstraps with api_config_source', () => {
  test.each(['bootstrap-xds.yaml', 'bootstrap-delta.yaml'])('%s validates', async (file) => {
    const snapshot = await buildSnapshot({ configPath: fromFixtures('envoy', 'go-control-plane', file), allowUnknownStaticFields: false }, createRegistry());
    const mode = file === 'bootstrap-xds.yaml' ? 'sotw' : 'delta';
    for (const cs of [snapshot.xds?.lds, snapshot.xds?.cds]) {
      expect(cs).toMatchObject({ kind: 'grpc', mode, clusterName: 'xds_cluster', setNodeOnFirstMessageOnly: true, target: { kind: 'tcp', host: '127.0.0.1', port: 18000 } });
    }
    expect(snapshot.xds?.ads).toBeUndefined();
  });
});
