/**
 * Connections accepted while the server initializes (Envoy starts its
 * workers only once its init manager is done: the CDS/EDS, LDS/RDS, SDS and
 * ECDS initial fetches or their initial_fetch_timeout), with the test ADS
 * server and a bootstrap whose static listeners route to a cluster that
 * comes over CDS/EDS:
 * - a request sent before the control plane delivers the cluster is held
 *   (not answered, /ready 503, workers_started 0) and answered by the real
 *   upstream once the cluster arrives, over HTTP/1.1, h2c and tcp_proxy;
 * - a held connection whose client goes away (FIN, reset) is cleaned up
 *   while initialization goes on, never handed to its filter chain;
 *   shutting down during initialization closes held connections unanswered;
 * - with a short initial_fetch_timeout and a control plane that never
 *   answers, held requests are served when the timeout ends initialization
 *   (503 NC: the cluster never came), not before.
 * A bootstrap without dynamic resources serves at once (every other
 * integration test starts one).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { MAX_HELD_CONNECTIONS } from '../../../sidecar/listener/listener.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { send, type Protocol, type TestResponse } from '../../support/client.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, ENDPOINT, LISTENER, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

/** An HTTP listener whose route takes the cluster from x-cluster (a name the bootstrap cannot know: it comes over CDS). */
const httpListener = `- name: front
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: front
        route_config:
          virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster_header: x-cluster } }] }]
        http_filters:
        - name: envoy.filters.http.router
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;

/** A tcp_proxy listener to the CDS cluster. */
const tcpListener = `- name: tcp
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.tcp_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
        stat_prefix: tcp
        cluster: dyn`;

const edsCluster = { name: 'dyn', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
const assignment = (port: number): Record<string, unknown> => ({ cluster_name: 'dyn', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] });

/** Every port-0 listener counts into this scope (Envoy names it by the configured address). */
const LISTENER_CX_ACTIVE = 'listener.127.0.0.1_0.downstream_cx_active';
const LISTENER_CX_TOTAL = 'listener.127.0.0.1_0.downstream_cx_total';

interface Initializing {
  readonly xds: XdsServer;
  readonly server: Server;
  /** server.start(): resolves once LIVE. */
  readonly started: Promise<void>;
  port(name: string): number;
  stat(name: string): number;
  admin(path: string): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/** Starts a sidecar whose ADS server has sent nothing yet; resolves once its listeners are bound (still INITIALIZING). */
async function startInitializing(listeners: readonly string[], initialFetchTimeout = '0s'): Promise<Initializing> {
  const xds = await startXdsServer();
  const registry = createRegistry();
  const snapshot = await buildSnapshot({ configYaml: adsBootstrap({ xdsPort: xds.port, listeners, initialFetchTimeout }), allowUnknownStaticFields: false }, registry);
  const server = new Server({ snapshot, registry, logs: new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  const started = server.start();
  started.catch(() => undefined);
  const port = (name: string): number => server.listenerManager.all().find((l) => l.config.name === name)?.port ?? 0;
  await until(() => listeners.length === server.listenerManager.all().length && server.listenerManager.all().every((l) => l.port > 0) && server.adminPort > 0, 5000, 'listeners bound');
  // The sidecar asked for its clusters: it is in the middle of the initial fetch.
  await xds.waitFor((r) => r.typeUrl === CLUSTER);
  let closed = false;
  return {
    xds, server, started, port,
    stat: (name) => server.stats.findCounter(name)?.value() ?? server.stats.findGauge(name)?.value() ?? 0,
    async admin(path) {
      const r = await fetch(`http://127.0.0.1:${server.adminPort}${path}`);
      return { status: r.status, body: await r.text() };
    },
    async close() {
      if (closed) return;
      closed = true;
      server.shutdown('test');
      await server.exited;
      await xds.close();
    },
  };
}

/** A request whose outcome the test can look at without awaiting it; `stateAtResponse` is the server state when the response came. */
function track(server: Server, p: Promise<TestResponse>): { settled: () => boolean; stateAtResponse: () => string | undefined; response: Promise<TestResponse> } {
  let state: string | undefined;
  const response = p.then((r) => { state = server.state; return r; });
  response.catch(() => undefined);
  return { settled: () => state !== undefined, stateAtResponse: () => state, response };
}

/** A raw HTTP/1.1 exchange over a plain TCP connection: everything the peer sent until it closed. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(request));
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

let upstream: http.Server;
let upstreamPort = 0;

beforeAll(async () => {
  upstream = http.createServer((_req, res) => res.end('up'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('a request sent before the control plane delivers its cluster is held, then answered by the real upstream (h1, h2c, tcp_proxy); /ready 503 meanwhile', async () => {
  const s = await startInitializing([httpListener, tcpListener]);
  try {
    const protocols: Protocol[] = ['h1', 'h2'];
    const requests = protocols.map((p) => track(s.server, send(p, s.port('front'), { headers: { 'x-cluster': 'dyn' } })));
    let tcpState: string | undefined;
    const tcp = rawExchange(s.port('tcp'), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').then((r) => { tcpState = s.server.state; return r; });
    await until(() => s.stat(LISTENER_CX_TOTAL) === 3, 5000, 'three connections accepted');
    expect(s.server.state).toBe('INITIALIZING');
    expect(s.stat(LISTENER_CX_ACTIVE)).toBe(3);
    expect(await s.admin('/ready')).toEqual({ status: 503, body: 'INITIALIZING\n' });
    expect((await s.admin('/stats?filter=^listener_manager\\.workers_started$')).body).toMatch(/^listener_manager\.workers_started: 0$/m);
    // Held: not handed to the connection manager, nothing answered.
    expect(s.stat('http.front.downstream_cx_total')).toBe(0);
    expect(requests.map((r) => r.settled())).toEqual([false, false]);
    expect(tcpState).toBeUndefined();

    s.xds.setResources(ENDPOINT, { dyn: assignment(upstreamPort) }, 'e1');
    s.xds.setResources(CLUSTER, { dyn: edsCluster }, 'c1');
    s.xds.setResources(LISTENER, {}, 'l1');
    await s.started;
    for (const r of requests) {
      const res = await r.response;
      expect({ status: res.status, body: res.text() }).toEqual({ status: 200, body: 'up' });
      expect(r.stateAtResponse()).toBe('LIVE');
    }
    const raw = await tcp;
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.endsWith('up')).toBe(true);
    expect(tcpState).toBe('LIVE');
    expect(await s.admin('/ready')).toEqual({ status: 200, body: 'LIVE\n' });
    expect((await s.admin('/stats?filter=^listener_manager\\.workers_started$')).body).toMatch(/^listener_manager\.workers_started: 1$/m);
    expect(s.stat('http.front.no_cluster')).toBe(0);
  } finally {
    await s.close();
  }
}, 20000);

test('a held connection whose client goes away (FIN, reset) is cleaned up during initialization, never served; shutdown closes held ones unanswered', async () => {
  const s = await startInitializing([httpListener]);
  try {
    const front = s.port('front');
    // A client that connects and closes without a word.
    const quiet = net.connect(front, '127.0.0.1');
    quiet.on('error', () => undefined);
    await until(() => s.stat(LISTENER_CX_ACTIVE) === 1, 5000, 'connection accepted');
    expect(s.stat('http.front.downstream_cx_active')).toBe(0);
    quiet.end();
    await until(() => s.stat(LISTENER_CX_ACTIVE) === 0 && s.server.listenerManager.activeConnections === 0, 5000, 'the closed connection cleaned up');
    expect(s.server.state).toBe('INITIALIZING');

    // A client that sends half a request and resets.
    const reset = net.connect(front, '127.0.0.1', () => reset.write('GET / HTTP/1.1\r\nHo'));
    reset.on('error', () => undefined);
    await until(() => s.stat(LISTENER_CX_ACTIVE) === 1, 5000, 'connection accepted');
    reset.resetAndDestroy();
    await until(() => s.stat(LISTENER_CX_ACTIVE) === 0 && s.server.listenerManager.activeConnections === 0, 5000, 'the reset connection cleaned up');
    expect(s.stat('listener.127.0.0.1_0.downstream_cx_destroy')).toBe(2);
    // Neither ever reached the connection manager.
    expect(s.stat('http.front.downstream_cx_total')).toBe(0);

    // A whole request, held when the server is told to shut down: closed without an answer.
    const answered = rawExchange(front, 'GET / HTTP/1.1\r\nHost: x\r\nx-cluster: dyn\r\n\r\n');
    await until(() => s.stat(LISTENER_CX_ACTIVE) === 1, 5000, 'connection accepted');
    await s.close();
    expect(await answered).toBe('');
    expect(s.stat('http.front.downstream_cx_total')).toBe(0);
    expect(s.server.state).toBe('DRAINING');
  } finally {
    await s.close();
  }
}, 20000);

test('initial_fetch_timeout with a control plane that never answers: held requests are served when the timeout ends initialization (503 NC), not before', async () => {
  const s = await startInitializing([httpListener], '1s');
  try {
    const t0 = Date.now();
    const requests = (['h1', 'h2'] as Protocol[]).map((p) => track(s.server, send(p, s.port('front'), { headers: { 'x-cluster': 'dyn' } })));
    await until(() => s.stat(LISTENER_CX_TOTAL) === 2, 5000, 'two connections accepted');
    expect(await s.admin('/ready')).toEqual({ status: 503, body: 'INITIALIZING\n' });
    expect(s.stat('http.front.downstream_cx_total')).toBe(0);
    await s.started;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    for (const r of requests) {
      expect((await r.response).status).toBe(503);
      expect(r.stateAtResponse()).toBe('LIVE');
    }
    expect(s.stat('http.front.no_cluster')).toBe(2);
    expect(await s.admin('/ready')).toEqual({ status: 200, body: 'LIVE\n' });
  } finally {
    await s.close();
  }
}, 20000);

test('held connections are bounded as a listen backlog is: past MAX_HELD_CONNECTIONS one is refused and counted in downstream_cx_overflow', async () => {
  const s = await startInitializing([httpListener]);
  const clients: net.Socket[] = [];
  try {
    const front = s.port('front');
    const extra = 3;
    const total = MAX_HELD_CONNECTIONS + extra;
    // In batches within the kernel's listen backlog (Node's default 511): a SYN past it is
    // retried after 1 s, 3 s, ... and a loaded machine would turn that into a timeout.
    while (clients.length < total) {
      const upTo = Math.min(total, clients.length + 256);
      while (clients.length < upTo) {
        const c = net.connect(front, '127.0.0.1');
        c.on('error', () => undefined);
        clients.push(c);
      }
      await until(() => s.stat(LISTENER_CX_TOTAL) === upTo, 15000, `${upTo} connections accepted`);
    }
    expect(s.stat('listener.127.0.0.1_0.downstream_cx_overflow')).toBe(extra);
    await until(() => s.stat(LISTENER_CX_ACTIVE) === MAX_HELD_CONNECTIONS, 5000, 'the held ones stay');
    expect(s.server.state).toBe('INITIALIZING');
  } finally {
    for (const c of clients) c.destroy();
    await s.close();
  }
}, 30000);
