/**
 * A defect in an HTTP filter (a throw, synchronously or from its own
 * callback after StopIteration) ends that stream with a 500 and leaves the
 * process, and every other stream, alone.
 */
import type { ExtensionRegistry, HttpFilterExtension } from '../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type HeaderMap, type HttpFilterCallbacks } from '../../../sidecar/contracts/http-filter.ts';
import { PROTOCOLS, send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const TYPE = 'themis.test.filters.Defective';

/** Throws in decodeHeaders for `x-defect: now`, and from a timer after StopIteration for `x-defect: later`. */
function register(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<null> = {
    category: 'envoy.filters.http',
    names: ['themis.test.defective'],
    typeNames: [TYPE],
    parse: () => ({ ok: true, config: null }),
    createFactory: () => ({
      name: 'themis.test.defective',
      create: (cb: HttpFilterCallbacks) => ({
        decodeHeaders(h: HeaderMap) {
          if (h['x-defect'] === 'now') throw new Error('defect in decodeHeaders');
          if (h['x-defect'] === 'hang') return StopIteration; // never resumes
          if (h['x-defect'] === 'bad-reply') {
            // A local reply node:http2 refuses to send (an invalid header name), from the filter's own timer.
            setTimeout(() => cb.sendLocalReply({ status: 403, body: 'no', headers: { 'bad key': 'v' }, details: 'test_denied' }), 20);
            return StopIteration;
          }
          if (h['x-defect'] === 'later') {
            const orig = cb.continueDecoding;
            setTimeout(() => {
              // Routing after the resume throws: a defect with no caller to catch it.
              Object.defineProperty(h, ':path', { get() { throw new Error('defect after resume'); } });
              orig();
            }, 20);
            return StopIteration;
          }
          return Continue;
        },
      }),
    }),
  };
  registry.register(ext);
}

let up: TestUpstream;
let sc: TestSidecar;
let idle: TestSidecar;

beforeAll(async () => {
  up = await startHttpUpstream('up');
  sc = await startSidecar(bootstrap({
    routes: 'virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]',
    clusters: staticCluster('up', [up.port]),
  }).replace(/          http_filters:\n/, `          http_filters:
          - name: themis.test.defective
            typed_config: { "@type": type.googleapis.com/xds.type.v3.TypedStruct, type_url: type.googleapis.com/${TYPE} }
`), { register });
  idle = await startSidecar(bootstrap({
    routes: 'virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]',
    clusters: staticCluster('up', [up.port]),
    hcmExtra: 'stream_idle_timeout: 0.2s',
  }).replace(/          http_filters:\n/, `          http_filters:
          - name: themis.test.defective
            typed_config: { "@type": type.googleapis.com/xds.type.v3.TypedStruct, type_url: type.googleapis.com/${TYPE} }
`), { register });
});

afterAll(async () => {
  await sc?.stop();
  await idle?.stop();
  await up?.close();
});

test.each(PROTOCOLS)('a filter that throws answers 500 on that stream only (%s)', async (proto) => {
  const bad = await send(proto, sc.port(), { path: '/bad', headers: { 'x-defect': 'now' } });
  expect(bad.status).toBe(500);
  const later = await send(proto, sc.port(), { path: '/later', headers: { 'x-defect': 'later' } });
  expect(later.status).toBe(500);
  const ok = await send(proto, sc.port(), { path: '/ok' });
  expect(ok.status).toBe(200);
  expect(up.seen.some((r) => r.path === '/bad' || r.path === '/later')).toBe(false);
});

test.each(PROTOCOLS)('a filter that never resumes is ended by the stream idle timeout: 408 stream timeout (%s)', async (proto) => {
  const t0 = Date.now();
  const r = await send(proto, idle.port(), { path: '/hang', headers: { 'x-defect': 'hang' } });
  expect(r.status).toBe(408);
  expect(r.text()).toBe('stream timeout');
  expect(Date.now() - t0).toBeLessThan(2000);
  expect((await send(proto, idle.port(), { path: '/fine' })).status).toBe(200);
});

test('a local reply that cannot be sent (an invalid header from a filter, from its own callback) resets that stream only', async () => {
  const h2 = await send('h2', sc.port(), { path: '/bad-reply', headers: { 'x-defect': 'bad-reply' } }).then((r) => r.status, (e: Error) => e.message);
  // HTTP/2 cannot carry the header: the stream is reset (the client sees an error or no status).
  expect(h2).not.toBe(403);
  // HTTP/1.1 drops a field it cannot write and answers.
  expect((await send('h1', sc.port(), { path: '/bad-reply', headers: { 'x-defect': 'bad-reply' } })).status).toBe(403);
  for (const proto of PROTOCOLS) expect((await send(proto, sc.port(), { path: '/ok' })).status).toBe(200);
  expect(sc.stat('http.ingress.downstream_rq_active')).toBe(0);
});
