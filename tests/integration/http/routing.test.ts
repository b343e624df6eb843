/**
 * The routing matrix on real sockets, over HTTP/1.1 and h2c: virtual host
 * selection, path/header/query matchers, rewrites, header mutations,
 * direct responses, redirects, weighted and header-named clusters, and
 * Envoy's local replies (NR 404, NC 503, UH 503).
 */
import { PROTOCOLS, send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let a: TestUpstream, b: TestUpstream, sc: TestSidecar;

beforeAll(async () => {
  a = await startHttpUpstream('a');
  b = await startHttpUpstream('b');
  sc = await startSidecar(bootstrap({
    routes: `
name: matrix
request_headers_to_add: [{ header: { key: x-rc, value: rc } }]
response_headers_to_add: [{ header: { key: x-rc-resp, value: "1" } }]
virtual_hosts:
- name: exact
  domains: ["api.example.com", "api.example.com:8080"]
  request_headers_to_add: [{ header: { key: x-vhost, value: exact } }]
  routes:
  - match: { prefix: "/" }
    route: { cluster: b }
- name: suffix
  domains: ["*.wild.com"]
  routes:
  - match: { prefix: "/" }
    route: { cluster: b, prefix_rewrite: "/suffix/" }
- name: prefixwild
  domains: ["db.*"]
  routes:
  - match: { prefix: "/" }
    direct_response: { status: 200, body: { inline_string: "prefix-wildcard" } }
- name: default
  domains: ["*"]
  response_headers_to_remove: [x-upstream]
  routes:
  - match: { path: "/exact" }
    route: { cluster: a }
    response_headers_to_add: [{ header: { key: x-route, value: exact }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }]
  - match: { prefix: "/CaseLess", case_sensitive: false }
    route: { cluster: a }
  - match: { safe_regex: { google_re2: {}, regex: "/regex/[0-9]+" } }
    route: { cluster: a, regex_rewrite: { pattern: { google_re2: {}, regex: "^/regex/([0-9]+)$" }, substitution: "/num/\\\\1" } }
  - match: { path_separated_prefix: "/sep" }
    route: { cluster: a }
  - match: { prefix: "/hdr", headers: [{ name: x-tier, string_match: { exact: gold } }] }
    route: { cluster: b }
  - match: { prefix: "/hdr", headers: [{ name: x-tier, present_match: true, invert_match: true }] }
    direct_response: { status: 403, body: { inline_string: "no tier" } }
  - match: { prefix: "/q", query_parameters: [{ name: debug, string_match: { exact: "1" } }] }
    direct_response: { status: 200, body: { inline_string: "debug on" } }
  - match: { prefix: "/rewrite" }
    route: { cluster: a, prefix_rewrite: "/new", host_rewrite_literal: "rewritten.internal" }
  - match: { prefix: "/direct" }
    direct_response: { status: 202, body: { inline_string: "direct body" } }
  - match: { prefix: "/redirect" }
    redirect: { https_redirect: true, host_redirect: "secure.example.com", response_code: TEMPORARY_REDIRECT }
  - match: { prefix: "/pathredirect" }
    redirect: { path_redirect: "/elsewhere", strip_query: true }
  - match: { prefix: "/weighted" }
    route: { weighted_clusters: { clusters: [{ name: a, weight: 1 }, { name: b, weight: 3 }] } }
  - match: { prefix: "/byheader" }
    route: { cluster_header: x-cluster }
  - match: { prefix: "/nohost" }
    route: { cluster: empty }
  - match: { prefix: "/remove" }
    route: { cluster: a }
    request_headers_to_remove: [x-secret]
`,
    clusters: [staticCluster('a', [a.port]), staticCluster('b', [b.port]), staticCluster('empty', [])].join('\n'),
    hcmExtra: 'strip_matching_host_port: true',
  }));
});

afterAll(async () => {
  await sc?.stop();
  await a?.close();
  await b?.close();
});

describe.each(PROTOCOLS)('routing over %s', (proto) => {
  const port = (): number => sc.port();

  test('exact domain, vhost and route-config headers, response headers', async () => {
    const r = await send(proto, port(), { authority: 'api.example.com', path: '/x' });
    expect(r.status).toBe(200);
    const up = r.json();
    expect(up['upstream']).toBe('b');
    const h = up['headers'] as Record<string, string>;
    expect(h['x-vhost']).toBe('exact');
    expect(h['x-rc']).toBe('rc');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(h['x-envoy-expected-rq-timeout-ms']).toBe('15000');
    expect(r.headers['x-rc-resp']).toBe('1');
    expect(r.headers['server']).toBe('envoy');
    expect(Number(r.headers['x-envoy-upstream-service-time'])).toBeGreaterThanOrEqual(0);
  });

  test('matching port is stripped before domain matching', async () => {
    const listenerPort = port();
    const r = await send(proto, listenerPort, { authority: `api.example.com:${listenerPort}`, path: '/x' });
    expect(r.json()['upstream']).toBe('b');
  });

  test('suffix wildcard domain with prefix_rewrite', async () => {
    const r = await send(proto, port(), { authority: 'foo.wild.com', path: '/abc' });
    expect(r.json()['path']).toBe('/suffix/abc');
  });

  test('prefix wildcard domain', async () => {
    const r = await send(proto, port(), { authority: 'db.internal', path: '/' });
    expect(r.text()).toBe('prefix-wildcard');
  });

  test('path, case-insensitive prefix, regex with regex_rewrite, separated prefix', async () => {
    expect((await send(proto, port(), { path: '/exact' })).headers['x-route']).toBe('exact');
    expect((await send(proto, port(), { path: '/exact/no' })).status).toBe(404);
    expect((await send(proto, port(), { path: '/caseless/y' })).json()['upstream']).toBe('a');
    expect((await send(proto, port(), { path: '/regex/42' })).json()['path']).toBe('/num/42');
    expect((await send(proto, port(), { path: '/regex/x' })).status).toBe(404);
    expect((await send(proto, port(), { path: '/sep/a' })).status).toBe(200);
    expect((await send(proto, port(), { path: '/sep' })).status).toBe(200);
    expect((await send(proto, port(), { path: '/separate' })).status).toBe(404);
  });

  test('header matchers and inverted presence', async () => {
    expect((await send(proto, port(), { path: '/hdr', headers: { 'x-tier': 'gold' } })).json()['upstream']).toBe('b');
    const r = await send(proto, port(), { path: '/hdr' });
    expect(r.status).toBe(403);
    expect(r.text()).toBe('no tier');
    expect((await send(proto, port(), { path: '/hdr', headers: { 'x-tier': 'silver' } })).status).toBe(404);
  });

  test('query parameter matcher', async () => {
    expect((await send(proto, port(), { path: '/q?a=b&debug=1' })).text()).toBe('debug on');
    expect((await send(proto, port(), { path: '/q?debug=0' })).status).toBe(404);
  });

  test('prefix_rewrite and host_rewrite_literal with x-forwarded-host', async () => {
    const r = (await send(proto, port(), { authority: 'orig.example.com', path: '/rewrite/me?x=1' })).json();
    expect(r['path']).toBe('/new/me?x=1');
    const h = r['headers'] as Record<string, string>;
    expect(h['host']).toBe('rewritten.internal');
    expect(h['x-forwarded-host']).toBe('orig.example.com');
  });

  test('direct_response with route-config response headers', async () => {
    const r = await send(proto, port(), { path: '/direct' });
    expect(r.status).toBe(202);
    expect(r.text()).toBe('direct body');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['x-rc-resp']).toBe('1');
  });

  test('redirects', async () => {
    const r = await send(proto, port(), { authority: 'example.com', path: '/redirect/a?b=c' });
    expect(r.status).toBe(307);
    expect(r.headers['location']).toBe('https://secure.example.com/redirect/a?b=c');
    const p = await send(proto, port(), { authority: 'example.com', path: '/pathredirect?drop=1' });
    expect(p.status).toBe(301);
    expect(p.headers['location']).toBe('http://example.com/elsewhere');
  });

  test('weighted clusters follow their weights', async () => {
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 200; i++) counts[(await send(proto, port(), { path: '/weighted' })).json()['upstream'] as string]!++;
    expect(counts['b']! / 200).toBeGreaterThan(0.6);
    expect(counts['b']! / 200).toBeLessThan(0.9);
  });

  test('cluster_header, unknown cluster (NC 503)', async () => {
    expect((await send(proto, port(), { path: '/byheader', headers: { 'x-cluster': 'a' } })).json()['upstream']).toBe('a');
    const r = await send(proto, port(), { path: '/byheader', headers: { 'x-cluster': 'nope' } });
    expect(r.status).toBe(503);
  });

  test('no healthy upstream (UH 503) with Envoy body', async () => {
    const r = await send(proto, port(), { path: '/nohost' });
    expect(r.status).toBe(503);
    expect(r.text()).toBe('no healthy upstream');
    expect(r.headers['content-type']).toBe('text/plain');
  });

  test('request header removal and response header removal at vhost level', async () => {
    const r = await send(proto, port(), { path: '/remove', headers: { 'x-secret': 's', 'x-kept': 'k' } });
    const h = r.json()['headers'] as Record<string, string>;
    expect(h['x-secret']).toBeUndefined();
    expect(h['x-kept']).toBe('k');
    expect(r.headers['x-upstream']).toBeUndefined();
  });

  test('no route is 404 NR with empty body and counted', async () => {
    const before = sc.stat('http.ingress.no_route');
    const r = await send(proto, port(), { authority: 'example.com', path: '/nothing-here' });
    expect(r.status).toBe(404);
    expect(r.body.length).toBe(0);
    expect(sc.stat('http.ingress.no_route')).toBe(before + 1);
  });

  test('a gRPC request with no route gets a trailers-only UNIMPLEMENTED, as Envoy maps local replies', async () => {
    const r = await send(proto, port(), { method: 'POST', path: '/pkg.Svc/Nothing', headers: { 'content-type': 'application/grpc', te: 'trailers' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe('12');
    expect(r.body.length).toBe(0);
  });

  test('HEAD passes through without a body', async () => {
    const r = await send(proto, port(), { method: 'HEAD', path: '/exact' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
  });

  test('request body is forwarded', async () => {
    const r = await send(proto, port(), { method: 'POST', path: '/exact', body: 'x'.repeat(100_000) });
    expect(r.json()['bodyBytes']).toBe(100_000);
  });
});

test('downstream stats count requests by class and codec', () => {
  expect(sc.stat('http.ingress.downstream_rq_total')).toBeGreaterThan(20);
  expect(sc.stat('http.ingress.downstream_rq_http1_total')).toBeGreaterThan(0);
  expect(sc.stat('http.ingress.downstream_rq_http2_total')).toBeGreaterThan(0);
  expect(sc.stat('http.ingress.downstream_rq_2xx')).toBeGreaterThan(0);
  expect(sc.stat('http.ingress.downstream_rq_4xx')).toBeGreaterThan(0);
  expect(sc.stat('cluster.a.upstream_rq_200')).toBeGreaterThan(0);
  expect(sc.stat('cluster.a.upstream_rq_total')).toBeGreaterThan(0);
});

test('Expect: 100-continue gets 100 Continue before the body is sent (HTTP/1.1)', async () => {
  const net = await import('node:net');
  const s = net.connect(sc.port(), '127.0.0.1');
  let buf = '';
  s.on('data', (c: Buffer) => (buf += c.toString('latin1')));
  s.write('POST /exact HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  const deadline = Date.now() + 5000;
  while (!buf.includes('100 Continue') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(buf).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
  s.write('hello');
  while (!/"bodyBytes":5/.test(buf) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(buf).toMatch(/HTTP\/1\.1 200 OK/);
  expect(buf).toMatch(/"bodyBytes":5/);
  s.destroy();
});

test('fields named in Connection are hop-by-hop and not forwarded (HTTP/1.1)', async () => {
  const r = await send('h1', sc.port(), { path: '/exact', headers: { connection: 'keep-alive, x-hop-only', 'x-hop-only': 'secret', 'x-end-to-end': 'kept' } });
  const h = r.json()['headers'] as Record<string, string>;
  expect(h['x-hop-only']).toBeUndefined();
  expect(h['x-end-to-end']).toBe('kept');
});

test('an absolute-form request target supplies the authority', async () => {
  const net = await import('node:net');
  const s = net.connect(sc.port(), '127.0.0.1');
  let buf = '';
  s.on('data', (c: Buffer) => (buf += c.toString('latin1')));
  s.write('GET http://api.example.com/x HTTP/1.1\r\nConnection: close\r\n\r\n');
  await new Promise<void>((r) => s.on('close', () => r()));
  expect(buf).toMatch(/^HTTP\/1\.1 200 /);
  expect(buf).toContain('"upstream":"b"');
});

test('Expect: 100-continue on HTTP/2 gets a 100 before the body is sent', async () => {
  const http2 = await import('node:http2');
  const session = http2.connect(`http://127.0.0.1:${sc.port()}`);
  const stream = session.request({ ':method': 'POST', ':path': '/exact', 'content-length': '5', expect: '100-continue' }, { endStream: false });
  await new Promise<void>((resolve, reject) => {
    // Cleared once settled: a pending 3 s timer kept the jest worker alive after the last test.
    const timer = setTimeout(() => reject(new Error('no 100 Continue')), 3000);
    stream.once('continue', () => { clearTimeout(timer); resolve(); });
    stream.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  stream.end('hello');
  const chunks: Buffer[] = [];
  let status = 0;
  stream.on('response', (h) => (status = Number(h[':status'])));
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((r) => stream.on('end', () => r()));
  session.close();
  expect(status).toBe(200);
  expect(JSON.parse(Buffer.concat(chunks).toString())['bodyBytes']).toBe(5);
});

test('validate_clusters: false: a route to a cluster that does not exist loads, and answers 503 NC at request time', async () => {
  const lax = await startSidecar(bootstrap({
    routes: `validate_clusters: false
virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: nowhere } }] }]`,
    clusters: staticCluster('a', [a.port]),
  }));
  try {
    for (const proto of PROTOCOLS) {
      const r = await send(proto, lax.port(), { path: '/x' });
      expect(r.status).toBe(503);
    }
    expect(lax.stat('http.ingress.no_cluster')).toBe(2);
  } finally {
    await lax.stop();
  }
});
