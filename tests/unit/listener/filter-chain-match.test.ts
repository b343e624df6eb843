/**
 * Filter chain selection in Envoy's most-specific-wins order, on chains
 * built by parseListener (the same path the bootstrap takes): destination
 * port, destination IP, server name, transport protocol, application
 * protocols, direct source IP, source type, source IP, source port; then the
 * default_filter_chain. Plus the parse-time checks on filter_chain_match.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { ListenerConfig } from '../../../sidecar/contracts/snapshot.ts';
import { selectFilterChain, type ConnectionFacts } from '../../../sidecar/listener/filter-chain-match.ts';
import { createRegistry } from '../../../sidecar/main.ts';
import { parseCidr, parseListener } from '../../../xds/translate/listener.ts';

type Json = Record<string, unknown>;

const registry = createRegistry();

/** A minimal HttpConnectionManager network filter (direct response only). */
const HCM: Json = {
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 's',
    route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  },
};

/** A filter chain named `name` with the given filter_chain_match. */
function chain(name: string, match?: Json): Json {
  return { name, ...(match ? { filter_chain_match: match } : {}), filters: [HCM] };
}

function listener(chains: Json[], extra: Json = {}): ListenerConfig {
  const warnings: ConfigError[] = [];
  return parseListener(
    { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 0 } }, filter_chains: chains, ...extra },
    'listener',
    registry,
    { path: 'listener', warn: (e) => warnings.push(e) },
  );
}

const BASE: ConnectionFacts = {
  localAddress: '10.0.0.1',
  localPort: 8080,
  remoteAddress: '192.168.1.10',
  remotePort: 40000,
  serverName: '',
  transportProtocol: 'raw_buffer',
  applicationProtocols: [],
};

/** The name of the chain chosen for a connection, or undefined. */
function choose(l: ListenerConfig, facts: Partial<ConnectionFacts> = {}): string | undefined {
  return selectFilterChain(l.filterChains, l.defaultFilterChain, { ...BASE, ...facts })?.name;
}

function parseError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('destination port', () => {
  const l = listener([chain('any'), chain('p8080', { destination_port: 8080 }), chain('p9090', { destination_port: 9090 })]);

  test('a chain naming the port beats a chain without one, wherever it is listed', () => {
    expect(choose(l, { localPort: 8080 })).toBe('p8080');
    expect(choose(l, { localPort: 9090 })).toBe('p9090');
  });

  test('chains without a port are the fallback', () => {
    expect(choose(l, { localPort: 7070 })).toBe('any');
  });

  test('without a fallback no chain matches', () => {
    expect(choose(listener([chain('p1', { destination_port: 1 })]), { localPort: 2 })).toBeUndefined();
  });
});

describe('destination IP (prefix_ranges)', () => {
  const l = listener([
    chain('any'),
    chain('10/8', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
    chain('10.0/16', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 16 }, { address_prefix: '172.16.0.0', prefix_len: 12 }] }),
    chain('host', { prefix_ranges: [{ address_prefix: '10.0.0.1' }] }),
  ]);

  test('the longest matching prefix wins', () => {
    expect(choose(l, { localAddress: '10.0.0.1' })).toBe('host');
    expect(choose(l, { localAddress: '10.0.9.9' })).toBe('10.0/16');
    expect(choose(l, { localAddress: '10.1.0.1' })).toBe('10/8');
    expect(choose(l, { localAddress: '172.20.0.1' })).toBe('10.0/16');
    expect(choose(l, { localAddress: '192.168.0.1' })).toBe('any');
  });

  test('a missing prefix_len means the whole address', () => {
    expect(l.filterChains.find((c) => c.name === 'host')!.match.prefixRanges[0]!.prefixLen).toBe(32);
  });

  test('destination port is decided before destination IP', () => {
    const m = listener([chain('ip', { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 32 }] }), chain('port', { destination_port: 8080 })]);
    expect(choose(m, { localAddress: '10.0.0.1', localPort: 8080 })).toBe('port');
  });

  test('IPv6 CIDR ranges', () => {
    const v6 = listener([
      chain('v6-any', { prefix_ranges: [{ address_prefix: '::', prefix_len: 0 }] }),
      chain('v6-doc', { prefix_ranges: [{ address_prefix: '2001:db8::', prefix_len: 32 }] }),
      chain('v6-net', { prefix_ranges: [{ address_prefix: '2001:db8:1::', prefix_len: 48 }] }),
      chain('v4', { prefix_ranges: [{ address_prefix: '0.0.0.0', prefix_len: 0 }] }),
    ]);
    expect(choose(v6, { localAddress: '2001:db8:1::5' })).toBe('v6-net');
    expect(choose(v6, { localAddress: '2001:db8:2::5' })).toBe('v6-doc');
    expect(choose(v6, { localAddress: 'fe80::1' })).toBe('v6-any');
    expect(choose(v6, { localAddress: '::1' })).toBe('v6-any');
    expect(choose(v6, { localAddress: '10.0.0.1' })).toBe('v4');
  });

  test('an IPv4-mapped IPv6 address matches IPv4 ranges', () => {
    const m = listener([chain('v4', { prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }), chain('other', { destination_port: 1 })]);
    expect(choose(m, { localAddress: '::ffff:127.0.0.1' })).toBe('v4');
  });

  test('CIDR ranges are parsed and masked', () => {
    expect(parseCidr({ address_prefix: '2001:db8:1:2::ff', prefix_len: 48 }, 'p')).toMatchObject({ family: 6, prefixLen: 48, bits: 0x20010db80001n << 80n });
    expect(parseCidr({ address_prefix: '10.1.2.3', prefix_len: 8 }, 'p')).toMatchObject({ family: 4, prefixLen: 8, bits: 10n << 24n });
    expect(parseError(() => parseCidr({ address_prefix: 'localhost', prefix_len: 8 }, 'p')).path).toBe('p.address_prefix');
    expect(parseError(() => parseCidr({ address_prefix: '10.0.0.0', prefix_len: 33 }, 'p')).path).toBe('p.prefix_len');
    expect(() => parseCidr({ address_prefix: '::', prefix_len: 128 }, 'p')).not.toThrow();
  });
});

describe('server names and transport protocol', () => {
  test('a chain with server_names never matches a connection without SNI', () => {
    const l = listener([chain('sni', { server_names: ['db.example.com'] }), chain('plain', { transport_protocol: 'raw_buffer' })]);
    expect(choose(l)).toBe('plain');
    expect(choose(listener([chain('sni', { server_names: ['*.example.com'] })]))).toBeUndefined();
  });

  test('with SNI, exact beats the longest wildcard beats a chain without names', () => {
    const l = listener([
      chain('none', { destination_port: 8080 }),
      chain('wild', { destination_port: 8080, server_names: ['*.example.com'] }),
      chain('wilder', { destination_port: 8080, server_names: ['*.db.example.com'] }),
      chain('exact', { destination_port: 8080, server_names: ['Primary.DB.example.com'] }),
    ]);
    expect(choose(l, { serverName: 'primary.db.example.com' })).toBe('exact');
    expect(choose(l, { serverName: 'replica.db.example.com' })).toBe('wilder');
    expect(choose(l, { serverName: 'www.example.com' })).toBe('wild');
    expect(choose(l, { serverName: 'example.com' })).toBe('none');
    expect(choose(l)).toBe('none');
  });

  test('transport_protocol raw_buffer vs tls', () => {
    const l = listener([chain('tls', { transport_protocol: 'tls' }), chain('raw', { transport_protocol: 'raw_buffer' })]);
    expect(choose(l)).toBe('raw');
    expect(choose(l, { transportProtocol: 'tls' })).toBe('tls');
    const onlyTls = listener([chain('tls', { transport_protocol: 'tls' }), chain('any', { destination_port: 1 })]);
    expect(choose(onlyTls)).toBeUndefined();
  });

  test('an unknown transport_protocol is refused', () => {
    expect(parseError(() => listener([chain('x', { transport_protocol: 'quic' })])).path).toBe('listener.filter_chains[0].filter_chain_match.transport_protocol');
  });

  test('application_protocols need ALPN, which a plain connection does not have', () => {
    const l = listener([chain('h2', { application_protocols: ['h2'] }), chain('rest', { destination_port: 8080 })]);
    expect(choose(l)).toBe('rest');
    const m = listener([chain('h2', { application_protocols: ['h2'] }), chain('plain')]);
    expect(choose(m)).toBe('plain');
    expect(choose(m, { applicationProtocols: ['h2', 'http/1.1'] })).toBe('h2');
  });
});

describe('source criteria', () => {
  test('direct_source_prefix_ranges, longest first', () => {
    const l = listener([
      chain('any'),
      chain('lan', { direct_source_prefix_ranges: [{ address_prefix: '192.168.0.0', prefix_len: 16 }] }),
      chain('subnet', { direct_source_prefix_ranges: [{ address_prefix: '192.168.1.0', prefix_len: 24 }] }),
    ]);
    expect(choose(l, { remoteAddress: '192.168.1.10' })).toBe('subnet');
    expect(choose(l, { remoteAddress: '192.168.2.10' })).toBe('lan');
    expect(choose(l, { remoteAddress: '8.8.8.8' })).toBe('any');
  });

  test('source_type SAME_IP_OR_LOOPBACK vs EXTERNAL', () => {
    const l = listener([chain('local', { source_type: 'SAME_IP_OR_LOOPBACK' }), chain('external', { source_type: 'EXTERNAL' })]);
    expect(choose(l, { remoteAddress: '127.0.0.1' })).toBe('local');
    expect(choose(l, { remoteAddress: '127.8.9.10' })).toBe('local');
    expect(choose(l, { remoteAddress: '::1' })).toBe('local');
    expect(choose(l, { remoteAddress: '10.0.0.1', localAddress: '10.0.0.1' })).toBe('local');
    expect(choose(l, { remoteAddress: '10.0.0.2', localAddress: '10.0.0.1' })).toBe('external');
  });

  test('a source_type chain beats ANY only when its type matches', () => {
    const l = listener([chain('any', { source_type: 'ANY' }), chain('local', { source_type: 'SAME_IP_OR_LOOPBACK' })]);
    expect(choose(l, { remoteAddress: '127.0.0.1' })).toBe('local');
    expect(choose(l, { remoteAddress: '10.9.9.9' })).toBe('any');
  });

  test('source_prefix_ranges: longest match; chains without are the fallback', () => {
    const l = listener([
      chain('any'),
      chain('ten', { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
      chain('ten-one', { source_prefix_ranges: [{ address_prefix: '10.1.0.0', prefix_len: 16 }] }),
      chain('v6', { source_prefix_ranges: [{ address_prefix: 'fd00::', prefix_len: 8 }] }),
    ]);
    expect(choose(l, { remoteAddress: '10.1.2.3' })).toBe('ten-one');
    expect(choose(l, { remoteAddress: '10.2.2.3' })).toBe('ten');
    expect(choose(l, { remoteAddress: 'fd12::1' })).toBe('v6');
    expect(choose(l, { remoteAddress: '11.0.0.1' })).toBe('any');
  });

  test('source_type is decided before source IP', () => {
    const l = listener([chain('ip', { source_prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] }), chain('local', { source_type: 'SAME_IP_OR_LOOPBACK' })]);
    expect(choose(l, { remoteAddress: '127.0.0.1' })).toBe('local');
  });

  test('source_ports: a listed port beats a chain without ports', () => {
    const l = listener([chain('any'), chain('ports', { source_ports: [1000, 2000] })]);
    expect(choose(l, { remotePort: 2000 })).toBe('ports');
    expect(choose(l, { remotePort: 3000 })).toBe('any');
    expect(choose(listener([chain('ports', { source_ports: [1000] })]), { remotePort: 3000 })).toBeUndefined();
  });
});

describe('most-specific-wins without backtracking, and the default chain', () => {
  test('once a more specific criterion is chosen, a later mismatch means no match (Envoy does not backtrack)', () => {
    const l = listener([
      chain('generic'),
      chain('port-and-source', { destination_port: 8080, source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
    ]);
    expect(choose(l, { localPort: 8080, remoteAddress: '10.1.1.1' })).toBe('port-and-source');
    expect(choose(l, { localPort: 8080, remoteAddress: '192.168.1.1' })).toBeUndefined();
    expect(choose(l, { localPort: 9090, remoteAddress: '192.168.1.1' })).toBe('generic');
  });

  test('default_filter_chain is used when nothing matches', () => {
    const l = listener([chain('p1', { destination_port: 1 })], { default_filter_chain: chain('default') });
    expect(choose(l, { localPort: 2 })).toBe('default');
    expect(choose(l, { localPort: 1 })).toBe('p1');
  });

  test('a listener may have only a default_filter_chain', () => {
    const l = listener([], { default_filter_chain: chain('default') });
    expect(l.filterChains).toHaveLength(0);
    expect(choose(l)).toBe('default');
  });

  test('a listener without any chain is refused', () => {
    expect(parseError(() => listener([])).message).toBe('listener.filter_chains: a listener needs at least one filter chain');
  });
});

describe('parse-time checks', () => {
  test('two chains with the same matching rules are refused', () => {
    const e = parseError(() => listener([chain('a', { destination_port: 80 }), chain('b'), chain('c', { destination_port: 80 })]));
    expect(e.message).toBe('listener.filter_chains[2].filter_chain_match: multiple filter chains with overlapping matching rules are defined (also filter_chains[0])');
    expect(parseError(() => listener([chain('a'), chain('b', {})])).path).toBe('listener.filter_chains[1].filter_chain_match');
    expect(parseError(() => listener([
      chain('a', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
      chain('b', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
    ])).path).toBe('listener.filter_chains[1].filter_chain_match');
  });

  test('chains differing in one criterion are accepted', () => {
    expect(() => listener([chain('a', { destination_port: 80 }), chain('b', { destination_port: 81 }), chain('c')])).not.toThrow();
  });

  // Regression (found by this suite, fixed): xds/translate/listener.ts parseListener compares whole
  // FilterChainMatch objects (JSON.stringify of the parsed match), so rules
  // that overlap without being byte-identical are accepted and the first
  // listed chain silently wins. Envoy (FilterChainManagerImpl, e.g.
  // addFilterChainForSourcePorts) expands each combination of values and
  // refuses "multiple filter chains with overlapping matching rules are
  // defined"; it also normalises CIDRs, so 10.0.0.1/8 and 10.0.0.0/8 are the
  // same range.
  test('overlapping rules are refused as Envoy does (source_ports [1, 2] vs [2])', () => {
    expect(() => listener([chain('a', { source_ports: [1, 2] }), chain('b', { source_ports: [2] })])).toThrow(/filter_chains\[1\]/);
  });

  test('the same CIDR written two ways is a duplicate (10.0.0.1/8 vs 10.0.0.0/8)', () => {
    expect(() => listener([
      chain('a', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
      chain('b', { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 8 }] }),
    ])).toThrow(/filter_chains\[1\]/);
  });

  test('a chain without network filters, or with a transport socket we do not have, is refused with its path', () => {
    expect(parseError(() => listener([{ name: 'x', filters: [] }])).path).toBe('listener.filter_chains[0].filters');
    const alts = parseError(() => listener([{ ...chain('x'), transport_socket: { name: 'envoy.transport_sockets.alts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts' } } }]));
    expect(alts.message).toBe("listener.filter_chains[0].transport_socket.typed_config: unsupported transport socket type URL 'type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts' (not implemented by this sidecar)");
  });

  test('an unknown network filter names its type URL', () => {
    const e = parseError(() => listener([{ name: 'x', filters: [{ name: 'redis', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy' } }] }]));
    expect(e.message).toBe("listener.filter_chains[0].filters[0].typed_config: unsupported network filter type URL 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy' (not implemented by this sidecar)");
  });

  test('a bad CIDR in a match names its path', () => {
    expect(parseError(() => listener([chain('x', { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: 'nope' }] })])).path).toBe(
      'listener.filter_chains[0].filter_chain_match.source_prefix_ranges[1].address_prefix',
    );
  });

  test('server names are compared lower-cased; matches are frozen', () => {
    const l = listener([chain('x', { server_names: ['DB.Example.COM'] })]);
    expect(l.filterChains[0]!.match.serverNames).toEqual(['db.example.com']);
    expect(Object.isFrozen(l.filterChains[0]!.match)).toBe(true);
  });
});
