/**
 * Sidecar-to-sidecar mTLS, as two Istio sidecars talk: two sidecar
 * processes with Istio-style SPIFFE identities. The client-side sidecar
 * (app) originates mTLS (UpstreamTlsContext with its workload certificate,
 * the mesh CA and a SAN matcher for the server's identity, chosen by
 * transport_socket_matches `tlsMode: istio` as Istio's outbound clusters
 * do); the server-side sidecar (db) terminates it, requires a client
 * certificate and checks its SPIFFE id. HTTP (also HTTP/2 upstream over
 * TLS by ALPN) and a raw TCP stream cross; a wrong server identity fails
 * with UF and the TLS reason.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCa, issueDevWorkload, spiffeId } from '../../../protocols/tls/dev-pki.ts';
import { send } from '../../support/client.ts';
import { freePort, startProcess, type SidecarProcess } from '../../support/process.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'themis-mesh-'));
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const ca = createDevCa();
const appId = spiffeId('cluster.local', 'app', 'client');
const dbId = spiffeId('cluster.local', 'db', 'postgres');
const app = issueDevWorkload(ca, { uris: [appId] });
const db = issueDevWorkload(ca, { uris: [dbId] });
const files = {
  ca: write('ca.pem', ca.caPem),
  appCert: write('app.pem', app.chainPem), appKey: write('app.key', app.keyPem),
  dbCert: write('db.pem', db.chainPem), dbKey: write('db.key', db.keyPem),
};

const tlsContext = (kind: 'Downstream' | 'Upstream', cert: string, key: string, peer: string, extra: string): string => `
          name: envoy.transport_sockets.tls
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${kind}TlsContext
${extra}
            common_tls_context:
              alpn_protocols: [h2, http/1.1]
              tls_certificates: [{ certificate_chain: { filename: ${cert} }, private_key: { filename: ${key} } }]
              combined_validation_context:
                default_validation_context:
                  match_typed_subject_alt_names: [{ san_type: URI, matcher: { exact: "${peer}" } }]
                validation_context_sds_secret_config: { name: ROOTCA }`;

const hcm = (prefix: string, cluster: string, extra = ''): string => `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${prefix}
${extra}
          route_config: { virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: ${cluster} } }] }] }
          http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]`;

/** Network RBAC allowing only connections whose peer certificate carries `principal`. */
const rbac = (prefix: string, principal: string): string => `
      - name: envoy.filters.network.rbac
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC
          stat_prefix: ${prefix}
          rules: { policies: { mesh: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: "${principal}" } } }] } } }`;

const tcp = (prefix: string, cluster: string): string => `
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: ${prefix}, cluster: ${cluster} }`;

const rootCa = `
  secrets:
  - name: ROOTCA
    validation_context: { trusted_ca: { filename: ${files.ca} } }`;

/** An istio-style outbound cluster: mTLS to endpoints labelled tlsMode=istio, plain TCP otherwise. */
const meshCluster = (name: string, port: number, peer: string, h2 = false, extra = ''): string => `
  - name: ${name}
    type: STATIC
    connect_timeout: 1s${extra}
${h2 ? '    typed_extension_protocol_options: { envoy.extensions.upstreams.http.v3.HttpProtocolOptions: { "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } }' : ''}
    transport_socket_matches:
    - name: tlsMode-istio
      match: { tlsMode: istio }
      transport_socket:${tlsContext('Upstream', files.appCert, files.appKey, peer, '')}
    - name: tlsMode-disabled
      match: {}
      transport_socket: { name: envoy.transport_sockets.raw_buffer }
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
          metadata: { filter_metadata: { envoy.transport_socket_match: { tlsMode: istio } } }`;

let up: TestUpstream;
let echo: net.Server;
let echoPort: number;
let dbSidecar: SidecarProcess;
let appSidecar: SidecarProcess;
const ports = { dbHttp: 0, dbTcp: 0, dbTcpDenied: 0, dbAdmin: 0, appHttp: 0, appH2: 0, appTcp: 0, appTcpDenied: 0, appWrong: 0, appAdmin: 0 };

beforeAll(async () => {
  up = await startHttpUpstream('db-app');
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
  const dbYaml = `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${ports.dbAdmin} } } }
static_resources:${rootCa}
  listeners:
  - name: inbound_http
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.dbHttp} } }
    filter_chains:
    - transport_socket:${tlsContext('Downstream', files.dbCert, files.dbKey, appId, '            require_client_certificate: true')}
      filters:${hcm('inbound', 'local_app', '          forward_client_cert_details: APPEND_FORWARD\n          set_current_client_cert_details: { uri: true }')}
  - name: inbound_tcp
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.dbTcp} } }
    filter_chains:
    - transport_socket:${tlsContext('Downstream', files.dbCert, files.dbKey, appId, '            require_client_certificate: true')}
      filters:${rbac('inbound_tcp', appId)}${tcp('inbound_tcp', 'local_echo')}
  - name: inbound_tcp_denied
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.dbTcpDenied} } }
    filter_chains:
    - transport_socket:${tlsContext('Downstream', files.dbCert, files.dbKey, appId, '            require_client_certificate: true')}
      filters:${rbac('inbound_tcp_denied', spiffeId('cluster.local', 'ops', 'backup'))}${tcp('inbound_tcp_denied', 'local_echo')}
  clusters:
  - { name: local_app, type: STATIC, connect_timeout: 1s, load_assignment: { cluster_name: local_app, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } } }] }] } }
  - { name: local_echo, type: STATIC, connect_timeout: 1s, load_assignment: { cluster_name: local_echo, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${echoPort} } } } }] }] } }
`;
  const appYaml = `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appAdmin} } } }
static_resources:${rootCa}
  listeners:
  - name: outbound_http
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appHttp} } }
    filter_chains:
    - filters:${hcm('outbound', 'db_http')}
  - name: outbound_h2
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appH2} } }
    filter_chains:
    - filters:${hcm('outbound_h2', 'db_http2')}
  - name: outbound_wrong
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appWrong} } }
    filter_chains:
    - filters:${hcm('outbound_wrong', 'db_wrong_identity')}
  - name: outbound_tcp
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appTcp} } }
    filter_chains:
    - filters:${tcp('outbound_tcp', 'db_tcp')}
  - name: outbound_tcp_denied
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports.appTcpDenied} } }
    filter_chains:
    - filters:${tcp('outbound_tcp_denied', 'db_tcp_denied')}
  clusters:${meshCluster('db_http', ports.dbHttp, dbId)}${meshCluster('db_http2', ports.dbHttp, dbId, true)}${meshCluster('db_wrong_identity', ports.dbHttp, spiffeId('cluster.local', 'db', 'someone-else'))}${meshCluster('db_tcp', ports.dbTcp, dbId)}${meshCluster('db_tcp_denied', ports.dbTcpDenied, dbId)}${meshCluster('db_checked', ports.dbHttp, dbId, false, `
    health_checks: [{ timeout: 1s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /healthz } }]`)}${meshCluster('db_checked_wrong', ports.dbHttp, spiffeId('cluster.local', 'db', 'someone-else'), false, `
    health_checks: [{ timeout: 1s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /healthz } }]`)}
`;
  dbSidecar = await startProcess(write('db.yaml', dbYaml), ports.dbAdmin);
  appSidecar = await startProcess(write('app.yaml', appYaml), ports.appAdmin);
}, 60_000);

afterAll(async () => {
  for (const p of [appSidecar, dbSidecar]) {
    p?.child.kill('SIGTERM');
    await p?.exited;
  }
  await up?.close();
  echo?.close();
});

async function stat(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(`^${name.replace(/\./g, '\\.')}$`)}`)).text();
  const m = /: (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

test('HTTP crosses app sidecar -> mTLS -> db sidecar; the db side sees the app SPIFFE id in XFCC', async () => {
  const r = await send('h1', ports.appHttp, { path: '/orders' });
  expect(r.status).toBe(200);
  const seen = up.seen.find((x) => x.path === '/orders');
  expect(String(seen?.headers['x-forwarded-client-cert'])).toContain(`URI=${appId}`);
  expect(String(seen?.headers['x-forwarded-client-cert'])).toContain(`By=${dbId}`);
  expect(await stat(ports.appAdmin, 'cluster.db_http.ssl.handshake')).toBeGreaterThanOrEqual(1);
});

test('HTTP/2 to the upstream sidecar over TLS by ALPN', async () => {
  const r = await send('h2', ports.appH2, { path: '/h2-mesh' });
  expect(r.status).toBe(200);
  expect(up.seen.some((x) => x.path === '/h2-mesh')).toBe(true);
  expect(await stat(ports.dbAdmin, 'http.inbound.downstream_rq_http2_total')).toBeGreaterThanOrEqual(1);
});

test('a raw TCP stream crosses both sidecars over mTLS', async () => {
  const s = net.connect(ports.appTcp, '127.0.0.1');
  let got = '';
  s.on('data', (d) => (got += d.toString()));
  s.write('ping over mtls');
  await until(() => got === 'ping over mtls', 10_000, 'echo through the mesh');
  s.destroy();
});

test('network RBAC on the server side: a peer SPIFFE id outside the policy is closed before tcp_proxy; the allowed one was counted', async () => {
  const s = net.connect(ports.appTcpDenied, '127.0.0.1');
  s.on('error', () => undefined);
  let got = '';
  s.on('data', (d) => (got += d.toString()));
  s.write('let me in');
  await new Promise<void>((r) => s.on('close', () => r()));
  expect(got).toBe('');
  expect(await stat(ports.dbAdmin, 'inbound_tcp_denied.rbac.denied')).toBe(1);
  expect(await stat(ports.dbAdmin, 'inbound_tcp.rbac.allowed')).toBeGreaterThanOrEqual(1);
  expect(await stat(ports.dbAdmin, 'tcp.inbound_tcp_denied.downstream_cx_total')).toBe(0);
});

test('active health checks go through the cluster\'s mTLS transport socket: healthy against the right identity, unhealthy against a wrong one', async () => {
  await until(async () => (await stat(ports.appAdmin, 'cluster.db_checked.health_check.success')) >= 1, 10_000, 'a successful check over mTLS');
  expect(await stat(ports.appAdmin, 'cluster.db_checked.membership_healthy')).toBe(1);
  expect(up.seen.some((x) => x.path === '/healthz')).toBe(true);
  await until(async () => (await stat(ports.appAdmin, 'cluster.db_checked_wrong.health_check.failure')) >= 1, 10_000, 'a failed check');
  expect(await stat(ports.appAdmin, 'cluster.db_checked_wrong.membership_healthy')).toBe(0);
});

test('a server whose SPIFFE id is not the expected one is refused: 503 UF with the TLS reason', async () => {
  const r = await send('h1', ports.appWrong, { path: '/wrong' });
  expect(r.status).toBe(503);
  expect(r.text()).toMatch(/TLS error: peer certificate SANs .*match none of/);
  expect(await stat(ports.appAdmin, 'cluster.db_wrong_identity.ssl.fail_verify_san')).toBeGreaterThanOrEqual(1);
  expect(up.seen.some((x) => x.path === '/wrong')).toBe(false);
});
