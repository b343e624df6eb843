/**
 * HTTP/2 end to end: an h2c client through the sidecar to an h2c upstream
 * (selected by typed_extension_protocol_options and by the legacy
 * http2_protocol_options), with a streamed request body and the upstream's
 * trailers delivered to the client.
 */
import { send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startH2Upstream } from '../../support/upstreams.ts';

let h2: Awaited<ReturnType<typeof startH2Upstream>>, sc: TestSidecar;

beforeAll(async () => {
  h2 = await startH2Upstream();
  sc = await startSidecar(bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [
  { match: { prefix: "/legacy" }, route: { cluster: legacy } },
  { match: { prefix: "/hop" }, route: { cluster: typed }, request_headers_to_add: [
    { header: { key: connection, value: close } }, { header: { key: keep-alive, value: "5" } },
    { header: { key: upgrade, value: websocket } }, { header: { key: te, value: gzip } }, { header: { key: x-kept, value: "1" } } ] },
  { match: { prefix: "/" }, route: { cluster: typed } }] }]`,
    clusters: [
      staticCluster('typed', [h2.port], `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config: { http2_protocol_options: {} }`),
      staticCluster('legacy', [h2.port], 'http2_protocol_options: {}'),
    ].join('\n'),
  }));
});

afterAll(async () => {
  await sc?.stop();
  await h2?.close();
});

test('h2 -> sidecar -> h2: body and trailers end to end', async () => {
  const body = Buffer.alloc(300_000, 7);
  const r = await send('h2', sc.port(), { method: 'POST', path: '/grpc.Echo/Call', body, headers: { 'content-type': 'application/grpc', te: 'trailers' } });
  expect(r.status).toBe(200);
  expect(r.body.equals(body)).toBe(true);
  expect(r.trailers['grpc-status']).toBe('0');
  expect(r.trailers['x-trailer']).toBe('done');
  const seen = h2.seen[h2.seen.length - 1]!;
  expect(seen['te']).toBe('trailers');
  expect(seen[':authority']).toBe('example.com');
});

test('h1 client -> h2 upstream: trailers become chunked trailers', async () => {
  const r = await send('h1', sc.port(), { method: 'POST', path: '/legacy', body: 'hello', headers: { te: 'trailers' } });
  expect(r.status).toBe(200);
  expect(r.text()).toBe('hello');
  expect(r.trailers['grpc-status']).toBe('0');
  expect(sc.stat('cluster.legacy.upstream_rq_200')).toBe(1);
});

test('connection-specific headers meant for an HTTP/2 upstream are dropped, not a failed request (RFC 9113 8.2.2)', async () => {
  for (const proto of ['h1', 'h2'] as const) {
    const before = h2.seen.length;
    const r = await send(proto, sc.port(), { path: '/hop' });
    expect(r.status).toBe(200);
    const seen = h2.seen.slice(before).find((h) => h[':path'] === '/hop')!;
    expect(seen['x-kept']).toBe('1');
    for (const k of ['connection', 'keep-alive', 'upgrade', 'te']) expect(seen[k]).toBeUndefined();
  }
});
