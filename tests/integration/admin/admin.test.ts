/**
 * The admin API over a real socket: every endpoint answered by startAdmin on
 * 127.0.0.1:0, against a ServerView built from plain data and a real
 * StatsStore. Status codes, content types, JSON shapes and Envoy's POST-only
 * rule.
 */

import { startAdmin } from '../../../sidecar/admin/admin-server.ts';
import type { AdminHandle } from '../../../sidecar/admin/admin-server.ts';
import type { ClusterView, ListenerView, ServerState, ServerView } from '../../../sidecar/admin/server-view.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';

const T0 = new Date('2024-05-01T10:00:00Z');

function makeView() {
  const stats = new StatsStore();
  stats.counter('cluster.alpha.upstream_rq_total').inc(3);
  stats.counter('cluster.beta.upstream_rq_total');
  stats.gauge('server.live').set(1);
  stats.histogram('cluster.alpha.upstream_rq_time').record(5);

  const clusters: ClusterView[] = [
    {
      name: 'alpha',
      raw: {
        name: 'alpha',
        type: 'STATIC',
        connect_timeout: '1s',
        circuit_breakers: { thresholds: [{ max_connections: 7 }] },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: { common_tls_context: { tls_certificates: [{ private_key: { inline_string: 'KEY' } }] } },
        },
      },
      addedAt: T0,
      hosts: [
        { address: '10.0.0.1', port: 8080, weight: 1, healthy: true, failedActiveHealthCheck: false, activeRequests: 2, stats: { rq_total: 5 } },
        { address: '10.0.0.2', port: 8080, weight: 3, healthy: false, failedActiveHealthCheck: true, activeRequests: 0, stats: {} },
      ],
    },
    { name: 'beta', raw: { name: 'beta', type: 'STRICT_DNS' }, addedAt: T0, hosts: [] },
  ];
  const listeners: ListenerView[] = [
    {
      name: 'ingress',
      address: '127.0.0.1:0',
      boundPort: 15001,
      raw: { name: 'ingress', address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      addedAt: T0,
      routeConfigs: [{ name: 'local_route', virtual_hosts: [] }],
      inbound: true,
    },
    {
      name: 'egress',
      address: '[::1]:9000',
      boundPort: 9000,
      raw: { name: 'egress' },
      addedAt: T0,
      routeConfigs: [],
      inbound: false,
    },
  ];
  const calls = { shutdown: [] as string[], drain: [] as Array<{ inboundOnly: boolean; graceful: boolean }>, runtime: [] as Array<Record<string, string>> };
  const levels: Record<string, string> = { admin: 'info', upstream: 'info' };
  const runtimeAdmin: Record<string, string> = {};
  let state: ServerState = 'LIVE';
  const view: ServerView & { setState(s: ServerState): void } = {
    get state() {
      return state;
    },
    setState(s: ServerState) {
      state = s;
    },
    startedAt: T0,
    version: 'themis/0.1.0/Clean/RELEASE',
    bootstrap: { node: { id: 'n1', cluster: 'c1' }, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    commandLineOptions: { concurrency: 1, mode: 'Serve' },
    node: { id: 'n1', cluster: 'c1' },
    stats,
    clusters: () => clusters,
    listeners: () => listeners,
    healthCheckFailed: false,
    drainListeners: (o) => void calls.drain.push(o),
    shutdown: (r) => void calls.shutdown.push(r),
    logLevels: () => levels,
    setLogLevel: (component, level) => {
      if (component === undefined) {
        for (const k of Object.keys(levels)) levels[k] = level;
        return true;
      }
      if (!(component in levels)) return false;
      levels[component] = level;
      return true;
    },
    runtime: () => ({ 'feature.x': true, ...runtimeAdmin }),
    setRuntime: (v) => {
      calls.runtime.push({ ...v });
      Object.assign(runtimeAdmin, v);
    },
  };
  return { view, calls, levels, stats };
}

let admin: AdminHandle;
let env: ReturnType<typeof makeView>;
const silent = { info: () => {}, warn: () => {} };

beforeAll(async () => {
  env = makeView();
  admin = await startAdmin(env.view, { kind: 'tcp', host: '127.0.0.1', port: 0 }, silent, {
    now: () => T0.getTime() + 42_500,
  });
});
afterAll(() => admin.close());

async function call(path: string, method = 'GET', init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`, { method, ...init });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body: await res.text() };
}
async function json(path: string, method = 'GET') {
  const r = await call(path, method);
  expect(r.type).toBe('application/json');
  return { ...r, json: JSON.parse(r.body) };
}

describe('routing', () => {
  test('binds a real port and answers / with the HTML index', async () => {
    expect(admin.port).toBeGreaterThan(0);
    const r = await call('/');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/html; charset=UTF-8');
    expect(r.body).toContain('<a href="/config_dump">config_dump</a>');
    expect(r.body).toContain('<form action="/quitquitquit" method="post">');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('/help lists endpoints in path order with (POST) marks and params', async () => {
    const r = await call('/help');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; charset=UTF-8');
    expect(r.body.startsWith('admin commands are:\n  /: Admin home page\n  /certs: print certs on machine\n')).toBe(true);
    expect(r.body).toContain('  /quitquitquit (POST): exit the server\n');
    expect(r.body).toContain('      format: File format to use; One of (text, json)\n');
  });

  test('unknown path is 404 with "invalid path." and the help text', async () => {
    const r = await call('/nope?x=1');
    expect(r.status).toBe(404);
    expect(r.body.startsWith('invalid path. admin commands are:\n')).toBe(true);
    expect((await call('/stats/')).status).toBe(404);
  });

  test.each(['/healthcheck/fail', '/healthcheck/ok', '/quitquitquit', '/drain_listeners', '/reset_counters', '/logging', '/runtime_modify?a=b', '/reopen_logs'])(
    'GET %s is 405, nothing changes',
    async (path) => {
      const r = await call(path);
      expect(r.status).toBe(405);
      expect(r.body).toBe('Method GET not allowed, POST required.');
      expect(env.calls.shutdown).toEqual([]);
      expect(env.view.healthCheckFailed).toBe(false);
    },
  );

  test('PUT on a mutating endpoint names the method', async () => {
    expect((await call('/healthcheck/fail', 'PUT')).body).toBe('Method PUT not allowed, POST required.');
  });
});

describe('server state', () => {
  test('/ready flips with healthcheck/fail and healthcheck/ok', async () => {
    let r = await call('/ready');
    expect([r.status, r.body, r.type]).toEqual([200, 'LIVE\n', 'text/plain; charset=UTF-8']);
    expect((await call('/healthcheck/fail', 'POST')).body).toBe('OK\n');
    expect(env.view.healthCheckFailed).toBe(true);
    r = await call('/ready');
    expect([r.status, r.body]).toEqual([503, 'DRAINING\n']);
    expect((await json('/server_info')).json.state).toBe('DRAINING');
    await call('/healthcheck/ok', 'POST');
    expect((await call('/ready')).status).toBe(200);
    env.view.setState('INITIALIZING');
    r = await call('/ready');
    expect([r.status, r.body]).toEqual([503, 'INITIALIZING\n']);
    env.view.setState('LIVE');
  });

  test('/server_info is envoy.admin.v3.ServerInfo', async () => {
    const { json: info } = await json('/server_info');
    expect(Object.keys(info)).toEqual([
      'version',
      'state',
      'uptime_current_epoch',
      'uptime_all_epochs',
      'hot_restart_version',
      'command_line_options',
      'node',
    ]);
    expect(info).toMatchObject({
      version: 'themis/0.1.0/Clean/RELEASE',
      state: 'LIVE',
      uptime_current_epoch: '42s',
      uptime_all_epochs: '42s',
      hot_restart_version: 'disabled',
      command_line_options: { concurrency: 1 },
      node: { id: 'n1', cluster: 'c1' },
    });
  });

  test('/memory, /certs, /hot_restart_version', async () => {
    const mem = (await json('/memory')).json;
    for (const k of ['allocated', 'heap_size', 'pageheap_unmapped', 'pageheap_free', 'total_thread_cache', 'total_physical_bytes']) {
      expect(mem[k]).toMatch(/^\d+$/);
    }
    expect((await json('/certs')).json).toEqual({ certificates: [] });
    expect((await call('/hot_restart_version')).body).toBe('disabled');
  });

  test('/quitquitquit answers OK then calls shutdown', async () => {
    const r = await call('/quitquitquit', 'POST');
    expect([r.status, r.body]).toEqual([200, 'OK\n']);
    expect(env.calls.shutdown).toEqual(['admin /quitquitquit']);
  });

  test('/drain_listeners passes inboundonly and graceful', async () => {
    await call('/drain_listeners', 'POST');
    await call('/drain_listeners?inboundonly&graceful', 'POST');
    expect(env.calls.drain).toEqual([
      { inboundOnly: false, graceful: false },
      { inboundOnly: true, graceful: true },
    ]);
  });
});

describe('config_dump', () => {
  test('configs in Envoy order with their @types and last_updated', async () => {
    const { json: dump } = await json('/config_dump');
    expect(dump.configs.map((c: { '@type': string }) => c['@type'])).toEqual([
      'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
    ]);
    const [boot, clusters, listeners, routes] = dump.configs;
    expect(boot.bootstrap.node.id).toBe('n1');
    expect(boot.last_updated).toBe('2024-05-01T10:00:00Z');
    expect(clusters.static_clusters[0].cluster['@type']).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(clusters.static_clusters.map((c: { cluster: { name: string } }) => c.cluster.name)).toEqual(['alpha', 'beta']);
    expect(clusters.static_clusters[0].last_updated).toBe('2024-05-01T10:00:00Z');
    expect(listeners.static_listeners[0].listener['@type']).toBe('type.googleapis.com/envoy.config.listener.v3.Listener');
    expect(routes.static_route_configs[0].route_config).toEqual({
      '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
      name: 'local_route',
      virtual_hosts: [],
    });
  });

  test('secrets are redacted', async () => {
    const body = (await call('/config_dump')).body;
    expect(body).not.toContain('KEY');
    expect(body).toContain('[redacted]');
  });

  test('?resource= returns each item packed with its own @type', async () => {
    const { json: dump } = await json('/config_dump?resource=static_clusters');
    expect(dump.configs).toHaveLength(2);
    expect(dump.configs[0]['@type']).toBe('type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster');
    expect(dump.configs[0].cluster.name).toBe('alpha');
    const l = (await json('/config_dump?resource=static_listeners')).json;
    expect(l.configs[0]['@type']).toBe('type.googleapis.com/envoy.admin.v3.ListenersConfigDump.StaticListener');
  });

  test('?resource= errors as Envoy', async () => {
    let r = await call('/config_dump?resource=bootstrap');
    expect([r.status, r.body, r.type]).toEqual([400, 'bootstrap is not a repeated field. Use ?mask=bootstrap to get only this field', 'text/plain']);
    r = await call('/config_dump?resource=nothing_like_it');
    expect([r.status, r.body]).toEqual([404, 'nothing_like_it not found in config dump']);
  });

  test('?resource=&mask= reaches into the embedded resource', async () => {
    const { json: dump } = await json('/config_dump?resource=static_clusters&mask=cluster.name,cluster.type');
    expect(dump.configs[0]).toEqual({
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster',
      cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'alpha', type: 'STATIC' },
    });
    const bad = await call('/config_dump?resource=static_clusters&mask=nonsense');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('could not be successfully used.');
  });

  test('?mask= alone trims each config and skips those it does not fit', async () => {
    const { json: dump } = await json('/config_dump?mask=static_clusters');
    expect(dump.configs).toHaveLength(1);
    expect(Object.keys(dump.configs[0])).toEqual(['@type', 'static_clusters']);
    const boot = (await json('/config_dump?mask=bootstrap.node')).json;
    expect(boot.configs[0].bootstrap).toEqual({ node: { id: 'n1', cluster: 'c1' } });
    const bad = await call('/config_dump?mask=nonsense');
    expect([bad.status, bad.body]).toEqual([400, 'FieldMask nonsense could not be successfully applied to any configs.']);
  });

  test('?name_regex= is a full match and a bad one is 400', async () => {
    const { json: dump } = await json('/config_dump?resource=static_clusters&name_regex=alp.*');
    expect(dump.configs.map((c: { cluster: { name: string } }) => c.cluster.name)).toEqual(['alpha']);
    expect((await json('/config_dump?resource=static_clusters&name_regex=lph')).json).toEqual({});
    const bad = await call('/config_dump?name_regex=(');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/^INVALID_ARGUMENT: Error while parsing name_regex from \(/);
  });

  test('?include_eds adds EndpointsConfigDump after clusters', async () => {
    const { json: dump } = await json('/config_dump?include_eds');
    expect(dump.configs[2]['@type']).toBe('type.googleapis.com/envoy.admin.v3.EndpointsConfigDump');
    const eps = dump.configs[2].static_endpoint_configs;
    expect(eps[0].endpoint_config['@type']).toBe('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
    expect(eps[0].endpoint_config.cluster_name).toBe('alpha');
    expect(eps[0].endpoint_config.endpoints[1].lb_endpoints[0]).toMatchObject({
      endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
      health_status: 'UNHEALTHY',
      load_balancing_weight: 3,
    });
  });
});

describe('clusters and listeners', () => {
  test('/clusters text lines', async () => {
    const r = await call('/clusters');
    expect(r.type).toBe('text/plain; charset=UTF-8');
    const lines = r.body.split('\n');
    expect(lines).toContain('alpha::default_priority::max_connections::7');
    expect(lines).toContain('alpha::default_priority::max_retries::3');
    expect(lines).toContain('alpha::high_priority::max_connections::1024');
    expect(lines).toContain('alpha::added_via_api::false');
    expect(lines).toContain('alpha::10.0.0.1:8080::health_flags::healthy');
    expect(lines).toContain('alpha::10.0.0.2:8080::health_flags::/failed_active_hc');
    expect(lines).toContain('alpha::10.0.0.2:8080::weight::3');
    expect(lines).toContain('alpha::10.0.0.1:8080::rq_total::5');
    expect(lines).toContain('alpha::10.0.0.1:8080::rq_active::2');
    expect(lines).toContain('beta::added_via_api::false');
  });

  test('/clusters?format=json is envoy.admin.v3.Clusters', async () => {
    const { json: c } = await json('/clusters?format=json');
    expect(c.cluster_statuses.map((s: { name: string }) => s.name)).toEqual(['alpha', 'beta']);
    const alpha = c.cluster_statuses[0];
    expect(alpha.added_via_api).toBe(false);
    expect(alpha.host_statuses[1]).toMatchObject({
      address: { socket_address: { address: '10.0.0.2', port_value: 8080 } },
      health_status: { eds_health_status: 'HEALTHY', failed_active_health_check: true },
      weight: 3,
    });
    expect(alpha.host_statuses[0].stats).toContainEqual({ name: 'rq_total', value: '5' });
    expect(alpha.host_statuses[0].stats).toContainEqual({ name: 'rq_active', value: '2', type: 'GAUGE' });
  });

  test('/listeners text and json use the bound port', async () => {
    expect((await call('/listeners')).body).toBe('ingress::127.0.0.1:15001\negress::[::1]:9000\n');
    const { json: l } = await json('/listeners?format=json');
    expect(l).toEqual({
      listener_statuses: [
        { name: 'ingress', local_address: { socket_address: { address: '127.0.0.1', port_value: 15001 } } },
        { name: 'egress', local_address: { socket_address: { address: '::1', port_value: 9000 } } },
      ],
    });
  });
});

describe('stats', () => {
  test('/stats text with filter and usedonly', async () => {
    let r = await call('/stats');
    expect(r.type).toBe('text/plain; charset=UTF-8');
    expect(r.body).toContain('cluster.alpha.upstream_rq_total: 3\n');
    expect(r.body).toContain('cluster.beta.upstream_rq_total: 0\n');
    r = await call('/stats?usedonly&filter=upstream_rq_total');
    expect(r.body).toBe('cluster.alpha.upstream_rq_total: 3\n');
    r = await call('/stats?filter=cluster.%2Bbeta');
    expect(r.body).toBe('cluster.beta.upstream_rq_total: 0\n');
    r = await call('/stats?type=Gauges');
    expect(r.body).toBe('server.live: 1\n');
  });

  test('bad filter, type and format are 400', async () => {
    expect(await call('/stats?filter=(')).toMatchObject({ status: 400, body: 'Invalid re2 regex' });
    expect(await call('/stats?filter=a(?=b)')).toMatchObject({ status: 400, body: 'Invalid re2 regex' });
    expect(await call('/stats/prometheus?filter=[')).toMatchObject({ status: 400 });
    expect(await call('/stats?type=Bogus')).toMatchObject({ status: 400, body: 'invalid &type= param' });
    expect((await call('/stats?format=xml')).status).toBe(400);
  });

  test('/stats?format=json and prometheus', async () => {
    const { json: s } = await json('/stats?format=json&filter=alpha');
    expect(s.stats[0]).toEqual({ name: 'cluster.alpha.upstream_rq_total', value: 3 });
    expect(s.stats[1].histograms.computed_quantiles[0].name).toBe('cluster.alpha.upstream_rq_time');
    const p = await call('/stats?format=prometheus&usedonly');
    expect(p.body).toContain('# TYPE envoy_cluster_upstream_rq_total counter\n');
    expect(p.body).toContain('envoy_cluster_upstream_rq_total{envoy_cluster_name="alpha"} 3\n');
    expect(p.body).not.toContain('cluster_name="beta"');
  });

  test('/stats/prometheus with filter', async () => {
    const r = await call('/stats/prometheus?filter=server');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; charset=UTF-8');
    expect(r.body).toBe('# TYPE envoy_server_live gauge\nenvoy_server_live 1\n');
  });

  test('/stats/recentlookups and /reset_counters', async () => {
    expect((await call('/stats/recentlookups')).body).toContain('Lookup tracking is not enabled');
    expect((await call('/reset_counters', 'POST')).body).toBe('OK\n');
    expect(env.stats.counter('cluster.alpha.upstream_rq_total').value()).toBe(0);
    expect((await call('/stats?usedonly&filter=alpha.upstream_rq_total')).body).toBe('cluster.alpha.upstream_rq_total: 0\n');
  });
});

describe('logging and runtime', () => {
  test('POST /logging lists, sets all, one, and several', async () => {
    let r = await call('/logging', 'POST');
    expect(r.body).toBe('active loggers:\n  admin: info\n  upstream: info\n\n');
    await call('/logging?level=debug', 'POST');
    expect(env.levels).toEqual({ admin: 'debug', upstream: 'debug' });
    await call('/logging?upstream=trace', 'POST');
    expect(env.levels.upstream).toBe('trace');
    r = await call('/logging?paths=admin:warning,upstream:error', 'POST');
    expect(r.status).toBe(200);
    expect(env.levels).toEqual({ admin: 'warning', upstream: 'error' });
  });

  test('POST /logging errors are 400 with usage, and change nothing', async () => {
    let r = await call('/logging?paths=admin:info,ghost:info', 'POST');
    expect(r.status).toBe(400);
    expect(r.body.startsWith('error: unknown logger name\n\nusage: /logging?<name>=<level>')).toBe(true);
    expect(env.levels.admin).toBe('warning');
    r = await call('/logging?level=loud', 'POST');
    expect(r.body.startsWith('error: unknown logger level\n')).toBe(true);
    r = await call('/logging?a=info&b=info', 'POST');
    expect(r.body.startsWith('error: invalid number of parameters\n')).toBe(true);
  });

  test('/runtime and /runtime_modify (query and form body)', async () => {
    let { json: rt } = await json('/runtime');
    expect(rt).toEqual({ layers: ['static_layer_0'], entries: { 'feature.x': { final_value: 'true', layer_values: ['true'] } } });
    expect((await call('/runtime_modify?k1=v1', 'POST')).body).toBe('OK\n');
    const form = await call('/runtime_modify', 'POST', {
      body: 'k2=v%202',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(200);
    expect(env.calls.runtime).toEqual([{ k1: 'v1' }, { k2: 'v 2' }]);
    rt = (await json('/runtime')).json;
    expect(rt.entries.k2.final_value).toBe('v 2');
    const none = await call('/runtime_modify', 'POST');
    expect(none.status).toBe(400);
    expect(none.body.startsWith('usage: /runtime_modify?key1=value1')).toBe(true);
  });
});

describe('unix socket', () => {
  test('listens on a pipe path', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { request } = await import('node:http');
    const dir = await mkdtemp(join(tmpdir(), 'admin-'));
    const socketPath = join(dir, 'admin.sock');
    const pipe = await startAdmin(makeView().view, { kind: 'pipe', path: socketPath }, silent);
    try {
      expect(pipe.port).toBe(0);
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath, path: '/ready' }, (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (b += c));
          res.on('end', () => resolve(b));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('LIVE\n');
    } finally {
      await pipe.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
