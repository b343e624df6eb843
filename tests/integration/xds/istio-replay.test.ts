/**
 * Istio's real config dumps replayed over ADS to a running sidecar: every
 * Listener, Cluster and ClusterLoadAssignment the replay table marks ACK is
 * served by the test management server (listener addresses moved to free
 * loopback ports, endpoints to local test upstreams) and ACKed; each
 * resource the table marks NACK, added to them, is NACKed with the table's
 * reason while the rest keeps serving; requests go through replayed
 * listeners: the static health listener's inline route to the `agent`
 * cluster, the outbound HTTP listener with all of Istio's HTTP filters, and
 * a TCP listener whose istio.stats filter runs before tcp_proxy.
 * RouteConfigurations of the dumps all NACK (see the table), so the HCMs'
 * RDS names get a stand-in route to a local upstream.
 */
import { send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { bodyOf, loadConfigdumpResources, replayAll, type ReplayResult } from '../../../sidecar/bootstrap/istio-replay-report.ts';
import { createRegistry } from '../../../sidecar/main.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

type J = Record<string, unknown>;

const results = replayAll(createRegistry(), loadConfigdumpResources());

function bootstrap(xdsPort: number): string {
  return adsBootstrap({ xdsPort, apiType: 'DELTA_GRPC', setNodeOnFirstMessageOnly: true, node: '{ id: "sidecar~10.244.0.9~productpage-v1.default~default.svc.cluster.local", cluster: productpage.default, metadata: { NAMESPACE: default, ISTIO_VERSION: "1.18.0" } }' });
}

/** Every socket_address under `v` moved to 127.0.0.1:`port`. */
function rewriteAddresses(v: unknown, port: number): unknown {
  if (Array.isArray(v)) return v.map((x) => rewriteAddresses(x, port));
  if (typeof v !== 'object' || v === null) return v;
  const o = v as J;
  const out: J = {};
  for (const [k, x] of Object.entries(o)) out[k] = k === 'socket_address' ? { ...(x as J), address: '127.0.0.1', port_value: port } : rewriteAddresses(x, port);
  return out;
}

/** The RDS names and tcp_proxy clusters a listener uses. */
function referencesOf(l: J): { rds: string[]; clusters: string[] } {
  const rds: string[] = [];
  const clusters: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v !== 'object' || v === null) return;
    const o = v as J;
    const t = String(o['@type'] ?? '');
    if (t.endsWith('HttpConnectionManager') && typeof (o['rds'] as J | undefined)?.['route_config_name'] === 'string') rds.push(String((o['rds'] as J)['route_config_name']));
    if (t.endsWith('TcpProxy') && typeof o['cluster'] === 'string') clusters.push(o['cluster']);
    Object.values(o).forEach(walk);
  };
  walk(l);
  return { rds, clusters };
}

const ok = (kind: string): ReplayResult[] => {
  const seen = new Set<string>();
  return results.filter((r) => r.ok && r.resource.kind === kind && !seen.has(r.resource.name) && seen.add(r.resource.name));
};
const nacked = (kind: string): ReplayResult[] => results.filter((r) => !r.ok && r.resource.kind === kind);

let xds: XdsServer, up: TestUpstream, agent: TestUpstream, sc: TestSidecar;
const listeners: Record<string, unknown> = {};
const clusters: Record<string, unknown> = {};
const endpoints: Record<string, unknown> = {};
const routes: Record<string, unknown> = {};
const ports = new Map<string, number>();

beforeAll(async () => {
  [up, agent] = await Promise.all([startHttpUpstream('workload'), startHttpUpstream('agent')]);
  xds = await startXdsServer();
  const referencedClusters = new Set<string>();
  const rdsNames = new Set<string>();
  for (const r of ok('Listener')) {
    const port = await freePort();
    ports.set(r.resource.name, port);
    // Istio's outbound listeners have bind_to_port: false (they take traffic
    // redirected by the virtual listener); here they are bound on loopback so
    // the test can drive them directly.
    const body = { ...bodyOf(r.resource), name: r.resource.name, address: { socket_address: { address: '127.0.0.1', port_value: port } }, bind_to_port: true };
    listeners[r.resource.name] = body;
    const refs = referencesOf(body);
    refs.rds.forEach((n) => rdsNames.add(n));
    refs.clusters.forEach((n) => referencedClusters.add(n));
  }
  // Clusters with Istio's mTLS take their certificates over SDS from the agent (sds-grpc), which this test has not.
  for (const r of ok('Cluster')) {
    if (JSON.stringify(r.resource.json).includes('UpstreamTlsContext')) continue;
    clusters[r.resource.name] = rewriteAddresses(bodyOf(r.resource), r.resource.name === 'agent' ? agent.port : up.port);
  }
  // Stand-in EDS clusters for the replayed assignments and the tcp_proxy clusters; the assignments' endpoints move to the upstream.
  for (const r of ok('ClusterLoadAssignment')) {
    // xds-grpc is this bootstrap's own static cluster (Istio's bootstrap has one of that name too).
    if (clusters[r.resource.name] || r.resource.name === 'xds-grpc') continue;
    const cla = rewriteAddresses(bodyOf(r.resource), up.port) as J;
    // Istio's ORIGINAL_DST stand-ins (PassthroughCluster ...) come with no endpoints: give them the upstream.
    if (!Array.isArray(cla['endpoints']) || cla['endpoints'].length === 0) cla['endpoints'] = [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }];
    endpoints[r.resource.name] = cla;
    clusters[r.resource.name] = { name: r.resource.name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } };
  }
  for (const n of [...referencedClusters, 'replay-route-target']) {
    if (clusters[n]) continue;
    clusters[n] = { name: n, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: n, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }] } };
  }
  for (const n of rdsNames) routes[n] = { name: n, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'replay-route-target' } }] }] };
  xds.setResources(CLUSTER, clusters, 'c1');
  xds.setResources(ENDPOINT, endpoints, 'e1');
  xds.setResources(LISTENER, listeners, 'l1');
  xds.setResources(ROUTE, routes, 'r1');
  sc = await startSidecar(bootstrap(xds.port));
}, 60000);

afterAll(async () => {
  await sc?.stop();
  await xds?.close();
  await Promise.all([up?.close(), agent?.close()]);
});

test('every ACKable replayed listener, cluster and assignment is ACKed', async () => {
  expect(Object.keys(listeners).length).toBeGreaterThanOrEqual(24);
  // The ACK follows the apply that made the sidecar ready: wait for it.
  for (const [t, v] of [[CLUSTER, 'c1'], [LISTENER, 'l1'], [ENDPOINT, 'e1'], [ROUTE, 'r1']] as const) {
    await xds.waitFor((q) => q.typeUrl === t && q.verdict === 'ack' && q.answeredVersion === v, 10000);
  }
  for (const t of [CLUSTER, LISTENER, ENDPOINT, ROUTE]) expect(xds.nacks(t)).toEqual([]);
  expect(sc.server.listenerManager.all().map((l) => l.config.name).sort()).toEqual(Object.keys(listeners).sort());
});

test('the static health listener\'s inline route reaches the agent cluster', async () => {
  const r = await send('h1', ports.get('0.0.0.0_15021')!, { path: '/healthz/ready' });
  expect(r.status).toBe(200);
  expect(r.json()['upstream']).toBe('agent');
});

// Behind tls_inspector + http_inspector, as every Istio outbound HTTP listener
// (tests/integration/listener/inspected-hcm.test.ts tests that part alone).
test.each(['h1', 'h2'] as const)('the outbound HTTP listener passes requests through all of Istio\'s HTTP filters (%s)', async (proto) => {
  const r = await Promise.race([
    send(proto, ports.get('0.0.0.0_80')!, { path: '/productpage', authority: 'productpage:80' }),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer in 3 s')), 3000).unref()),
  ]);
  expect(r.status).toBe(200);
  expect(r.json()['upstream']).toBe('workload');
});

test('a TCP listener runs istio.stats before tcp_proxy and proxies to the cluster\'s endpoint', async () => {
  const before = sc.stat('tcp.outbound|443||kubernetes.default.svc.cluster.local.downstream_cx_total');
  const r = await send('h1', ports.get('10.96.0.1_443')!, { path: '/api' });
  expect(r.status).toBe(200);
  expect(r.json()['upstream']).toBe('workload');
  expect(sc.stat('tcp.outbound|443||kubernetes.default.svc.cluster.local.downstream_cx_total')).toBeGreaterThanOrEqual(before);
});

/** Serves the ACKable set plus one resource and waits for the NACK of that version; then restores. */
async function expectNack(typeUrl: string, base: Record<string, unknown>, name: string, body: unknown, version: string): Promise<string> {
  const since = xds.requests.length;
  xds.setResources(typeUrl, { ...base, [name]: body }, version);
  const nack = await xds.waitFor((q) => q.typeUrl === typeUrl && q.verdict === 'nack' && q.answeredVersion === version, 10000, since);
  return nack.errorDetail?.message ?? '';
}

test('each resource the table NACKs is NACKed with the table\'s reason, and the rest keeps serving', async () => {
  let n = 0;
  for (const r of nacked('Listener')) {
    const raw = bodyOf(r.resource);
    const body = raw['address'] ? { ...raw, name: r.resource.name, address: { socket_address: { address: '127.0.0.1', port_value: await freePort() } } } : { ...raw, name: r.resource.name };
    const msg = await expectNack(LISTENER, listeners, r.resource.name, body, `l-nack-${++n}`);
    expect(msg).toContain(r.errors[0]!.reason);
  }
  for (const r of nacked('Cluster')) {
    const msg = await expectNack(CLUSTER, clusters, r.resource.name, bodyOf(r.resource), `c-nack-${++n}`);
    expect(msg).toContain(r.errors[0]!.reason);
  }
  xds.setResources(LISTENER, listeners, 'l2');
  xds.setResources(CLUSTER, clusters, 'c2');
  await xds.waitFor((q) => q.typeUrl === LISTENER && q.verdict === 'ack' && q.answeredVersion === 'l2', 10000);
  const r = await send('h1', ports.get('0.0.0.0_15021')!, { path: '/healthz/ready' });
  expect(r.status).toBe(200);
}, 60000);
