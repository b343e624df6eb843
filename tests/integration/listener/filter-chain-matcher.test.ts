/**
 * A listener's filter_chain_matcher (Envoy's matcher API) choosing tcp_proxy
 * chains for real clients: behind tls_inspector, TLS clients are told apart
 * by SNI and by ALPN (TLS passthrough to TLS upstreams, handshakes end to
 * end), plain TCP clients by destination IP (IPMatcher, longest prefix),
 * all under a destination-port exact map and a transport-protocol map; what
 * matches nothing takes the default_filter_chain, and without one the
 * connection is closed (no_filter_chain_match).
 */
import net from 'node:net';
import tls from 'node:tls';
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';
import { freePort } from '../../support/process.ts';
import { startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { until } from '../../support/wait.ts';

const ca = createDevCa({ trustDomain: 'cluster.local' });
const cert = issueDevWorkload(ca, { dnsNames: ['db.example.com', 'other.example.com'] });

/** A server that answers every chunk with `<name>:<chunk>`, over TCP or TLS. */
async function namedEcho(name: string, useTls: boolean): Promise<{ port: number; close(): void }> {
  const onSocket = (s: net.Socket): void => {
    s.on('data', (d) => s.write(`${name}:${d.toString()}`));
    s.on('error', () => undefined);
  };
  const srv = useTls
    ? tls.createServer({ cert: cert.chainPem, key: cert.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, onSocket)
    : net.createServer(onSocket);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

const tcpProxy = (cluster: string): string => `
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${cluster}
          cluster: ${cluster}`;

const cluster = (name: string, port: number): string => `
  - name: ${name}
    type: STATIC
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }`;

const action = (chain: string, indent: string): string => `${indent}action:
${indent}  name: ${chain}
${indent}  typed_config: { "@type": type.googleapis.com/google.protobuf.StringValue, value: ${chain} }`;

const input = (t: string): string => `{ name: ${t}, typed_config: { "@type": type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.${t} } }`;

const NAMES = ['db', 'h2', 'plain', 'loop2', 'dflt'] as const;
let sc: TestSidecar;
let port: number;
const servers: Array<{ port: number; close(): void }> = [];

beforeAll(async () => {
  const ports: Record<string, number> = {};
  for (const n of NAMES) {
    const s = await namedEcho(n, n === 'db' || n === 'h2' || n === 'dflt');
    servers.push(s);
    ports[n] = s.port;
  }
  port = await freePort();
  sc = await startSidecar(`
static_resources:
  listeners:
  - name: fcm
    address: { socket_address: { address: 0.0.0.0, port_value: ${port} } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    listener_filters_timeout: 0.3s
    continue_on_listener_filters_timeout: true
    filter_chains:
    - name: db
      filter_chain_match: { destination_port: 1 }
      filters:${tcpProxy('db')}
    - name: h2
      filters:${tcpProxy('h2')}
    - name: plain
      filters:${tcpProxy('plain')}
    - name: loop2
      filters:${tcpProxy('loop2')}
    default_filter_chain:
      name: dflt
      filters:${tcpProxy('dflt')}
    filter_chain_matcher:
      matcher_tree:
        input: ${input('DestinationPortInput')}
        exact_match_map:
          map:
            "${port}":
              matcher:
                matcher_tree:
                  input: ${input('TransportProtocolInput')}
                  exact_match_map:
                    map:
                      tls:
                        matcher:
                          matcher_list:
                            matchers:
                            - predicate:
                                single_predicate: { input: ${input('ServerNameInput')}, value_match: { exact: db.example.com } }
                              on_match:
${action('db', '                                ')}
                            - predicate:
                                single_predicate: { input: ${input('ApplicationProtocolInput')}, value_match: { prefix: "'h2'" } }
                              on_match:
${action('h2', '                                ')}
                      raw_buffer:
                        matcher:
                          matcher_tree:
                            input: ${input('DestinationIPInput')}
                            custom_match:
                              name: ip
                              typed_config:
                                "@type": type.googleapis.com/xds.type.matcher.v3.IPMatcher
                                range_matchers:
                                - ranges: [{ address_prefix: 127.0.0.0, prefix_len: 8 }]
                                  on_match:
${action('plain', '                                    ')}
                                - ranges: [{ address_prefix: 127.0.0.2, prefix_len: 32 }]
                                  on_match:
${action('loop2', '                                    ')}
  - name: miss
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - name: only
      filters:${tcpProxy('plain')}
    filter_chain_matcher:
      matcher_tree:
        input: ${input('DestinationPortInput')}
        exact_match_map:
          map:
            "1":
${action('only', '              ')}
  clusters:${NAMES.map((n) => cluster(n, ports[n]!)).join('')}
`);
});

afterAll(async () => {
  await sc?.stop();
  for (const s of servers) s.close();
});

/** Sends `hello` over plain TCP to `host` and returns the first reply. */
async function plain(host: string): Promise<string> {
  const s = net.connect(port, host);
  s.on('error', () => undefined);
  let got = '';
  s.on('data', (d) => (got += d.toString()));
  s.write('hello');
  await until(() => got.length > 0, 5000, `reply via ${host}`);
  s.destroy();
  return got;
}

/** A TLS handshake through the sidecar (passthrough) and one exchange; returns the reply and the negotiated ALPN. */
async function viaTls(servername: string, alpn: string[]): Promise<{ reply: string; alpn: string | false }> {
  const c = tls.connect({ port, host: '127.0.0.1', servername, ALPNProtocols: alpn, ca: ca.caPem });
  c.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    c.once('secureConnect', resolve);
    c.once('error', reject);
  });
  let reply = '';
  c.on('data', (d) => (reply += d.toString()));
  c.write('hi');
  await until(() => reply.length > 0, 5000, `TLS reply for ${servername}`);
  const negotiated = c.alpnProtocol ?? false;
  c.destroy();
  return { reply, alpn: negotiated };
}

test('SNI db.example.com chooses the db chain (TLS passthrough to the db upstream)', async () => {
  const r = await viaTls('db.example.com', ['http/1.1']);
  expect(r.reply).toBe('db:hi');
  expect(sc.stat('tcp.db.downstream_cx_total')).toBeGreaterThanOrEqual(1);
});

test("another SNI offering h2 first chooses the h2 chain by ApplicationProtocolInput ('h2','http/1.1')", async () => {
  const r = await viaTls('other.example.com', ['h2', 'http/1.1']);
  expect(r.reply).toBe('h2:hi');
  expect(r.alpn).toBe('h2');
});

test('plain TCP: destination IP through the IPMatcher, the longest prefix wins whatever the order', async () => {
  expect(await plain('127.0.0.1')).toBe('plain:hello');
  expect(await plain('127.0.0.2')).toBe('loop2:hello');
  expect(await plain('127.0.0.3')).toBe('plain:hello');
});

test('TLS matching no field matcher: the nested misses fall through every on_no_match to the default chain', async () => {
  const r = await viaTls('other.example.com', ['http/1.1']);
  expect(r.reply).toBe('dflt:hi');
});

test('without a default chain, a connection the matcher does not place is closed (no_filter_chain_match)', async () => {
  const before = sc.stat('listener.127.0.0.1_0.no_filter_chain_match');
  const s = net.connect(sc.port('miss'), '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('close', () => r()));
  expect(sc.stat('listener.127.0.0.1_0.no_filter_chain_match')).toBe(before + 1);
});
