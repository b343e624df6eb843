/**
 * Listener warming is per listener, as in Envoy's ListenerManagerImpl (each
 * added or updated listener sits in the warming list on its own and becomes
 * active when its own RDS/SDS/ECDS dependencies are ready), seen on real
 * sockets with the test ADS server, over SotW and delta ADS, after LIVE:
 * - one LDS update with listener A whose RouteConfiguration has not arrived
 *   and listener B with an inline route: B serves through the sidecar at
 *   once while A is DynamicListener.warming_state only and
 *   `listener_manager.total_listeners_warming` is 1; once A's route
 *   configuration arrives A serves too and the gauge is 0 (the same with a
 *   TLS listener waiting for its SDS secret);
 * - an update that changes a listener again while its previous change still
 *   warms replaces the warming version (Envoy: "update warming listener"):
 *   still one warming listener, `listener_modified` counted, the replaced
 *   version's route configuration no longer subscribed, and the new version
 *   is the one that becomes active; an update giving the active version
 *   back drops the warming one;
 * - an update that leaves out a warming listener removes it at once
 *   (`listener_removed`), and it is never bound;
 * - an update that removes an active listener while another of its
 *   listeners warms removes the first at once;
 * - a ready listener that cannot bind NACKs the whole update (nothing of it
 *   warms).
 * Envoy counts listener_added/modified/removed when it accepts the update,
 * and listener_create_success when a listener starts serving.
 * At start-up the first update still becomes active as a whole once its
 * last listener is warm (Envoy starts its workers when init is done), and an
 * RDS initial_fetch_timeout ends the initial fetch's wait for that route.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { tlsCertificateSecret } from '../../support/sds-server.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, LISTENER, ROUTE, SECRET, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** A listener whose HCM takes its routes from RDS (`route`, over ADS; initial_fetch_timeout `timeout`, default none). */
const rdsListener = (name: string, route: string, timeout = '0s'): Record<string, unknown> => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [{
    filters: [{
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: { '@type': HCM, stat_prefix: name, rds: { route_config_name: route, config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: timeout } }, http_filters: [router] },
    }],
  }],
});

/** A listener with an inline route to the upstream cluster `up` (which answers `up <path>`), on `port` (0: any). */
const inlineListener = (name: string, port = 0): Record<string, unknown> => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{
    filters: [{
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': HCM,
        stat_prefix: name,
        route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
        http_filters: [router],
      },
    }],
  }],
});

const ca = createDevCa({ trustDomain: 'cluster.local' });
const serverCert = issueDevWorkload(ca, { ips: ['127.0.0.1'], keyLabel: 'per-listener' });

/** An HTTPS listener (inline route to `up`) whose certificate is the SDS secret `secret`, over ADS. */
const tlsListener = (name: string, secret: string): Record<string, unknown> => {
  const l = inlineListener(name) as { filter_chains: Array<Record<string, unknown>> };
  return {
    ...l,
    filter_chains: [{
      ...l.filter_chains[0],
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' } }] },
        },
      },
    }],
  };
};

function getTls(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, agent: false, ca: ca.caPem }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

/** A route configuration answering `body` directly (so a reply names the route configuration that served it). */
const directRoutes = (name: string, body: string): Record<string, unknown> => ({
  name,
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }] }],
});

const upCluster = (port: number): Record<string, unknown> => ({
  name: 'up',
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
});

function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

/** True when nothing accepts connections on the port. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => { res.resume(); resolve(false); }).once('error', () => resolve(true));
  });
}

describe.each([['SotW', 'GRPC'], ['delta', 'DELTA_GRPC']])('per-listener warming over %s ADS', (_mode, apiType) => {
  let xds: XdsServer;
  let server: Server;
  let upstream: http.Server;
  let lVersion = 0;
  let rVersion = 0;
  let listeners: Record<string, unknown> = {};
  let routes: Record<string, unknown> = {};

  const port = (name: string): number | undefined => server.listenerManager.all().find((l) => l.config.name === name)?.port;
  const stat = (name: string): number => server.stats.findCounter(`listener_manager.${name}`)?.value() ?? 0;
  const warmingGauge = (): number | undefined => server.stats.findGauge('listener_manager.total_listeners_warming')?.value();
  /** Sends the listener set; resolves once it is ACKed (Envoy ACKs when it accepts the update, before warming). */
  const setListeners = async (next: Record<string, unknown>): Promise<string> => {
    listeners = next;
    const v = `l${++lVersion}`;
    xds.setResources(LISTENER, listeners, v);
    await until(() => xds.acked(LISTENER) === v, 5000, `LDS ACK of ${v}`);
    return v;
  };
  const setRoutes = async (more: Record<string, unknown>): Promise<void> => {
    routes = { ...routes, ...more };
    xds.setResources(ROUTE, routes, `r${++rVersion}`);
  };
  const dynamicListeners = async (): Promise<Array<Record<string, unknown>>> => {
    const r = (await (await fetch(`http://127.0.0.1:${server.adminPort}/config_dump?resource=dynamic_listeners`)).json()) as { configs?: Array<Record<string, unknown>> };
    return r.configs ?? [];
  };
  /** The RouteConfiguration names the sidecar is subscribed to now (SotW: the last request's; delta: subscribes minus unsubscribes). */
  const routeNames = (): Set<string> => {
    const names = new Set<string>();
    for (const r of xds.requests) {
      if (r.typeUrl !== ROUTE) continue;
      if (r.kind === 'sotw') {
        names.clear();
        for (const n of r.resourceNames ?? []) names.add(n);
      } else {
        for (const n of r.subscribe ?? []) names.add(n);
        for (const n of r.unsubscribe ?? []) names.delete(n);
      }
    }
    return names;
  };
  const subscribed = (name: string): Promise<void> => until(() => routeNames().has(name), 5000, `a subscription to RouteConfiguration ${name}`);
  const dumped = async (name: string): Promise<Record<string, unknown> | undefined> => (await dynamicListeners()).find((l) => l['name'] === name);

  beforeAll(async () => {
    upstream = http.createServer((req, res) => res.end(`up ${req.url ?? ''}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    xds = await startXdsServer();
    xds.setResources(CLUSTER, { up: upCluster((upstream.address() as AddressInfo).port) }, 'c1');
    listeners = { base: inlineListener('base') };
    xds.setResources(LISTENER, listeners, `l${++lVersion}`);
    const registry = createRegistry();
    const snapshot = await buildSnapshot({ configYaml: adsBootstrap({ xdsPort: xds.port, apiType }), allowUnknownStaticFields: false }, registry);
    server = new Server({ snapshot, registry, logs: new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
    await server.start();
  });

  afterAll(async () => {
    server.shutdown('test');
    await server.exited;
    await xds.close();
    upstream.close();
  });

  test('a listener waiting for its RouteConfiguration does not hold back the other listener of its update', async () => {
    expect((await get(port('base')!, '/x')).body).toBe('up /x');
    const added = stat('listener_added');
    const created = stat('listener_create_success');
    const v = await setListeners({ base: inlineListener('base'), a: rdsListener('a', 'ra'), b: inlineListener('b') });
    await subscribed('ra');

    // B needs nothing: active at once, serving through the sidecar to the upstream.
    await until(() => port('b') !== undefined, 5000, 'listener b to be active');
    expect(await get(port('b')!, '/via-b')).toEqual({ status: 200, body: 'up /via-b' });
    // A warms alone: warming_state only, not bound, counted in the gauge.
    const a = await dumped('a');
    expect(a?.['active_state']).toBeUndefined();
    expect(a?.['warming_state']).toMatchObject({ version_info: v, listener: { name: 'a' } });
    expect(await dumped('b')).toMatchObject({ active_state: { version_info: v, listener: { name: 'b' } } });
    expect((await dumped('b'))?.['warming_state']).toBeUndefined();
    expect(port('a')).toBeUndefined();
    expect(warmingGauge()).toBe(1);
    // Envoy counts both as added when it accepts the update; only B was created (started serving).
    expect(stat('listener_added')).toBe(added + 2);
    expect(stat('listener_create_success')).toBe(created + 1);

    await setRoutes({ ra: directRoutes('ra', 'a via ra') });
    await until(() => port('a') !== undefined, 5000, 'listener a to warm');
    expect(await get(port('a')!)).toEqual({ status: 200, body: 'a via ra' });
    expect(warmingGauge()).toBe(0);
    expect(await dumped('a')).toMatchObject({ active_state: { version_info: v } });
    expect((await dumped('a'))?.['warming_state']).toBeUndefined();
    expect(stat('listener_create_success')).toBe(created + 2);
    expect(stat('listener_added')).toBe(added + 2);
    // B was not touched by A's activation.
    expect(await get(port('b')!, '/still')).toEqual({ status: 200, body: 'up /still' });
  });

  test('an update that changes a still-warming listener replaces its warming version', async () => {
    const base = { base: inlineListener('base') };
    await setListeners({ ...base, e: inlineListener('e') });
    await until(() => port('e') !== undefined, 5000, 'listener e to be active');
    const ePort = port('e')!;
    const modified = stat('listener_modified');
    const added = stat('listener_added');
    // E, changed to a route configuration not sent yet: warming beside the active version.
    const v2 = await setListeners({ ...base, e: rdsListener('e', 're2') });
    await subscribed('re2');
    expect(await dumped('e')).toMatchObject({ active_state: { listener: { name: 'e' } }, warming_state: { version_info: v2 } });

    // Changed again while warming: the warming version is replaced, not added beside it.
    const v3 = await setListeners({ ...base, e: rdsListener('e', 're3') });
    await subscribed('re3');
    expect(routeNames().has('re2')).toBe(false);
    const e = await dumped('e');
    expect(e?.['warming_state']).toMatchObject({ version_info: v3 });
    expect(JSON.stringify(e?.['warming_state'])).toContain('"re3"');
    expect(JSON.stringify(e?.['warming_state'])).not.toContain('"re2"');
    expect(e?.['active_state']).toBeDefined();
    expect(warmingGauge()).toBe(1);
    // Envoy counts each accepted change of E as modified (the second is its "update warming listener").
    expect(stat('listener_modified')).toBe(modified + 2);
    expect(stat('listener_added')).toBe(added);
    // The active version serves meanwhile.
    expect(await get(ePort, '/e')).toEqual({ status: 200, body: 'up /e' });

    await setRoutes({ re2: directRoutes('re2', 'e via re2'), re3: directRoutes('re3', 'e via re3') });
    await until(async () => (await get(ePort)).body === 'e via re3', 5000, 'the replacing version to serve');
    expect(port('e')).toBe(ePort); // same address: updated in place
    expect(warmingGauge()).toBe(0);
    expect(await dumped('e')).toMatchObject({ active_state: { version_info: v3 } });
    expect((await dumped('e'))?.['warming_state']).toBeUndefined();
  });

  test('an update that gives a warming listener its active version back drops the warming version', async () => {
    await setListeners({ base: inlineListener('base'), g: inlineListener('g') });
    await until(() => port('g') !== undefined, 5000, 'listener g to be active');
    const g = port('g')!;
    await setListeners({ base: inlineListener('base'), g: rdsListener('g', 'rg') });
    expect((await dumped('g'))?.['warming_state']).toBeDefined();
    const modified = stat('listener_modified');
    const created = stat('listener_create_success');
    await setListeners({ base: inlineListener('base'), g: inlineListener('g') });
    expect((await dumped('g'))?.['warming_state']).toBeUndefined();
    expect(warmingGauge()).toBe(0);
    expect(stat('listener_modified')).toBe(modified + 1); // as Envoy (envoyproxy/envoy#12645)
    // The route configuration of the dropped version arriving later changes nothing.
    await setRoutes({ rg: directRoutes('rg', 'g via rg') });
    expect(await get(g, '/g')).toEqual({ status: 200, body: 'up /g' });
    expect(port('g')).toBe(g);
    expect(stat('listener_create_success')).toBe(created);
  });

  test('a warming listener left out of an update is removed at once and never serves', async () => {
    const keep = { base: inlineListener('base') };
    if (Object.keys(listeners).join() !== 'base') await setListeners(keep); // what earlier tests left
    await until(() => server.listenerManager.all().length === 1, 5000, 'only base to be active');
    await setListeners({ ...keep, c: rdsListener('c', 'rc') });
    await subscribed('rc');
    expect((await dumped('c'))?.['warming_state']).toBeDefined();
    const removed = stat('listener_removed');
    const created = stat('listener_create_success');

    await setListeners(keep);
    expect(await dumped('c')).toBeUndefined();
    // Envoy's removeListener counts a warming listener's removal too.
    expect(stat('listener_removed')).toBe(removed + 1);
    expect(warmingGauge()).toBe(0);
    // Its route configuration arriving later does not bring it up.
    const v = `r${rVersion + 1}`;
    await setRoutes({ rc: directRoutes('rc', 'c via rc') });
    await until(() => xds.acked(ROUTE) === v || !routeNames().has('rc'), 5000, 'the route configuration to be handled');
    expect((await get(port('base')!, '/b')).body).toBe('up /b');
    expect(port('c')).toBeUndefined();
    expect(await dumped('c')).toBeUndefined();
    expect(stat('listener_create_success')).toBe(created);
    expect(server.stats.findCounter('http.c.downstream_rq_total')).toBeUndefined();
  });

  test('a listener waiting for its TLS secret does not hold back the other listener of its update', async () => {
    const v = await setListeners({ base: inlineListener('base'), s: tlsListener('s', 'cert-s'), p: inlineListener('p') });
    await xds.waitFor((r) => r.typeUrl === SECRET && ((r.resourceNames ?? []).includes('cert-s') || (r.subscribe ?? []).includes('cert-s')));
    await until(() => port('p') !== undefined, 5000, 'listener p to be active');
    expect(await get(port('p')!, '/p')).toEqual({ status: 200, body: 'up /p' });
    expect(port('s')).toBeUndefined();
    expect((await dumped('s'))?.['warming_state']).toMatchObject({ version_info: v });
    expect(warmingGauge()).toBe(1);

    xds.setResources(SECRET, { 'cert-s': tlsCertificateSecret('cert-s', serverCert) }, 's1');
    await until(() => port('s') !== undefined, 5000, 'listener s to warm');
    expect(await getTls(port('s')!, '/s')).toEqual({ status: 200, body: 'up /s' });
    expect(warmingGauge()).toBe(0);
  });

  test('an update whose ready listener cannot bind is NACKed as a whole: its warming listener does not warm', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const before = { added: stat('listener_added'), warming: warmingGauge(), active: server.listenerManager.all().map((l) => l.config.name) };
      const nacks = xds.nacks(LISTENER).length;
      xds.setResources(LISTENER, { ...listeners, z: rdsListener('z', 'rz'), x: inlineListener('x', (blocker.address() as AddressInfo).port) }, `l${++lVersion}`);
      await until(() => xds.nacks(LISTENER).length > nacks, 5000, 'the LDS NACK');
      expect(xds.nacks(LISTENER).at(-1)?.errorDetail?.message).toMatch(/listener 'x': cannot bind/);
      expect(await dumped('z')).toBeUndefined();
      expect(warmingGauge()).toBe(before.warming);
      expect(stat('listener_added')).toBe(before.added);
      expect(server.listenerManager.all().map((l) => l.config.name)).toEqual(before.active);
    } finally {
      blocker.close();
      xds.setResources(LISTENER, listeners, `l${++lVersion}`);
      await until(() => xds.acked(LISTENER) === `l${lVersion}`, 5000, 'LDS ACK of the previous set');
    }
  });

  test('an update that removes an active listener while another of its listeners warms removes it at once', async () => {
    await setListeners({ base: inlineListener('base'), f: inlineListener('f') });
    await until(() => port('f') !== undefined, 5000, 'listener f to be active');
    const fPort = port('f')!;
    expect((await get(fPort)).status).toBe(200);
    await setListeners({ base: inlineListener('base'), d: rdsListener('d', 'rd') });
    expect((await dumped('d'))?.['warming_state']).toBeDefined();
    await until(() => port('f') === undefined, 5000, 'listener f to be removed');
    expect(await refused(fPort)).toBe(true);
    expect(await dumped('f')).toBeUndefined();

    await setRoutes({ rd: directRoutes('rd', 'd via rd') });
    await until(() => port('d') !== undefined, 5000, 'listener d to warm');
    expect(await get(port('d')!)).toEqual({ status: 200, body: 'd via rd' });
    expect(warmingGauge()).toBe(0);
  });
});

describe('at start-up (the initial fetch)', () => {
  let xds: XdsServer;
  let server: Server | undefined;

  beforeEach(async () => {
    xds = await startXdsServer();
    xds.setResources(CLUSTER, { up: upCluster(1) }, 'c1');
  });

  afterEach(async () => {
    if (server) {
      server.shutdown('test');
      await server.exited;
      server = undefined;
    }
    await xds.close();
  });

  async function boot(): Promise<{ server: Server; started: Promise<void> }> {
    const registry = createRegistry();
    const snapshot = await buildSnapshot({ configYaml: adsBootstrap({ xdsPort: xds.port }), allowUnknownStaticFields: false }, registry);
    server = new Server({ snapshot, registry, logs: new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
    return { server, started: server.start() };
  }
  const portOf = (s: Server, name: string): number | undefined => s.listenerManager.all().find((l) => l.config.name === name)?.port;

  test('the first update becomes active as a whole once its last listener is warm, and readiness waits for it', async () => {
    xds.setResources(LISTENER, { a: rdsListener('a', 'ra'), b: inlineListener('b') }, 'l1');
    const { server: s, started } = await boot();
    let live = false;
    void started.then(() => { live = true; });
    await until(() => xds.acked(LISTENER) === 'l1', 5000, 'LDS ACK');
    await until(() => s.stats.findGauge('listener_manager.total_listeners_warming')?.value() === 2, 5000, 'both listeners warming');
    // As Envoy before its workers start: nothing of the first update serves yet, B included.
    expect(portOf(s, 'b')).toBeUndefined();
    expect(s.state).toBe('INITIALIZING');
    expect(live).toBe(false);

    xds.setResources(ROUTE, { ra: directRoutes('ra', 'a via ra') }, 'r1');
    await started;
    expect(s.state).toBe('LIVE');
    expect(await get(portOf(s, 'a')!)).toEqual({ status: 200, body: 'a via ra' });
    expect(portOf(s, 'b')).toBeDefined();
    expect(s.stats.findGauge('listener_manager.total_listeners_warming')?.value()).toBe(0);
    expect(s.stats.findCounter('listener_manager.listener_added')?.value()).toBe(2);
    expect(s.stats.findCounter('listener_manager.listener_create_success')?.value()).toBe(2);
  });

  test('a listener of the first update whose address is taken is dropped alone; the others serve', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    try {
      const taken = (blocker.address() as AddressInfo).port;
      xds.setResources(LISTENER, { a: rdsListener('a', 'ra'), b: inlineListener('b'), x: inlineListener('x', taken) }, 'l1');
      const { server: s, started } = await boot();
      await until(() => xds.acked(LISTENER) === 'l1', 5000, 'LDS ACK');
      xds.setResources(ROUTE, { ra: directRoutes('ra', 'a via ra') }, 'r1');
      await started;
      expect(s.state).toBe('LIVE');
      expect(s.listenerManager.all().map((l) => l.config.name).sort()).toEqual(['a', 'b']);
      expect(await get(portOf(s, 'a')!)).toEqual({ status: 200, body: 'a via ra' });
      expect(portOf(s, 'b')).toBeDefined();
      expect(s.stats.findCounter('listener_manager.listener_create_failure')?.value()).toBe(1);
      expect(s.stats.findGauge('listener_manager.total_listeners_warming')?.value()).toBe(0);
    } finally {
      blocker.close();
    }
  });

  test('a route configuration that never comes ends its listener\'s warming, and the initial fetch, at its initial_fetch_timeout', async () => {
    xds.setResources(LISTENER, { a: rdsListener('a', 'never', '0.3s') }, 'l1');
    const t0 = Date.now();
    const { server: s, started } = await boot();
    await started;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(s.state).toBe('LIVE');
    expect((await get(portOf(s, 'a')!)).status).toBe(404);
  });
});
