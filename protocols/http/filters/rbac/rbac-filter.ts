/**
 * envoy.filters.http.rbac (envoy.extensions.filters.http.rbac.v3.RBAC):
 * the protocol-neutral engine of policies/rbac applied to each request.
 * Shadow rules run first and are only counted (and their result written to
 * the stream's metadata under `envoy.filters.http.rbac`, with Envoy's field
 * names prefixed by shadow_rules_stat_prefix, as Istio's dry-run tags read
 * them); the enforced rules then allow the request or answer 403
 * `RBAC: access denied` with details `rbac_access_denied_matched_policy[<id>]`
 * (gRPC: PERMISSION_DENIED, by the router's local-reply mapping).
 * Stats, under `http.<stat_prefix>.rbac.`: `<rules_stat_prefix>allowed`,
 * `denied`, `logged`, `not_logged`, `<shadow_rules_stat_prefix>shadow_allowed`,
 * `shadow_denied`. The matcher API (`matcher`, `shadow_matcher`) and
 * per-rule stats are refused; per-route RBACPerRoute is refused by the route
 * parser (typed_per_filter_config).
 *
 * Where it sits: after jwt_authn when policies read its payload metadata,
 * before the router.
 */
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';
import { Continue, StopIteration, type FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterCallbacks } from '../../../../sidecar/contracts/http-filter.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import { msg, str, type Json } from '../../../../xds/translate/proto-values.ts';
import { peerCertificate, type RbacAttributes } from '../../../../policies/rbac/rbac-attributes.ts';
import { evaluateRbac, parseRbac, rbacDeniedDetails, type RbacEngine } from '../../../../policies/rbac/rbac-engine.ts';

const TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';
/** The filter's name, also its dynamic-metadata namespace. */
export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
/**
 * Filter-state key under which the connection manager may publish the
 * downstream remote address it derived (XFF with xff_num_trusted_hops);
 * `remote_ip` uses it when present.
 */
export const DOWNSTREAM_REMOTE_ADDRESS_KEY = 'envoy.downstream.remote_address';

/** The validated filter config. */
export interface HttpRbacConfig {
  readonly rules: RbacEngine | undefined;
  readonly shadowRules: RbacEngine | undefined;
  readonly rulesStatPrefix: string;
  readonly shadowRulesStatPrefix: string;
}

/** Parses the HTTP RBAC filter proto (canonical JSON); throws ConfigError with the field path. */
export function parseHttpRbac(cfg: Json, path: string): HttpRbacConfig {
  for (const k of ['matcher', 'shadow_matcher']) {
    if (cfg[k] !== undefined) throw new ConfigError(`${path}.${k}`, 'the matcher API for RBAC is not supported; use rules / shadow_rules');
  }
  if (cfg['track_per_rule_stats'] === true) throw new ConfigError(`${path}.track_per_rule_stats`, 'per-rule stats are not supported');
  return Object.freeze({
    rules: msg(cfg['rules']) ? parseRbac(cfg['rules'], `${path}.rules`) : undefined,
    shadowRules: msg(cfg['shadow_rules']) ? parseRbac(cfg['shadow_rules'], `${path}.shadow_rules`) : undefined,
    rulesStatPrefix: str(cfg['rules_stat_prefix']),
    shadowRulesStatPrefix: str(cfg['shadow_rules_stat_prefix']),
  });
}

function lastValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/**
 * The downstream remote address as Envoy's connection manager derives it by
 * default (use_remote_address false, no trusted hops): the last
 * X-Forwarded-For entry, else the peer. A value the connection manager
 * published in filter state wins.
 */
export function downstreamRemoteAddress(headers: HeaderMap, cb: HttpFilterCallbacks): string {
  const published = cb.filterState.get(DOWNSTREAM_REMOTE_ADDRESS_KEY);
  if (typeof published === 'string') return published;
  const xff = lastValue(headers['x-forwarded-for']);
  if (xff) {
    const last = xff.slice(xff.lastIndexOf(',') + 1).trim();
    if (last) return last;
  }
  return cb.connection.remoteAddress;
}

/** The attributes of one request. */
export function requestAttributes(headers: HeaderMap, cb: HttpFilterCallbacks): RbacAttributes {
  const c = cb.connection;
  return {
    headers,
    destinationIp: c.localAddress,
    destinationPort: c.localPort,
    directRemoteIp: c.remoteAddress,
    remoteIp: downstreamRemoteAddress(headers, cb),
    sourceIp: c.remoteAddress,
    peer: peerCertificate(c.tls, c.peerPrincipal),
    requestedServerName: c.tls?.sni ?? '',
    metadata: cb.filterState,
    filterState: cb.filterState,
  };
}

interface Stats {
  allowed: Counter;
  denied: Counter;
  logged: Counter;
  notLogged: Counter;
  shadowAllowed: Counter;
  shadowDenied: Counter;
}

/** Merges fields into a metadata namespace kept in filter state. */
function setMetadata(cb: HttpFilterCallbacks, ns: string, fields: Record<string, unknown>): void {
  const prev = cb.filterState.get(ns);
  cb.filterState.set(ns, typeof prev === 'object' && prev !== null ? { ...(prev as object), ...fields } : fields);
}

class RbacFilter implements HttpFilter {
  private readonly cfg: HttpRbacConfig;
  private readonly cb: HttpFilterCallbacks;
  private readonly stats: Stats;

  constructor(cfg: HttpRbacConfig, cb: HttpFilterCallbacks, stats: Stats) {
    this.cfg = cfg;
    this.cb = cb;
    this.stats = stats;
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cfg = this.cfg;
    if (!cfg.rules && !cfg.shadowRules) return Continue;
    const attrs = requestAttributes(headers, this.cb);
    if (cfg.shadowRules) {
      const r = evaluateRbac(cfg.shadowRules, attrs);
      (r.allowed ? this.stats.shadowAllowed : this.stats.shadowDenied).inc();
      const p = cfg.shadowRulesStatPrefix;
      const fields: Record<string, unknown> = { [`${p}shadow_engine_result`]: r.allowed ? 'allowed' : 'denied' };
      if (r.matchedPolicy !== undefined) fields[`${p}shadow_effective_policy_id`] = r.matchedPolicy;
      setMetadata(this.cb, RBAC_FILTER_NAME, fields);
    }
    const rules = cfg.rules;
    if (!rules) return Continue;
    const r = evaluateRbac(rules, attrs);
    if (rules.action === 'LOG') {
      (r.logged ? this.stats.logged : this.stats.notLogged).inc();
      setMetadata(this.cb, 'envoy.common', { access_log_hint: r.logged });
    }
    if (r.allowed) {
      this.stats.allowed.inc();
      return Continue;
    }
    this.stats.denied.inc();
    this.cb.sendLocalReply({ status: 403, body: 'RBAC: access denied', details: rbacDeniedDetails(r.matchedPolicy) });
    return StopIteration;
  }
}

/** Registers envoy.filters.http.rbac. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<HttpRbacConfig> = {
    category: 'envoy.filters.http',
    names: [RBAC_FILTER_NAME],
    typeNames: [TYPE],
    parse(cfg, ctx): ParseResult<HttpRbacConfig> {
      try {
        return { ok: true, config: parseHttpRbac(cfg, ctx.path) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config, rt) {
      const s = rt.stats.scope('rbac');
      const stats: Stats = {
        allowed: s.counter(`${config.rulesStatPrefix}allowed`),
        denied: s.counter(`${config.rulesStatPrefix}denied`),
        logged: s.counter(`${config.rulesStatPrefix}logged`),
        notLogged: s.counter(`${config.rulesStatPrefix}not_logged`),
        shadowAllowed: s.counter(`${config.shadowRulesStatPrefix}shadow_allowed`),
        shadowDenied: s.counter(`${config.shadowRulesStatPrefix}shadow_denied`),
      };
      return { name: RBAC_FILTER_NAME, create: (cb) => new RbacFilter(config, cb, stats) };
    },
  };
  registry.register(ext);
}
