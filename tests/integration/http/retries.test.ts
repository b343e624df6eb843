/**
 * Retries, timeouts and upstream failures on real sockets, over HTTP/1.1
 * and h2c: retry_on 5xx / retriable-status-codes / connect-failure, the
 * x-envoy-* request overrides, URX when retries run out, route timeouts
 * (UT 504), per_try_timeout, and connection failures (UF 503).
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { PROTOCOLS, send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { bootstrap, staticCluster, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let up: TestUpstream, sc: TestSidecar, deadPort: number, broken: TestUpstream;

/** Sends `chunks` body chunks `gapMs` apart; resolves with the status. */
function slowUpload(proto: 'h1' | 'h2', port: number, path: string, chunks: number, gapMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const pump = (w: { write(b: string): unknown; end(): unknown }): void => {
      const t = setInterval(() => {
        w.write('chunk-');
        if (++sent === chunks) { clearInterval(t); w.end(); }
      }, gapMs);
    };
    if (proto === 'h1') {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      pump(req);
    } else {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      const st = session.request({ ':path': path, ':method': 'POST' });
      st.on('response', (h) => { st.resume(); st.on('end', () => session.close()); resolve(Number(h[':status'])); });
      st.on('error', reject);
      pump(st);
    }
  });
}


/** previous_hosts retries under a hash policy, one route per hash balancer (cluster half_broken_<lb>). */
const HASH_RETRY_ROUTES = ['ring', 'maglev'].map((lb) => `  - match: { prefix: "/hashretry-${lb}" }
    route:
      cluster: half_broken_${lb}
      hash_policy: [{ header: { header_name: x-user } }]
      retry_policy:
        retry_on: "5xx"
        num_retries: 1
        retry_back_off: { base_interval: 0.001s }
        retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts, typed_config: { "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate } }]
        # Each re-pick is the next ring point / an altered maglev hash: 60 makes a broken one (2^-60) impossible in practice.
        host_selection_retry_max_attempts: 60
`).join('');

beforeAll(async () => {
  up = await startHttpUpstream('up');
  broken = await startHttpUpstream('broken');
  (broken as unknown as { failNext: number }).failNext = 1e9;
  deadPort = await freePort();
  sc = await startSidecar(bootstrap({
    routes: `
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: "/retry5xx" }
    route: { cluster: up, retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/codes" }
    route: { cluster: up, retry_policy: { retry_on: "retriable-status-codes", retriable_status_codes: [418], num_retries: 1, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/grpc" }
    route: { cluster: up, retry_policy: { retry_on: "unavailable,cancelled", num_retries: 1, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/noretry" }
    route: { cluster: up }
  - match: { prefix: "/idle" }
    route: { cluster: up, idle_timeout: 0.2s }
  - match: { prefix: "/upload" }
    route: { cluster: up, timeout: 0.3s }
  - match: { prefix: "/slow" }
    route: { cluster: up, timeout: 0.3s }
  - match: { prefix: "/pertry" }
    route: { cluster: up, timeout: 2s, retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: 0.2s, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/mixed" }
    route: { cluster: mixed, retry_policy: { retry_on: "connect-failure", num_retries: 3, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/deadretry" }
    route: { cluster: dead, retry_policy: { retry_on: "connect-failure", num_retries: 2, retry_back_off: { base_interval: 0.005s } } }
  - match: { prefix: "/dead" }
    route: { cluster: dead }
  - match: { prefix: "/otherhost" }
    route:
      cluster: half_broken
      retry_policy:
        retry_on: "5xx"
        num_retries: 1
        retry_back_off: { base_interval: 0.001s }
        retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts, typed_config: { "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate } }]
        # Re-picks are random too (RANDOM lb): 60 makes a broken re-pick (2^-60) impossible in practice.
        host_selection_retry_max_attempts: 60
${HASH_RETRY_ROUTES}  - match: { prefix: "/maxduration" }
    route: { cluster: up, timeout: 5s, max_stream_duration: { max_stream_duration: 0.2s } }
  - match: { prefix: "/stream-grpc" }
    route: { cluster: up, timeout: 5s, max_stream_duration: { max_stream_duration: 0s, grpc_timeout_header_max: 0s } }
`,
    clusters: [staticCluster('up', [up.port]), staticCluster('mixed', [deadPort, up.port]), staticCluster('dead', [deadPort]), staticCluster('half_broken', [broken.port, up.port], 'lb_policy: RANDOM'),
      staticCluster('half_broken_ring', [broken.port, up.port], 'lb_policy: RING_HASH'), staticCluster('half_broken_maglev', [broken.port, up.port], 'lb_policy: MAGLEV')].join('\n'),
  }));
}, 20000);

// Each guarded: when beforeAll fails part-way, the upstreams it did start
// must still close, or the jest worker never exits.
afterAll(async () => {
  await sc?.stop();
  await up?.close();
  await broken?.close();
});


describe.each(PROTOCOLS)('route max_stream_duration and retry host predicates over %s', (proto) => {
  test('previous_hosts: a retry goes to a host not tried yet (RANDOM over one broken and one good host: every request succeeds)', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await send(proto, sc.port(), { path: `/otherhost/${i}` });
      expect(r.status).toBe(200);
    }
  });

  test.each(['ring', 'maglev'])('previous_hosts with a hash policy (%s): the retry leaves the hashed host, as Envoy chooseHost(hash, attempt)', async (lb) => {
    // Half of the users hash to the broken host; each must be served by the retry.
    for (let i = 0; i < 20; i++) {
      const r = await send(proto, sc.port(), { path: `/hashretry-${lb}`, headers: { 'x-user': `user-${i}` } });
      expect(r.status).toBe(200);
    }
  });

  test('max_stream_duration: 408 downstream duration timeout (DT) before the response starts', async () => {
    const t0 = Date.now();
    const r = await send(proto, sc.port(), { path: '/maxduration', headers: { 'x-test-delay-ms': '2000' } });
    expect(r.status).toBe(408);
    expect(r.text()).toBe('downstream duration timeout');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  test('grpc_timeout_header_max 0: the request\'s grpc-timeout bounds the stream; a gRPC client gets DEADLINE_EXCEEDED', async () => {
    const r = await send(proto, sc.port(), { method: 'POST', path: '/stream-grpc', headers: { 'content-type': 'application/grpc', 'grpc-timeout': '150m', 'x-test-delay-ms': '2000' } });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-message']).toBe('downstream%20duration%20timeout');
    expect(r.headers['grpc-status']).toBe('4');
    const ok = await send(proto, sc.port(), { method: 'POST', path: '/stream-grpc', headers: { 'content-type': 'application/grpc', 'grpc-timeout': '5S' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['grpc-status']).toBeUndefined();
  });
});

describe.each(PROTOCOLS)('retries over %s', (proto) => {
  const port = (): number => sc.port();

  test('5xx is retried and the retry succeeds', async () => {
    const before = sc.stat('cluster.up.upstream_rq_retry');
    up.failNext = 2;
    up.failStatus = 503;
    const r = await send(proto, port(), { path: '/retry5xx' });
    expect(r.status).toBe(200);
    expect(sc.stat('cluster.up.upstream_rq_retry')).toBe(before + 2);
    const last = up.seen[up.seen.length - 1]!;
    expect(last.headers['x-envoy-attempt-count']).toBe('3');
  });

  test('retries run out: the last upstream response is returned', async () => {
    up.failNext = 5;
    up.failStatus = 502;
    const r = await send(proto, port(), { path: '/retry5xx' });
    expect(r.status).toBe(502);
    up.failNext = 0;
  });

  test('x-envoy-max-retries overrides num_retries', async () => {
    up.failNext = 1;
    up.failStatus = 503;
    const r = await send(proto, port(), { path: '/retry5xx', headers: { 'x-envoy-max-retries': '0' } });
    expect(r.status).toBe(503);
    up.failNext = 0;
  });

  test('x-envoy-retry-on adds retry conditions to a route without a policy', async () => {
    up.failNext = 1;
    up.failStatus = 500;
    const r = await send(proto, port(), { path: '/noretry', headers: { 'x-envoy-retry-on': '5xx' } });
    expect(r.status).toBe(200);
    const last = up.seen[up.seen.length - 1]!;
    expect(last.headers['x-envoy-retry-on']).toBeUndefined();
  });

  test('retriable-status-codes', async () => {
    up.failNext = 1;
    up.failStatus = 418;
    expect((await send(proto, port(), { path: '/codes' })).status).toBe(200);
    up.failNext = 1;
    up.failStatus = 500;
    expect((await send(proto, port(), { path: '/codes' })).status).toBe(500);
    up.failNext = 0;
  });

  test('gRPC retry_on (unavailable) retries a trailers-only grpc-status 14', async () => {
    up.failNext = 1;
    up.failStatus = 200;
    up.failHeaders = { 'content-type': 'application/grpc', 'grpc-status': '14' };
    const r = await send(proto, port(), { path: '/grpc' });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBeUndefined();
    up.failNext = 1;
    up.failHeaders = { 'content-type': 'application/grpc', 'grpc-status': '3' };
    const r2 = await send(proto, port(), { path: '/grpc' });
    expect(r2.headers['grpc-status']).toBe('3');
    up.failNext = 0;
    up.failHeaders = {};
  });

  test('POST bodies are replayed on retry', async () => {
    up.failNext = 1;
    up.failStatus = 503;
    const r = await send(proto, port(), { method: 'POST', path: '/retry5xx', body: 'payload-123', headers: { 'content-length': '11' } });
    expect(r.status).toBe(200);
    expect(r.json()['bodyBytes']).toBe(11);
  });

  test('route timeout: 504 UT with Envoy body', async () => {
    const before = sc.stat('cluster.up.upstream_rq_timeout');
    const r = await send(proto, port(), { path: '/slow', headers: { 'x-test-delay-ms': '2000' } });
    expect(r.status).toBe(504);
    expect(r.text()).toBe('upstream request timeout');
    expect(sc.stat('cluster.up.upstream_rq_timeout')).toBe(before + 1);
  });

  test('x-envoy-upstream-rq-timeout-ms overrides the route timeout', async () => {
    const r = await send(proto, port(), { path: '/noretry', headers: { 'x-test-delay-ms': '500', 'x-envoy-upstream-rq-timeout-ms': '100' } });
    expect(r.status).toBe(504);
  });

  test('per_try_timeout retries a slow attempt', async () => {
    const before = sc.stat('cluster.up.upstream_rq_per_try_timeout');
    const r = await send(proto, port(), { path: '/pertry', headers: { 'x-test-delay-ms': '400' } });
    // Every attempt is slow: two per-try timeouts, then 504.
    expect(r.status).toBe(504);
    expect(sc.stat('cluster.up.upstream_rq_per_try_timeout')).toBe(before + 2);
  });

  test('connect failure is retried on another host', async () => {
    for (let i = 0; i < 4; i++) expect((await send(proto, port(), { path: '/mixed' })).status).toBe(200);
  });

  test('connect failure without retry: 503 UF with Envoy body', async () => {
    const r = await send(proto, port(), { path: '/dead' });
    expect(r.status).toBe(503);
    expect(r.text()).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
    expect(sc.stat('cluster.dead.upstream_cx_connect_fail')).toBeGreaterThan(0);
  });

  test('connect failure with retries exhausted (URX)', async () => {
    const r = await send(proto, port(), { path: '/deadretry' });
    expect(r.status).toBe(503);
    expect(r.text()).toMatch(/retried and the latest reset reason: connection failure/);
  });

  test('stream idle timeout: 408 stream timeout (SI)', async () => {
    const r = await send(proto, port(), { path: '/idle', headers: { 'x-test-delay-ms': '1000' } });
    expect(r.status).toBe(408);
    expect(r.text()).toBe('stream timeout');
    expect(sc.stat('http.ingress.downstream_rq_idle_timeout')).toBeGreaterThan(0);
  });

  test('the route timeout starts when the request body is complete', async () => {
    // The body takes ~0.6 s to send; the 0.3 s route timeout must not fire.
    const r = await slowUpload(proto, port(), '/upload', 6, 100);
    expect(r).toBe(200);
  });

  test('upstream reset before headers: 503', async () => {
    const r = await send(proto, port(), { path: '/noretry', headers: { 'x-test-reset': 'headers' } });
    expect(r.status).toBe(503);
    expect(r.text()).toMatch(/reset reason: connection termination/);
  });
});
