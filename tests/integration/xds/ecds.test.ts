/**
 * ECDS end to end with the test ADS server: HTTP filters whose config is a
 * TypedExtensionConfig delivered over ADS (`config_discovery`), here RBAC
 * (a security filter) and the compressor.
 * - a dynamic listener naming a config that has not arrived warms (not
 *   bound, the server not LIVE, DynamicListener.warming_state in
 *   /config_dump); once the config arrives it serves and enforces it;
 * - a changed config applies to new requests; a bad one (invalid RBAC, a
 *   type outside type_urls) is NACKed naming the resource and the last good
 *   config keeps being enforced; stats extension_config_discovery.http_filter.<name>.*;
 * - default_config with apply_default_config_without_warming serves at once,
 *   until the discovered config replaces it;
 * - no config and no default after the initial fetch timed out: every
 *   request gets Envoy's 500 (NFCF), never the upstream;
 * - an api_config_source (not ADS) is NACKed with the reason;
 * - /config_dump has EcdsConfigDump (ecds_filters).
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { EXTENSION_CONFIG } from '../../../xds/subscription/ecds-manager.ts';
import { staticCluster } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';
import { CLUSTER, LISTENER, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { adsBootstrap } from '../../support/xds-bootstrap.ts';

const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const COMPRESSOR = 'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor';

/** An RBAC config denying requests whose x-deny header is `value`. */
function denyRbac(value: string): Record<string, unknown> {
  return {
    '@type': RBAC,
    rules: { action: 'DENY', policies: { deny: { permissions: [{ header: { name: 'x-deny', string_match: { exact: value } } }], principals: [{ any: true }] } } },
  };
}

const denyAll = { '@type': RBAC, rules: { action: 'DENY', policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } };

const gzip = {
  '@type': COMPRESSOR,
  compressor_library: { name: 'gzip', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip' } },
  response_direction_config: { common_config: { min_content_length: 10 } },
};

/** A TypedExtensionConfig resource. */
const tec = (name: string, typed: Record<string, unknown>): Record<string, unknown> => ({ name, typed_config: typed });

/** A listener whose HCM has the given HTTP filters before the router. */
function listener(name: string, filters: Array<Record<string, unknown>>): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: name,
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'svc' } }] }] },
          http_filters: [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

/** An http_filters entry with config_discovery over ADS. */
function discovered(name: string, typeUrls: string[], extra: Record<string, unknown> = {}, timeout = '0s'): Record<string, unknown> {
  return { name, config_discovery: { config_source: { ads: {}, initial_fetch_timeout: timeout, resource_api_version: 'V3' }, type_urls: typeUrls, ...extra } };
}

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1'), headers: res.headers }));
    }).once('error', reject);
  });
}

async function adminJson(port: number, path: string): Promise<{ configs: Array<Record<string, unknown>> }> {
  return (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as { configs: Array<Record<string, unknown>> };
}

let up: TestUpstream;
let xds: XdsServer;
let server: Server;
let started: Promise<void>;
const port = (name: string): number | undefined => server.listenerManager.all().find((l) => l.config.name === name)?.port;
const stat = (name: string): number => server.stats.findCounter(name)?.value() ?? 0;
let listeners: Record<string, Record<string, unknown>> = {};
let configs: Record<string, Record<string, unknown>> = {};
let lv = 0;
let ev = 0;
const setListeners = (l: Record<string, Record<string, unknown>>): string => {
  listeners = l;
  xds.setResources(LISTENER, listeners, `l${++lv}`);
  return `l${lv}`;
};
const setConfigs = (c: Record<string, Record<string, unknown>>): string => {
  configs = c;
  xds.setResources(EXTENSION_CONFIG, configs, `e${++ev}`);
  return `e${ev}`;
};

beforeAll(async () => {
  up = await startHttpUpstream('svc');
  xds = await startXdsServer();
  xds.setResources(CLUSTER, {}, 'c1');
  setListeners({ 'ecds-rbac': listener('ecds-rbac', [discovered('rbac-ecds', [RBAC])]) });
  const registry = createRegistry();
  const snapshot = await buildSnapshot({
    configYaml: adsBootstrap({ xdsPort: xds.port, clusters: [staticCluster('svc', [up.port])] }),
    allowUnknownStaticFields: false,
  }, registry);
  server = new Server({ snapshot, registry, logs: new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  started = server.start();
  started.catch(() => undefined);
});

afterAll(async () => {
  server?.shutdown('test');
  await server?.exited;
  await xds?.close();
  await up?.close();
});

test('the listener warms until its filter config arrives over ADS; then the discovered RBAC is enforced', async () => {
  await xds.waitFor((r) => r.typeUrl === EXTENSION_CONFIG && (r.resourceNames ?? []).includes('rbac-ecds'));
  await xds.waitFor((r) => r.typeUrl === LISTENER && r.verdict === 'ack');
  expect(port('ecds-rbac')).toBeUndefined();
  expect(server.state).toBe('INITIALIZING');
  const dump = await adminJson(server.adminPort, '/config_dump?resource=dynamic_listeners');
  const entry = dump.configs.find((c) => c['name'] === 'ecds-rbac')!;
  expect(entry['active_state']).toBeUndefined();
  expect(entry['warming_state']).toMatchObject({ version_info: 'l1', listener: { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'ecds-rbac' } });
  expect(typeof (entry['warming_state'] as Record<string, unknown>)['last_updated']).toBe('string');

  setConfigs({ 'rbac-ecds': tec('rbac-ecds', denyRbac('1')) });
  await started;
  expect(server.state).toBe('LIVE');
  const p = port('ecds-rbac')!;
  expect((await get(p)).status).toBe(200);
  const denied = await get(p, { 'x-deny': '1' });
  expect(denied.status).toBe(403);
  expect(denied.body).toBe('RBAC: access denied');
  expect(xds.acked(EXTENSION_CONFIG)).toBe('e1');
  expect(stat('extension_config_discovery.http_filter.rbac-ecds.config_reload')).toBe(1);
  const after = await adminJson(server.adminPort, '/config_dump?resource=dynamic_listeners');
  expect(after.configs.find((c) => c['name'] === 'ecds-rbac')!['warming_state']).toBeUndefined();
});

test('a changed config applies to new requests', async () => {
  const v = setConfigs({ 'rbac-ecds': tec('rbac-ecds', denyRbac('2')) });
  await until(() => xds.acked(EXTENSION_CONFIG) === v, 5000, 'ECDS ACK');
  const p = port('ecds-rbac')!;
  expect((await get(p, { 'x-deny': '1' })).status).toBe(200);
  expect((await get(p, { 'x-deny': '2' })).status).toBe(403);
  expect(stat('extension_config_discovery.http_filter.rbac-ecds.config_reload')).toBe(2);
});

test('a bad config, or one of a type outside type_urls, is NACKed naming it; the last good RBAC keeps being enforced', async () => {
  let since = xds.requests.length;
  setConfigs({ 'rbac-ecds': tec('rbac-ecds', { '@type': RBAC, rules: { action: 'DENY', policies: { bad: { permissions: [{ url_path: { path: { safe_regex: { regex: '(' } } } }], principals: [{ any: true }] } } } }) });
  let nack = await xds.waitFor((r) => r.typeUrl === EXTENSION_CONFIG && r.verdict === 'nack', 5000, since);
  expect(nack.errorDetail?.message).toMatch(/extension config 'rbac-ecds': .*regex/);
  since = xds.requests.length;
  setConfigs({ 'rbac-ecds': tec('rbac-ecds', gzip) });
  nack = await xds.waitFor((r) => r.typeUrl === EXTENSION_CONFIG && r.verdict === 'nack', 5000, since);
  expect(nack.errorDetail?.message).toMatch(/extension config 'rbac-ecds': .*type URL 'type.googleapis.com\/envoy.extensions.filters.http.compressor.v3.Compressor' is not one of the filter's type_urls/);
  expect(stat('extension_config_discovery.http_filter.rbac-ecds.config_fail')).toBe(2);
  const p = port('ecds-rbac')!;
  expect((await get(p, { 'x-deny': '2' })).status).toBe(403);
  expect((await get(p, { 'x-deny': '1' })).status).toBe(200);
  // Back to a good one for the tests that follow.
  const v = setConfigs({ 'rbac-ecds': tec('rbac-ecds', denyRbac('2')) });
  await until(() => xds.acked(EXTENSION_CONFIG) === v, 5000, 'ECDS ACK');
});

test('default_config with apply_default_config_without_warming serves at once, until the discovered config replaces it', async () => {
  const filter = discovered('rbac-default', [RBAC], { default_config: denyAll, apply_default_config_without_warming: true });
  const v = setListeners({ ...listeners, 'ecds-default': listener('ecds-default', [filter]) });
  await until(() => port('ecds-default') !== undefined, 5000, 'the listener with a default config');
  await until(() => xds.acked(LISTENER) === v, 5000, 'LDS ACK');
  expect((await get(port('ecds-default')!)).status).toBe(403);
  const e = setConfigs({ ...configs, 'rbac-default': tec('rbac-default', denyRbac('3')) });
  await until(() => xds.acked(EXTENSION_CONFIG) === e, 5000, 'ECDS ACK');
  expect((await get(port('ecds-default')!)).status).toBe(200);
  expect((await get(port('ecds-default')!, { 'x-deny': '3' })).status).toBe(403);
});

test('no config and no default once the initial fetch timed out: every request gets a 500 (NFCF), never the upstream', async () => {
  const before = up.seen.length;
  setListeners({ ...listeners, 'ecds-missing': listener('ecds-missing', [discovered('rbac-never', [RBAC], {}, '0.2s')]) });
  await until(() => port('ecds-missing') !== undefined, 5000, 'the listener after the initial fetch timeout');
  const r = await get(port('ecds-missing')!);
  expect(r.status).toBe(500);
  expect(r.body).toBe('');
  expect(up.seen.length).toBe(before);
  expect(stat('extension_config_discovery.http_filter.rbac-never.config_fail')).toBe(1);
});

test('a compressor delivered by ECDS compresses responses; a changed config takes effect', async () => {
  setListeners({ ...listeners, 'ecds-gzip': listener('ecds-gzip', [discovered('gzip-ecds', [COMPRESSOR])]) });
  setConfigs({ ...configs, 'gzip-ecds': tec('gzip-ecds', gzip) });
  await until(() => port('ecds-gzip') !== undefined, 5000, 'the compressor listener');
  const r = await get(port('ecds-gzip')!, { 'accept-encoding': 'gzip' });
  expect(r.status).toBe(200);
  expect(r.headers['content-encoding']).toBe('gzip');
  expect(zlib.gunzipSync(Buffer.from(r.body, 'latin1')).length).toBeGreaterThan(0);
  const v = setConfigs({ ...configs, 'gzip-ecds': tec('gzip-ecds', { ...gzip, response_direction_config: { common_config: { min_content_length: 10, content_type: ['image/x-nothing-we-send'] } } }) });
  await until(() => xds.acked(EXTENSION_CONFIG) === v, 5000, 'ECDS ACK');
  const r2 = await get(port('ecds-gzip')!, { 'accept-encoding': 'gzip' });
  expect(r2.headers['content-encoding']).toBeUndefined();
});

test('config_discovery from an api_config_source is NACKed with the reason', async () => {
  const since = xds.requests.length;
  const bad = { name: 'rbac-grpc', config_discovery: { config_source: { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] } }, type_urls: [RBAC] } };
  xds.setResources(LISTENER, { ...listeners, 'ecds-bad': listener('ecds-bad', [bad]) }, 'l-bad');
  const nack = await xds.waitFor((r) => r.typeUrl === LISTENER && r.verdict === 'nack', 5000, since);
  expect(nack.errorDetail?.message).toMatch(/http_filters\[0\]\.config_discovery\.config_source: ECDS is supported over the ADS stream/);
  expect((await get(port('ecds-rbac')!, { 'x-deny': '2' })).status).toBe(403);
});

test('/config_dump: EcdsConfigDump lists the discovered configs with their versions', async () => {
  const dump = await adminJson(server.adminPort, '/config_dump');
  const ecds = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump')!;
  const filters = ecds['ecds_filters'] as Array<Record<string, unknown>>;
  const rbac = filters.find((f) => (f['ecds_filter'] as Record<string, unknown>)['name'] === 'rbac-ecds')!;
  expect(rbac['version_info']).toBe(xds.acked(EXTENSION_CONFIG));
  expect(rbac['ecds_filter']).toMatchObject({ '@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig', name: 'rbac-ecds', typed_config: { '@type': RBAC } });
  expect(typeof rbac['last_updated']).toBe('string');
  const types = dump.configs.map((c) => c['@type']);
  expect(types.indexOf('type.googleapis.com/envoy.admin.v3.EcdsConfigDump')).toBe(types.indexOf('type.googleapis.com/envoy.admin.v3.ClustersConfigDump') + 1);
});
