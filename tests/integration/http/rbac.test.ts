/**
 * envoy.filters.http.rbac on real sockets, over HTTP/1.1 and h2c: ALLOW
 * policies on headers, paths, the direct peer address and the XFF-derived
 * remote address, a principal given by a header; shadow rules counted and
 * never enforced; DENY and LOG actions; 403 `RBAC: access denied` with
 * Envoy's response code details; a gRPC request denied with grpc-status 7;
 * Envoy's stat names; refusal at load of what is not implemented.
 */
import { readFileSync } from 'node:fs';
import { grpcCall, PROTOCOLS, send } from '../../support/client.ts';
import { tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';

/** A bootstrap with the given HTTP filters (YAML list items) before the router. */
function withFilters(up: TestUpstream, filters: string, hcmExtra?: string): string {
  return bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`,
    clusters: staticCluster('up', [up.port]),
    hcmExtra,
  }).replace(/          http_filters:\n/, `          http_filters:\n${filters.replace(/^/gm, '          ')}\n`);
}

const ALLOW = `- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    shadow_rules_stat_prefix: dry_
    rules:
      action: ALLOW
      policies:
        public:
          permissions:
          - and_rules: { rules: [ { header: { name: ":method", string_match: { exact: GET } } }, { url_path: { path: { prefix: /public } } } ] }
          principals: [ { any: true } ]
        admin-path:
          permissions: [ { url_path: { path: { prefix: /admin } } } ]
          principals: [ { header: { name: x-principal, string_match: { exact: "spiffe://cluster.local/ns/ops/sa/admin" } } } ]
        local-net:
          permissions: [ { url_path: { path: { prefix: /local } } } ]
          principals: [ { direct_remote_ip: { address_prefix: 127.0.0.0, prefix_len: 8 } } ]
        partner-net:
          permissions: [ { url_path: { path: { prefix: /partner } } } ]
          principals: [ { remote_ip: { address_prefix: 198.51.100.0, prefix_len: 24 } } ]
        grpc-allowed:
          permissions: [ { url_path: { path: { exact: /pkg.Svc/Allowed } } } ]
          principals: [ { any: true } ]
    shadow_rules:
      action: DENY
      policies:
        no-posts:
          permissions: [ { header: { name: ":method", string_match: { exact: POST } } } ]
          principals: [ { any: true } ]`;

const DENY = `- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    rules_stat_prefix: deny_
    rules:
      action: DENY
      policies:
        block-bob:
          permissions: [ { any: true } ]
          principals: [ { header: { name: x-user, string_match: { exact: bob } } } ]
        block-local-secrets:
          permissions: [ { url_path: { path: { prefix: /secret } } } ]
          principals: [ { source_ip: { address_prefix: 127.0.0.1, prefix_len: 32 } } ]`;

const LOG = `- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    rules:
      action: LOG
      policies:
        audit-writes:
          permissions: [ { header: { name: ":method", string_match: { exact: PUT } } } ]
          principals: [ { any: true } ]`;

let up: TestUpstream, allowSc: TestSidecar, denySc: TestSidecar, logSc: TestSidecar, accessLog: string;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  accessLog = tempFile('rbac.log', '');
  const log = `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${accessLog}
    log_format: { json_format: { id: "%REQ(X-TEST-ID)%", code: "%RESPONSE_CODE%", details: "%RESPONSE_CODE_DETAILS%" } }`;
  allowSc = await startSidecar(withFilters(up, ALLOW, log));
  denySc = await startSidecar(withFilters(up, DENY, log));
  logSc = await startSidecar(withFilters(up, LOG));
});

afterAll(async () => {
  await Promise.all([allowSc.stop(), denySc.stop(), logSc.stop()]);
  await up?.close();
});

let seq = 0;

/** The access log entry of a request by its x-test-id. */
async function logged(id: string): Promise<Record<string, unknown>> {
  let entry: Record<string, unknown> | undefined;
  await until(() => {
    entry = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['id'] === id);
    return entry !== undefined;
  }, 5000, `access log entry ${id}`);
  return entry!;
}

describe.each(PROTOCOLS)('RBAC over %s', (proto) => {
  const req = (sc: TestSidecar, method: string, path: string, headers: Record<string, string> = {}): ReturnType<typeof send> => {
    const id = `${proto}-${++seq}`;
    return send(proto, sc.port(), { method, path, headers: { 'x-test-id': id, ...headers } }).then((r) => Object.assign(r, { id }));
  };

  test('ALLOW: a matching policy forwards; no matching policy answers 403 with [none]', async () => {
    const ok = await req(allowSc, 'GET', '/public/page?q=1');
    expect(ok.status).toBe(200);
    expect(ok.json()['upstream']).toBe('up');
    const denied = (await req(allowSc, 'DELETE', '/public/page')) as Awaited<ReturnType<typeof send>> & { id: string };
    expect(denied.status).toBe(403);
    expect(denied.text()).toBe('RBAC: access denied');
    expect(denied.headers['content-type']).toBe('text/plain');
    expect(await logged(denied.id)).toMatchObject({ code: 403, details: 'rbac_access_denied_matched_policy[none]' });
  });

  test('a principal named by a header (the test stand-in for a TLS identity)', async () => {
    expect((await req(allowSc, 'GET', '/admin/users', { 'x-principal': 'spiffe://cluster.local/ns/ops/sa/admin' })).status).toBe(200);
    expect((await req(allowSc, 'GET', '/admin/users', { 'x-principal': 'spiffe://cluster.local/ns/ops/sa/other' })).status).toBe(403);
    expect((await req(allowSc, 'GET', '/admin/users')).status).toBe(403);
  });

  test('direct_remote_ip is the socket peer (127.0.0.1); remote_ip follows X-Forwarded-For', async () => {
    expect((await req(allowSc, 'POST', '/local/x')).status).toBe(200);
    expect((await req(allowSc, 'GET', '/partner/x', { 'x-forwarded-for': '198.51.100.23' })).status).toBe(200);
    expect((await req(allowSc, 'GET', '/partner/x', { 'x-forwarded-for': '198.51.100.23, 203.0.113.9' })).status).toBe(403);
    expect((await req(allowSc, 'GET', '/partner/x')).status).toBe(403);
  });

  test('DENY: the matching policy id is in the details; others pass', async () => {
    const bob = (await req(denySc, 'GET', '/any', { 'x-user': 'bob' })) as Awaited<ReturnType<typeof send>> & { id: string };
    expect(bob.status).toBe(403);
    expect(bob.text()).toBe('RBAC: access denied');
    expect(await logged(bob.id)).toMatchObject({ code: 403, details: 'rbac_access_denied_matched_policy[block-bob]' });
    const secret = (await req(denySc, 'GET', '/secret/key')) as Awaited<ReturnType<typeof send>> & { id: string };
    expect(secret.status).toBe(403);
    expect(await logged(secret.id)).toMatchObject({ details: 'rbac_access_denied_matched_policy[block-local-secrets]' });
    expect((await req(denySc, 'GET', '/any', { 'x-user': 'alice' })).status).toBe(200);
  });

  test('LOG: never denies', async () => {
    expect((await req(logSc, 'PUT', '/w')).status).toBe(200);
    expect((await req(logSc, 'GET', '/r')).status).toBe(200);
  });
});

test("stats: Envoy's names, shadow rules counted and never enforced", async () => {
  const s = (n: string): number => allowSc.stat(`http.ingress.rbac.${n}`);
  const before = { allowed: s('allowed'), denied: s('denied'), sa: s('dry_shadow_allowed'), sd: s('dry_shadow_denied') };
  expect((await send('h1', allowSc.port(), { method: 'POST', path: '/local/upload', body: 'x' })).status).toBe(200); // shadow denies POST: not enforced
  expect((await send('h1', allowSc.port(), { path: '/public/a' })).status).toBe(200);
  expect((await send('h1', allowSc.port(), { path: '/nowhere' })).status).toBe(403);
  expect(s('allowed')).toBe(before.allowed + 2);
  expect(s('denied')).toBe(before.denied + 1);
  expect(s('dry_shadow_denied')).toBe(before.sd + 1);
  expect(s('dry_shadow_allowed')).toBe(before.sa + 2);
  expect(denySc.stat('http.ingress.rbac.deny_denied')).toBeGreaterThanOrEqual(4);
  expect(denySc.stat('http.ingress.rbac.deny_allowed')).toBeGreaterThanOrEqual(2);
  expect(logSc.stat('http.ingress.rbac.logged')).toBe(2);
  expect(logSc.stat('http.ingress.rbac.not_logged')).toBe(2);
  expect(logSc.stat('http.ingress.rbac.allowed')).toBe(4);
});

test('a gRPC request denied gets a trailers-only PERMISSION_DENIED (grpc-status 7); an allowed one is forwarded', async () => {
  const denied = await grpcCall(allowSc.port(), '/pkg.Svc/Denied');
  expect(denied[':status']).toBe(200);
  expect(denied['grpc-status']).toBe('7');
  expect(decodeURIComponent(String(denied['grpc-message']))).toBe('RBAC: access denied');
  const allowed = await grpcCall(allowSc.port(), '/pkg.Svc/Allowed');
  expect(allowed['grpc-status']).toBeUndefined(); // the echo upstream answered
  expect(allowed['x-upstream']).toBe('up');
});

test('refused at load, naming the field: the matcher API, CEL conditions, custom principals', async () => {
  const base = (tc: string): string => bootstrap({ routes: 'virtual_hosts: []', clusters: staticCluster('c', [1]) })
    .replace(/          http_filters:\n/, `          http_filters:\n          - name: envoy.filters.http.rbac\n            typed_config:\n              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC\n${tc.replace(/^/gm, '              ')}\n`);
  const matcher = await bootstrapErrors(base('matcher: { on_no_match: { action: { name: a, typed_config: { "@type": type.googleapis.com/envoy.config.rbac.v3.Action, name: x } } } }'));
  expect(matcher.join('\n')).toMatch(/http_filters\[0\]\.typed_config\.matcher: the matcher API for RBAC is not supported/);
  const cel = await bootstrapErrors(base('rules: { policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: { const_expr: { bool_value: true } } } } }'));
  expect(cel.join('\n')).toMatch(/typed_config\.rules\.policies\["p"\]\.condition: CEL conditions are not supported/);
  const url = await bootstrapErrors(base('rules: { policies: { p: { permissions: [{ uri_template: { name: t, typed_config: { "@type": type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig, path_template: "/a/{x}" } } }], principals: [{ any: true }] } } }'));
  expect(url.join('\n')).toMatch(/permissions\[0\]\.uri_template: uri_template matching is not supported/);
});

/**
 * Envoy's connection manager settles X-Forwarded-For and the client address
 * before the decoder filters run, so `remote_ip` is the peer whatever the
 * client sends (the router publishes it in filter state under
 * 'envoy.downstream.remote_address').
 */
test('use_remote_address: a client-sent X-Forwarded-For does not make remote_ip match', async () => {
  const sc = await startSidecar(withFilters(up, `- name: envoy.filters.http.rbac
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
    rules:
      policies:
        partner-net:
          permissions: [ { any: true } ]
          principals: [ { remote_ip: { address_prefix: 198.51.100.0, prefix_len: 24 } } ]`, 'use_remote_address: true'));
  try {
    const r = await send('h1', sc.port(), { path: '/x', headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(r.status).toBe(403); // Envoy: remote_ip is the peer 127.0.0.1
  } finally {
    await sc.stop();
  }
});
