/**
 * envoy.filters.http.ext_authz on real sockets, over HTTP/1.1 and h2c: a real
 * @grpc/grpc-js envoy.service.auth.v3.Authorization server (the protos of
 * @grpc/grpc-js-xds, loaded with @grpc/proto-loader, so what we encode and
 * decode is checked by an independent implementation) and a real node:http
 * server for http_service, in front of a real upstream. Allow (headers added,
 * overwritten, removed on the way upstream), deny (status, body, headers;
 * the upstream never called), the auth service down, missing, slow
 * (timeout), failure_mode_allow with its header, status_on_error, a gRPC
 * client denied with PERMISSION_DENIED, filter_enabled_metadata on RBAC's
 * shadow result (Istio's CUSTOM action), Envoy's stats, response code
 * details and UAEX, and the refusals at load.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createDevCa, issueDevWorkload, spiffeId } from '../../../protocols/tls/dev-pki.ts';
import { grpcCall, PROTOCOLS, send } from '../../support/client.ts';
import { tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startH2Upstream, startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';

const DEPS = path.resolve(__dirname, '../../../node_modules/@grpc/grpc-js-xds/deps');

type Json = Record<string, unknown>;

/** The CheckRequests the gRPC server received, in order. */
const checks: Json[] = [];
/** Requests the HTTP auth server received. */
const httpChecks: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }> = [];

async function startGrpcAuthz(): Promise<{ port: number; close(): Promise<void> }> {
  const def = protoLoader.loadSync(path.join(DEPS, 'envoy-api/envoy/service/auth/v3/external_auth.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [path.join(DEPS, 'envoy-api'), path.join(DEPS, 'xds'), path.join(DEPS, 'googleapis'), path.join(DEPS, 'protoc-gen-validate')],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } };
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<Json, Json>, cb: grpc.sendUnaryData<Json>) => {
      checks.push(call.request);
      const http = ((call.request['attributes'] as Json)['request'] as Json)['http'] as Json;
      const headers = http['headers'] as Record<string, string>;
      const verdict = headers['x-authz'];
      if (verdict === 'allow' || verdict === 'allow-bob') {
        cb(null, {
          status: { code: 0 },
          dynamic_metadata: { fields: { user: { stringValue: verdict === 'allow' ? 'alice' : 'bob' }, level: { numberValue: 3 } } },
          ok_response: {
            headers: [
              { header: { key: 'x-authz-user', value: 'alice' } },
              { header: { key: 'x-replaced', value: 'by-authz' } },
              { header: { key: 'x-appended', value: 'second' }, append: { value: true } },
            ],
            headers_to_remove: ['x-remove-me'],
            response_headers_to_add: [{ header: { key: 'x-authz-response', value: 'checked' } }],
            query_parameters_to_set: [{ key: 'tenant', value: 't 1' }],
            query_parameters_to_remove: ['token'],
          },
        });
      } else if (verdict === 'allow-hop') {
        // Connection-specific headers an HTTP/2 upstream cannot carry (node:http2 throws on them).
        cb(null, {
          status: { code: 0 },
          ok_response: { headers: [
            { header: { key: 'connection', value: 'close' } }, { header: { key: 'te', value: 'gzip' } },
            { header: { key: 'upgrade', value: 'websocket' } }, { header: { key: 'keep-alive', value: '5' } },
            { header: { key: 'X-Authz-User', value: 'carol' } },
          ] },
        });
      } else if (verdict === 'deny-401') {
        cb(null, {
          status: { code: 16 },
          denied_response: { status: { code: 'Unauthorized' }, body: 'go away', headers: [{ header: { key: 'www-authenticate', value: 'Bearer realm="x"' } }, { header: { key: 'x-deny-reason', value: 'no token' } }] },
        });
      } else if (verdict === 'slow') {
        setTimeout(() => cb(null, { status: { code: 0 } }), 600);
      } else if (verdict === 'grpc-error') {
        cb({ code: grpc.status.INTERNAL, details: 'boom' });
      } else {
        cb(null, { status: { code: 7 } });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

async function startHttpAuthz(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    httpChecks.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    if (req.headers['authorization'] === 'Bearer broken') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('authz is down');
      return;
    }
    if (req.headers['authorization'] === 'Bearer good') {
      res.writeHead(200, { 'x-auth-user': 'bob', 'x-auth-extra': 'appended', 'x-not-allowed': 'leak', 'x-auth-session': 's1' }).end();
      return;
    }
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'x-auth-reason': 'bad token', 'x-internal': 'secret', 'content-type': 'text/plain' }).end('http says no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

function extAuthz(body: string): string {
  return `- name: envoy.filters.http.ext_authz
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
${body.replace(/^/gm, '    ')}`;
}

function withFilters(clusters: string, filters: string, hcmExtra?: string): string {
  return bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`,
    clusters,
    hcmExtra,
  }).replace(/          http_filters:\n/, `          http_filters:\n${filters.replace(/^/gm, '          ')}\n`);
}

const ca = createDevCa({ trustDomain: 'cluster.local' });
const serverCert = issueDevWorkload(ca, { dnsNames: ['svc.example.com'], uris: [spiffeId('cluster.local', 'db', 'server')] });
const clientCert = issueDevWorkload(ca, { uris: [spiffeId('cluster.local', 'app', 'client')] });

let up: TestUpstream;
let h2up: Awaited<ReturnType<typeof startH2Upstream>>;
let grpcAuthz: { port: number; close(): Promise<void> };
let httpAuthz: { port: number; close(): Promise<void> };
let accessLog: string;
const sc: Record<string, TestSidecar> = {};

beforeAll(async () => {
  up = await startHttpUpstream('up');
  h2up = await startH2Upstream();
  grpcAuthz = await startGrpcAuthz();
  httpAuthz = await startHttpAuthz();
  const dead = await deadPort();
  accessLog = tempFile('ext-authz.log', '');
  const log = `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${accessLog}
    log_format: { json_format: { id: "%REQ(X-TEST-ID)%", code: "%RESPONSE_CODE%", details: "%RESPONSE_CODE_DETAILS%", flags: "%RESPONSE_FLAGS%" } }`;
  const upC = staticCluster('up', [up.port]);
  const grpcC = staticCluster('authz', [grpcAuthz.port], 'http2_protocol_options: {}');
  const deadC = staticCluster('authz', [dead], 'http2_protocol_options: {}');
  sc['grpc'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz }, timeout: 0.3s }\ntransport_api_version: V3'), log));
  sc['down'] = await startSidecar(withFilters(`${upC}\n${deadC}`, extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz } }'), log));
  sc['downAllow'] = await startSidecar(withFilters(`${upC}\n${deadC}`, extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz } }\nfailure_mode_allow: true\nfailure_mode_allow_header_add: true')));
  sc['missing'] = await startSidecar(withFilters(upC, extAuthz('grpc_service: { envoy_grpc: { cluster_name: nowhere } }\nstatus_on_error: { code: 503 }\nstat_prefix: named')));
  sc['http'] = await startSidecar(withFilters(`${upC}\n${staticCluster('httpauthz', [httpAuthz.port])}`, extAuthz(`http_service:
  server_uri: { uri: "http://authz.local", cluster: httpauthz, timeout: 0.5s }
  path_prefix: /check
  authorization_request:
    allowed_headers: { patterns: [ { exact: x-tenant } ] }
    headers_to_add: [ { key: x-from-sidecar, value: "yes" } ]
  authorization_response:
    allowed_upstream_headers: { patterns: [ { exact: x-auth-user } ] }
    allowed_upstream_headers_to_append: { patterns: [ { prefix: x-auth-extra } ] }
    allowed_client_headers: { patterns: [ { exact: x-auth-reason } ] }
    allowed_client_headers_on_success: { patterns: [ { exact: x-auth-session } ] }`), log));
  // An HTTP/2 upstream behind the gRPC authorizer (connection-specific headers from a CheckResponse).
  sc['h2up'] = await startSidecar(withFilters(`${staticCluster('up', [h2up.port], 'http2_protocol_options: {}')}\n${grpcC}`, extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz } }')));
  sc['httpAllow'] = await startSidecar(withFilters(`${upC}\n${staticCluster('httpauthz', [httpAuthz.port])}`, extAuthz(`http_service:
  server_uri: { uri: "http://authz.local", cluster: httpauthz, timeout: 0.5s }
failure_mode_allow: true`)));
  const off = 'grpc_service: { envoy_grpc: { cluster_name: authz } }\nfilter_enabled: { default_value: { numerator: 0 }, runtime_key: ext_authz.enabled }';
  sc['off'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, extAuthz(off)));
  sc['offDeny'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, extAuthz(`${off}\ndeny_at_disable: { default_value: true, runtime_key: ext_authz.deny }`), log));
  // RBAC after ext_authz reads its dynamic metadata.
  sc['meta'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, `${extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz } }')}
- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    rules:
      action: ALLOW
      policies:
        alice-only:
          permissions: [ { any: true } ]
          principals: [ { metadata: { filter: envoy.filters.http.ext_authz, path: [ { key: user } ], value: { string_match: { exact: alice } } } } ]`));
  // mTLS downstream: the CheckRequest carries both identities.
  const tlsChain = `    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates: [ { certificate_chain: ${JSON.stringify({ inline_string: serverCert.chainPem })}, private_key: ${JSON.stringify({ inline_string: serverCert.keyPem })} } ]
            validation_context: { trusted_ca: ${JSON.stringify({ inline_string: ca.caPem })} }
      filters:
`;
  sc['mtls'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, extAuthz('grpc_service: { envoy_grpc: { cluster_name: authz } }')).replace('    - filters:\n', tlsChain));
  // Istio's CUSTOM action: RBAC's shadow rules mark the requests the external authorizer checks.
  sc['custom'] = await startSidecar(withFilters(`${upC}\n${grpcC}`, `- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    shadow_rules_stat_prefix: istio_ext_authz_
    shadow_rules:
      action: DENY
      policies:
        istio-ext-authz-ns[default]-policy[ext]-rule[0]:
          permissions: [ { url_path: { path: { prefix: /protected } } } ]
          principals: [ { any: true } ]
${extAuthz(`grpc_service: { envoy_grpc: { cluster_name: authz }, timeout: 0.5s }
filter_enabled_metadata:
  filter: envoy.filters.http.rbac
  path: [ { key: istio_ext_authz_shadow_effective_policy_id } ]
  value: { string_match: { prefix: istio-ext-authz } }`)}`));
});

afterAll(async () => {
  await Promise.all(Object.values(sc).map((s) => s.stop()));
  await Promise.all([up.close(), h2up.close(), grpcAuthz.close(), httpAuthz.close()]);
});

let seq = 0;

async function logged(id: string): Promise<Json> {
  let entry: Json | undefined;
  await until(() => {
    entry = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json).find((e) => e['id'] === id);
    return entry !== undefined;
  }, 5000, `access log entry ${id}`);
  return entry!;
}

describe.each(PROTOCOLS)('ext_authz over %s', (proto) => {
  const req = async (s: string, p: string, headers: Record<string, string> = {}) => {
    const id = `${proto}-${++seq}`;
    const before = up.seen.length;
    const r = await send(proto, sc[s]!.port(), { path: p, headers: { 'x-test-id': id, ...headers } });
    const upstream = up.seen.slice(before).find((x) => x.headers['x-test-id'] === id);
    return Object.assign(r, { id, upstream });
  };

  test('gRPC allow: the upstream sees the headers the service added, replaced and removed; CheckRequest carries the request and peers', async () => {
    const okBefore = sc['grpc']!.stat('http.ingress.ext_authz.ok');
    const r = await req('grpc', '/allowed/path?q=1&token=secret', { 'x-authz': 'allow', 'x-replaced': 'client', 'x-appended': 'first', 'x-remove-me': 'x', 'content-length': '0' });
    expect(r.status).toBe(200);
    const h = r.upstream!.headers;
    expect(h['x-authz-user']).toBe('alice');
    expect(h['x-replaced']).toBe('by-authz');
    expect(h['x-appended']).toBe('first, second');
    expect(h['x-remove-me']).toBeUndefined();
    expect(r.headers['x-authz-response']).toBe('checked');
    expect(r.upstream!.path).toBe('/allowed/path?q=1&tenant=t%201');
    expect(sc['grpc']!.stat('http.ingress.ext_authz.ok')).toBe(okBefore + 1);
    const check = checks.find((c) => (((c['attributes'] as Json)['request'] as Json)['http'] as Json)['headers'] && ((((c['attributes'] as Json)['request'] as Json)['http'] as Json)['headers'] as Json)['x-test-id'] === r.id)!;
    const attrs = check['attributes'] as Json;
    const httpReq = (attrs['request'] as Json)['http'] as Json;
    expect(httpReq['method']).toBe('GET');
    expect(httpReq['path']).toBe('/allowed/path?q=1&token=secret');
    expect(httpReq['host']).toBe('example.com');
    expect(httpReq['scheme']).toBe('http');
    expect(httpReq['protocol']).toBe(proto === 'h1' ? 'HTTP/1.1' : 'HTTP/2');
    expect(httpReq['id']).toBe(r.upstream!.headers['x-request-id']);
    expect((httpReq['headers'] as Json)[':method']).toBe('GET');
    const src = ((attrs['source'] as Json)['address'] as Json)['socket_address'] as Json;
    const dst = ((attrs['destination'] as Json)['address'] as Json)['socket_address'] as Json;
    expect(src['address']).toBe('127.0.0.1');
    expect(Number(src['port_value'])).toBeGreaterThan(0);
    expect(Number(dst['port_value'])).toBe(sc['grpc']!.port());
    expect(((attrs['request'] as Json)['time'] as Json)['seconds']).toBeDefined();
  });

  test('gRPC deny: the denied status, body and headers reach the client; the upstream is never called; UAEX ext_authz_denied', async () => {
    const r = await req('grpc', '/x', { 'x-authz': 'deny-401' });
    expect(r.status).toBe(401);
    expect(r.text()).toBe('go away');
    expect(r.headers['www-authenticate']).toBe('Bearer realm="x"');
    expect(r.headers['x-deny-reason']).toBe('no token');
    expect(r.upstream).toBeUndefined();
    expect(await logged(r.id)).toMatchObject({ code: 401, details: 'ext_authz_denied', flags: 'UAEX' });
    const d = await req('grpc', '/x');
    expect(d.status).toBe(403);
    expect(d.upstream).toBeUndefined();
    expect(sc['grpc']!.stat('http.ingress.ext_authz.denied')).toBeGreaterThanOrEqual(2);
  });

  test('gRPC errors: a failing Check call and a slow one (timeout) answer 403 ext_authz_error', async () => {
    const e = await req('grpc', '/x', { 'x-authz': 'grpc-error' });
    expect(e.status).toBe(403);
    expect(e.upstream).toBeUndefined();
    expect(await logged(e.id)).toMatchObject({ code: 403, details: 'ext_authz_error', flags: 'UAEX' });
    const t0 = Date.now();
    const slow = await req('grpc', '/x', { 'x-authz': 'slow' });
    expect(slow.status).toBe(403);
    expect(Date.now() - t0).toBeLessThan(580);
    expect(slow.upstream).toBeUndefined();
    expect(sc['grpc']!.stat('http.ingress.ext_authz.error')).toBeGreaterThanOrEqual(2);
  });

  test('auth service down: 403 by default; failure_mode_allow forwards with x-envoy-auth-failure-mode-allowed', async () => {
    const d = await req('down', '/x', { 'x-authz': 'allow' });
    expect(d.status).toBe(403);
    expect(d.upstream).toBeUndefined();
    expect(await logged(d.id)).toMatchObject({ code: 403, details: 'ext_authz_error', flags: 'UAEX' });
    const a = await req('downAllow', '/x');
    expect(a.status).toBe(200);
    expect(a.upstream!.headers['x-envoy-auth-failure-mode-allowed']).toBe('true');
    expect(sc['downAllow']!.stat('http.ingress.ext_authz.failure_mode_allowed')).toBeGreaterThanOrEqual(1);
    expect(sc['downAllow']!.stat('http.ingress.ext_authz.error')).toBeGreaterThanOrEqual(1);
  });

  test('a cluster that does not exist is an error answered with status_on_error; stats under the filter stat_prefix', async () => {
    const r = await req('missing', '/x');
    expect(r.status).toBe(503);
    expect(r.upstream).toBeUndefined();
    expect(sc['missing']!.stat('http.ingress.ext_authz.named.error')).toBeGreaterThanOrEqual(1);
  });

  test('http_service: 200 allows with allowed_upstream_headers; other statuses deny with status, body and allowed_client_headers', async () => {
    const ok = await req('http', '/some/path?a=b', { authorization: 'Bearer good', 'x-tenant': 't1', 'x-private': 'p' });
    expect(ok.status).toBe(200);
    expect(ok.upstream!.headers['x-auth-user']).toBe('bob');
    expect(ok.upstream!.headers['x-auth-extra']).toBe('appended');
    expect(ok.upstream!.headers['x-not-allowed']).toBeUndefined();
    expect(ok.headers['x-auth-session']).toBe('s1');
    expect(ok.headers['x-auth-user']).toBeUndefined();
    const check = httpChecks.find((c) => c.headers['x-tenant'] === 't1' && c.headers['authorization'] === 'Bearer good')!;
    expect(check.url).toBe('/check/some/path?a=b');
    expect(check.method).toBe('GET');
    expect(check.headers['x-from-sidecar']).toBe('yes');
    expect(check.headers['x-private']).toBeUndefined();
    const no = await req('http', '/some/path', { authorization: 'Bearer bad' });
    expect(no.status).toBe(401);
    expect(no.text()).toBe('http says no');
    expect(no.headers['www-authenticate']).toBe('Bearer');
    expect(no.headers['x-auth-reason']).toBe('bad token');
    expect(no.headers['x-internal']).toBeUndefined();
    expect(no.upstream).toBeUndefined();
    expect(await logged(no.id)).toMatchObject({ code: 401, details: 'ext_authz_denied', flags: 'UAEX' });
    expect(sc['http']!.stat('http.ingress.ext_authz.ok')).toBeGreaterThanOrEqual(1);
    expect(sc['http']!.stat('http.ingress.ext_authz.denied')).toBeGreaterThanOrEqual(1);
  });

  test('connection-specific headers from a CheckResponse are dropped, not sent to an HTTP/2 upstream (node:http2 would throw)', async () => {
    const before = h2up.seen.length;
    const r = await send(proto, sc['h2up']!.port(), { path: '/hop', headers: { 'x-authz': 'allow-hop' } });
    expect(r.status).toBe(200);
    const seen = h2up.seen.slice(before).find((h) => h[':path'] === '/hop')!;
    expect(seen['x-authz-user']).toBe('carol');
    for (const k of ['connection', 'upgrade', 'keep-alive']) expect(seen[k]).toBeUndefined();
    expect(seen['te']).toBeUndefined();
    // The sidecar serves on.
    expect((await send(proto, sc['h2up']!.port(), { path: '/again', headers: { 'x-authz': 'allow' } })).status).toBe(200);
  });

  test('http_service answering 5xx is an error, as Envoy: status_on_error (403), or through with failure_mode_allow', async () => {
    const e = await req('http', '/x', { authorization: 'Bearer broken' });
    expect(e.status).toBe(403);
    expect(e.text()).not.toContain('authz is down');
    expect(e.upstream).toBeUndefined();
    expect((await logged(e.id))['details']).toBe('ext_authz_error');
    const a = await req('httpAllow', '/x', { authorization: 'Bearer broken' });
    expect(a.status).toBe(200);
    expect(a.upstream).toBeDefined();
  });

  test('filter_enabled at 0 %: no check (disabled counted); with deny_at_disable the request is answered status_on_error', async () => {
    const checksBefore = checks.length;
    const r = await req('off', '/x');
    expect(r.status).toBe(200);
    expect(checks.length).toBe(checksBefore);
    expect(sc['off']!.stat('http.ingress.ext_authz.disabled')).toBeGreaterThanOrEqual(1);
    const d = await req('offDeny', '/x', { 'x-authz': 'allow' });
    expect(d.status).toBe(403);
    expect(d.upstream).toBeUndefined();
    expect(await logged(d.id)).toMatchObject({ code: 403, details: 'ext_authz_error', flags: 'UAEX' });
  });

  test('dynamic_metadata of the CheckResponse is read by RBAC after the filter', async () => {
    expect((await req('meta', '/m', { 'x-authz': 'allow' })).status).toBe(200);
    const bob = await req('meta', '/m', { 'x-authz': 'allow-bob' });
    expect(bob.status).toBe(403);
    expect(bob.text()).toBe('RBAC: access denied');
  });

  test("filter_enabled_metadata on RBAC's shadow result (Istio CUSTOM): only marked requests are checked", async () => {
    const open = await req('custom', '/open');
    expect(open.status).toBe(200);
    expect(sc['custom']!.stat('http.ingress.ext_authz.disabled')).toBeGreaterThanOrEqual(1);
    const denied = await req('custom', '/protected/a');
    expect(denied.status).toBe(403);
    expect(denied.upstream).toBeUndefined();
    const allowed = await req('custom', '/protected/a', { 'x-authz': 'allow' });
    expect(allowed.status).toBe(200);
    expect(allowed.upstream!.headers['x-authz-user']).toBe('alice');
  });
});

test('a gRPC client denied gets a trailers-only PERMISSION_DENIED; the upstream is never called', async () => {
  const before = up.seen.length;
  const headers = await grpcCall(sc['grpc']!.port());
  expect(headers[':status']).toBe(200);
  expect(headers['grpc-status']).toBe('7');
  expect(up.seen.length).toBe(before);
});

test('mTLS: the CheckRequest carries the peer URI SAN as source principal and ours as destination principal', async () => {
  const r = await new Promise<{ status: number }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: sc['mtls']!.port(), path: '/tls', method: 'GET', ca: ca.caPem, cert: clientCert.chainPem, key: clientCert.keyPem, servername: 'svc.example.com', headers: { 'x-authz': 'allow', 'x-test-id': 'mtls-1' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
  expect(r.status).toBe(200);
  const c = checks.find((x) => ((((x['attributes'] as Json)['request'] as Json)['http'] as Json)['headers'] as Json)['x-test-id'] === 'mtls-1')!;
  const attrs = c['attributes'] as Json;
  expect((attrs['source'] as Json)['principal']).toBe('spiffe://cluster.local/ns/app/sa/client');
  expect((attrs['destination'] as Json)['principal']).toBe('spiffe://cluster.local/ns/db/sa/server');
  expect((((attrs['request'] as Json)['http'] as Json)['scheme'])).toBe('https');
});

test('a client gone while the check is pending: the check is cancelled, the upstream never called, the sidecar serves on', async () => {
  const before = up.seen.length;
  const session = http2.connect(`http://127.0.0.1:${sc['grpc']!.port()}`);
  const s = session.request({ ':method': 'GET', ':path': '/gone', 'x-authz': 'slow' });
  s.on('error', () => undefined);
  await until(() => checks.some((c) => ((((c['attributes'] as Json)['request'] as Json)['http'] as Json)['path'] === '/gone')), 5000, 'the check of /gone');
  s.close(http2.constants.NGHTTP2_CANCEL);
  session.destroy();
  await new Promise((r) => setTimeout(r, 700));
  expect(up.seen.length).toBe(before);
  expect((await send('h1', sc['grpc']!.port(), { path: '/after', headers: { 'x-authz': 'allow' } })).status).toBe(200);
});

describe('refused at load, with the field path', () => {
  const base = (body: string, routeExtra = ''): string =>
    bootstrap({
      routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up }${routeExtra} }] }]`,
      clusters: staticCluster('up', [1]),
    }).replace(/          http_filters:\n/, `          http_filters:\n${extAuthz(body).replace(/^/gm, '          ')}\n`);

  test.each([
    ['grpc_service: { envoy_grpc: { cluster_name: a } }\nwith_request_body: { max_request_bytes: 8000 }', /typed_config\.with_request_body: ext_authz does not send the request body to the authorization service yet/],
    ['grpc_service: { google_grpc: { target_uri: "a:1", stat_prefix: s } }', /typed_config\.grpc_service\.google_grpc: google_grpc is not supported/],
    ['failure_mode_allow: true', /typed_config\.grpc_service: one of grpc_service, http_service is required/],
    ['grpc_service: { envoy_grpc: { cluster_name: a } }\ninclude_peer_certificate: true', /typed_config\.include_peer_certificate: the peer certificate is not sent/],
    ['grpc_service: { envoy_grpc: { cluster_name: a } }\nmetadata_context_namespaces: [ envoy.filters.http.jwt_authn ]', /typed_config\.metadata_context_namespaces: metadata_context is not sent/],
    ['http_service: { server_uri: { uri: "http://a", cluster: a } }', /typed_config\.http_service\.server_uri\.timeout: timeout is required/],
    ['grpc_service: { envoy_grpc: { cluster_name: a } }\nstatus_on_error: { code: Continue }', /typed_config\.status_on_error\.code: invalid HTTP status 100/],
    ['grpc_service: { envoy_grpc: { cluster_name: a }, initial_metadata: [ { key: Connection, value: close } ] }', /typed_config\.grpc_service\.initial_metadata\[0\]\.key: 'connection' cannot be set on a check request/],
    ['grpc_service: { envoy_grpc: { cluster_name: a }, initial_metadata: [ { key: "bad key", value: x } ] }', /typed_config\.grpc_service\.initial_metadata\[0\]\.key: 'bad key' is not a valid header name/],
    ['grpc_service: { envoy_grpc: { cluster_name: a } }\nfilter_enabled_metadata: { filter: f, path: [], value: { string_match: { exact: x } } }', /typed_config\.filter_enabled_metadata\.path: at least one path segment is required/],
  ])('%s', async (body, re) => {
    expect((await bootstrapErrors(base(body))).join('\n')).toMatch(re);
  });

  test('per-route ExtAuthzPerRoute (disabled) is refused by the route parser: per-route filter config is not supported yet', async () => {
    const perRoute = `, typed_per_filter_config: { envoy.filters.http.ext_authz: { "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute, disabled: true } }`;
    const errs = await bootstrapErrors(base('grpc_service: { envoy_grpc: { cluster_name: a } }', perRoute));
    expect(errs.join('\n')).toMatch(/routes\[0\]\.typed_per_filter_config: per-route filter config is not supported yet/);
  });
});
