/**
 * envoy.filters.http.compressor on real sockets, configured as Istio's
 * stats listener does (brotli, zstd and gzip filters in one chain), over
 * HTTP/1.1 and h2c: negotiation by Accept-Encoding q-values, the conditions
 * under which Envoy does not compress, headers (content-encoding, vary, weak
 * etag, no content-length), a streamed multi-megabyte body, and stats.
 */
import zlib from 'node:zlib';
import { PROTOCOLS, send } from '../../support/client.ts';
import { readFileSync } from 'node:fs';
import { tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const TYPES = '["text/plain", "application/json", "application/octet-stream"]';

function compressor(name: string, lib: string): string {
  return `- name: envoy.filters.http.compressor.${name}
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
    compressor_library: { name: stats_${name}, typed_config: { "@type": type.googleapis.com/envoy.extensions.compression.${lib} } }
    response_direction_config: { common_config: { content_type: ${TYPES} } }`;
}

let up: TestUpstream, sc: TestSidecar, accessLog: string;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  accessLog = tempFile('compressed.log', '');
  const yaml = bootstrap({
    routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`,
    clusters: staticCluster('up', [up.port]),
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${accessLog}
    log_format: { json_format: { path: "%REQ(:PATH)%", bytes: "%BYTES_SENT%", enc: "%RESP(CONTENT-ENCODING)%" } }`,
  }).replace(/          http_filters:\n/, `          http_filters:\n${[compressor('brotli', 'brotli.compressor.v3.Brotli'), compressor('zstd', 'zstd.compressor.v3.Zstd'), compressor('gzip', 'gzip.compressor.v3.Gzip')].join('\n').replace(/^/gm, '          ')}\n`);
  sc = await startSidecar(yaml);
});

afterAll(async () => {
  await sc?.stop();
  await up?.close();
});

function decode(encoding: string | undefined, body: Buffer): Buffer {
  if (encoding === 'gzip') return zlib.gunzipSync(body);
  if (encoding === 'br') return zlib.brotliDecompressSync(body);
  if (encoding === 'zstd') return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(body);
  return body;
}

describe.each(PROTOCOLS)('compressor over %s', (proto) => {
  test.each([
    ['gzip', 'gzip'],
    ['br;q=1.0, gzip;q=0.5', 'br'],
    ['gzip;q=0.8, zstd', 'zstd'],
    ['gzip, br', 'br'], // equal q: the first filter in the chain (brotli) wins
    ['*', 'br'],
    ['br;q=0, gzip', 'gzip'],
  ])('Accept-Encoding %p -> %s', async (accept, expected) => {
    const r = await send(proto, sc.port(), { path: '/json', headers: { 'accept-encoding': accept } });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe(expected);
    expect(r.headers['content-length']).toBeUndefined();
    expect(String(r.headers['vary'])).toMatch(/Accept-Encoding/);
    const json = JSON.parse(decode(expected, r.body).toString('utf8')) as Record<string, unknown>;
    expect(json['upstream']).toBe('up');
  });

  test('no Accept-Encoding, identity only, or q=0 everywhere: not compressed', async () => {
    for (const accept of [undefined, 'identity', 'gzip;q=0, br;q=0, zstd;q=0']) {
      const r = await send(proto, sc.port(), { path: '/json', headers: accept ? { 'accept-encoding': accept } : {} });
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.json()['upstream']).toBe('up');
    }
  });

  test('a streamed 5 MB body is compressed and arrives whole', async () => {
    const r = await send(proto, sc.port(), { path: '/big', headers: { 'accept-encoding': 'gzip', 'x-test-bytes': String(5 << 20) } });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(r.body.length).toBeLessThan(1 << 20);
    const plain = zlib.gunzipSync(r.body);
    expect(plain.length).toBe(5 << 20);
    expect(plain.every((b) => b === 97)).toBe(true);
  });
});

test('the access log sees the compressed bytes, written after the compressor flushed', async () => {
  const r = await send('h1', sc.port(), { path: '/logged', headers: { 'accept-encoding': 'gzip', 'x-test-bytes': String(1 << 20) } });
  expect(r.headers['content-encoding']).toBe('gzip');
  let entry: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && !entry; i++) {
    entry = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['path'] === '/logged');
    if (!entry) await new Promise((res) => setTimeout(res, 10));
  }
  expect(entry).toMatchObject({ bytes: r.body.length, enc: 'gzip' });
  expect(sc.stat('http.ingress.downstream_rq_active')).toBe(0);
});

test('bodies under min_content_length (30) and HEAD are not compressed; stats count', async () => {
  const before = sc.stat('http.ingress.compressor.stats_gzip.gzip.compressed');
  const small = await send('h1', sc.port(), { path: '/tiny', headers: { 'accept-encoding': 'gzip', 'x-test-bytes': '10' } });
  expect(small.headers['content-encoding']).toBeUndefined();
  expect(small.body.length).toBe(10);
  const head = await send('h1', sc.port(), { method: 'HEAD', path: '/json', headers: { 'accept-encoding': 'gzip' } });
  expect(head.headers['content-encoding']).toBeUndefined();
  await send('h1', sc.port(), { path: '/json', headers: { 'accept-encoding': 'gzip' } });
  expect(sc.stat('http.ingress.compressor.stats_gzip.gzip.compressed')).toBe(before + 1);
  expect(sc.stat('http.ingress.compressor.stats_gzip.gzip.content_length_too_small')).toBeGreaterThan(0);
  expect(sc.stat('http.ingress.compressor.stats_gzip.gzip.total_uncompressed_bytes')).toBeGreaterThan(sc.stat('http.ingress.compressor.stats_gzip.gzip.total_compressed_bytes'));
});

test('request-direction compression and unknown libraries are refused at load', async () => {
  const base = (tc: string): string => bootstrap({
    routes: 'virtual_hosts: []',
    clusters: staticCluster('c', [1]),
  }).replace(/          http_filters:\n/, `          http_filters:\n          - name: c\n            typed_config:\n${tc.replace(/^/gm, '              ')}\n`);
  expect((await bootstrapErrors(base('"@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor\ncompressor_library: { name: g, typed_config: { "@type": type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip } }\nrequest_direction_config: { common_config: {} }')))[0]).toMatch(/request compression is not supported/);
  expect((await bootstrapErrors(base('"@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor\ncompressor_library: { name: q, typed_config: { "@type": type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip } }')))[0]).toMatch(/unsupported compressor library/);
});
