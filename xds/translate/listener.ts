/**
 * envoy.config.listener.v3.Listener (canonical JSON) -> ListenerConfig.
 * Network filters are validated by their registered extension; a filter
 * chain that needs TLS (transport_socket) or a listener filter we do not
 * have is refused with a reason, never accepted and ignored.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, ParseContext } from '../../sidecar/contracts/extension.ts';
import type { CidrRange, FilterChainConfig, FilterChainMatchConfig, ListenerConfig, ListenerFilterConfig, ListenerFilterPredicate, TransportSocketConfig } from '../../sidecar/contracts/snapshot.ts';
import { ipBits } from '../../sidecar/contracts/ip-address.ts';
import { parseAddress } from './address.ts';
import { parseFilterChainMatcher } from './filter-chain-matcher.ts';
import { bool, durationMs, int, list, msg, str, type Json } from './proto-values.ts';

/** Parses a CidrRange. */
export function parseCidr(c: Json, path: string): CidrRange {
  const addr = str(c['address_prefix']);
  const family = isIP(addr);
  if (family === 0) throw new ConfigError(`${path}.address_prefix`, `'${addr}' is not an IP address`);
  const width = family === 4 ? 32 : 128;
  const prefixLen = c['prefix_len'] === undefined ? width : int(c['prefix_len'], width, `${path}.prefix_len`);
  if (prefixLen < 0 || prefixLen > width) throw new ConfigError(`${path}.prefix_len`, `prefix length ${prefixLen} out of range for IPv${family}`);
  const bits = ipBits(addr);
  const mask = prefixLen === 0 ? 0n : ((1n << BigInt(prefixLen)) - 1n) << BigInt(width - prefixLen);
  return Object.freeze({ family: family as 4 | 6, prefixLen, bits: bits & mask, text: `${addr}/${prefixLen}` });
}

function cidrs(v: unknown, path: string): CidrRange[] {
  return list(v).map((c, i) => parseCidr(c, `${path}[${i}]`));
}

function parseMatch(m: Json | undefined, path: string): FilterChainMatchConfig {
  const x = m ?? {};
  const tp = str(x['transport_protocol']);
  if (tp && tp !== 'raw_buffer' && tp !== 'tls') throw new ConfigError(`${path}.transport_protocol`, `unknown transport protocol '${tp}'`);
  return Object.freeze({
    destinationPort: x['destination_port'] !== undefined ? int(x['destination_port'], 0, `${path}.destination_port`) : undefined,
    prefixRanges: Object.freeze(cidrs(x['prefix_ranges'], `${path}.prefix_ranges`)),
    serverNames: Object.freeze((Array.isArray(x['server_names']) ? (x['server_names'] as string[]) : []).map((s) => s.toLowerCase())),
    transportProtocol: tp,
    applicationProtocols: Object.freeze(Array.isArray(x['application_protocols']) ? (x['application_protocols'] as string[]) : []),
    directSourcePrefixRanges: Object.freeze(cidrs(x['direct_source_prefix_ranges'], `${path}.direct_source_prefix_ranges`)),
    sourceType: (str(x['source_type']) || 'ANY') as FilterChainMatchConfig['sourceType'],
    sourcePrefixRanges: Object.freeze(cidrs(x['source_prefix_ranges'], `${path}.source_prefix_ranges`)),
    sourcePorts: Object.freeze((Array.isArray(x['source_ports']) ? (x['source_ports'] as number[]) : []).map(Number)),
  });
}

/**
 * A transport socket (downstream or upstream) through its registered
 * extension; raw_buffer is undefined (the socket as it is).
 */
export function parseTransportSocket(ts: Json, path: string, category: 'envoy.transport_sockets.downstream' | 'envoy.transport_sockets.upstream', registry: ExtensionRegistry, ctx: ParseContext): TransportSocketConfig | undefined {
  const { extension: ext, config, typed, what } = registry.resolve(category, ts);
  if (!ext) throw new ConfigError(typed ? `${path}.typed_config` : `${path}.name`, `unsupported transport socket ${what} (not implemented by this sidecar)`);
  if (ext.typeNames.includes('envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer')) return undefined;
  const r = ext.parse(config, { path: typed ? `${path}.typed_config` : path, warn: ctx.warn });
  if (!r.ok) throw r.errors[0]!;
  return Object.freeze({ name: str(ts['name']), typeName: ext.typeNames[0]!, config: r.config });
}

/** filter_disabled: the destination-port subset of ListenerFilterChainMatchPredicate. */
function parseFilterPredicate(p: Json, path: string): ListenerFilterPredicate {
  if (p['any_match'] === true) return { kind: 'any' };
  const range = msg(p['destination_port_range']);
  if (range) return { kind: 'port', start: int(range['start'], 0, `${path}.destination_port_range.start`), end: int(range['end'], 0, `${path}.destination_port_range.end`) };
  for (const k of ['or_match', 'and_match'] as const) {
    const set = msg(p[k]);
    if (set) return { kind: k === 'or_match' ? 'or' : 'and', rules: list(set['rules']).map((r, i) => parseFilterPredicate(r, `${path}.${k}.rules[${i}]`)) };
  }
  const not = msg(p['not_match']);
  if (not) return { kind: 'not', rule: parseFilterPredicate(not, `${path}.not_match`) };
  throw new ConfigError(path, `unsupported listener filter predicate (supported: any_match, destination_port_range, or_match, and_match, not_match)`);
}

function parseListenerFilter(f: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): ListenerFilterConfig {
  if (f['config_discovery'] !== undefined) throw new ConfigError(`${path}.config_discovery`, 'ECDS for listener filters is not supported');
  const { extension: ext, config, typed, what } = registry.resolve('envoy.filters.listener', f);
  if (!ext) throw new ConfigError(typed ? `${path}.typed_config` : `${path}.name`, `unsupported listener filter ${what} (not implemented by this sidecar)`);
  const r = ext.parse(config, { path: typed ? `${path}.typed_config` : path, warn: ctx.warn });
  if (!r.ok) throw r.errors[0]!;
  const disabled = msg(f['filter_disabled']);
  return Object.freeze({ name: str(f['name']), typeName: ext.typeNames[0]!, config: r.config, disabled: disabled ? parseFilterPredicate(disabled, `${path}.filter_disabled`) : undefined });
}

function parseChain(fc: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): FilterChainConfig {
  const tsJson = msg(fc['transport_socket']);
  const transportSocket = tsJson ? parseTransportSocket(tsJson, `${path}.transport_socket`, 'envoy.transport_sockets.downstream', registry, ctx) : undefined;
  if (fc['on_demand_configuration'] !== undefined) throw new ConfigError(`${path}.on_demand_configuration`, 'on-demand filter chains are not supported');
  const all = list(fc['filters']);
  const filters = all.map((f, i) => {
    const p = `${path}.filters[${i}]`;
    const name = str(f['name']);
    if (f['config_discovery'] !== undefined) throw new ConfigError(`${p}.config_discovery`, 'ECDS needs the xDS client, which is not implemented yet');
    const { extension: ext, config: cfg, typed, what } = registry.resolve('envoy.filters.network', f);
    if (!ext) {
      throw new ConfigError(typed ? `${p}.typed_config` : `${p}.name`, `unsupported network filter ${what} (not implemented by this sidecar)`);
    }
    // Envoy: the terminal filter (createHandler) is last; the ones before it run on the connection first.
    const terminal = 'createHandler' in ext;
    if (i < all.length - 1 && !('createConnectionFilter' in ext)) {
      throw new ConfigError(p, terminal ? `terminal filter named '${name}' of type ${ext.typeNames[0]} must be the last filter in a network filter chain` : `network filter '${name}' (${what}) cannot run before the terminal filter`);
    }
    if (i === all.length - 1 && !terminal) throw new ConfigError(p, `non-terminal filter named '${name}' of type ${ext.typeNames[0]} is the last filter in a network filter chain`);
    const r = ext.parse(cfg, { path: typed ? `${p}.typed_config` : p, warn: ctx.warn });
    if (!r.ok) throw r.errors[0]!;
    return Object.freeze({ name, typeName: ext.typeNames[0]!, config: r.config });
  });
  if (filters.length === 0) throw new ConfigError(`${path}.filters`, 'a filter chain needs at least one network filter');
  return Object.freeze({
    name: str(fc['name']),
    match: parseMatch(msg(fc['filter_chain_match']), `${path}.filter_chain_match`),
    filters: Object.freeze(filters),
    transportSocket,
    // Envoy has no default; an unbounded handshake is how stalled clients
    // pile up, so we bound it at 10 s unless configured.
    transportSocketConnectTimeoutMs: durationMs(fc['transport_socket_connect_timeout'], `${path}.transport_socket_connect_timeout`) || 10_000,
  });
}

/**
 * Envoy refuses "multiple filter chains with overlapping matching rules":
 * every chain is expanded into the combinations of its match values (an
 * empty list is one wildcard value; CIDRs compare by network and length),
 * and a combination claimed by two chains is an error.
 */
function refuseOverlaps(chains: readonly FilterChainConfig[], path: string): void {
  const owner = new Map<string, number>();
  const cidr = (r: CidrRange): string => `${r.family}/${r.bits.toString(16)}/${r.prefixLen}`;
  const dims = (m: FilterChainMatchConfig): string[][] => [
    [String(m.destinationPort ?? '*')],
    m.prefixRanges.length ? m.prefixRanges.map(cidr) : ['*'],
    m.serverNames.length ? [...m.serverNames] : ['*'],
    [m.transportProtocol || '*'],
    m.applicationProtocols.length ? [...m.applicationProtocols] : ['*'],
    m.directSourcePrefixRanges.length ? m.directSourcePrefixRanges.map(cidr) : ['*'],
    [m.sourceType],
    m.sourcePrefixRanges.length ? m.sourcePrefixRanges.map(cidr) : ['*'],
    m.sourcePorts.length ? m.sourcePorts.map(String) : ['*'],
  ];
  chains.forEach((fc, i) => {
    let combos: string[] = [''];
    for (const d of dims(fc.match)) {
      combos = combos.flatMap((c) => d.map((v) => `${c}|${v}`));
      if (combos.length > 100_000) throw new ConfigError(`${path}.filter_chains[${i}].filter_chain_match`, 'too many match combinations');
    }
    for (const key of new Set(combos)) {
      const prev = owner.get(key);
      if (prev !== undefined && prev !== i) {
        throw new ConfigError(`${path}.filter_chains[${i}].filter_chain_match`, `multiple filter chains with overlapping matching rules are defined (also filter_chains[${prev}])`);
      }
      owner.set(key, i);
    }
  });
}

/** filter_chain_matcher needs every filter chain named, each name once (Envoy's checks). */
function chainsByName(chains: readonly FilterChainConfig[], path: string): Map<string, FilterChainConfig> {
  const byName = new Map<string, FilterChainConfig>();
  chains.forEach((fc, i) => {
    if (!fc.name) throw new ConfigError(`${path}.filter_chains[${i}].name`, '"name" field is required when using a listener matcher');
    if (byName.has(fc.name)) throw new ConfigError(`${path}.filter_chains[${i}].name`, `"name" field is duplicated with value '${fc.name}'`);
    byName.set(fc.name, fc);
  });
  return byName;
}

/** Parses a Listener. */
export function parseListener(l: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): ListenerConfig {
  // Envoy names an unnamed listener itself (a UUID); we use its address.
  const name = str(l['name']) || `listener_${str(msg(msg(l['address'])?.['socket_address'])?.['address'])}_${String(msg(msg(l['address'])?.['socket_address'])?.['port_value'] ?? '')}`;
  const address = parseAddress(msg(l['address']), `${path}.address`);
  const listenerFilters = list(l['listener_filters']).map((f, i) => parseListenerFilter(f, `${path}.listener_filters[${i}]`, registry, ctx));
  if (l['udp_listener_config'] !== undefined) throw new ConfigError(`${path}.udp_listener_config`, 'UDP listeners are not supported');
  if (l['use_original_dst'] === true) throw new ConfigError(`${path}.use_original_dst`, 'original destination redirection is not supported yet');
  const bindToPort = bool(l['bind_to_port'], true);
  if (!bindToPort) ctx.warn(new ConfigError(`${path}.bind_to_port`, 'the listener binds no port: it would only receive connections redirected by a use_original_dst listener, which this sidecar does not support, so it serves nothing'));
  for (const k of ['access_log', 'connection_balance_config', 'socket_options']) {
    if (l[k] !== undefined) ctx.warn(new ConfigError(`${path}.${k}`, 'accepted but not applied'));
  }
  const filterChains = list(l['filter_chains']).map((fc, i) => parseChain(fc, `${path}.filter_chains[${i}]`, registry, ctx));
  const fcm = msg(l['filter_chain_matcher']);
  // With filter_chain_matcher, Envoy chooses chains by name and ignores filter_chain_match (so no overlap check).
  const filterChainMatcher = fcm ? parseFilterChainMatcher(fcm, `${path}.filter_chain_matcher`, { chains: chainsByName(filterChains, path), warn: ctx.warn }) : undefined;
  if (!filterChainMatcher) refuseOverlaps(filterChains, path);
  const dfc = msg(l['default_filter_chain']);
  const defaultFilterChain = dfc ? parseChain(dfc, `${path}.default_filter_chain`, registry, ctx) : undefined;
  if (filterChains.length === 0 && !defaultFilterChain) throw new ConfigError(`${path}.filter_chains`, 'a listener needs at least one filter chain');
  return Object.freeze({
    name,
    address,
    filterChains: Object.freeze(filterChains),
    defaultFilterChain,
    filterChainMatcher,
    listenerFilters: Object.freeze(listenerFilters),
    bindToPort,
    listenerFiltersTimeoutMs: l['listener_filters_timeout'] === undefined ? 15_000 : durationMs(l['listener_filters_timeout'], `${path}.listener_filters_timeout`) ?? 15_000,
    continueOnListenerFiltersTimeout: bool(l['continue_on_listener_filters_timeout'], false),
    inbound: l['traffic_direction'] === 'INBOUND',
    perConnectionBufferLimitBytes: int(l['per_connection_buffer_limit_bytes'], 1024 * 1024, `${path}.per_connection_buffer_limit_bytes`),
    raw: Object.freeze(l),
  });
}
