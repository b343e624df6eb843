/**
 * Listener filter_chain_matcher (Envoy's matcher API): parsing through
 * parseListener (errors and warnings with field paths) and chain selection
 * over connection facts (every network input, exact/prefix maps, the IP
 * matcher's longest prefix and exclusive ranges, matcher_list predicates,
 * nested matchers, on_no_match, the default chain). Also the filter chain
 * matcher of Istio's ambient listener in the shared sidecar-full.json dump.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { ListenerConfig } from '../../../sidecar/contracts/snapshot.ts';
import type { ConnectionFacts } from '../../../sidecar/listener/filter-chain-match.ts';
import { inputValue, selectByMatcher } from '../../../sidecar/listener/filter-chain-matcher.ts';
import { createRegistry } from '../../../sidecar/main.ts';
import { fromFixtures } from '../../../sidecar/paths.ts';
import { parseListener } from '../../../xds/translate/listener.ts';
import { parseFilterChainMatcher } from '../../../xds/translate/filter-chain-matcher.ts';

type Json = Record<string, unknown>;

const registry = createRegistry();

const TCP = (cluster: string): Json => ({
  name: 'envoy.filters.network.tcp_proxy',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: cluster, cluster },
});

function chain(name: string, extra: Json = {}): Json {
  return { name, filters: [TCP(name)], ...extra };
}

const NET = 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.';
const input = (t: string): Json => ({ name: t, typed_config: { '@type': `${NET}${t}` } });
const action = (name: string): Json => ({ action: { name, typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: name } } });
const tree = (t: string, kind: 'exact_match_map' | 'prefix_match_map', map: Record<string, Json>, onNoMatch?: Json): Json => ({
  matcher_tree: { input: input(t), [kind]: { map } },
  ...(onNoMatch ? { on_no_match: onNoMatch } : {}),
});

const NAMES = ['a', 'b', 'c', 'd'];

function listener(matcher: Json, extra: Json = {}, warnings: ConfigError[] = []): ListenerConfig {
  return parseListener(
    { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 0 } }, filter_chains: NAMES.map((n) => chain(n)), filter_chain_matcher: matcher, ...extra },
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

function choose(l: ListenerConfig, facts: Partial<ConnectionFacts> = {}): string | undefined {
  return selectByMatcher(l.filterChainMatcher!, l.defaultFilterChain, { ...BASE, ...facts })?.name;
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

describe('parsing', () => {
  test('a listener with filter_chain_matcher is accepted and keeps the compiled matcher', () => {
    const l = listener(tree('DestinationPortInput', 'exact_match_map', { '8080': action('a') }));
    expect(l.filterChainMatcher?.kind).toBe('tree');
  });

  test('overlapping filter_chain_match is not refused: Envoy ignores it with a matcher', () => {
    const l = parseListener(
      { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 0 } }, filter_chains: [chain('a', { filter_chain_match: { destination_port: 1 } }), chain('b', { filter_chain_match: { destination_port: 1 } })], filter_chain_matcher: tree('DestinationPortInput', 'exact_match_map', { '2': action('b') }) },
      'listener', registry, { path: 'listener', warn: () => undefined },
    );
    expect(choose(l, { localPort: 2 })).toBe('b');
    expect(choose(l, { localPort: 1 })).toBeUndefined();
  });

  test('an unknown input type is refused at its typed_config', () => {
    const e = parseError(() => listener({ matcher_tree: { input: { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.ssl.v3.UriSanInput' } }, exact_match_map: { map: { x: action('a') } } } }));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.input.typed_config');
    expect(e.message).toMatch(/unsupported matcher input .*UriSanInput/);
  });

  test('FilterStateInput is refused with the reason', () => {
    const e = parseError(() => listener(tree('FilterStateInput', 'exact_match_map', { x: action('a') })));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.input.typed_config');
    expect(e.message).toMatch(/FilterStateInput/);
  });

  test('an action naming no chain is accepted with a warning at its path (Envoy accepts it), and refuses the connections it selects', () => {
    const warnings: ConfigError[] = [];
    const l = listener(tree('DestinationPortInput', 'exact_match_map', { '8080': action('nope') }, action('a')), { default_filter_chain: chain('dflt') }, warnings);
    expect(warnings.map((w) => w.path)).toEqual(['listener.filter_chain_matcher.matcher_tree.exact_match_map.map["8080"].action.typed_config.value']);
    expect(warnings[0]!.message).toMatch(/no filter chain is named 'nope'/);
    expect(choose(l, { localPort: 8080 })).toBeUndefined();
    expect(choose(l, { localPort: 1 })).toBe('a');
  });

  test('the default chain is not one of the named chains actions can pick', () => {
    const warnings: ConfigError[] = [];
    listener(tree('DestinationPortInput', 'exact_match_map', { '1': action('dflt') }), { default_filter_chain: chain('dflt') }, warnings);
    expect(warnings).toHaveLength(1);
  });

  test('keep_matching is refused at its path', () => {
    const e = parseError(() => listener(tree('DestinationPortInput', 'exact_match_map', { '1': { ...action('a'), keep_matching: true } })));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.exact_match_map.map["1"].keep_matching');
  });

  test('an action of another type is refused', () => {
    const e = parseError(() => listener(tree('DestinationPortInput', 'exact_match_map', { '1': { action: { name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Struct' } } } })));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.exact_match_map.map["1"].action.typed_config');
  });

  test('chains must be named, once each', () => {
    const base = { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 0 } }, filter_chain_matcher: tree('DestinationPortInput', 'exact_match_map', { '1': action('a') }) };
    const ctx = { path: 'listener', warn: (): void => undefined };
    const unnamed = parseError(() => parseListener({ ...base, filter_chains: [chain('a'), { filters: [TCP('x')] }] }, 'listener', registry, ctx));
    expect(unnamed.path).toBe('listener.filter_chains[1].name');
    const dup = parseError(() => parseListener({ ...base, filter_chains: [chain('a'), chain('a')] }, 'listener', registry, ctx));
    expect(dup.path).toBe('listener.filter_chains[1].name');
    expect(dup.message).toMatch(/duplicated with value 'a'/);
  });

  test('custom matchers other than IPMatcher are refused', () => {
    const e = parseError(() => listener({ matcher_tree: { input: input('ServerNameInput'), custom_match: { name: 'd', typed_config: { '@type': 'type.googleapis.com/xds.type.matcher.v3.ServerNameMatcher' } } } }));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.custom_match.typed_config');
  });

  test('errors deep in nested matchers carry the whole path', () => {
    const e = parseError(() => listener({
      matcher_list: { matchers: [{ predicate: { single_predicate: { input: input('ServerNameInput'), value_match: { exact: 'x' } } }, on_match: { matcher: { matcher_tree: { input: input('Bogus'), exact_match_map: { map: { x: action('a') } } } } } }] },
    }));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_list.matchers[0].on_match.matcher.matcher_tree.input.typed_config');
  });

  test('a bad CIDR in an IPMatcher is refused at its path', () => {
    const e = parseError(() => listener({ matcher_tree: { input: input('DestinationIPInput'), custom_match: { name: 'ip', typed_config: { '@type': 'type.googleapis.com/xds.type.matcher.v3.IPMatcher', range_matchers: [{ ranges: [{ address_prefix: 'nope', prefix_len: 8 }], on_match: action('a') }] } } } }));
    expect(e.path).toBe('listener.filter_chain_matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges[0].address_prefix');
  });
});

describe('network inputs', () => {
  test('each input reads its fact, Envoy-style', () => {
    const f: ConnectionFacts = { ...BASE, serverName: 'db.example.com', transportProtocol: 'tls', applicationProtocols: ['h2', 'http/1.1'] };
    expect(inputValue('destination_ip', f)).toBe('10.0.0.1');
    expect(inputValue('destination_port', f)).toBe('8080');
    expect(inputValue('source_ip', f)).toBe('192.168.1.10');
    expect(inputValue('direct_source_ip', f)).toBe('192.168.1.10');
    expect(inputValue('source_port', f)).toBe('40000');
    expect(inputValue('server_name', f)).toBe('db.example.com');
    expect(inputValue('transport_protocol', f)).toBe('tls');
    expect(inputValue('application_protocol', f)).toBe("'h2','http/1.1'");
    expect(inputValue('source_type', f)).toBeUndefined();
    expect(inputValue('source_type', { ...f, remoteAddress: '127.0.0.1' })).toBe('local');
    expect(inputValue('source_type', { ...f, remoteAddress: '10.0.0.1' })).toBe('local');
    expect(inputValue('server_name', BASE)).toBeUndefined();
    expect(inputValue('application_protocol', BASE)).toBeUndefined();
  });

  test.each([
    ['DestinationIPInput', '10.0.0.1', { localAddress: '10.0.0.1' }, { localAddress: '10.0.0.2' }],
    ['DestinationPortInput', '8080', { localPort: 8080 }, { localPort: 8081 }],
    ['SourceIPInput', '192.168.1.10', { remoteAddress: '192.168.1.10' }, { remoteAddress: '192.168.1.11' }],
    ['DirectSourceIPInput', '192.168.1.10', { remoteAddress: '192.168.1.10' }, { remoteAddress: '192.168.1.11' }],
    ['SourcePortInput', '40000', { remotePort: 40000 }, { remotePort: 40001 }],
    ['SourceTypeInput', 'local', { remoteAddress: '127.0.0.1' }, { remoteAddress: '192.168.1.10' }],
    ['ServerNameInput', 'db.example.com', { serverName: 'db.example.com' }, { serverName: 'other.example.com' }],
    ['TransportProtocolInput', 'tls', { transportProtocol: 'tls' }, { transportProtocol: 'raw_buffer' }],
    ['ApplicationProtocolInput', "'h2'", { applicationProtocols: ['h2'] }, { applicationProtocols: ['h2', 'http/1.1'] }],
  ] as Array<[string, string, Partial<ConnectionFacts>, Partial<ConnectionFacts>]>)('%s in an exact_match_map', (t, key, hit, miss) => {
    const l = listener(tree(t, 'exact_match_map', { [key]: action('a') }, action('b')));
    expect(choose(l, hit)).toBe('a');
    expect(choose(l, miss)).toBe('b');
  });

  test('no value (no SNI) goes to on_no_match even when the map has an empty key', () => {
    const l = listener(tree('ServerNameInput', 'exact_match_map', { '': action('a') }, action('b')));
    expect(choose(l)).toBe('b');
  });
});

describe('matcher_tree', () => {
  test('prefix_match_map: the longest prefix wins, shorter ones are tried when a nested matcher misses', () => {
    const l = listener(tree('ServerNameInput', 'prefix_match_map', {
      'db': action('a'),
      'db.': { matcher: tree('DestinationPortInput', 'exact_match_map', { '5432': action('b') }) },
      'db.eu': action('c'),
    }, action('d')));
    expect(choose(l, { serverName: 'db.eu.example' })).toBe('c');
    expect(choose(l, { serverName: 'db.us.example', localPort: 5432 })).toBe('b');
    expect(choose(l, { serverName: 'db.us.example', localPort: 1 })).toBe('a');
    expect(choose(l, { serverName: 'web' })).toBe('d');
  });

  test('IPMatcher: the longest matching prefix wins, in any declaration order', () => {
    const ip = (ranges: Array<[string, number]>, om: Json, exclusive = false): Json => ({ ranges: ranges.map(([a, n]) => ({ address_prefix: a, prefix_len: n })), on_match: om, ...(exclusive ? { exclusive } : {}) });
    const m = (rms: Json[], onNoMatch?: Json): Json => ({ matcher_tree: { input: input('DestinationIPInput'), custom_match: { name: 'ip', typed_config: { '@type': 'type.googleapis.com/xds.type.matcher.v3.IPMatcher', range_matchers: rms } } }, ...(onNoMatch ? { on_no_match: onNoMatch } : {}) });
    const l = listener(m([ip([['10.0.0.0', 8]], action('a')), ip([['10.0.0.1', 32]], action('c')), ip([['10.0.0.0', 16], ['2001:db8::', 32]], action('b'))], action('d')));
    expect(choose(l, { localAddress: '10.0.0.1' })).toBe('c');
    expect(choose(l, { localAddress: '10.0.9.9' })).toBe('b');
    expect(choose(l, { localAddress: '10.9.9.9' })).toBe('a');
    expect(choose(l, { localAddress: '2001:db8::5' })).toBe('b');
    expect(choose(l, { localAddress: '11.0.0.1' })).toBe('d');

    // A nested miss falls back to the next shorter range; exclusive ranges are only tried first.
    const nested = listener(m([
      ip([['10.0.0.0', 8]], action('a')),
      ip([['10.0.0.0', 24]], { matcher: tree('DestinationPortInput', 'exact_match_map', { '80': action('b') }) }),
    ], action('d')));
    expect(choose(nested, { localAddress: '10.0.0.1', localPort: 80 })).toBe('b');
    expect(choose(nested, { localAddress: '10.0.0.1', localPort: 81 })).toBe('a');
    const excl = listener(m([
      ip([['10.0.0.0', 8]], action('a'), true),
      ip([['10.0.0.0', 24]], { matcher: tree('DestinationPortInput', 'exact_match_map', { '80': action('b') }) }),
    ], action('d')));
    expect(choose(excl, { localAddress: '10.0.0.1', localPort: 81 })).toBe('d');
    expect(choose(excl, { localAddress: '10.1.0.1', localPort: 81 })).toBe('a');
  });

  test('an exact map hit whose nested matcher misses falls to the outer on_no_match', () => {
    const l = listener(tree('TransportProtocolInput', 'exact_match_map', {
      tls: { matcher: tree('ServerNameInput', 'exact_match_map', { 'a.example': action('a') }) },
    }, action('d')));
    expect(choose(l, { transportProtocol: 'tls', serverName: 'a.example' })).toBe('a');
    expect(choose(l, { transportProtocol: 'tls', serverName: 'b.example' })).toBe('d');
    expect(choose(l, { transportProtocol: 'raw_buffer' })).toBe('d');
  });

  test('without a match and without on_no_match: the default chain, else none', () => {
    const m = tree('DestinationPortInput', 'exact_match_map', { '1': action('a') });
    expect(choose(listener(m, { default_filter_chain: chain('dflt') }), { localPort: 2 })).toBe('dflt');
    expect(choose(listener(m), { localPort: 2 })).toBeUndefined();
  });

  test('a matcher with only on_no_match always takes it', () => {
    expect(choose(listener({ on_no_match: action('c') }))).toBe('c');
  });
});

describe('matcher_list', () => {
  const sp = (t: string, vm: Json): Json => ({ single_predicate: { input: input(t), value_match: vm } });

  test('the first matching field matcher wins; or/and/not predicates', () => {
    const l = listener({
      matcher_list: {
        matchers: [
          { predicate: { and_matcher: { predicate: [sp('TransportProtocolInput', { exact: 'tls' }), sp('ServerNameInput', { suffix: '.internal' })] } }, on_match: action('a') },
          { predicate: { or_matcher: { predicate: [sp('DestinationPortInput', { exact: '5432' }), sp('ApplicationProtocolInput', { contains: "'postgresql'" })] } }, on_match: action('b') },
          { predicate: { not_matcher: sp('SourceIPInput', { prefix: '192.168.' }) }, on_match: action('c') },
          { predicate: sp('DestinationPortInput', { safe_regex: { regex: '80[0-9]+' } }), on_match: action('b') },
        ],
      },
      on_no_match: action('d'),
    });
    expect(choose(l, { transportProtocol: 'tls', serverName: 'db.internal', localPort: 5432 })).toBe('a');
    expect(choose(l, { transportProtocol: 'tls', serverName: 'db.public', localPort: 5432 })).toBe('b');
    expect(choose(l, { applicationProtocols: ['postgresql'] })).toBe('b');
    expect(choose(l, { remoteAddress: '10.1.1.1' })).toBe('c');
    expect(choose(l, { localPort: 8080 })).toBe('b');
    expect(choose(l, { localPort: 7000 })).toBe('d');
  });

  test('a predicate on an input without a value is false (and its not is true)', () => {
    const l = listener({ matcher_list: { matchers: [{ predicate: sp('ServerNameInput', { prefix: '' }), on_match: action('a') }, { predicate: { not_matcher: sp('ServerNameInput', { prefix: '' }) }, on_match: action('b') }] } });
    expect(choose(l)).toBe('b');
    expect(choose(l, { serverName: 'x' })).toBe('a');
  });

  test('a matched field matcher whose nested matcher misses lets the next one try', () => {
    const l = listener({
      matcher_list: {
        matchers: [
          { predicate: sp('TransportProtocolInput', { exact: 'tls' }), on_match: { matcher: tree('ServerNameInput', 'exact_match_map', { 'a.example': action('a') }) } },
          { predicate: sp('TransportProtocolInput', { exact: 'tls' }), on_match: action('b') },
        ],
      },
    });
    expect(choose(l, { transportProtocol: 'tls', serverName: 'a.example' })).toBe('a');
    expect(choose(l, { transportProtocol: 'tls', serverName: 'z.example' })).toBe('b');
  });
});

describe("Istio's ambient listener (sidecar-full.json)", () => {
  test('its filter_chain_matcher parses and routes by VIP and port, and by ALPN', () => {
    const dump = JSON.parse(readFileSync(fromFixtures('istio', 'configdump', 'sidecar-full.json'), 'utf8')) as { configs: Json[] };
    const listeners = (dump.configs.flatMap((c) => (c['dynamic_listeners'] as Json[] | undefined) ?? []))
      .map((d) => (d['active_state'] as Json)['listener'] as Json)
      .filter((l) => l['filter_chain_matcher'] !== undefined);
    expect(listeners.length).toBeGreaterThan(0);
    for (const l of listeners) {
      const chains = new Map(((l['filter_chains'] as Json[]) ?? []).map((fc) => [fc['name'] as string, { name: fc['name'] as string } as never]));
      const warnings: ConfigError[] = [];
      const m = parseFilterChainMatcher(l['filter_chain_matcher'] as Json, 'listener.filter_chain_matcher', { chains, warn: (e) => warnings.push(e) });
      expect(warnings).toEqual([]);
      if (l['name'] !== 'main_internal') continue;
      const pick = (f: Partial<ConnectionFacts>): string | undefined => selectByMatcher(m, undefined, { ...BASE, ...f })?.name;
      expect(pick({ localAddress: '10.104.171.68', localPort: 8000 })).toBe('inbound-vip|8000||httpbin.default.svc.cluster.local-http');
      expect(pick({ localAddress: '10.104.171.68', localPort: 8100 })).toBe('inbound-vip|8100||httpbin.default.svc.cluster.local-http');
      expect(pick({ localAddress: '10.104.171.68', localPort: 9 })).toBeUndefined();
      expect(pick({ localAddress: '192.168.195.248', applicationProtocols: ['h2c'] })).toBe('direct-http');
      expect(pick({ localAddress: '192.168.195.248', applicationProtocols: ['http/1.1'] })).toBe('direct-http');
      expect(pick({ localAddress: '192.168.195.248' })).toBe('direct-tcp');
    }
  });
});
