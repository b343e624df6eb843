/**
 * The config of the Ranger HTTP filter,
 * `type.googleapis.com/themis.sidecar.filters.ranger.v1.Ranger`, sent as a
 * TypedStruct (`xds.type.v3.TypedStruct` / `udpa.type.v1.TypedStruct`)
 * whose `value` is:
 *
 *   service_name: cm_hbase                       # the Ranger service (required)
 *   admin:                                       # policies from Ranger Admin, or ...
 *     url: http://ranger-admin:6080              #   required
 *     poll_interval: 30s                         #   Ranger's pollIntervalMs (default 30 s)
 *     timeout: 10s                               #   per download (default 10 s)
 *     cache_file: /var/run/ranger/cm_hbase.json  #   last good policies, used when Admin is down at start
 *     secure: false                              #   the /secure/ download endpoints
 *     cluster_name: ""                           #   Ranger's clusterName parameter
 *     plugin_id: ""                              #   default themis-sidecar@<host>-<service>
 *     download_roles: true
 *   policy_file: /etc/ranger/cm_hbase.json       # ... or a ServicePolicies JSON file
 *   super_users: [], super_groups: []
 *   resource:                                    # how a request names a resource (one of):
 *     path: { name: path }                       #   { path: "/a/b" } from the URL path (default)
 *     segments: { prefix: /data, levels: [database, table, column] }   # /data/db/t/c
 *     static: { k: v }                           #   added to either
 *   access_type:                                 # how a request names its access (one of):
 *     methods: { GET: read, POST: write, ... }   #   default GET/HEAD/OPTIONS read, POST/PUT/PATCH/DELETE write
 *     header: x-ranger-access-type               #   from a header (trusted hops only)
 *   user:   [ { jwt_claim: sub }, { peer_principal: {} }, { header: x-forwarded-user } ]   # first found wins
 *   groups: [ { jwt_claim: groups }, { header: x-forwarded-groups, separator: "," } ]     # union
 *   roles:  [ ... as groups ... ]
 *   trusted_hops: [ { address_prefix: 10.0.0.0, prefix_len: 8 } ]   # peers whose principal headers are believed
 *   anonymous_user: ""                           # evaluate requests without a principal as this user (default: deny them)
 *   audit: { path: /dev/stdout, repo_type: 0, agent_id: themis-sidecar, cluster_name: "" }
 *   decision_cache: { max_entries: 10000, ttl: 5s }
 *
 * Headers are only read from peers in trusted_hops (none by default); from
 * any other peer they are removed before the request is forwarded, so an
 * upstream never sees a principal the sidecar did not vouch for.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import { ipBits } from '../../../../sidecar/contracts/ip-address.ts';
import { bool, durationMs, int, list, msg, str, type Json } from '../../../../xds/translate/proto-values.ts';

/** Where a principal attribute comes from. */
export type PrincipalSource =
  | { readonly kind: 'jwt_claim'; readonly claim: readonly string[] }
  | { readonly kind: 'peer_principal' }
  | { readonly kind: 'header'; readonly name: string; readonly separator: string };

/** A CIDR range as bits. */
export interface TrustedHop {
  readonly family: 4 | 6;
  readonly prefixLen: number;
  readonly bits: bigint;
}

/** The validated filter config. */
export interface RangerFilterConfig {
  readonly serviceName: string;
  readonly admin?: {
    readonly url: string;
    readonly pollIntervalMs: number;
    readonly timeoutMs: number;
    readonly cacheFile?: string;
    readonly secure: boolean;
    readonly clusterName: string;
    readonly pluginId: string;
    readonly downloadRoles: boolean;
  };
  readonly policyFile?: string;
  readonly superUsers: readonly string[];
  readonly superGroups: readonly string[];
  readonly resource:
    | { readonly kind: 'path'; readonly name: string; readonly static: Readonly<Record<string, string>> }
    | { readonly kind: 'segments'; readonly prefix: string; readonly levels: readonly string[]; readonly static: Readonly<Record<string, string>> };
  readonly accessType: { readonly kind: 'methods'; readonly methods: Readonly<Record<string, string>> } | { readonly kind: 'header'; readonly name: string };
  readonly user: readonly PrincipalSource[];
  readonly groups: readonly PrincipalSource[];
  readonly roles: readonly PrincipalSource[];
  readonly trustedHops: readonly TrustedHop[];
  /** Header names read from trusted hops only (removed from others). */
  readonly principalHeaders: readonly string[];
  readonly anonymousUser: string;
  readonly audit?: { readonly path: string; readonly repoType: number; readonly agentId: string; readonly clusterName: string };
  readonly cache: { readonly maxEntries: number; readonly ttlMs: number };
}

/** The TypedStruct type name of the config. */
export const RANGER_FILTER_TYPE = 'themis.sidecar.filters.ranger.v1.Ranger';

const DEFAULT_METHODS: Readonly<Record<string, string>> = Object.freeze({ GET: 'read', HEAD: 'read', OPTIONS: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'write' });
const TOP_FIELDS = new Set(['service_name', 'admin', 'policy_file', 'super_users', 'super_groups', 'resource', 'access_type', 'user', 'groups', 'roles', 'trusted_hops', 'anonymous_user', 'audit', 'decision_cache']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

function strings(v: unknown, path: string, errors: ConfigError[]): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    errors.push(new ConfigError(path, 'must be a list of strings'));
    return [];
  }
  return v as string[];
}

function unknownFields(o: Json, allowed: readonly string[], path: string, errors: ConfigError[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) errors.push(new ConfigError(`${path}.${k}`, 'unknown field'));
}

function parseSources(v: unknown, path: string, errors: ConfigError[], headers: string[]): PrincipalSource[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    errors.push(new ConfigError(path, 'must be a list of sources (jwt_claim, peer_principal, header)'));
    return [];
  }
  const out: PrincipalSource[] = [];
  v.forEach((s: unknown, i) => {
    const p = `${path}[${i}]`;
    const o = msg(s);
    const keys = o ? Object.keys(o).filter((k) => k !== 'separator') : [];
    if (!o || keys.length !== 1) {
      errors.push(new ConfigError(p, 'exactly one of jwt_claim, peer_principal, header is required'));
      return;
    }
    const k = keys[0]!;
    if (k === 'jwt_claim') {
      const c = str(o['jwt_claim']);
      if (!c) errors.push(new ConfigError(`${p}.jwt_claim`, 'a claim name is required'));
      else out.push({ kind: 'jwt_claim', claim: c.split('.') });
    } else if (k === 'peer_principal') {
      out.push({ kind: 'peer_principal' });
    } else if (k === 'header') {
      const name = str(o['header']).toLowerCase();
      if (!HEADER_NAME.test(name)) errors.push(new ConfigError(`${p}.header`, `'${str(o['header'])}' is not a header name`));
      else {
        out.push({ kind: 'header', name, separator: o['separator'] === undefined ? ',' : str(o['separator']) });
        headers.push(name);
      }
    } else errors.push(new ConfigError(`${p}.${k}`, 'unknown principal source (jwt_claim, peer_principal, header are)'));
  });
  return out;
}

function parseCidr(c: unknown, path: string, errors: ConfigError[]): TrustedHop | undefined {
  const o = msg(c);
  const addr = str(o?.['address_prefix']);
  const family = isIP(addr);
  if (family === 0) {
    errors.push(new ConfigError(`${path}.address_prefix`, `'${addr}' is not an IP address`));
    return undefined;
  }
  const width = family === 4 ? 32 : 128;
  const prefixLen = integer(o?.['prefix_len'], width, `${path}.prefix_len`, errors);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > width) {
    errors.push(new ConfigError(`${path}.prefix_len`, `prefix length ${String(o?.['prefix_len'])} out of range for IPv${family}`));
    return undefined;
  }
  const mask = prefixLen === 0 ? 0n : ((1n << BigInt(prefixLen)) - 1n) << BigInt(width - prefixLen);
  return { family: family as 4 | 6, prefixLen, bits: ipBits(addr) & mask };
}

/** An integer field (proto-values int), its error collected with the others. */
function integer(v: unknown, dflt: number, path: string, errors: ConfigError[]): number {
  try {
    return int(v, dflt, path);
  } catch (e) {
    errors.push(e as ConfigError);
    return dflt;
  }
}

function duration(v: unknown, path: string, dflt: number, errors: ConfigError[], min = 0): number {
  try {
    const ms = durationMs(v, path) ?? dflt;
    if (ms < min) errors.push(new ConfigError(path, `must be at least ${min / 1000}s`));
    return ms;
  } catch (e) {
    errors.push(e as ConfigError);
    return dflt;
  }
}

function staticResource(v: unknown, path: string, errors: ConfigError[]): Record<string, string> {
  if (v === undefined) return {};
  const o = msg(v);
  if (!o || Object.values(o).some((x) => typeof x !== 'string')) {
    errors.push(new ConfigError(path, 'must map resource names to strings'));
    return {};
  }
  return o as Record<string, string>;
}

/**
 * Validates the TypedStruct value. `path` names the typed_config; errors
 * point into its `value`. Throws nothing: returns every error.
 */
export function parseRangerFilter(cfg: Json, path: string): { config?: RangerFilterConfig; errors: ConfigError[] } {
  const errors: ConfigError[] = [];
  const p = `${path}.value`;
  for (const k of Object.keys(cfg)) if (!TOP_FIELDS.has(k)) errors.push(new ConfigError(`${p}.${k}`, 'unknown field'));
  const serviceName = str(cfg['service_name']);
  if (!serviceName) errors.push(new ConfigError(`${p}.service_name`, 'service_name is required'));

  let admin: RangerFilterConfig['admin'];
  const a = msg(cfg['admin']);
  const policyFile = str(cfg['policy_file']) || undefined;
  if (cfg['admin'] !== undefined && !a) errors.push(new ConfigError(`${p}.admin`, 'must be a message'));
  if (a && policyFile) errors.push(new ConfigError(p, 'admin and policy_file are exclusive'));
  if (!a && !policyFile && cfg['admin'] === undefined) errors.push(new ConfigError(p, 'one of admin or policy_file is required'));
  if (a) {
    const ap = `${p}.admin`;
    unknownFields(a, ['url', 'poll_interval', 'timeout', 'cache_file', 'secure', 'cluster_name', 'plugin_id', 'download_roles'], ap, errors);
    const url = str(a['url']);
    let ok = false;
    try {
      const u = new URL(url);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
    } catch {
      ok = false;
    }
    if (!ok) errors.push(new ConfigError(`${ap}.url`, `'${url}' is not an http(s) URL of a Ranger Admin`));
    admin = Object.freeze({
      url,
      pollIntervalMs: duration(a['poll_interval'], `${ap}.poll_interval`, 30_000, errors, 10),
      timeoutMs: duration(a['timeout'], `${ap}.timeout`, 10_000, errors, 10),
      cacheFile: str(a['cache_file']) || undefined,
      secure: bool(a['secure'], false),
      clusterName: str(a['cluster_name']),
      pluginId: (str(a['plugin_id']) || `themis-sidecar@${hostname()}-${serviceName}`).slice(0, 255),
      downloadRoles: bool(a['download_roles'], true),
    });
  }

  let resource: RangerFilterConfig['resource'] = { kind: 'path', name: 'path', static: {} };
  const r = msg(cfg['resource']);
  if (cfg['resource'] !== undefined) {
    const rp = `${p}.resource`;
    if (!r) errors.push(new ConfigError(rp, 'must be a message'));
    else {
      unknownFields(r, ['path', 'segments', 'static'], rp, errors);
      const st = staticResource(r['static'], `${rp}.static`, errors);
      if (r['path'] !== undefined && r['segments'] !== undefined) errors.push(new ConfigError(rp, 'path and segments are exclusive'));
      if (r['segments'] !== undefined) {
        const s = msg(r['segments']);
        const levels = strings(s?.['levels'], `${rp}.segments.levels`, errors);
        if (levels.length === 0) errors.push(new ConfigError(`${rp}.segments.levels`, 'at least one resource level is required'));
        const prefix = str(s?.['prefix']).replace(/\/+$/, '');
        if (prefix && !prefix.startsWith('/')) errors.push(new ConfigError(`${rp}.segments.prefix`, 'must start with /'));
        resource = { kind: 'segments', prefix, levels, static: st };
      } else {
        const name = str(msg(r['path'])?.['name']) || 'path';
        resource = { kind: 'path', name, static: st };
      }
    }
  }

  let accessType: RangerFilterConfig['accessType'] = { kind: 'methods', methods: DEFAULT_METHODS };
  const principalHeaders: string[] = [];
  const at = msg(cfg['access_type']);
  if (cfg['access_type'] !== undefined) {
    const ap = `${p}.access_type`;
    if (!at) errors.push(new ConfigError(ap, 'must be a message'));
    else {
      unknownFields(at, ['methods', 'header'], ap, errors);
      if (at['methods'] !== undefined && at['header'] !== undefined) errors.push(new ConfigError(ap, 'methods and header are exclusive'));
      if (at['header'] !== undefined) {
        const name = str(at['header']).toLowerCase();
        if (!HEADER_NAME.test(name)) errors.push(new ConfigError(`${ap}.header`, `'${str(at['header'])}' is not a header name`));
        accessType = { kind: 'header', name };
        principalHeaders.push(name);
      } else if (at['methods'] !== undefined) {
        const m = msg(at['methods']);
        if (!m || Object.values(m).some((x) => typeof x !== 'string' || x === '')) errors.push(new ConfigError(`${ap}.methods`, 'must map HTTP methods to access types'));
        else accessType = { kind: 'methods', methods: Object.freeze(Object.fromEntries(Object.entries(m as Record<string, string>).map(([k, v]) => [k.toUpperCase(), v]))) };
      }
    }
  }

  const user = parseSources(cfg['user'], `${p}.user`, errors, principalHeaders);
  const groups = parseSources(cfg['groups'], `${p}.groups`, errors, principalHeaders);
  const roles = parseSources(cfg['roles'], `${p}.roles`, errors, principalHeaders);
  if (cfg['user'] === undefined) user.push({ kind: 'jwt_claim', claim: ['sub'] }, { kind: 'peer_principal' });
  const trustedHops = list(cfg['trusted_hops']).map((c, i) => parseCidr(c, `${p}.trusted_hops[${i}]`, errors)).filter((x): x is TrustedHop => x !== undefined);

  let audit: RangerFilterConfig['audit'];
  if (cfg['audit'] !== undefined) {
    const au = msg(cfg['audit']);
    const ap = `${p}.audit`;
    if (!au) errors.push(new ConfigError(ap, 'must be a message'));
    else {
      unknownFields(au, ['path', 'repo_type', 'agent_id', 'cluster_name'], ap, errors);
      const path = str(au['path']);
      if (!path) errors.push(new ConfigError(`${ap}.path`, 'a file path or /dev/stdout is required'));
      audit = Object.freeze({ path, repoType: integer(au['repo_type'], 0, `${ap}.repo_type`, errors), agentId: str(au['agent_id']) || 'themis-sidecar', clusterName: str(au['cluster_name']) || admin?.clusterName || '' });
    }
  }
  const dc = msg(cfg['decision_cache']);
  if (dc) unknownFields(dc, ['max_entries', 'ttl'], `${p}.decision_cache`, errors);
  const maxEntries = integer(dc?.['max_entries'], 10_000, `${p}.decision_cache.max_entries`, errors);
  if (!Number.isInteger(maxEntries) || maxEntries < 0) errors.push(new ConfigError(`${p}.decision_cache.max_entries`, 'must be a non-negative integer'));
  const cache = { maxEntries, ttlMs: duration(dc?.['ttl'], `${p}.decision_cache.ttl`, 5000, errors) };

  const superUsers = strings(cfg['super_users'], `${p}.super_users`, errors);
  const superGroups = strings(cfg['super_groups'], `${p}.super_groups`, errors);
  if (cfg['anonymous_user'] !== undefined && typeof cfg['anonymous_user'] !== 'string') errors.push(new ConfigError(`${p}.anonymous_user`, 'must be a string'));
  if (errors.length) return { errors };
  return {
    errors,
    config: Object.freeze({
      serviceName,
      admin,
      policyFile,
      superUsers: Object.freeze(superUsers),
      superGroups: Object.freeze(superGroups),
      resource: Object.freeze(resource),
      accessType: Object.freeze(accessType),
      user: Object.freeze(user),
      groups: Object.freeze(groups),
      roles: Object.freeze(roles),
      trustedHops: Object.freeze(trustedHops),
      principalHeaders: Object.freeze([...new Set(principalHeaders)]),
      anonymousUser: str(cfg['anonymous_user']),
      audit,
      cache: Object.freeze(cache),
    }),
  };
}
