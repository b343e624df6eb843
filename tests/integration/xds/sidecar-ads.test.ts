/**
 * The sidecar configured over ADS by the test management server, state of
 * the world and delta: CDS -> EDS, LDS -> RDS warm before LIVE; updates
 * take effect while traffic flows; a bad update is NACKed with the reason
 * and the last good config keeps serving; removal; /config_dump's dynamic
 * sections; the control plane killed and restarted under traffic with zero
 * failed requests.
 */
import { send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { until } from '../../support/wait.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

function bootstrap(xdsPort: number, apiType: string): string {
  return adsBootstrap({ xdsPort, apiType, setNodeOnFirstMessageOnly: true, node: '{ id: "sidecar~10.0.0.1~db-0.ns~ns.svc.cluster.local", cluster: db, metadata: { NAMESPACE: ns, ISTIO_VERSION: "1.22.0" } }' });
}

function listener(port: number, rds = 'routes-1'): Record<string, unknown> {
  return {
    name: 'ingress',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'ingress',
          rds: { route_config_name: rds, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

function routes(name: string, cluster: string, prefix = '/'): Record<string, unknown> {
  return { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix }, route: { cluster } }] }] };
}

function edsCluster(name: string): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } };
}

function assignment(name: string, port: number): Record<string, unknown> {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] };
}

/** The upstream that answered, or the status of a local reply. */
async function answeredBy(port: number): Promise<string> {
  const r = await send('h1', port, { path: '/' });
  return r.status === 200 ? String(r.json()['upstream']) : `status ${r.status}`;
}


describe.each([['GRPC'], ['DELTA_GRPC']])('sidecar over ADS (%s)', (apiType) => {
  let xds: XdsServer, a: TestUpstream, b: TestUpstream, sc: TestSidecar, port: number;

  beforeAll(async () => {
    [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
    xds = await startXdsServer();
    port = await freePort();
    xds.setResources(CLUSTER, { svc: edsCluster('svc') }, 'c1');
    xds.setResources(ENDPOINT, { svc: assignment('svc', a.port) }, 'e1');
    xds.setResources(LISTENER, { ingress: listener(port) }, 'l1');
    xds.setResources(ROUTE, { 'routes-1': routes('routes-1', 'svc') }, 'r1');
    sc = await startSidecar(bootstrap(xds.port, apiType));
  }, 20000);

  afterAll(async () => {
    await sc.stop();
    await xds.close();
    await Promise.all([a.close(), b.close()]);
  });

  test('initial fetch completes before LIVE and traffic flows through LDS/RDS/CDS/EDS', async () => {
    expect(sc.server.state).toBe('LIVE');
    const r = await send('h1', port, { path: '/hello' });
    expect(r.status).toBe(200);
    expect(r.json()['upstream']).toBe('a');
    for (const t of [CLUSTER, ENDPOINT, LISTENER, ROUTE]) expect(xds.acks(t).length).toBeGreaterThan(0);
    expect(xds.nodes()[0]).toMatchObject({ id: 'sidecar~10.0.0.1~db-0.ns~ns.svc.cluster.local', metadata: { NAMESPACE: 'ns' }, user_agent_name: 'themis-sidecar' });
    expect(sc.stat('cluster_manager.cds.update_success')).toBeGreaterThan(0);
    expect(sc.stat('listener_manager.lds.update_success')).toBeGreaterThan(0);
    expect(sc.stat('control_plane.connected_state')).toBe(1);
  });

  test('EDS and RDS updates take effect', async () => {
    xds.setResources(ENDPOINT, { svc: assignment('svc', b.port) }, 'e2');
    await until(async () => (await answeredBy(port)) === 'b');
    xds.setResources(CLUSTER, { svc: edsCluster('svc'), other: edsCluster('other') }, 'c2');
    xds.setResources(ENDPOINT, { svc: assignment('svc', b.port), other: assignment('other', a.port) }, 'e3');
    xds.setResources(ROUTE, { 'routes-1': routes('routes-1', 'other') }, 'r2');
    // Until EDS for the new cluster arrives, its route answers 503.
    await until(async () => (await answeredBy(port)) === 'a');
  });

  test('a bad update is NACKed with the reason; the last good config keeps serving', async () => {
    const nacks = xds.nacks(ROUTE).length;
    xds.setResources(ROUTE, { 'routes-1': { name: 'routes-1', virtual_hosts: [{ name: 'x', domains: ['*'], routes: [{ match: { safe_regex: { regex: '(' } }, route: { cluster: 'svc' } }] }] } }, 'r-bad');
    await until(() => xds.nacks(ROUTE).length > nacks);
    const nack = xds.nacks(ROUTE)[xds.nacks(ROUTE).length - 1]!;
    expect(nack.errorDetail?.message).toMatch(/route_configuration 'routes-1'.*invalid regex/);
    expect((await send('h1', port, { path: '/' })).status).toBe(200);
    expect(sc.stat('rds.update_rejected')).toBeGreaterThan(0);
    // And a duplicate-name cluster set
    xds.setResources(ROUTE, { 'routes-1': routes('routes-1', 'other') }, 'r3');
  });

  test('accepted-but-not-applied fields in an update are counted in server.config_warnings, as at start-up', async () => {
    const before = sc.stat('server.config_warnings');
    const acks = xds.acks(CLUSTER).length;
    xds.setResources(CLUSTER, { svc: edsCluster('svc'), other: edsCluster('other'), warned: { ...edsCluster('warned'), outlier_detection: {} } }, 'c-warn');
    await until(() => xds.acks(CLUSTER).length > acks);
    expect(sc.stat('server.config_warnings')).toBeGreaterThan(before);
  });

  test('/config_dump shows the dynamic resources with their versions', async () => {
    const adminPort = sc.server.adminPort;
    const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as { configs: Array<Record<string, unknown>> };
    const clusters = dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump'))!;
    const dyn = clusters['dynamic_active_clusters'] as Array<Record<string, unknown>>;
    expect(dyn.map((c) => (c['cluster'] as Record<string, unknown>)['name']).sort()).toEqual(['other', 'svc']);
    expect(dyn[0]!['version_info']).toBeTruthy();
    const listeners = dump.configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump'))!;
    expect((listeners['dynamic_listeners'] as Array<Record<string, unknown>>)[0]!['name']).toBe('ingress');
    const routesDump = dump.configs.find((c) => String(c['@type']).endsWith('RoutesConfigDump'))!;
    expect((routesDump['dynamic_route_configs'] as Array<Record<string, unknown>>).length).toBe(1);
  });

  test('control plane killed and restarted under traffic: zero failed requests', async () => {
    let failures = 0, ok = 0, running = true;
    const loop = (async () => {
      while (running) {
        try {
          const r = await send('h1', port, { path: '/' });
          if (r.status === 200) ok++; else failures++;
        } catch {
          failures++;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    const xdsPort = xds.port;
    const snapshot = { clusters: xds.version(CLUSTER) };
    await xds.close();
    await new Promise((r) => setTimeout(r, 300));
    xds = await startXdsServer({ address: `127.0.0.1:${xdsPort}` });
    xds.setResources(CLUSTER, { svc: edsCluster('svc'), other: edsCluster('other') }, snapshot.clusters ?? 'c2');
    xds.setResources(ENDPOINT, { svc: assignment('svc', b.port), other: assignment('other', a.port) }, 'e3');
    xds.setResources(LISTENER, { ingress: listener(port) }, 'l1');
    xds.setResources(ROUTE, { 'routes-1': routes('routes-1', 'other') }, 'r3');
    await until(() => xds.acks(LISTENER).length > 0 && xds.acks(CLUSTER).length > 0, 15000);
    await new Promise((r) => setTimeout(r, 200));
    running = false;
    await loop;
    expect(failures).toBe(0);
    expect(ok).toBeGreaterThan(10);
  }, 30000);

  test('removing the listener stops it', async () => {
    xds.setResources(LISTENER, {}, 'l-none');
    await until(async () => {
      try {
        await send('h1', port, { path: '/' });
        return false;
      } catch {
        return true;
      }
    });
  });
});
