/**
 * The real command line: --help, --version, --mode validate (OK and refused),
 * flag errors, accepted no-op flags, and an invalid bootstrap in serve mode
 * exiting 1 with the reason.
 */
import { fromFixtures } from '../../../sidecar/paths.ts';
import { runCli, tempFile } from '../../support/process.ts';

test('--help and --version', async () => {
  const h = await runCli(['--help']);
  expect(h.code).toBe(0);
  expect(h.stdout).toMatch(/--mode validate/);
  const v = await runCli(['--version']);
  expect(v.code).toBe(0);
  expect(v.stdout).toMatch(/^themis-sidecar version \d+\.\d+\.\d+/);
});

test('--mode validate accepts envoy-demo.yaml', async () => {
  const f = fromFixtures('envoy', 'envoy-demo.yaml');
  const r = await runCli(['--mode', 'validate', '-c', f]);
  expect(r.stdout.trim()).toBe(`configuration '${f}' OK`);
  expect(r.code).toBe(0);
});

test('--mode validate refuses a typo with its field path, exit 1', async () => {
  const f = tempFile('bad.yaml', 'static_resources:\n  clusters:\n  - name: a\n    conect_timeout: 1s\n');
  const r = await runCli(['--mode', 'validate', '-c', f]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/static_resources\.clusters\[0\]\.conect_timeout: unknown field/);
});

test('--mode validate runs the start-up reference checks: a TLS secret that no static secret or SDS provides is refused, exit 1', async () => {
  const f = tempFile('bad-sds.yaml', `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context: { tls_certificate_sds_secret_configs: [{ name: nowhere }] }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: c }
  clusters: [{ name: c, load_assignment: { cluster_name: c, endpoints: [] } }]
`);
  const r = await runCli(['--mode', 'validate', '-c', f]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("static_resources: listener 'l': secret 'nowhere': no static secret of that name (static_resources.secrets), and no sds_config");
  expect(r.stdout).toBe('');
});

test('--mode validate with --config-yaml only, and the Istio-style no-op flags', async () => {
  const r = await runCli(['--mode', 'validate', '--config-yaml', 'node: { id: x }', '--base-id', '1', '--disable-hot-restart', '--parent-shutdown-time-s', '5', '--concurrency', '2', '--service-node', 'n', '--service-cluster', 'c', '--drain-strategy', 'immediate', '--log-level', 'warning']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/configuration '--config-yaml' OK/);
});

test('unknown flags and bad values are refused', async () => {
  expect((await runCli(['--no-such-flag'])).code).toBe(1);
  expect((await runCli(['--mode', 'bogus', '-c', 'x'])).stderr).toMatch(/--mode must be serve or validate/);
  expect((await runCli(['--drain-time-s', 'abc', '-c', 'x'])).stderr).toMatch(/--drain-time-s needs a non-negative integer/);
  expect((await runCli(['--log-level', 'loud', '-c', 'x'])).code).toBe(1);
});

test('serve mode with an invalid bootstrap exits 1 with the reason', async () => {
  const f = tempFile('bad.json', '{"static_resources": {"listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "x"}}}]}}');
  const r = await runCli(['-c', f]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/port_value: expected an integer/);
  const missing = await runCli(['-c', '/nonexistent/file.yaml']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/cannot read/);
});

test('a bootstrap whose listener port is taken fails start-up with exit 1', async () => {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as import('node:net').AddressInfo).port;
  const f = tempFile('taken.yaml', `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
          route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] }
          http_filters: [{ name: envoy.filters.http.router }]
`);
  const r = await runCli(['-c', f]);
  s.close();
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/EADDRINUSE/);
});
