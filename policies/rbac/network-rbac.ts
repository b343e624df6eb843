/**
 * The engine side of envoy.filters.network.rbac
 * (envoy.extensions.filters.network.rbac.v3.RBAC): the config parse and an
 * evaluator over the facts of one connection (no HTTP headers: header and
 * url_path rules never match, as in Envoy). The listener wiring (when to
 * evaluate, closing the connection on deny) is the network filter's; this
 * module decides and counts:
 * `<stat_prefix>.rbac.allowed|denied|shadow_allowed|shadow_denied` (Envoy
 * joins the prefix with a '.' unless it ends with one; Istio's `tcp.` gives
 * `tcp.rbac.allowed`), the shadow counters under shadow_rules_stat_prefix.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { TlsConnectionInfo } from '../../sidecar/contracts/tls.ts';
import { durationMs, msg, str, type Json } from '../../xds/translate/proto-values.ts';
import { NO_ENTRIES, peerCertificate, type RbacAttributes } from './rbac-attributes.ts';
import { evaluateRbac, parseRbac, rbacDeniedDetails, type RbacEngine } from './rbac-engine.ts';

/** Type name of the network RBAC config. */
export const NETWORK_RBAC_TYPE = 'envoy.extensions.filters.network.rbac.v3.RBAC';

/** The validated network RBAC filter config. */
export interface NetworkRbacConfig {
  /** Enforced rules; undefined when `rules` is absent (everything allowed). `rules: {}` is ALLOW-nothing: deny all. */
  readonly rules: RbacEngine | undefined;
  /** Shadow rules: evaluated and counted, never enforced. */
  readonly shadowRules: RbacEngine | undefined;
  readonly statPrefix: string;
  readonly shadowRulesStatPrefix: string;
  /**
   * ONE_TIME_ON_FIRST_BYTE (Envoy's default): decide once, when the first
   * bytes arrive; CONTINUOUS: decide again on every chunk (the attributes
   * we have do not change within a connection, so the decision does not either).
   */
  readonly enforcementType: 'ONE_TIME_ON_FIRST_BYTE' | 'CONTINUOUS';
  /** delay_deny: how long to hold a denied connection before closing it (0: at once). */
  readonly delayDenyMs: number;
}

/** Parses an envoy.extensions.filters.network.rbac.v3.RBAC (canonical JSON); throws ConfigError with the field path. */
export function parseNetworkRbac(json: Json, path: string): NetworkRbacConfig {
  for (const k of ['matcher', 'shadow_matcher']) {
    if (json[k] !== undefined) throw new ConfigError(`${path}.${k}`, 'the matcher API for RBAC is not supported; use rules / shadow_rules');
  }
  const statPrefix = str(json['stat_prefix']);
  if (!statPrefix) throw new ConfigError(`${path}.stat_prefix`, 'stat_prefix is required');
  const et = str(json['enforcement_type']) || 'ONE_TIME_ON_FIRST_BYTE';
  if (et !== 'ONE_TIME_ON_FIRST_BYTE' && et !== 'CONTINUOUS') throw new ConfigError(`${path}.enforcement_type`, `unknown enforcement type '${et}'`);
  return Object.freeze({
    rules: msg(json['rules']) ? parseRbac(json['rules'], `${path}.rules`) : undefined,
    shadowRules: msg(json['shadow_rules']) ? parseRbac(json['shadow_rules'], `${path}.shadow_rules`) : undefined,
    statPrefix,
    shadowRulesStatPrefix: str(json['shadow_rules_stat_prefix']),
    enforcementType: et,
    delayDenyMs: durationMs(json['delay_deny'], `${path}.delay_deny`) ?? 0,
  });
}

/** Envoy's statPrefixJoin: `a` + '.' + `b`, without doubling a trailing '.'. */
export function statPrefixJoin(prefix: string, token: string): string {
  if (!prefix) return token;
  return prefix.endsWith('.') ? prefix + token : `${prefix}.${token}`;
}

/** The facts of one downstream connection network RBAC looks at. */
export interface NetworkRbacConnection {
  /** The connection's remote address (after PROXY protocol): `source_ip`, `remote_ip`. */
  readonly remoteAddress: string;
  /** The physical peer (`direct_remote_ip`); remoteAddress when absent. */
  readonly directRemoteAddress?: string;
  /** The local (destination) address and port, after original_dst. */
  readonly localAddress: string;
  readonly localPort: number;
  /** SNI (tls_inspector or the terminated TLS session). */
  readonly serverName?: string;
  /** The terminated TLS session (its peer certificate feeds `authenticated`). */
  readonly tls?: TlsConnectionInfo;
  /** The verified peer principal when there is no TLS session object (tests, other transports). */
  readonly peerPrincipal?: string;
  /** Dynamic metadata by namespace, when filters before this one set some. */
  readonly metadata?: ReadonlyMap<string, unknown>;
  /** Connection filter state (`filter_state` principals). */
  readonly filterState?: ReadonlyMap<string, unknown>;
}

/** The decision on one connection. */
export interface NetworkRbacDecision {
  readonly allowed: boolean;
  /** The effective policy of the enforced rules (undefined: none matched). */
  readonly matchedPolicy: string | undefined;
  /** Envoy's termination details on deny: `rbac_access_denied_matched_policy[<id>]`. */
  readonly details: string | undefined;
  /** Shadow result, when shadow rules are configured. */
  readonly shadow: { readonly allowed: boolean; readonly matchedPolicy: string | undefined } | undefined;
}

/** RbacAttributes of a connection (no headers). */
export function connectionAttributes(c: NetworkRbacConnection): RbacAttributes {
  return {
    headers: undefined,
    destinationIp: c.localAddress,
    destinationPort: c.localPort,
    directRemoteIp: c.directRemoteAddress ?? c.remoteAddress,
    remoteIp: c.remoteAddress,
    sourceIp: c.remoteAddress,
    peer: peerCertificate(c.tls, c.peerPrincipal),
    requestedServerName: c.serverName ?? c.tls?.sni ?? '',
    metadata: c.metadata ?? NO_ENTRIES,
    filterState: c.filterState ?? NO_ENTRIES,
  };
}

/**
 * Decides connections for one validated network RBAC config and counts the
 * decisions. Built once per filter chain (stats looked up once); `evaluate`
 * per connection.
 */
export class NetworkRbacEvaluator {
  readonly config: NetworkRbacConfig;
  private readonly allowed: Counter;
  private readonly denied: Counter;
  private readonly logged: Counter;
  private readonly notLogged: Counter;
  private readonly shadowAllowed: Counter;
  private readonly shadowDenied: Counter;

  /** `stats` is the root scope; counters go under `<stat_prefix>.rbac.`. */
  constructor(config: NetworkRbacConfig, stats: StatsScope) {
    this.config = config;
    const base = statPrefixJoin(config.statPrefix, 'rbac.');
    this.allowed = stats.counter(`${base}allowed`);
    this.denied = stats.counter(`${base}denied`);
    this.logged = stats.counter(`${base}logged`);
    this.notLogged = stats.counter(`${base}not_logged`);
    this.shadowAllowed = stats.counter(`${base}${config.shadowRulesStatPrefix}shadow_allowed`);
    this.shadowDenied = stats.counter(`${base}${config.shadowRulesStatPrefix}shadow_denied`);
  }

  /** Decides one connection (shadow rules first, as Envoy does), counting the outcome. */
  evaluate(conn: NetworkRbacConnection): NetworkRbacDecision {
    const attrs = connectionAttributes(conn);
    let shadow: NetworkRbacDecision['shadow'];
    if (this.config.shadowRules) {
      const r = evaluateRbac(this.config.shadowRules, attrs);
      (r.allowed ? this.shadowAllowed : this.shadowDenied).inc();
      shadow = { allowed: r.allowed, matchedPolicy: r.matchedPolicy };
    }
    const rules = this.config.rules;
    if (!rules) return { allowed: true, matchedPolicy: undefined, details: undefined, shadow };
    const r = evaluateRbac(rules, attrs);
    if (rules.action === 'LOG') (r.logged ? this.logged : this.notLogged).inc();
    if (r.allowed) {
      this.allowed.inc();
      return { allowed: true, matchedPolicy: r.matchedPolicy, details: undefined, shadow };
    }
    this.denied.inc();
    return { allowed: false, matchedPolicy: r.matchedPolicy, details: rbacDeniedDetails(r.matchedPolicy), shadow };
  }
}
