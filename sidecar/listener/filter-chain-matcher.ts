/**
 * A listener's filter_chain_matcher at run time: Envoy's matcher API over a
 * connection's facts. Inputs give a string or nothing (Envoy's monostate:
 * no SNI, no ALPN, a non-local source for SourceTypeInput); nothing goes to
 * the matcher's on_no_match. A nested matcher that matches nothing lets the
 * outer one go on as Envoy does: the exact map falls to on_no_match, the
 * prefix map and the IP matcher try the next shorter candidate, the list the
 * next field matcher. When the whole tree matches nothing, the
 * default_filter_chain is used; an action naming no chain refuses the
 * connection (Envoy's filter chain name action finds nothing then).
 */
import type { FilterChainConfig, FilterChainMatcherConfig, MatcherOnMatch, MatcherPredicate, NetworkMatchInput } from '../contracts/snapshot.ts';
import { ipBits } from '../contracts/ip-address.ts';
import type { ConnectionFacts } from './filter-chain-match.ts';

/** An action that matched: its chain, null when it names none. */
type Hit = { readonly chain: FilterChainConfig | null };

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

/** Envoy's network inputs; undefined is "no value". */
export function inputValue(input: NetworkMatchInput, f: ConnectionFacts): string | undefined {
  switch (input) {
    case 'destination_ip': return f.localAddress || undefined;
    case 'destination_port': return f.localAddress || f.localPort ? String(f.localPort) : undefined;
    case 'source_ip':
    case 'direct_source_ip': return f.remoteAddress || undefined;
    case 'source_port': return f.remoteAddress || f.remotePort ? String(f.remotePort) : undefined;
    // Network::Utility::isSameIpOrLoopback: a loopback peer, or the peer is this host's address.
    case 'source_type': return f.remoteAddress && (isLoopback(f.remoteAddress) || f.remoteAddress === f.localAddress) ? 'local' : undefined;
    case 'server_name': return f.serverName || undefined;
    case 'transport_protocol': return f.transportProtocol || undefined;
    // ApplicationProtocolInput: every requested protocol quoted, comma-joined: 'h2','http/1.1'.
    case 'application_protocol': return f.applicationProtocols.length ? `'${f.applicationProtocols.join("','")}'` : undefined;
  }
}

function onMatch(om: MatcherOnMatch | undefined, f: ConnectionFacts): Hit | undefined {
  if (!om) return undefined;
  return om.kind === 'chain' ? om : evaluate(om.matcher, f);
}

function predicate(p: MatcherPredicate, f: ConnectionFacts): boolean {
  switch (p.kind) {
    case 'single': {
      const v = inputValue(p.input, f);
      return v !== undefined && p.match(v);
    }
    case 'or': return p.predicates.some((x) => predicate(x, f));
    case 'and': return p.predicates.every((x) => predicate(x, f));
    case 'not': return !predicate(p.predicate, f);
  }
}

function family(addr: string): 4 | 6 | 0 {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return 4;
  return addr.includes(':') ? 6 : 0;
}

function evaluate(m: FilterChainMatcherConfig, f: ConnectionFacts): Hit | undefined {
  if (m.kind === 'any') return onMatch(m.onNoMatch, f);
  if (m.kind === 'list') {
    for (const fm of m.matchers) {
      if (!predicate(fm.predicate, f)) continue;
      const hit = onMatch(fm.onMatch, f);
      if (hit) return hit;
    }
    return onMatch(m.onNoMatch, f);
  }
  const v = inputValue(m.input, f);
  if (v === undefined) return onMatch(m.onNoMatch, f);
  if (m.exact) return onMatch(m.exact.get(v), f) ?? onMatch(m.onNoMatch, f);
  if (m.prefix) {
    let best: Array<[string, MatcherOnMatch]> = [];
    for (const e of m.prefix) if (v.startsWith(e[0])) best.push(e);
    best = best.sort((a, b) => b[0].length - a[0].length);
    for (const [, om] of best) {
      const hit = onMatch(om, f);
      if (hit) return hit;
    }
    return onMatch(m.onNoMatch, f);
  }
  if (m.ip) {
    const fam = family(v);
    if (fam === 0) return onMatch(m.onNoMatch, f);
    const bits = ipBits(v);
    const width = fam === 4 ? 32 : 128;
    // Longest prefix first (sorted at parse time); after the first candidate, exclusive ranges are skipped.
    let first = true;
    for (const r of m.ip) {
      if (r.range.family !== fam) continue;
      const mask = r.range.prefixLen === 0 ? 0n : ((1n << BigInt(r.range.prefixLen)) - 1n) << BigInt(width - r.range.prefixLen);
      if ((bits & mask) !== r.range.bits) continue;
      if (!first && r.exclusive) continue;
      const hit = onMatch(r.onMatch, f);
      if (hit) return hit;
      first = false;
    }
    return onMatch(m.onNoMatch, f);
  }
  return onMatch(m.onNoMatch, f);
}

/**
 * The chain for a connection: the matched action's chain, the fallback when
 * nothing matches, undefined (no_filter_chain_match) when there is no
 * fallback or the action names no chain.
 */
export function selectByMatcher(matcher: FilterChainMatcherConfig, fallback: FilterChainConfig | undefined, f: ConnectionFacts): FilterChainConfig | undefined {
  const hit = evaluate(matcher, f);
  if (!hit) return fallback;
  return hit.chain ?? undefined;
}
