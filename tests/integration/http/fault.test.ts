/**
 * envoy.filters.http.fault on real sockets, over HTTP/1.1 and h2c: fixed
 * aborts (HTTP and gRPC status) with %RESPONSE_FLAGS% FI, fixed delays,
 * header-controlled faults, header matchers, downstream_nodes, percentages,
 * max_active_faults, stats; the empty config Istio inserts is a no-op;
 * config errors are refused with their field path.
 */
import { PROTOCOLS, send } from '../../support/client.ts';
import { readFileSync } from 'node:fs';
import { tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

function withFilters(filters: string, accessLog?: string): string {
  return bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`,
    clusters: staticCluster('up', [up.port]),
    hcmExtra: accessLog ? `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${accessLog}
    log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n" } }` : undefined,
  }).replace(/          http_filters:\n/, `          http_filters:\n${filters.replace(/^/gm, '          ')}\n`);
}

const FAULT = '"@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

let up: TestUpstream, sc: TestSidecar, accessLog: string;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  accessLog = tempFile('fault.log', '');
  sc = await startSidecar(withFilters(`- name: envoy.filters.http.fault
  typed_config:
    ${FAULT}
    headers: [{ name: x-fault, present_match: true }]
    abort: { header_abort: {}, percentage: { numerator: 100 } }
    delay: { header_delay: {}, percentage: { numerator: 100 } }
- name: envoy.filters.http.fault.fixed
  typed_config:
    ${FAULT}
    headers: [{ name: x-fixed, string_match: { exact: abort } }]
    abort: { http_status: 418, percentage: { numerator: 1000000, denominator: MILLION } }
- name: envoy.filters.http.fault.grpc
  typed_config:
    ${FAULT}
    headers: [{ name: x-fixed, string_match: { exact: grpc } }]
    abort: { grpc_status: 14 }
- name: envoy.filters.http.fault.never
  typed_config:
    ${FAULT}
    headers: [{ name: x-fixed, string_match: { exact: never } }]
    abort: { http_status: 500, percentage: { numerator: 0 } }
- name: envoy.filters.http.fault.delay
  typed_config:
    ${FAULT}
    headers: [{ name: x-fixed, string_match: { exact: delay } }]
    delay: { fixed_delay: 0.3s }
- name: envoy.filters.http.fault.multi
  typed_config:
    ${FAULT}
    headers: [{ name: x-multi, exact_match: "a,b" }]
    abort: { http_status: 419 }
- name: envoy.filters.http.fault.nodes
  typed_config:
    ${FAULT}
    downstream_nodes: [node-a]
    abort: { http_status: 503 }
- name: envoy.filters.http.fault.istio
  typed_config:
    ${FAULT}`, accessLog));
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
});

describe.each(PROTOCOLS)('fault over %s', (proto) => {
  test('the empty config and non-matching requests pass through', async () => {
    const r = await send(proto, sc.port(), { path: '/pass', headers: { 'x-fixed': 'never' } });
    expect(r.status).toBe(200);
  });

  test('a fixed abort answers locally with the status and FI', async () => {
    const before = sc.stat('http.ingress.fault.aborts_injected');
    const r = await send(proto, sc.port(), { path: '/abort', headers: { 'x-fixed': 'abort' } });
    expect(r.status).toBe(418);
    expect(r.text()).toBe('fault filter abort');
    expect(sc.stat('http.ingress.fault.aborts_injected')).toBe(before + 1);
  });

  test('a gRPC abort is a trailers-only reply with grpc-status', async () => {
    const r = await send(proto, sc.port(), { method: 'POST', path: '/pkg.Svc/Method', headers: { 'x-fixed': 'grpc', 'content-type': 'application/grpc' } });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status'] ?? r.trailers['grpc-status']).toBe('14');
  });

  test('a fixed delay holds the request, then forwards it', async () => {
    const before = sc.stat('http.ingress.fault.delays_injected');
    const t0 = Date.now();
    const r = await send(proto, sc.port(), { path: '/delay', headers: { 'x-fixed': 'delay' } });
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(sc.stat('http.ingress.fault.delays_injected')).toBe(before + 1);
    expect(sc.stat('http.ingress.fault.active_faults')).toBe(0);
  });

  test('header_abort and header_delay take the fault from request headers', async () => {
    const r = await send(proto, sc.port(), { path: '/h', headers: { 'x-fault': '1', 'x-envoy-fault-abort-request': '429' } });
    expect(r.status).toBe(429);
    const t0 = Date.now();
    const d = await send(proto, sc.port(), { path: '/h', headers: { 'x-fault': '1', 'x-envoy-fault-delay-request': '200' } });
    expect(d.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
    const none = await send(proto, sc.port(), { path: '/h', headers: { 'x-fault': '1', 'x-envoy-fault-abort-request': '429', 'x-envoy-fault-abort-request-percentage': '0' } });
    expect(none.status).toBe(200);
  });

  test('downstream_nodes matches x-envoy-downstream-service-node', async () => {
    expect((await send(proto, sc.port(), { path: '/n', headers: { 'x-envoy-downstream-service-node': 'node-a' } })).status).toBe(503);
    expect((await send(proto, sc.port(), { path: '/n', headers: { 'x-envoy-downstream-service-node': 'node-b' } })).status).toBe(200);
  });
});

// Over HTTP/2 too: node:http2's header object joins a repeated field with ', ', so the connection
// manager builds its map from the stream's raw header list, as Envoy's codec keeps the entries apart.
test.each(PROTOCOLS)('header matchers see a repeated header\'s values joined with \',\' (Envoy\'s matchHeaders), %s', async (proto) => {
  const repeated = (name: string, values: string[]): Record<string, string> => ({ [name]: values as unknown as string });
  expect((await send(proto, sc.port(), { path: '/m', headers: repeated('x-multi', ['a', 'b']) })).status).toBe(419);
  expect((await send(proto, sc.port(), { path: '/m', headers: { 'x-multi': 'a' } })).status).toBe(200);
  // 'abort,x' is not 'abort': the first value alone does not decide.
  expect((await send(proto, sc.port(), { path: '/m', headers: repeated('x-fixed', ['abort', 'x']) })).status).toBe(200);
});

test('aborts are logged with FI and fault_filter_abort', async () => {
  await send('h1', sc.port(), { path: '/logged', headers: { 'x-fixed': 'abort' } });
  let log = '';
  for (let i = 0; i < 50 && !log.includes('/logged'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    log = readFileSync(accessLog, 'utf8');
  }
  expect(log).toContain('/logged 418 FI fault_filter_abort');
});

test('max_active_faults: faults beyond the cap pass through and count faults_overflow', async () => {
  const capped = await startSidecar(withFilters(`- name: envoy.filters.http.fault
  typed_config:
    ${FAULT}
    max_active_faults: 1
    delay: { fixed_delay: 0.4s }`));
  try {
    const t0 = Date.now();
    const [a, b] = await Promise.all([send('h1', capped.port(), { path: '/a' }), new Promise((r) => setTimeout(r, 100)).then(() => send('h1', capped.port(), { path: '/b' }))]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(capped.stat('http.ingress.fault.faults_overflow')).toBe(1);
    expect(capped.stat('http.ingress.fault.delays_injected')).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
  } finally {
    await capped.stop();
  }
});

test('config errors name the field', async () => {
  const errs = async (body: string): Promise<string[]> => bootstrapErrors(withFilters(`- name: envoy.filters.http.fault
  typed_config:
    ${FAULT}
    ${body}`));
  expect((await errs('abort: { percentage: { numerator: 10 } }'))[0]).toMatch(/http_filters\[0\]\.typed_config\.abort: one of http_status, grpc_status, header_abort is required/);
  expect((await errs('abort: { http_status: 99 }'))[0]).toMatch(/abort\.http_status: status 99 must be in \[200, 600\)/);
  expect((await errs('delay: { percentage: { numerator: 10 } }'))[0]).toMatch(/delay: one of fixed_delay, header_delay is required/);
  expect((await errs('upstream_cluster: other'))[0]).toMatch(/upstream_cluster: faults limited to an upstream cluster are not supported yet/);
  expect((await errs('response_rate_limit: { fixed_limit: { limit_kbps: 1 } }'))[0]).toMatch(/response_rate_limit: response rate limiting is not supported yet/);
});
