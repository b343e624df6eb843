/**
 * Istio's real config dumps (../shared/fixtures/istio/configdump) replayed
 * through the xDS manager's decoding and translators: the table in
 * docs/compatibility.md is current, every NACK has a plan, the Istio
 * extensions parse (and warn) as documented, security filters are never
 * accepted unenforced, and any other Wasm module is refused.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { loadConfigdumpResources, planFor, reasonKey, renderReplayTable, replayAll, replayResource, type DumpedResource } from '../../sidecar/bootstrap/istio-replay-report.ts';
import { createRegistry } from '../../sidecar/main.ts';
import { fromRepo } from '../../sidecar/paths.ts';

const registry = createRegistry();
const resources = loadConfigdumpResources();
const results = replayAll(registry, resources);

test('the four dumps hold the expected resources', () => {
  const count = (kind: string): number => resources.filter((r) => r.kind === kind).length;
  expect(count('Listener')).toBe(31);
  expect(count('Cluster')).toBe(4);
  expect(count('RouteConfiguration')).toBe(2);
  expect(count('ClusterLoadAssignment')).toBe(39);
  expect(count('Secret')).toBe(2);
});

test('docs/compatibility.md carries the current replay table (node scripts/istio-replay-table.ts)', () => {
  const doc = readFileSync(fromRepo('docs', 'compatibility.md'), 'utf8');
  const begin = doc.indexOf('<!-- istio-replay:begin -->');
  const end = doc.indexOf('<!-- istio-replay:end -->');
  expect(begin).toBeGreaterThan(0);
  expect(doc.slice(begin + '<!-- istio-replay:begin -->'.length, end).trim()).toBe(renderReplayTable(results).trim());
});

test('every NACK names a field and has a plan', () => {
  for (const r of results.filter((x) => !x.ok)) {
    const e = r.errors[0]!;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.path).toMatch(/^(listener|cluster|route_configuration|cluster_load_assignment) '/);
    expect(planFor(reasonKey(e))).toBeDefined();
    for (const c of r.chainErrors) expect(planFor(reasonKey(c))).toBeDefined();
  }
});

test('no Istio listener is refused for an Istio telemetry extension or a non-terminal filter any more', () => {
  for (const r of results.filter((x) => !x.ok)) {
    for (const e of [r.errors[0]!, ...r.chainErrors]) {
      expect(e.message).not.toMatch(/stats\.PluginConfig|MetadataExchange|alpn|grpc_stats|fault\.v3|cors\.v3|wasm|set_filter_state|io\.istio\.network\.authn|must be the last filter/);
    }
  }
  // The outbound HTTP and TCP listeners and the inbound blackhole chain ACK.
  const ok = (name: string): boolean => results.find((r) => r.resource.kind === 'Listener' && r.resource.name === name)!.ok;
  for (const n of ['0.0.0.0_9080', '0.0.0.0_80', '10.96.0.1_443', '10.96.0.10_53', '0.0.0.0_15090', '0.0.0.0_15021']) expect(ok(n)).toBe(true);
});

test('the telemetry extensions warn exactly what is not produced', () => {
  const warned = results.flatMap((r) => r.warnings.map((w) => w.reason));
  expect(warned.some((w) => w.includes('istio_requests_total'))).toBe(true);
  expect(warned.some((w) => w.includes('istio_tcp_connections_opened_total'))).toBe(true);
  expect(warned.some((w) => w.includes('envoy.wasm.metadata_exchange accepted without effect'))).toBe(true);
  expect(warned.some((w) => w.startsWith('grpc_stats accepted without effect'))).toBe(true);
});

/** The first listener of the sidecar dump with an HCM, with its HTTP filters replaced. */
function httpListenerWith(filters: unknown[]): DumpedResource {
  const base = resources.find((r) => r.kind === 'Listener' && r.name === '0.0.0.0_80')!;
  const json = JSON.parse(JSON.stringify(base.json)) as { filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: unknown[] } }> }> };
  const hcm = json.filter_chains[0]!.filters[0]!.typed_config;
  hcm.http_filters = [...filters, hcm.http_filters[hcm.http_filters.length - 1]];
  return { ...base, json: json as unknown as Record<string, unknown> };
}

test('ext_authz is accepted; what it does not enforce (with_request_body, as Istio sets it) is refused, also when is_optional', () => {
  const ext = (extra: Record<string, unknown>, optional: boolean) => replayResource(httpListenerWith([{ name: 'envoy.filters.http.ext_authz', is_optional: optional, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', grpc_service: { envoy_grpc: { cluster_name: 'authz' } }, ...extra } }]), registry);
  for (const optional of [false, true]) {
    expect(ext({}, optional).ok).toBe(true);
    const r = ext({ with_request_body: { max_request_bytes: 8000 } }, optional);
    expect(r.ok).toBe(false);
    expect(r.errors[0]!.message).toMatch(/http_filters\[0\]\.typed_config\.with_request_body: ext_authz does not send the request body/);
  }
});

test('only Istio\'s null-VM plugins are accepted as Wasm', () => {
  const wasm = (config: Record<string, unknown>) => replayResource(httpListenerWith([{ name: 'envoy.filters.http.wasm', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', config } }]), registry);
  expect(wasm({ root_id: 'stats_outbound', vm_config: { vm_id: 'stats_outbound', runtime: 'envoy.wasm.runtime.null', code: { local: { inline_string: 'envoy.wasm.stats' } } } }).ok).toBe(true);
  const real = wasm({ root_id: 'r', vm_config: { runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: '/plugin.wasm' } } } });
  expect(real.errors[0]!.message).toMatch(/config\.vm_config: Wasm modules cannot run in this sidecar \(module '\/plugin\.wasm' on runtime 'envoy\.wasm\.runtime\.v8'/);
  const bytes = wasm({ vm_config: { runtime: 'envoy.wasm.runtime.null', code: { local: { inline_bytes: 'AGFzbQ==' } } } });
  expect(bytes.errors[0]!.message).toMatch(/inline module bytes/);
  const root = wasm({ root_id: 'my_root', vm_config: { runtime: 'envoy.wasm.runtime.null', code: { local: { inline_string: 'envoy.wasm.stats' } } } });
  expect(root.errors[0]!.message).toMatch(/config\.root_id: unknown root_id 'my_root' for envoy\.wasm\.stats/);
});

test('Istio filters validate their config', () => {
  const one = (f: unknown) => replayResource(httpListenerWith([f]), registry);
  const alpn = one({ name: 'istio.alpn', typed_config: { '@type': 'type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig', alpn_override: [{ upstream_protocol: 'HTTP2', alpn_override: ['istio-h2'] }, { upstream_protocol: 'HTTP2', alpn_override: ['h2'] }] } });
  expect(alpn.errors[0]!.message).toMatch(/alpn_override\[1\]\.upstream_protocol: HTTP2 is overridden twice/);
  const stats = one({ name: 'istio.stats', typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'type.googleapis.com/stats.PluginConfig', value: { reporterr: 'SERVER_GATEWAY' } } });
  expect(stats.errors[0]!.message).toMatch(/typed_config\.reporterr: unknown field of stats\.PluginConfig/);
  const grpc = one({ name: 'envoy.filters.http.grpc_stats', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig', stats_for_all_methods: true, individual_method_stats_allowlist: { services: [{ name: 'a.B', method_names: ['C'] }] } } });
  expect(grpc.errors[0]!.message).toMatch(/individual_method_stats_allowlist: oneof 'per_method_stat_specifier' already set/);
});

test('a terminal network filter out of place and a non-terminal one last are refused as in Envoy', () => {
  const tcp = resources.find((r) => r.name === '10.96.0.1_443')!;
  const json = JSON.parse(JSON.stringify(tcp.json)) as { filter_chains: Array<{ filters: unknown[] }> };
  const [stats, proxy] = json.filter_chains[0]!.filters;
  json.filter_chains[0]!.filters = [proxy, stats];
  const r = replayResource({ ...tcp, json: json as unknown as Record<string, unknown> }, registry);
  expect(r.errors[0]!.message).toMatch(/filters\[0\]: terminal filter named 'envoy\.filters\.network\.tcp_proxy' of type envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxy must be the last filter in a network filter chain/);
  json.filter_chains[0]!.filters = [stats];
  const r2 = replayResource({ ...tcp, json: json as unknown as Record<string, unknown> }, registry);
  expect(r2.errors[0]!.message).toMatch(/filters\[0\]: non-terminal filter named 'istio\.stats' of type stats\.PluginConfig is the last filter in a network filter chain/);
});
