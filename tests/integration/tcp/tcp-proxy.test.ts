/**
 * envoy.filters.network.tcp_proxy with real clients and servers: psql to
 * PostgreSQL and mosquitto_pub/sub to Mosquitto through the sidecar; an echo
 * server for half-close, idle timeout and byte counts; connect failures
 * retried on another host (max_connect_attempts), UF/UH in access logs;
 * listener filters (tls_inspector, http_inspector) choosing filter chains.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { freePort, tempFile } from '../../support/process.ts';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { until } from '../../support/wait.ts';

const run = promisify(execFile);

function tcpListener(name: string, filters: string, extra = ''): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${extra}
    filter_chains:
    - filters:
${filters}`;
}

function tcpProxy(prefix: string, cluster: string, extra = ''): string {
  return `      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${prefix}
          cluster: ${cluster}
${extra}`;
}

function cluster(name: string, eps: Array<[string, number]>, extra = ''): string {
  return `
  - name: ${name}
    type: STATIC
    connect_timeout: 0.5s
${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
${eps.map(([h, p]) => `        - endpoint: { address: { socket_address: { address: ${h}, port_value: ${p} } } }`).join('\n')}`;
}

/** An echo server that also reports half-closes. */
async function echoServer(): Promise<{ port: number; close(): void; halfClosed: number }> {
  const state = { halfClosed: 0 };
  const srv = net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => {
      state.halfClosed++;
      s.end('bye');
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => srv.close(),
    get halfClosed() { return state.halfClosed; },
  };
}

let sc: TestSidecar;
let echo: Awaited<ReturnType<typeof echoServer>>;
let deadPort: number;
const accessLog = tempFile('tcp-access.log', '');

beforeAll(async () => {
  echo = await echoServer();
  deadPort = await freePort();
  const log = `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${accessLog}
              log_format: { text_format_source: { inline_string: "%UPSTREAM_CLUSTER% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_HOST%\\n" } }`;
  sc = await startSidecar(`
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
${tcpListener('pg', tcpProxy('pg', 'postgres'))}
${tcpListener('mqtt', tcpProxy('mqtt', 'mosquitto'))}
${tcpListener('echo', tcpProxy('echo', 'echo', `${log}\n          idle_timeout: 0.3s`))}
${tcpListener('retry', tcpProxy('retry', 'half_dead', '          max_connect_attempts: 3'))}
${tcpListener('dead', tcpProxy('dead', 'dead', log))}
${tcpListener('weighted', `      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: weighted
          weighted_clusters: { clusters: [{ name: echo, weight: 3 }, { name: echo2, weight: 1 }] }`)}
  - name: sniff
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    - name: envoy.filters.listener.http_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }
    listener_filters_timeout: 0.3s
    continue_on_listener_filters_timeout: true
    filter_chains:
    - filter_chain_match: { transport_protocol: tls, server_names: [db.example.com] }
      filters:
${tcpProxy('sni_db', 'tls_db')}
    - filter_chain_match: { application_protocols: [http/1.1] }
      filters:
${tcpProxy('http11', 'echo')}
    - filters:
${tcpProxy('other', 'echo2')}
  clusters:
${cluster('postgres', [['127.0.0.1', 5432]])}
${cluster('mosquitto', [['127.0.0.1', 1883]])}
${cluster('echo', [['127.0.0.1', echo.port]])}
${cluster('echo2', [['127.0.0.1', echo.port]])}
${cluster('half_dead', [['127.0.0.1', deadPort], ['127.0.0.1', echo.port]], '    lb_policy: ROUND_ROBIN')}
${cluster('dead', [['127.0.0.1', deadPort]])}
${cluster('tls_db', [['127.0.0.1', echo.port]])}
`);
});

afterAll(async () => {
  await sc?.stop();
  echo?.close();
});

test('psql runs queries against PostgreSQL through tcp_proxy', async () => {
  const { stdout } = await run('psql', ['-h', '127.0.0.1', '-p', String(sc.port('pg')), '-U', 'postgres', '-d', 'test', '-At', '-c', "select 6*7, current_user"], { env: { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '5' } });
  expect(stdout.trim()).toBe('42|postgres');
  expect(sc.stat('tcp.pg.downstream_cx_total')).toBeGreaterThanOrEqual(1);
  await until(() => sc.stat('tcp.pg.downstream_cx_rx_bytes_total') > 0 && sc.stat('cluster.postgres.upstream_cx_total') >= 1, 5000, 'pg stats');
});

test('an MQTT message published through tcp_proxy reaches a subscriber through tcp_proxy', async () => {
  const topic = `themis/tcp/${process.pid}/${Date.now()}`;
  const port = String(sc.port('mqtt'));
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-t', topic, '-C', '1', '-W', '10']);
  let out = '';
  sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => sub.on('exit', r));
  await until(() => sc.stat('tcp.mqtt.downstream_cx_active') >= 1, 5000, 'subscriber connected');
  await new Promise((r) => setTimeout(r, 200)); // SUBSCRIBE after CONNECT
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-t', topic, '-m', 'hello through the sidecar', '-q', '1']);
  expect(await exited).toBe(0);
  expect(out.trim()).toBe('hello through the sidecar');
});

test('bytes flow both ways; a half-close reaches the upstream and its last bytes come back', async () => {
  const s = net.connect(sc.port('echo'), '127.0.0.1');
  let got = '';
  s.on('data', (d) => (got += d.toString()));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.write('x'.repeat(100_000));
  await until(() => got.length >= 100_000, 5000, 'echo');
  s.end();
  await closed;
  expect(got.length).toBe(100_003);
  expect(got.endsWith('xbye')).toBe(true);
  expect(echo.halfClosed).toBeGreaterThanOrEqual(1);
  await until(() => readFileSync(accessLog, 'utf8').includes('echo - 100000 100003 127.0.0.1:'), 5000, 'access log');
});

test('idle_timeout closes a silent connection and counts it', async () => {
  const before = sc.stat('tcp.echo.idle_timeout');
  const s = net.connect(sc.port('echo'), '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.on('connect', () => r()));
  s.write('ping');
  s.resume();
  await new Promise<void>((r) => s.on('close', () => r()));
  expect(sc.stat('tcp.echo.idle_timeout')).toBe(before + 1);
});

test('a refused connect is retried on another host (max_connect_attempts)', async () => {
  for (let i = 0; i < 4; i++) {
    const s = net.connect(sc.port('retry'), '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.write('hi');
    await until(() => got === 'hi', 5000, 'echo through the live host');
    s.destroy();
  }
  expect(sc.stat('cluster.half_dead.upstream_cx_connect_fail')).toBeGreaterThanOrEqual(1);
});

test('weighted_clusters split connections by weight (3:1 over 200 connections, within tolerance)', async () => {
  const a0 = sc.stat('cluster.echo.upstream_cx_total');
  const b0 = sc.stat('cluster.echo2.upstream_cx_total');
  for (let i = 0; i < 200; i++) {
    const s = net.connect(sc.port('weighted'), '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.write('w');
    await until(() => got === 'w', 5000, 'echo');
    s.destroy();
  }
  const a = sc.stat('cluster.echo.upstream_cx_total') - a0;
  const b = sc.stat('cluster.echo2.upstream_cx_total') - b0;
  expect(a + b).toBe(200);
  expect(a).toBeGreaterThan(120);
  expect(a).toBeLessThan(180);
});

test('an unreachable cluster closes the downstream connection with UF in the access log; others are unaffected', async () => {
  const s = net.connect(sc.port('dead'), '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.on('close', () => r()));
  await until(() => readFileSync(accessLog, 'utf8').includes('dead UF 0 0'), 5000, 'UF logged');
  expect(sc.stat('cluster.dead.upstream_cx_connect_fail')).toBeGreaterThanOrEqual(1);
});

describe('listener filters choose the filter chain', () => {
  async function firstReply(write: (s: net.Socket) => void): Promise<string> {
    const s = net.connect(sc.port('sniff'), '127.0.0.1');
    s.on('error', () => undefined);
    write(s);
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    await until(() => got.length > 0, 5000, 'reply');
    s.destroy();
    return got;
  }

  test('a TLS ClientHello with SNI db.example.com goes to the tls chain (passthrough: the upstream sees the ClientHello)', async () => {
    const before = sc.stat('tcp.sni_db.downstream_cx_total');
    // The echo upstream returns the ClientHello: the client sees garbage, which is fine here.
    const c = tls.connect({ port: sc.port('sniff'), host: '127.0.0.1', servername: 'db.example.com', rejectUnauthorized: false });
    c.on('error', () => undefined);
    await until(() => sc.stat('tcp.sni_db.downstream_cx_total') === before + 1, 5000, 'sni chain');
    c.destroy();
  });

  test('an HTTP/1.1 request line goes to the http/1.1 chain', async () => {
    const before = sc.stat('tcp.http11.downstream_cx_total');
    const got = await firstReply((s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(got).toBe('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(sc.stat('tcp.http11.downstream_cx_total')).toBe(before + 1);
  });

  test('other bytes go to the default chain, unchanged, at once (not after listener_filters_timeout)', async () => {
    const before = sc.stat('tcp.other.downstream_cx_total');
    const timeouts = sc.stat('listener.127.0.0.1_0.downstream_pre_cx_timeout');
    const t0 = Date.now();
    const got = await firstReply((s) => s.write('\x00\x01binary'));
    expect(got).toBe('\x00\x01binary');
    expect(sc.stat('tcp.other.downstream_cx_total')).toBe(before + 1);
    // A PostgreSQL startup message has no CRLF either: http_inspector must not wait for one.
    expect(Date.now() - t0).toBeLessThan(250);
    expect(sc.stat('listener.127.0.0.1_0.downstream_pre_cx_timeout')).toBe(timeouts);
  });

  test('a client that writes a line without CRLF and half-closes gets its bytes through (none lost)', async () => {
    const s = net.connect(sc.port('sniff'), '127.0.0.1');
    s.on('error', () => undefined);
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.end('hi\n');
    await new Promise<void>((r) => s.on('close', () => r()));
    expect(got).toBe('hi\nbye');
  });

  test('a server-first client that sends nothing is dispatched after listener_filters_timeout (continue_on_listener_filters_timeout)', async () => {
    const before = sc.stat('tcp.other.downstream_cx_total');
    const s = net.connect(sc.port('sniff'), '127.0.0.1');
    s.on('error', () => undefined);
    await until(() => sc.stat('tcp.other.downstream_cx_total') === before + 1, 5000, 'dispatched after timeout');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.write('late');
    await until(() => got === 'late', 5000, 'echo after timeout');
    s.destroy();
  });

  test('garbage that looks like a TLS record is closed by tls_inspector; the listener keeps serving', async () => {
    const s = net.connect(sc.port('sniff'), '127.0.0.1');
    s.on('error', () => undefined);
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0]));
    await new Promise<void>((r) => s.on('close', () => r()));
    const got = await firstReply((x) => x.write('GET /again HTTP/1.1\r\n\r\n'));
    expect(got).toContain('/again');
  });
});
