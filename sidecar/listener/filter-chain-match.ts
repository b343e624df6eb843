/**
 * Envoy's filter chain selection: criteria are applied in Envoy's order
 * (destination port, destination IP, server name, transport protocol,
 * application protocols, direct source IP, source type, source IP, source
 * port); at each step the most specific matching value wins, and chains that
 * leave the criterion empty are the fallback. Without TLS inspection a
 * connection has no SNI and no ALPN and its transport protocol is
 * `raw_buffer`.
 */
import type { CidrRange, FilterChainConfig } from '../contracts/snapshot.ts';
import { ipBits } from '../contracts/ip-address.ts';

/** What is known about a new connection when its chain is chosen. */
export interface ConnectionFacts {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly serverName: string;
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
}

function family(addr: string): 4 | 6 {
  return addr.includes(':') && !(addr.startsWith('::ffff:') && addr.includes('.')) ? 6 : 4;
}

/** Longest matching prefix length, -1 when none matches, undefined when the list is empty. */
function bestPrefix(ranges: readonly CidrRange[], addr: string): number | undefined {
  if (ranges.length === 0) return undefined;
  if (!addr) return -1;
  const fam = family(addr);
  const bits = ipBits(addr);
  const width = fam === 4 ? 32 : 128;
  let best = -1;
  for (const r of ranges) {
    if (r.family !== fam) continue;
    const mask = r.prefixLen === 0 ? 0n : ((1n << BigInt(r.prefixLen)) - 1n) << BigInt(width - r.prefixLen);
    if ((bits & mask) === r.bits && r.prefixLen > best) best = r.prefixLen;
  }
  return best;
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

/**
 * One step of the selection: `score` is undefined for "criterion not set",
 * -1 for "set and not matching", else higher is more specific.
 */
function narrow(chains: FilterChainConfig[], score: (c: FilterChainConfig) => number | undefined): FilterChainConfig[] {
  let best = -1;
  const specific: FilterChainConfig[] = [];
  const generic: FilterChainConfig[] = [];
  for (const c of chains) {
    const s = score(c);
    if (s === undefined) generic.push(c);
    else if (s >= 0) {
      if (s > best) { best = s; specific.length = 0; }
      if (s === best) specific.push(c);
    }
  }
  return specific.length ? specific : generic;
}

function serverNameScore(names: readonly string[], sni: string): number | undefined {
  if (names.length === 0) return undefined;
  if (!sni) return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return 1000;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1)) && n.length > best) best = n.length;
  }
  return best;
}

/** Chooses the chain for a connection, or undefined (no_filter_chain_match). */
export function selectFilterChain(chains: readonly FilterChainConfig[], fallback: FilterChainConfig | undefined, f: ConnectionFacts): FilterChainConfig | undefined {
  let c = [...chains];
  c = narrow(c, (x) => (x.match.destinationPort === undefined ? undefined : x.match.destinationPort === f.localPort ? 1 : -1));
  c = narrow(c, (x) => bestPrefix(x.match.prefixRanges, f.localAddress));
  c = narrow(c, (x) => serverNameScore(x.match.serverNames, f.serverName));
  c = narrow(c, (x) => (x.match.transportProtocol ? (x.match.transportProtocol === f.transportProtocol ? 1 : -1) : undefined));
  c = narrow(c, (x) => (x.match.applicationProtocols.length ? (x.match.applicationProtocols.some((p) => f.applicationProtocols.includes(p)) ? 1 : -1) : undefined));
  c = narrow(c, (x) => bestPrefix(x.match.directSourcePrefixRanges, f.remoteAddress));
  c = narrow(c, (x) => {
    if (x.match.sourceType === 'ANY') return undefined;
    const local = isLoopback(f.remoteAddress) || f.remoteAddress === f.localAddress;
    return (x.match.sourceType === 'SAME_IP_OR_LOOPBACK') === local ? 1 : -1;
  });
  c = narrow(c, (x) => bestPrefix(x.match.sourcePrefixRanges, f.remoteAddress));
  c = narrow(c, (x) => (x.match.sourcePorts.length ? (x.match.sourcePorts.includes(f.remotePort) ? 1 : -1) : undefined));
  return c[0] ?? fallback;
}
