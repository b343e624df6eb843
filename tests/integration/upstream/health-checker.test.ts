/**
 * Active health checking against real local servers (node:http and node:net
 * on 127.0.0.1 port 0 and on unix pipes): Envoy's first-check rule,
 * healthy/unhealthy thresholds, ACTIVE vs NETWORK failures, timeouts, TCP
 * send/receive matching, stats, start() after the first round and stop()
 * leaving nothing running. Tests wait on onHostChange, never on sleeps.
 */

import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';
import type { HealthCheckConfig } from '../../../sidecar/contracts/snapshot.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';
import { HealthChecker } from '../../../sidecar/upstream/health-checker.ts';
import type { HealthCheckDialer } from '../../../sidecar/upstream/health-check-probe.ts';
import { UpstreamHost } from '../../../sidecar/upstream/host.ts';
import { until } from '../../support/wait.ts';

const CLUSTER = 'web';

function config(over: Partial<HealthCheckConfig>): HealthCheckConfig {
  return {
    timeoutMs: 500,
    intervalMs: 20,
    intervalJitterMs: 0,
    initialJitterMs: 0,
    unhealthyThreshold: 3,
    healthyThreshold: 2,
    ...over,
  };
}

function http(over: Partial<NonNullable<HealthCheckConfig['http']>> = {}): HealthCheckConfig['http'] {
  return { host: '', path: '/healthz', expectedStatuses: [[200, 201]], requestHeaders: {}, ...over };
}

function tcpHost(port: number): UpstreamHost {
  return new UpstreamHost({ kind: 'tcp', host: '127.0.0.1', port }, 1);
}

function pipeHost(path: string): UpstreamHost {
  return new UpstreamHost({ kind: 'pipe', path }, 1);
}

/** Runs `fn` on teardown, newest first. */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A health checker over a fresh stats store, recording host changes. */
class Harness {
  readonly store = new StatsStore();
  readonly checker: HealthChecker;
  readonly logs: Array<{ msg: string; fields?: object }> = [];
  private readonly waiters: Array<{ host: UpstreamHost; healthy: boolean; resolve: () => void }> = [];
  /** Evaluated inside onHostChange, so a test sees the world exactly at the flip. */
  capture: () => unknown = () => undefined;
  captured: unknown;

  constructor(cfg: HealthCheckConfig, hosts: readonly UpstreamHost[], onHostChange?: (h: UpstreamHost) => void, dial?: HealthCheckDialer) {
    this.checker = new HealthChecker({
      config: cfg,
      clusterName: CLUSTER,
      hosts,
      dial,
      stats: this.store.scope(`cluster.${CLUSTER}`),
      log: (msg, fields) => this.logs.push({ msg, fields }),
      onHostChange: (host) => {
        this.captured = this.capture();
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.host === host && host.healthy === w.healthy) {
            this.waiters.splice(i, 1);
            w.resolve();
          }
        }
        onHostChange?.(host);
      },
    });
    cleanups.push(() => this.checker.stop());
  }

  /** Resolves on the next flip of `host` to `healthy`. */
  flip(host: UpstreamHost, healthy: boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ host, healthy, resolve }));
  }

  counter(name: string): number {
    return this.store.findCounter(`cluster.${CLUSTER}.health_check.${name}`)?.value() ?? 0;
  }

  gauge(name: string): number {
    return this.store.findGauge(`cluster.${CLUSTER}.health_check.${name}`)?.value() ?? 0;
  }
}

/** What the test HTTP server does with the next request. */
type Mode = { kind: 'status'; status: number } | { kind: 'reset' } | { kind: 'hang' };

interface TestHttpServer {
  server: HttpServer;
  port: number;
  mode: Mode;
  /** Requests seen since the last `count = 0`. */
  count: number;
  last: { method: string; url: string; headers: IncomingHttpHeaders } | undefined;
}

async function httpServer(listenOn: number | string = 0): Promise<TestHttpServer> {
  const state: TestHttpServer = {
    server: undefined as unknown as HttpServer,
    port: 0,
    mode: { kind: 'status', status: 200 },
    count: 0,
    last: undefined,
  };
  state.server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    state.count++;
    state.last = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    const mode = state.mode;
    if (mode.kind === 'status') res.writeHead(mode.status, { 'content-type': 'text/plain' }).end('x'.repeat(1000));
    else if (mode.kind === 'reset') req.socket.destroy();
    // 'hang': never answer.
  });
  if (typeof listenOn === 'string') state.server.listen(listenOn);
  else state.server.listen(listenOn, '127.0.0.1');
  await once(state.server, 'listening');
  if (typeof listenOn === 'number') state.port = (state.server.address() as AddressInfo).port;
  cleanups.push(() => closeServer(state.server));
  return state;
}

async function closeServer(server: HttpServer | NetServer): Promise<void> {
  if (!server.listening) return;
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A net server running `onConnection`, destroying its sockets on teardown. */
async function netServer(
  onConnection: (s: Socket) => void,
  listenOn: number | string = 0,
): Promise<{ server: NetServer; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  if (typeof listenOn === 'string') server.listen(listenOn);
  else server.listen(listenOn, '127.0.0.1');
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  };
  cleanups.push(close);
  const port = typeof listenOn === 'number' ? (server.address() as AddressInfo).port : 0;
  return { server, port, close };
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function tempPipe(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hc-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

describe('HTTP health checking', () => {
  it('passes a host on its first 200 whatever healthy_threshold says, with Envoy request headers', async () => {
    const srv = await httpServer();
    const host = tcpHost(srv.port);
    const h = new Harness(config({ healthyThreshold: 5, http: http({ requestHeaders: { 'X-HC': 'yes', host: 'ignored' } }) }), [host]);
    expect(host.healthy).toBe(false);
    expect(host.failedActiveHealthCheck).toBe(true);

    await h.checker.start();

    expect(host.healthy).toBe(true);
    expect(h.gauge('healthy')).toBe(1);
    expect(h.counter('attempt')).toBeGreaterThanOrEqual(1);
    expect(h.counter('success')).toBeGreaterThanOrEqual(1);
    expect(h.counter('failure')).toBe(0);
    expect(srv.last?.method).toBe('GET');
    expect(srv.last?.url).toBe('/healthz');
    expect(srv.last?.headers.host).toBe(CLUSTER);
    expect(srv.last?.headers['user-agent']).toBe('Envoy/HC');
    expect(srv.last?.headers['x-hc']).toBe('yes');
    // Every Envoy health_check stat exists, the unused ones at zero.
    for (const name of ['network_failure', 'passive_failure', 'verify_cluster']) {
      expect(h.store.findCounter(`cluster.${CLUSTER}.health_check.${name}`)?.value()).toBe(0);
    }
    expect(h.store.findGauge(`cluster.${CLUSTER}.health_check.degraded`)?.value()).toBe(0);
  });

  it('fails a host at once on an unexpected status (Envoy ignores unhealthy_threshold), back after healthy_threshold 200s', async () => {
    const srv = await httpServer();
    const host = tcpHost(srv.port);
    const h = new Harness(config({ unhealthyThreshold: 3, healthyThreshold: 3, http: http({ host: 'svc.example' }) }), [host]);
    h.capture = () => srv.count;
    await h.checker.start();
    expect(host.healthy).toBe(true);
    expect(srv.last?.headers.host).toBe('svc.example');

    srv.count = 0;
    srv.mode = { kind: 'status', status: 503 };
    await h.flip(host, false);
    expect(h.captured).toBe(1);
    expect(h.gauge('healthy')).toBe(0);
    expect(h.counter('network_failure')).toBe(0);

    srv.count = 0;
    srv.mode = { kind: 'status', status: 200 };
    await h.flip(host, true);
    expect(h.captured).toBe(3);
    expect(h.gauge('healthy')).toBe(1);
  });

  it('fails a host after unhealthy_threshold consecutive connection failures', async () => {
    const srv = await httpServer();
    const host = tcpHost(srv.port);
    const h = new Harness(config({ unhealthyThreshold: 3, healthyThreshold: 2, http: http() }), [host]);
    h.capture = () => srv.count;
    await h.checker.start();

    srv.count = 0;
    srv.mode = { kind: 'reset' };
    await h.flip(host, false);
    expect(h.captured).toBe(3);
    expect(h.counter('network_failure')).toBe(3);
    expect(h.counter('failure')).toBe(3);

    srv.count = 0;
    srv.mode = { kind: 'status', status: 200 };
    await h.flip(host, true);
    expect(h.captured).toBe(2);
  });

  it('counts a server that never answers as a timeout (network failure), unhealthy after unhealthy_threshold', async () => {
    const srv = await httpServer();
    const host = tcpHost(srv.port);
    const h = new Harness(config({ timeoutMs: 250, unhealthyThreshold: 2, http: http() }), [host]);
    h.capture = () => srv.count;
    await h.checker.start();
    expect(host.healthy).toBe(true);

    srv.count = 0;
    srv.mode = { kind: 'hang' };
    await h.flip(host, false);
    expect(h.captured).toBe(2);
    expect(h.counter('network_failure')).toBe(2);
  });

  it('keeps a host that times out on its first check unhealthy and still finishes start()', async () => {
    const srv = await httpServer();
    srv.mode = { kind: 'hang' };
    const host = tcpHost(srv.port);
    const h = new Harness(config({ timeoutMs: 50, http: http() }), [host]);
    await h.checker.start();
    expect(host.healthy).toBe(false);
    expect(h.counter('failure')).toBe(1);
    expect(h.counter('network_failure')).toBe(1);
    expect(h.counter('success')).toBe(0);
    expect(h.gauge('healthy')).toBe(0);
  });

  it('uses expected_statuses ranges, half-open', async () => {
    const srv = await httpServer();
    srv.mode = { kind: 'status', status: 204 };
    const inRange = tcpHost(srv.port);
    const h1 = new Harness(config({ http: http({ expectedStatuses: [[200, 300]] }) }), [inRange]);
    await h1.checker.start();
    expect(inRange.healthy).toBe(true);

    srv.mode = { kind: 'status', status: 205 };
    const outOfRange = tcpHost(srv.port);
    const h2 = new Harness(config({ http: http({ expectedStatuses: [[200, 205]] }) }), [outOfRange]);
    await h2.checker.start();
    expect(outOfRange.healthy).toBe(false);
    expect(h2.counter('failure')).toBe(1);
    expect(h2.counter('network_failure')).toBe(0);
  });

  it('checks a host on a unix pipe', async () => {
    const path = tempPipe('http.sock');
    const srv = await httpServer(path);
    const host = pipeHost(path);
    const h = new Harness(config({ http: http() }), [host]);
    await h.checker.start();
    expect(host.healthy).toBe(true);
    expect(srv.last?.headers.host).toBe(CLUSTER);
  });
});

describe('TCP health checking', () => {
  it('sends the payload and passes when the receive buffers arrive in order, across reads', async () => {
    let got = Buffer.alloc(0);
    const { port } = await netServer((s) => {
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.includes('PING')) {
          s.write('noise-PO');
          setImmediate(() => s.write('more-noise-NG\n'));
        }
      });
    });
    const host = tcpHost(port);
    const h = new Harness(
      config({ tcp: { send: Buffer.from('PING'), receive: [Buffer.from('PO'), Buffer.from('NG')] } }),
      [host],
    );
    await h.checker.start();
    expect(host.healthy).toBe(true);
    expect(got.toString()).toContain('PING');
  });

  it('does not match buffers out of order; never-matching bytes run into the timeout', async () => {
    const { port } = await netServer((s) => {
      s.write('NG then PO');
    });
    const host = tcpHost(port);
    const h = new Harness(config({ timeoutMs: 50, tcp: { receive: [Buffer.from('PO'), Buffer.from('NG')] } }), [host]);
    await h.checker.start();
    expect(host.healthy).toBe(false);
    expect(h.counter('network_failure')).toBe(1);
    expect(h.logs.some((l) => JSON.stringify(l.fields).includes('NETWORK_TIMEOUT'))).toBe(true);
  });

  it('fails when the peer closes before the expected bytes arrive', async () => {
    const { port } = await netServer((s) => {
      s.end('WRONG');
    });
    const host = tcpHost(port);
    const h = new Harness(config({ timeoutMs: 5000, tcp: { receive: [Buffer.from('PONG')] } }), [host]);
    await h.checker.start();
    expect(host.healthy).toBe(false);
    expect(h.counter('network_failure')).toBe(1);
  });

  it('passes on connect alone when there is nothing to receive; a closed port is unhealthy', async () => {
    const { port } = await netServer(() => {});
    const up = tcpHost(port);
    const down = tcpHost(await closedPort());
    const h = new Harness(config({ tcp: { receive: [] } }), [up, down]);
    await h.checker.start();
    expect(up.healthy).toBe(true);
    expect(down.healthy).toBe(false);
    expect(h.gauge('healthy')).toBe(1);
    expect(h.counter('network_failure')).toBeGreaterThanOrEqual(1);
  });

  it('fails a healthy host once its port closes, after unhealthy_threshold refusals', async () => {
    const { port, close } = await netServer((s) => s.resume());
    const host = tcpHost(port);
    const h = new Harness(config({ unhealthyThreshold: 3, tcp: { send: Buffer.from('hello'), receive: [] } }), [host]);
    h.capture = () => h.counter('network_failure');
    await h.checker.start();
    expect(host.healthy).toBe(true);

    await close();
    await h.flip(host, false);
    expect(h.captured).toBe(3);
    expect(h.gauge('healthy')).toBe(0);
  });

  it('checks a host on a unix pipe with send/receive', async () => {
    const path = tempPipe('tcp.sock');
    await netServer((s) => {
      s.once('data', () => s.write('+PONG\r\n'));
    }, path);
    const host = pipeHost(path);
    const h = new Harness(config({ tcp: { send: Buffer.from('PING\r\n'), receive: [Buffer.from('+PONG')] } }), [host]);
    await h.checker.start();
    expect(host.healthy).toBe(true);
  });
});

/** A TLS server answering HTTP/1.1 200 to anything, counting the TCP connections it holds open. */
async function tlsPeer(): Promise<{ port: number; open: Set<Socket>; accepted: () => number; dial: HealthCheckDialer; dialled: TLSSocket[] }> {
  const ca = createDevCa({ keyLabel: 'hc-ca' });
  const cert = issueDevWorkload(ca, { dnsNames: ['web.example.com'], keyLabel: 'hc-web' });
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createTlsServer({ cert: cert.chainPem, key: cert.keyPem, ALPNProtocols: ['http/1.1'] }, (s) => {
    s.on('error', () => {});
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
  });
  server.on('connection', (s: Socket) => {
    accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const dialled: TLSSocket[] = [];
  // What the cluster's TLS transport socket does: dial, call onReady once secure.
  const dial: HealthCheckDialer = (host, alpn, onReady) => {
    if (host.socket.kind !== 'tcp') return undefined;
    const s = tlsConnect({ host: host.socket.host, port: host.socket.port, servername: 'web.example.com', ca: ca.caPem, ALPNProtocols: [...alpn] }, onReady);
    s.on('error', () => {});
    dialled.push(s);
    return s;
  };
  return { port, open, accepted: () => accepted, dial, dialled };
}

describe('health checks through a transport socket (TLS)', () => {
  it('passes an HTTP check over TLS and closes the connection afterwards', async () => {
    const peer = await tlsPeer();
    const host = tcpHost(peer.port);
    const h = new Harness(config({ http: http() }), [host], undefined, peer.dial);
    await h.checker.start();
    h.checker.stop();
    expect(host.healthy).toBe(true);
    expect(peer.dialled.length).toBeGreaterThanOrEqual(1);
    await until(() => peer.open.size === 0, 5000, 'the TLS peer to see every check connection closed');
  });

  it.each([
    ['a request header value the HTTP client refuses', { requestHeaders: { 'x-bad': 'a\nb' } }],
    ['a path the HTTP client refuses', { path: '/health z' }],
  ])('destroys the dialled TLS connection when the request cannot be built (%s)', async (_what, over) => {
    const peer = await tlsPeer();
    const host = tcpHost(peer.port);
    const h = new Harness(config({ unhealthyThreshold: 1, http: http(over) }), [host], undefined, peer.dial);
    await h.checker.start();
    h.checker.stop();
    expect(host.healthy).toBe(false);
    expect(h.counter('network_failure')).toBeGreaterThanOrEqual(1);
    expect(peer.dialled.length).toBeGreaterThanOrEqual(1);
    // Destroyed at once by the probe, not by stop() (which knew nothing of the socket).
    expect(peer.dialled.map((s) => s.destroyed)).not.toContain(false);
    await until(() => peer.open.size === 0, 5000, 'the TLS peer to see every check connection closed');
  });
});

describe('HealthChecker lifecycle', () => {
  it('start() resolves only once every host has its first result', async () => {
    const fast = await httpServer();
    const slow = await httpServer();
    slow.mode = { kind: 'hang' };
    const a = tcpHost(fast.port);
    const b = tcpHost(slow.port);
    const h = new Harness(config({ timeoutMs: 250, initialJitterMs: 30, http: http() }), [a, b]);
    const started = h.checker.start();
    expect(h.checker.start()).toBe(started);
    // Initial jitter: nothing has been tried yet.
    expect(h.counter('attempt')).toBe(0);
    await started;
    expect(a.healthy).toBe(true);
    expect(b.healthy).toBe(false);
    expect(h.counter('success')).toBeGreaterThanOrEqual(1);
    expect(h.counter('network_failure')).toBeGreaterThanOrEqual(1);
  });

  it('resolves a pending start() on stop()', async () => {
    const srv = await httpServer();
    srv.mode = { kind: 'hang' };
    const host = tcpHost(srv.port);
    const h = new Harness(config({ timeoutMs: 60_000, http: http() }), [host]);
    const started = h.checker.start();
    await once(srv.server, 'request');
    h.checker.stop();
    await started;
    expect(h.counter('failure')).toBe(0);
  });

  it('survives an onHostChange that throws', async () => {
    const srv = await httpServer();
    const host = tcpHost(srv.port);
    let calls = 0;
    const h = new Harness(config({ unhealthyThreshold: 1, healthyThreshold: 1, http: http() }), [host], () => {
      calls++;
      throw new Error('listener bug');
    });
    await h.checker.start();
    srv.mode = { kind: 'status', status: 500 };
    await h.flip(host, false);
    srv.mode = { kind: 'status', status: 200 };
    await h.flip(host, true);
    expect(calls).toBe(3);
    expect(h.logs.filter((l) => l.msg.includes('onHostChange threw'))).toHaveLength(3);
  });

  it('stop() clears every timer and destroys in-flight sockets', async () => {
    const srv = await httpServer();
    srv.mode = { kind: 'hang' };
    const tcpPeer = await netServer(() => {});
    const count = (kind: string): number => process.getActiveResourcesInfo().filter((r) => r === kind).length;
    const timersBefore = count('Timeout');
    const socketsBefore = count('TCPSocketWrap');

    const tcpConnection = once(tcpPeer.server, 'connection') as Promise<[Socket]>;
    const httpHost = tcpHost(srv.port);
    const h1 = new Harness(config({ timeoutMs: 60_000, http: http() }), [httpHost]);
    const h2 = new Harness(config({ tcp: { receive: [Buffer.from('never')] }, timeoutMs: 60_000 }), [tcpHost(tcpPeer.port)]);
    void h1.checker.start();
    void h2.checker.start();
    const [serverSide] = (await once(srv.server, 'request')) as [IncomingMessage];
    const [tcpServerSide] = await tcpConnection;
    expect(count('Timeout')).toBeGreaterThan(timersBefore);

    h1.checker.stop();
    h2.checker.stop();
    h1.checker.stop(); // idempotent
    await Promise.all([once(serverSide.socket, 'close'), once(tcpServerSide, 'close')]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(count('Timeout')).toBe(timersBefore);
    expect(count('TCPSocketWrap')).toBeLessThanOrEqual(socketsBefore);
    expect(httpHost.healthy).toBe(false);
  });
});
