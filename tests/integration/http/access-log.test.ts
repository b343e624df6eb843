/**
 * Access logs with Envoy's formats and response flags, on real sockets:
 * the default text format, json_format, filters, and one line per stream
 * with NR, UH, UF, URX, UT, SI, UR and DC where Envoy sets them.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { send } from '../../support/client.ts';
import { freePort, tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let up: TestUpstream, sc: TestSidecar, textLog: string, jsonLog: string;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  const dead = await freePort();
  textLog = tempFile('access.log', '');
  jsonLog = tempFile('access.json', '');
  sc = await startSidecar(bootstrap({
    routes: `
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - name: ok_route
    match: { prefix: "/ok" }
    route: { cluster: up }
  - match: { prefix: "/slow" }
    route: { cluster: up, timeout: 0.2s }
  - match: { prefix: "/idle" }
    route: { cluster: up, idle_timeout: 0.2s }
  - match: { prefix: "/deadnoretry" }
    route: { cluster: dead }
  - match: { prefix: "/dead" }
    route: { cluster: dead, retry_policy: { retry_on: connect-failure, num_retries: 1, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/empty" }
    route: { cluster: empty }
`,
    clusters: [staticCluster('up', [up.port]), staticCluster('dead', [dead]), staticCluster('empty', [])].join('\n'),
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${textLog}
- name: envoy.access_loggers.file
  filter: { status_code_filter: { comparison: { op: GE, value: { default_value: 500, runtime_key: "" } } } }
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${jsonLog}
    log_format:
      json_format:
        code: "%RESPONSE_CODE%"
        flags: "%RESPONSE_FLAGS%"
        cluster: "%UPSTREAM_CLUSTER%"
        method: "%REQ(:METHOD)%"
        detail: "%RESPONSE_CODE_DETAILS%"
        attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%"`,
  }));
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
});

async function lines(file: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const all = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('default text format line for a proxied request', async () => {
  const before = (await lines(textLog, 0)).length;
  const r = await send('h1', sc.port(), { path: '/ok?x=1', headers: { 'user-agent': 'test-agent', 'x-request-id': 'rid-1' } });
  expect(r.status).toBe(200);
  const l = (await lines(textLog, before + 1))[before]!;
  expect(l).toMatch(new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET /ok\\?x=1 HTTP/1\\.1" 200 - 0 \\d+ \\d+ \\d+ "-" "test-agent" "rid-1" "example\\.com" "127\\.0\\.0\\.1:${up.port}"$`));
});

test.each([
  ['/nothing', 404, 'NR'],
  ['/empty', 503, 'UH'],
  ['/deadnoretry', 503, 'UF'],
  ['/dead', 503, 'UF,URX'],
])('%s -> %d with flag %s', async (path, code, flags) => {
  const before = (await lines(textLog, 0)).length;
  const r = await send('h1', sc.port(), { path });
  expect(r.status).toBe(code);
  const l = (await lines(textLog, before + 1))[before]!;
  expect(l).toContain(`" ${code} ${flags} `);
});

test('timeouts: UT (route timeout) and SI (stream idle)', async () => {
  const before = (await lines(textLog, 0)).length;
  expect((await send('h1', sc.port(), { path: '/slow', headers: { 'x-test-delay-ms': '1000' } })).status).toBe(504);
  expect((await send('h1', sc.port(), { path: '/idle', headers: { 'x-test-delay-ms': '1000' } })).status).toBe(408);
  const ls = await lines(textLog, before + 2);
  expect(ls[before]).toContain('" 504 UT ');
  expect(ls[before + 1]).toContain('" 408 SI ');
});

test('upstream reset mid-body logs UR; a client that goes away logs DC', async () => {
  const before = (await lines(textLog, 0)).length;
  await expect(send('h1', sc.port(), { path: '/ok', headers: { 'x-test-bytes': String(4 << 20), 'x-test-reset': 'body' } })).rejects.toThrow();
  await new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: sc.port(), path: '/ok', headers: { 'x-test-delay-ms': '500' }, agent: false });
    req.on('error', () => resolve());
    setTimeout(() => { req.destroy(); resolve(); }, 100);
  });
  const ls = await lines(textLog, before + 2);
  expect(ls.slice(before).some((l) => / 200 UR /.test(l))).toBe(true);
  expect(ls.slice(before).some((l) => / 0 DC /.test(l))).toBe(true);
});

test('json_format with a status filter: only 5xx, numbers stay numbers', async () => {
  const ls = (await lines(jsonLog, 3)).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(ls.every((e) => (e['code'] as number) >= 500)).toBe(true);
  const uh = ls.find((e) => e['flags'] === 'UH')!;
  expect(uh).toMatchObject({ code: 503, cluster: 'empty', method: 'GET', detail: 'no_healthy_upstream' });
  const urx = ls.find((e) => e['flags'] === 'UF,URX')!;
  expect(urx['attempts']).toBe(2);
});

test('unknown commands and loggers are refused at load', async () => {
  const base = (typedConfig: string): string => bootstrap({
    routes: 'virtual_hosts: []',
    clusters: staticCluster('c', [1]),
    hcmExtra: `access_log:\n- name: x\n  typed_config:\n${typedConfig.split('\n').map((l) => `    ${l}`).join('\n')}`,
  });
  expect((await bootstrapErrors(base('"@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\npath: /tmp/x\nlog_format: { text_format: "%NO_SUCH_THING%" }')))[0]).toMatch(/unsupported access log command %NO_SUCH_THING%/);
  expect((await bootstrapErrors(base('"@type": type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig\ncommon_config: { log_name: a, transport_api_version: V3 }')))[0]).toMatch(/unsupported access logger type URL/);
});
