/**
 * Listener filter_chain_matcher (xds.type.matcher.v3.Matcher, canonical JSON)
 * -> FilterChainMatcherConfig. Envoy's matcher API as the listener uses it:
 * network inputs (envoy.extensions.matching.common_inputs.network.v3), a
 * matcher_tree (exact_match_map, prefix_match_map, custom_match IPMatcher) or
 * a matcher_list (single/or/and/not predicates), nested matchers in on_match,
 * on_no_match, and actions that are a google.protobuf.StringValue naming a
 * filter chain. What the listener cannot honour is refused with the field
 * path: other inputs (FilterStateInput, SSL inputs), other custom matchers,
 * keep_matching, other actions.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { FilterChainConfig, FilterChainMatcherConfig, MatcherIpRange, MatcherOnMatch, MatcherPredicate, NetworkMatchInput } from '../../sidecar/contracts/snapshot.ts';
import { parseCidr } from './listener.ts';
import { list, msg, str, stringMatcher, type Json } from './proto-values.ts';

const INPUT_PREFIX = 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.';

/** Network input message name -> input. */
const INPUTS: Readonly<Record<string, NetworkMatchInput>> = {
  DestinationIPInput: 'destination_ip',
  DestinationPortInput: 'destination_port',
  SourceIPInput: 'source_ip',
  SourcePortInput: 'source_port',
  DirectSourceIPInput: 'direct_source_ip',
  SourceTypeInput: 'source_type',
  ServerNameInput: 'server_name',
  TransportProtocolInput: 'transport_protocol',
  ApplicationProtocolInput: 'application_protocol',
};

const STRING_VALUE = 'type.googleapis.com/google.protobuf.StringValue';
const IP_MATCHER = 'type.googleapis.com/xds.type.matcher.v3.IPMatcher';

/** How an action's chain name is resolved, and where unresolved names are reported. */
export interface MatcherParseContext {
  /** The listener's filter chains by name. */
  readonly chains: ReadonlyMap<string, FilterChainConfig>;
  readonly warn: (e: ConfigError) => void;
}

function parseInput(v: unknown, path: string): NetworkMatchInput {
  const m = msg(v);
  if (!m) throw new ConfigError(path, 'a matcher input is required');
  const tc = msg(m['typed_config']);
  const type = str(tc?.['@type']);
  if (!type) throw new ConfigError(`${path}.typed_config`, 'a matcher input needs a typed_config');
  const input = type.startsWith(INPUT_PREFIX) ? INPUTS[type.slice(INPUT_PREFIX.length)] : undefined;
  if (input) return input;
  if (type === `${INPUT_PREFIX}FilterStateInput`) {
    throw new ConfigError(`${path}.typed_config`, 'FilterStateInput is not supported: no listener filter of this sidecar sets connection filter state before the chain is chosen');
  }
  throw new ConfigError(`${path}.typed_config`, `unsupported matcher input ${type} for filter chain matching (supported: ${Object.keys(INPUTS).join(', ')})`);
}

function parseOnMatch(v: unknown, path: string, ctx: MatcherParseContext, depth: number): MatcherOnMatch {
  const m = msg(v);
  if (!m) throw new ConfigError(path, 'on_match needs an action or a matcher');
  if (m['keep_matching'] === true) throw new ConfigError(`${path}.keep_matching`, 'keep_matching is not supported for filter chain matching (a connection gets one chain)');
  const nested = msg(m['matcher']);
  const action = msg(m['action']);
  if (nested && action) throw new ConfigError(path, 'on_match has both an action and a matcher');
  if (nested) return Object.freeze({ kind: 'matcher', matcher: parseMatcherAt(nested, `${path}.matcher`, ctx, depth + 1) });
  if (!action) throw new ConfigError(path, 'on_match needs an action or a matcher');
  const tc = msg(action['typed_config']);
  const type = str(tc?.['@type']);
  if (type !== STRING_VALUE) {
    throw new ConfigError(`${path}.action.typed_config`, `unsupported filter chain matcher action ${type || '(none)'} (the action must be a ${STRING_VALUE.slice(20)} with the filter chain name)`);
  }
  const name = str(tc?.['value']);
  const chain = ctx.chains.get(name) ?? null;
  // Envoy accepts an action naming no chain; a connection it selects gets no chain and is closed.
  if (!chain) ctx.warn(new ConfigError(`${path}.action.typed_config.value`, `no filter chain is named '${name}': connections this action selects are closed (no_filter_chain_match)`));
  return Object.freeze({ kind: 'chain', name, chain });
}

function parseMap(v: unknown, path: string, ctx: MatcherParseContext, depth: number): ReadonlyMap<string, MatcherOnMatch> {
  const map = msg(msg(v)?.['map']);
  if (!map || Object.keys(map).length === 0) throw new ConfigError(`${path}.map`, 'the match map needs at least one entry');
  return new Map(Object.entries(map).map(([k, om]) => [k, parseOnMatch(om, `${path}.map[${JSON.stringify(k)}]`, ctx, depth)] as const));
}

function parseIpMatcher(tc: Json, path: string, ctx: MatcherParseContext, depth: number): readonly MatcherIpRange[] {
  const entries: Array<MatcherIpRange & { readonly order: number }> = [];
  const rms = list(tc['range_matchers']);
  rms.forEach((rm, i) => {
    const p = `${path}.range_matchers[${i}]`;
    const ranges = list(rm['ranges']);
    if (ranges.length === 0) throw new ConfigError(`${p}.ranges`, 'a range matcher needs at least one range');
    const onMatch = parseOnMatch(rm['on_match'], `${p}.on_match`, ctx, depth);
    const exclusive = rm['exclusive'] === true;
    ranges.forEach((r, j) => entries.push({ range: parseCidr(r, `${p}.ranges[${j}]`), exclusive, onMatch, order: i }));
  });
  // Envoy's trie: candidates longest prefix first, then in declaration order.
  entries.sort((a, b) => b.range.prefixLen - a.range.prefixLen || a.order - b.order);
  return Object.freeze(entries.map(({ range, exclusive, onMatch }) => Object.freeze({ range, exclusive, onMatch })));
}

function parsePredicate(v: unknown, path: string): MatcherPredicate {
  const p = msg(v);
  if (!p) throw new ConfigError(path, 'a predicate is required');
  const single = msg(p['single_predicate']);
  if (single) {
    const sp = `${path}.single_predicate`;
    const input = parseInput(single['input'], `${sp}.input`);
    if (single['custom_match'] !== undefined) throw new ConfigError(`${sp}.custom_match`, 'custom_match in a single predicate is not supported (use value_match)');
    const match = stringMatcher(single['value_match'], `${sp}.value_match`);
    return Object.freeze({ kind: 'single', input, match });
  }
  for (const k of ['or_matcher', 'and_matcher'] as const) {
    const set = msg(p[k]);
    if (set) {
      const preds = list(set['predicate']);
      if (preds.length < 2) throw new ConfigError(`${path}.${k}.predicate`, `${k} needs at least two predicates`);
      return Object.freeze({ kind: k === 'or_matcher' ? 'or' : 'and', predicates: Object.freeze(preds.map((x, i) => parsePredicate(x, `${path}.${k}.predicate[${i}]`))) });
    }
  }
  const not = msg(p['not_matcher']);
  if (not) return Object.freeze({ kind: 'not', predicate: parsePredicate(not, `${path}.not_matcher`) });
  throw new ConfigError(path, 'a predicate needs one of single_predicate, or_matcher, and_matcher, not_matcher');
}

function parseMatcherAt(m: Json, path: string, ctx: MatcherParseContext, depth: number): FilterChainMatcherConfig {
  if (depth > 32) throw new ConfigError(path, 'matchers are nested more than 32 deep');
  const noMatch = msg(m['on_no_match']);
  const onNoMatch = noMatch ? parseOnMatch(noMatch, `${path}.on_no_match`, ctx, depth) : undefined;
  const tree = msg(m['matcher_tree']);
  const lst = msg(m['matcher_list']);
  if (tree && lst) throw new ConfigError(path, 'a matcher has either matcher_list or matcher_tree');
  if (lst) {
    const fms = list(lst['matchers']);
    if (fms.length === 0) throw new ConfigError(`${path}.matcher_list.matchers`, 'matcher_list needs at least one field matcher');
    const matchers = fms.map((fm, i) => {
      const p = `${path}.matcher_list.matchers[${i}]`;
      return Object.freeze({ predicate: parsePredicate(fm['predicate'], `${p}.predicate`), onMatch: parseOnMatch(fm['on_match'], `${p}.on_match`, ctx, depth) });
    });
    return Object.freeze({ kind: 'list', matchers: Object.freeze(matchers), onNoMatch });
  }
  if (!tree) return Object.freeze({ kind: 'any', onNoMatch });
  const tp = `${path}.matcher_tree`;
  const input = parseInput(tree['input'], `${tp}.input`);
  if (tree['exact_match_map'] !== undefined) return Object.freeze({ kind: 'tree', input, exact: parseMap(tree['exact_match_map'], `${tp}.exact_match_map`, ctx, depth), onNoMatch });
  if (tree['prefix_match_map'] !== undefined) return Object.freeze({ kind: 'tree', input, prefix: parseMap(tree['prefix_match_map'], `${tp}.prefix_match_map`, ctx, depth), onNoMatch });
  const custom = msg(tree['custom_match']);
  if (custom) {
    const tc = msg(custom['typed_config']);
    const type = str(tc?.['@type']);
    if (!tc || type !== IP_MATCHER) throw new ConfigError(`${tp}.custom_match.typed_config`, `unsupported custom matcher ${type || '(none)'} (supported: xds.type.matcher.v3.IPMatcher)`);
    return Object.freeze({ kind: 'tree', input, ip: parseIpMatcher(tc, `${tp}.custom_match.typed_config`, ctx, depth), onNoMatch });
  }
  throw new ConfigError(tp, 'matcher_tree needs one of exact_match_map, prefix_match_map, custom_match');
}

/** Compiles a filter_chain_matcher; `path` is the field's own path. */
export function parseFilterChainMatcher(m: Json, path: string, ctx: MatcherParseContext): FilterChainMatcherConfig {
  return parseMatcherAt(m, path, ctx, 0);
}
