/**
 * Envoy's RBAC engine (envoy.config.rbac.v3.RBAC), protocol-neutral: the
 * policies map compiles into a frozen tree of permission and principal
 * matchers, evaluated against RbacAttributes. A policy matches when any
 * permission and any principal match; policies are tried in the order of
 * their names (Envoy keeps them in a std::map), and the first match is the
 * effective policy (`rbac_access_denied_matched_policy[<id>]`).
 *  - ALLOW: allowed iff some policy matches;
 *  - DENY:  allowed iff no policy matches;
 *  - LOG:   always allowed; `logged` tells whether a policy matched.
 * Everything in the proto we do not implement (CEL conditions, the matcher
 * API, sourced_metadata, uri_template, custom principals, audit logging) is
 * refused with a ConfigError naming the field: a security rule silently
 * ignored would be a hole.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { int, list, msg, str, stringMatcher, type Json } from '../../xds/translate/proto-values.ts';
import type { RbacAttributes } from './rbac-attributes.ts';
import { cidrRange, filterStateMatcher, headerMatcher, metadataMatcher, pathMatcher, type AttributeTest } from './rbac-matchers.ts';

/** Envoy's RBAC.Action. */
export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/** One node of the compiled tree: what it is (for inspection) and its test. */
export interface RbacMatcher {
  /** The Permission / Principal field it came from (`and_rules`, `header`, `authenticated` ...). */
  readonly kind: string;
  readonly children?: readonly RbacMatcher[];
  readonly matches: AttributeTest;
}

/** One compiled policy. */
export interface RbacPolicy {
  readonly name: string;
  readonly permissions: readonly RbacMatcher[];
  readonly principals: readonly RbacMatcher[];
}

/** A compiled RBAC message. */
export interface RbacEngine {
  readonly action: RbacAction;
  /** Sorted by name, as Envoy iterates them. */
  readonly policies: readonly RbacPolicy[];
}

/** The outcome of one evaluation. */
export interface RbacResult {
  readonly allowed: boolean;
  /** The first matching policy's name (undefined: none matched). */
  readonly matchedPolicy: string | undefined;
  /** LOG action: whether a policy matched (the access-log hint); false otherwise. */
  readonly logged: boolean;
}

const ANY: AttributeTest = () => true;

function node(kind: string, matches: AttributeTest, children?: readonly RbacMatcher[]): RbacMatcher {
  return Object.freeze(children ? { kind, children: Object.freeze(children), matches } : { kind, matches });
}

function and(kind: string, cs: readonly RbacMatcher[]): RbacMatcher {
  return node(kind, (a) => { for (const c of cs) if (!c.matches(a)) return false; return true; }, cs);
}

function or(kind: string, cs: readonly RbacMatcher[]): RbacMatcher {
  return node(kind, (a) => { for (const c of cs) if (c.matches(a)) return true; return false; }, cs);
}

function oneField(m: Json, fields: readonly string[], p: string, what: string): string {
  const set = Object.keys(m).filter((k) => m[k] !== undefined && m[k] !== null);
  if (set.length !== 1) throw new ConfigError(p, set.length ? `a ${what} sets exactly one rule, not ${set.join(', ')}` : `an empty ${what}: one of ${fields.join(', ')} is required`);
  return set[0]!;
}

const PERMISSION_FIELDS = ['and_rules', 'or_rules', 'any', 'header', 'url_path', 'destination_ip', 'destination_port', 'destination_port_range', 'metadata', 'not_rule', 'requested_server_name'];
const PRINCIPAL_FIELDS = ['and_ids', 'or_ids', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'url_path', 'metadata', 'filter_state', 'not_id'];

/** Fields of Permission / Principal Envoy has and we refuse, with why. */
const REFUSED: Record<string, string> = {
  matcher: 'extension matchers (Permission.matcher) are not supported',
  uri_template: 'uri_template matching is not supported',
  sourced_metadata: 'sourced_metadata is not supported',
  custom: 'custom principal extensions are not supported',
};

/** Compiles an envoy.config.rbac.v3.Permission. */
export function parsePermission(v: unknown, p: string): RbacMatcher {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'permission must be a message');
  const f = oneField(m, PERMISSION_FIELDS, p, 'permission');
  const fp = `${p}.${f}`;
  const val = m[f];
  switch (f) {
    case 'and_rules':
    case 'or_rules': {
      const rules = list(msg(val)?.['rules']).map((r, i) => parsePermission(r, `${fp}.rules[${i}]`));
      if (rules.length === 0) throw new ConfigError(`${fp}.rules`, 'at least one rule is required');
      return f === 'and_rules' ? and(f, rules) : or(f, rules);
    }
    case 'any':
      if (val !== true) throw new ConfigError(fp, 'any must be true');
      return node(f, ANY);
    case 'header': return node(f, headerMatcher(msg(val) ?? {}, fp));
    case 'url_path': return node(f, pathMatcher(msg(val) ?? {}, fp));
    case 'destination_ip': { const t = cidrRange(msg(val) ?? {}, fp); return node(f, (a) => t(a.destinationIp)); }
    case 'destination_port': {
      const port = int(val, -1, fp);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(fp, 'must be a port in [0, 65535]');
      return node(f, (a) => a.destinationPort === port);
    }
    case 'destination_port_range': {
      const r = msg(val) ?? {};
      const start = int(r['start'], 0, `${fp}.start`), end = int(r['end'], 0, `${fp}.end`);
      if (end < start) throw new ConfigError(fp, 'end must not be below start');
      return node(f, (a) => a.destinationPort >= start && a.destinationPort < end);
    }
    case 'metadata': return node(f, metadataMatcher(msg(val) ?? {}, fp));
    case 'not_rule': { const c = parsePermission(val, fp); return node(f, (a) => !c.matches(a), [c]); }
    case 'requested_server_name': { const sm = stringMatcher(val, fp); return node(f, (a) => sm(a.requestedServerName)); }
    default:
      throw new ConfigError(fp, REFUSED[f] ?? `unknown permission rule '${f}'`);
  }
}

/** Compiles an envoy.config.rbac.v3.Principal. */
export function parsePrincipal(v: unknown, p: string): RbacMatcher {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'principal must be a message');
  const f = oneField(m, PRINCIPAL_FIELDS, p, 'principal');
  const fp = `${p}.${f}`;
  const val = m[f];
  switch (f) {
    case 'and_ids':
    case 'or_ids': {
      const ids = list(msg(val)?.['ids']).map((r, i) => parsePrincipal(r, `${fp}.ids[${i}]`));
      if (ids.length === 0) throw new ConfigError(`${fp}.ids`, 'at least one id is required');
      return f === 'and_ids' ? and(f, ids) : or(f, ids);
    }
    case 'any':
      if (val !== true) throw new ConfigError(fp, 'any must be true');
      return node(f, ANY);
    case 'authenticated': {
      const am = msg(val) ?? {};
      if (am['principal_name'] === undefined) return node(f, (a) => a.peer !== undefined);
      const sm = stringMatcher(am['principal_name'], `${fp}.principal_name`);
      // Envoy: every URI SAN, then every DNS SAN, then the subject.
      return node(f, (a) => {
        const c = a.peer;
        if (!c) return false;
        for (const s of c.uriSans) if (sm(s)) return true;
        for (const s of c.dnsSans) if (sm(s)) return true;
        return sm(c.subject);
      });
    }
    case 'source_ip': { const t = cidrRange(msg(val) ?? {}, fp); return node(f, (a) => t(a.sourceIp)); }
    case 'direct_remote_ip': { const t = cidrRange(msg(val) ?? {}, fp); return node(f, (a) => t(a.directRemoteIp)); }
    case 'remote_ip': { const t = cidrRange(msg(val) ?? {}, fp); return node(f, (a) => t(a.remoteIp)); }
    case 'header': return node(f, headerMatcher(msg(val) ?? {}, fp));
    case 'url_path': return node(f, pathMatcher(msg(val) ?? {}, fp));
    case 'metadata': return node(f, metadataMatcher(msg(val) ?? {}, fp));
    case 'filter_state': return node(f, filterStateMatcher(msg(val) ?? {}, fp));
    case 'not_id': { const c = parsePrincipal(val, fp); return node(f, (a) => !c.matches(a), [c]); }
    default:
      throw new ConfigError(fp, REFUSED[f] ?? `unknown principal identifier '${f}'`);
  }
}

/** Compiles an envoy.config.rbac.v3.Policy. */
function parsePolicy(name: string, v: unknown, p: string): RbacPolicy {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'policy must be a message');
  for (const k of ['condition', 'checked_condition', 'cel_config']) {
    if (m[k] !== undefined) throw new ConfigError(`${p}.${k}`, 'CEL conditions are not supported');
  }
  const permissions = list(m['permissions']).map((x, i) => parsePermission(x, `${p}.permissions[${i}]`));
  if (permissions.length === 0) throw new ConfigError(`${p}.permissions`, 'at least one permission is required');
  const principals = list(m['principals']).map((x, i) => parsePrincipal(x, `${p}.principals[${i}]`));
  if (principals.length === 0) throw new ConfigError(`${p}.principals`, 'at least one principal is required');
  return Object.freeze({ name, permissions: Object.freeze(permissions), principals: Object.freeze(principals) });
}

/** Compiles an envoy.config.rbac.v3.RBAC message (canonical proto JSON) into a frozen engine. */
export function parseRbac(json: unknown, path: string): RbacEngine {
  const m = msg(json);
  if (!m) throw new ConfigError(path, 'RBAC rules must be a message');
  const action = (str(m['action']) || 'ALLOW') as RbacAction;
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') throw new ConfigError(`${path}.action`, `unknown action '${String(m['action'])}'`);
  if (m['audit_logging_options'] !== undefined) throw new ConfigError(`${path}.audit_logging_options`, 'RBAC audit loggers are not supported');
  const pm = msg(m['policies']) ?? {};
  const names = Object.keys(pm).sort();
  const policies = names.map((n) => parsePolicy(n, pm[n], `${path}.policies[${JSON.stringify(n)}]`));
  return Object.freeze({ action, policies: Object.freeze(policies) });
}

/** Evaluates an engine against one request's / connection's attributes. */
export function evaluateRbac(engine: RbacEngine, a: RbacAttributes): RbacResult {
  let matched: string | undefined;
  for (const pol of engine.policies) {
    let perm = false;
    for (const x of pol.permissions) if (x.matches(a)) { perm = true; break; }
    if (!perm) continue;
    let prin = false;
    for (const x of pol.principals) if (x.matches(a)) { prin = true; break; }
    if (prin) { matched = pol.name; break; }
  }
  switch (engine.action) {
    case 'ALLOW': return { allowed: matched !== undefined, matchedPolicy: matched, logged: false };
    case 'DENY': return { allowed: matched === undefined, matchedPolicy: matched, logged: false };
    default: return { allowed: true, matchedPolicy: matched, logged: matched !== undefined };
  }
}

/**
 * Envoy's response code details for a denial:
 * `rbac_access_denied_matched_policy[<id>]` (`[none]` when no policy
 * matched), whitespace in the id replaced by '_'.
 */
export function rbacDeniedDetails(matchedPolicy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${matchedPolicy === undefined ? 'none' : matchedPolicy.replace(/\s/g, '_')}]`;
}
