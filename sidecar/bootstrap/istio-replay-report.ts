/**
 * Replays the xDS resources of Istio's real config dumps
 * (../shared/fixtures/istio/configdump) through the code the xDS manager uses
 * to ACK or NACK them: the proto JSON mapping (what decoding an Any does,
 * including the extension types it knows), then parseListener, parseCluster,
 * parseLoadAssignment and parseRouteTable. Renders the outcome as the
 * Markdown table kept in docs/compatibility.md between
 * `<!-- istio-replay:begin -->` and `<!-- istio-replay:end -->` (written by
 * scripts/istio-replay-table.ts, checked by tests/conformance/istio-replay.test.ts).
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ConfigErrors } from '../contracts/errors.ts';
import type { ExtensionRegistry } from '../contracts/extension.ts';
import { canonicalize } from '../../xds/proto/json.ts';
import { parseCluster, parseLoadAssignment } from '../../xds/translate/cluster.ts';
import { parseListener } from '../../xds/translate/listener.ts';
import { parseRouteTable } from '../main.ts';
import { fromFixtures } from '../paths.ts';

/** The resource kinds replayed (secrets are only counted). */
export type ReplayKind = 'Listener' | 'Cluster' | 'RouteConfiguration' | 'ClusterLoadAssignment' | 'Secret';

const TYPE_NAMES: Record<ReplayKind, string> = {
  Listener: 'envoy.config.listener.v3.Listener',
  Cluster: 'envoy.config.cluster.v3.Cluster',
  RouteConfiguration: 'envoy.config.route.v3.RouteConfiguration',
  ClusterLoadAssignment: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

/** How the xDS manager names a resource of each kind in NACK messages. */
const PATH_PREFIX: Record<ReplayKind, string> = {
  Listener: 'listener', Cluster: 'cluster', RouteConfiguration: 'route_configuration', ClusterLoadAssignment: 'cluster_load_assignment', Secret: 'secret',
};

/** One resource found in a config dump. */
export interface DumpedResource {
  /** The config dump file (base name). */
  readonly file: string;
  readonly kind: ReplayKind;
  /** `static` (from the bootstrap) or `dynamic` (from xDS). */
  readonly origin: 'static' | 'dynamic';
  readonly name: string;
  /** The resource in canonical JSON, with its `@type`. */
  readonly json: Record<string, unknown>;
}

/** The outcome of one replayed resource. */
export interface ReplayResult {
  readonly resource: DumpedResource;
  readonly ok: boolean;
  /** The NACK reasons (the first is what the xDS manager reports). */
  readonly errors: readonly ConfigError[];
  readonly warnings: readonly ConfigError[];
  /**
   * For a NACKed listener, the errors each filter chain has on its own (the
   * NACK reports only the first): what would still refuse it once the first
   * reason is gone.
   */
  readonly chainErrors: readonly ConfigError[];
}

/** The four config dump files, in table order. */
export const CONFIGDUMP_FILES = ['sidecar-listeners.yaml', 'sidecar-full.json', 'endpoints.json', 'routes-clusters.json'] as const;

/** The directory of the config dumps. */
export function configdumpDir(): string {
  return fromFixtures('istio', 'configdump');
}

type J = Record<string, unknown>;
const obj = (v: unknown): J | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as J) : undefined);
const arr = (v: unknown): J[] => (Array.isArray(v) ? (v as J[]) : []);

function listenerName(l: J): string {
  const sa = obj(obj(l['address'])?.['socket_address']);
  return typeof l['name'] === 'string' && l['name'] ? l['name'] : `${String(sa?.['address'] ?? '')}_${String(sa?.['port_value'] ?? '')}`;
}

/** Every Listener, Cluster, RouteConfiguration, ClusterLoadAssignment and Secret of one dump. */
export function resourcesOf(file: string, dump: unknown): DumpedResource[] {
  const out: DumpedResource[] = [];
  const add = (kind: ReplayKind, origin: 'static' | 'dynamic', json: J | undefined, name: string): void => {
    if (json) out.push({ file, kind, origin, name, json });
  };
  for (const c of arr(obj(dump)?.['configs'])) {
    const t = String(c['@type'] ?? '').replace(/^.*\//, '');
    switch (t) {
      case 'envoy.admin.v3.ListenersConfigDump':
        for (const s of arr(c['static_listeners'])) { const l = obj(s['listener']); if (l) add('Listener', 'static', l, listenerName(l)); }
        for (const s of arr(c['dynamic_listeners'])) {
          for (const state of ['active_state', 'warming_state', 'draining_state']) {
            const l = obj(obj(s[state])?.['listener']);
            if (l) add('Listener', 'dynamic', l, String(s['name'] ?? listenerName(l)));
          }
        }
        break;
      case 'envoy.admin.v3.ClustersConfigDump':
        for (const s of arr(c['static_clusters'])) { const x = obj(s['cluster']); add('Cluster', 'static', x, String(x?.['name'] ?? '')); }
        for (const k of ['dynamic_active_clusters', 'dynamic_warming_clusters']) {
          for (const s of arr(c[k])) { const x = obj(s['cluster']); add('Cluster', 'dynamic', x, String(x?.['name'] ?? '')); }
        }
        break;
      case 'envoy.admin.v3.RoutesConfigDump':
        for (const s of arr(c['static_route_configs'])) { const x = obj(s['route_config']); add('RouteConfiguration', 'static', x, String(x?.['name'] ?? '')); }
        for (const s of arr(c['dynamic_route_configs'])) { const x = obj(s['route_config']); add('RouteConfiguration', 'dynamic', x, String(x?.['name'] ?? '')); }
        break;
      case 'envoy.admin.v3.EndpointsConfigDump':
        for (const s of arr(c['static_endpoint_configs'])) { const x = obj(s['endpoint_config']); add('ClusterLoadAssignment', 'static', x, String(x?.['cluster_name'] ?? '')); }
        for (const s of arr(c['dynamic_endpoint_configs'])) { const x = obj(s['endpoint_config']); add('ClusterLoadAssignment', 'dynamic', x, String(x?.['cluster_name'] ?? '')); }
        break;
      case 'envoy.admin.v3.SecretsConfigDump':
        for (const s of arr(c['static_secrets'])) add('Secret', 'static', obj(s['secret']), String(s['name'] ?? ''));
        for (const k of ['dynamic_active_secrets', 'dynamic_warming_secrets']) for (const s of arr(c[k])) add('Secret', 'dynamic', obj(s['secret']), String(s['name'] ?? ''));
        break;
      default:
        break;
    }
  }
  return out;
}

/** Reads every resource of the four config dumps. */
export function loadConfigdumpResources(dir: string = configdumpDir()): DumpedResource[] {
  return CONFIGDUMP_FILES.flatMap((f) => resourcesOf(f, parseYaml(readFileSync(join(dir, f), 'utf8'), { version: '1.1' })));
}

/** The resource without its `@type` (what an Any holds). */
export function bodyOf(r: DumpedResource): J {
  const { '@type': _t, ...rest } = r.json;
  return rest;
}

/**
 * Replays one resource: decodes it as the xDS client does (unknown Any types
 * and fields are errors), then translates it as the xDS manager does.
 */
export function replayResource(r: DumpedResource, registry: ExtensionRegistry): ReplayResult {
  const prefix = `${PATH_PREFIX[r.kind]} '${r.name}'`;
  const warnings: ConfigError[] = [];
  const warn = (e: ConfigError): void => { warnings.push(e); };
  try {
    const value = canonicalize(TYPE_NAMES[r.kind], bodyOf(r));
    switch (r.kind) {
      case 'Listener': parseListener(value, prefix, registry, { path: prefix, warn }); break;
      case 'Cluster': parseCluster(value, prefix, warn, registry); break;
      case 'ClusterLoadAssignment': parseLoadAssignment(value, prefix, false, warn); break;
      case 'RouteConfiguration': parseRouteTable(value, prefix); break;
      case 'Secret': break;
    }
    return { resource: r, ok: true, errors: [], warnings, chainErrors: [] };
  } catch (e) {
    const chainErrors = r.kind === 'Listener' ? perChainErrors(r, registry) : [];
    if (e instanceof ConfigErrors) return { resource: r, ok: false, errors: e.errors.map((x) => x.under(prefix)), warnings, chainErrors };
    if (e instanceof ConfigError) return { resource: r, ok: false, errors: [e], warnings, chainErrors };
    throw e;
  }
}

/** Parses each filter chain of a listener alone (with a loopback address), collecting the first error of each. */
function perChainErrors(r: DumpedResource, registry: ExtensionRegistry): ConfigError[] {
  const body = bodyOf(r);
  const chains: Array<[string, J]> = [
    ...arr(body['filter_chains']).map((fc, i): [string, J] => [`filter_chains[${i}]`, fc]),
    ...(obj(body['default_filter_chain']) ? [['default_filter_chain', obj(body['default_filter_chain'])!] as [string, J]] : []),
  ];
  const out: ConfigError[] = [];
  for (const [where, fc] of chains) {
    const { filter_chains: _f, default_filter_chain: _d, filter_chain_matcher: _m, internal_listener: _i, use_original_dst: _u, ...rest } = body;
    const one = { ...rest, address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [fc] };
    const prefix = `listener '${r.name}'`;
    try {
      parseListener(canonicalize(TYPE_NAMES.Listener, one), prefix, registry, { path: prefix, warn: () => undefined });
    } catch (e) {
      const errs = e instanceof ConfigErrors ? e.errors.map((x) => x.under(prefix)) : e instanceof ConfigError ? [e] : [];
      if (!errs.length) throw e;
      out.push(...errs.map((x) => new ConfigError(x.path.replace(`${prefix}.filter_chains[0]`, `${prefix}.${where}`), x.reason)));
    }
  }
  return out;
}

/** Replays every resource. */
export function replayAll(registry: ExtensionRegistry, resources: readonly DumpedResource[] = loadConfigdumpResources()): ReplayResult[] {
  return resources.map((r) => replayResource(r, registry));
}

/** Plans for NACK reasons, by a pattern of the reason (first match wins). */
const PLANS: ReadonlyArray<readonly [RegExp, string]> = [
  [/DownstreamTlsContext|UpstreamTlsContext|transport_sockets\.tls/, 'TLS (protocols/tls): the field named is refused by the TLS context parser; see the TLS section'],
  [/ExtAuthz|ext_authz/, 'envoy.filters.http.ext_authz works (grpc_service/http_service check, failure_mode_allow, status_on_error, filter_enabled_metadata on the RBAC shadow result Istio\'s CUSTOM action keys on); Istio sets with_request_body, refused until HTTP filters can buffer the request body (a body hook in the filter contract); see "ext_authz" below'],
  [/internal_upstream|internal_listener|envoy_internal_address|internal listener/, 'ambient mode (internal listeners, waypoints): not planned for the sidecar'],
  [/io\.istio\.|istio\.set_internal_dst_address/, 'ambient/waypoint-only Istio filters (HBONE, peer metadata discovery): not planned for the sidecar'],
  [/ORIGINAL_DST/, 'ORIGINAL_DST clusters need SO_ORIGINAL_DST, which Node.js cannot read; planned with a native helper or the listener\'s local address'],
  [/^address: address is required/, 'internal listeners (no address, internal_listener: Istio\'s ambient/HBONE tunnels): not planned for the sidecar; a clearer reason belongs in listener.ts'],
  [/connect_matcher/, 'CONNECT termination (HBONE connect_terminate on 15008, ambient/double-HBONE): after CONNECT and upgrades land in the router'],
  [/use_original_dst/, 'virtualOutbound (15001) hands connections to the listener of their original destination: needs SO_ORIGINAL_DST (not readable from Node.js) or a TPROXY setup'],
];

/** The plan for a NACK reason. */
export function planFor(reason: string): string | undefined {
  for (const [re, plan] of PLANS) if (re.test(reason)) return plan;
  return undefined;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A reason with the resource-specific prefix removed, for grouping. */
export function reasonKey(e: ConfigError): string {
  // Field paths differ per resource only by the resource name and indices.
  const path = e.path.replace(/^(listener|cluster|route_configuration|cluster_load_assignment) '[^']*'\.?/, '').replace(/\[\d+\]/g, '[*]');
  return `${path ? `${path}: ` : ''}${e.reason}`;
}

/** The Markdown of the replay outcome. */
export function renderReplayTable(results: readonly ReplayResult[]): string {
  const kinds: ReplayKind[] = ['Listener', 'Cluster', 'RouteConfiguration', 'ClusterLoadAssignment', 'Secret'];
  const lines: string[] = [
    '| file | kind | resources | ACK | NACK | ACK with warnings |',
    '|---|---|---|---|---|---|',
  ];
  const total = { n: 0, ack: 0, nack: 0, warned: 0 };
  for (const f of CONFIGDUMP_FILES) {
    for (const k of kinds) {
      const rs = results.filter((r) => r.resource.file === f && r.resource.kind === k);
      if (rs.length === 0) continue;
      if (k === 'Secret') {
        lines.push(`| ${f} | Secret | ${rs.length} | (counted only) | | |`);
        continue;
      }
      const ack = rs.filter((r) => r.ok).length;
      const warned = rs.filter((r) => r.ok && r.warnings.length).length;
      total.n += rs.length; total.ack += ack; total.nack += rs.length - ack; total.warned += warned;
      lines.push(`| ${f} | ${k} | ${rs.length} | ${ack} | ${rs.length - ack} | ${warned} |`);
    }
  }
  lines.push(`| **all** | | ${total.n} | ${total.ack} | ${total.nack} | ${total.warned} |`);
  lines.push('');
  // One row per distinct NACK reason (the first error, which the NACK reports).
  const byReason = new Map<string, ReplayResult[]>();
  for (const r of results) {
    if (r.ok) continue;
    const key = reasonKey(r.errors[0]!);
    byReason.set(key, [...(byReason.get(key) ?? []), r]);
  }
  lines.push('| NACK reason (first error; paths relative to the resource) | resources | plan |', '|---|---|---|');
  for (const [key, rs] of [...byReason].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
    const names = rs.map((r) => `${basename(r.resource.file)}: ${r.resource.kind} ${r.resource.name}`);
    lines.push(`| ${cell(key)} | ${rs.length}: ${cell(names.join(', '))} | ${cell(planFor(key) ?? 'no plan yet')} |`);
  }
  lines.push('');
  // What else refuses the NACKed listeners, chain by chain (hidden behind the first error).
  const byChainReason = new Map<string, Set<string>>();
  for (const r of results) {
    for (const e of r.chainErrors) {
      const key = reasonKey(e).replace(/^(filter_chains\[\*\]|default_filter_chain)\./, '');
      const s2 = byChainReason.get(key) ?? new Set<string>();
      s2.add(`${r.resource.name}`);
      byChainReason.set(key, s2);
    }
  }
  lines.push('| errors of the NACKed listeners\' filter chains, each parsed alone (paths relative to the chain) | listeners | plan |', '|---|---|---|');
  for (const [key, s2] of [...byChainReason].sort((a, b) => b[1].size - a[1].size || a[0].localeCompare(b[0]))) {
    lines.push(`| ${cell(key)} | ${s2.size}: ${cell([...s2].join(', '))} | ${cell(planFor(key) ?? 'no plan yet')} |`);
  }
  lines.push('');
  // Distinct warnings of accepted resources (what they mean less than they say).
  const byWarning = new Map<string, Set<string>>();
  for (const r of results) {
    if (!r.ok) continue;
    for (const w of r.warnings) {
      const key = reasonKey(w);
      const s = byWarning.get(key) ?? new Set<string>();
      s.add(`${r.resource.kind} ${r.resource.name}`);
      byWarning.set(key, s);
    }
  }
  lines.push('| warning on ACKed resources (paths relative to the resource) | resources |', '|---|---|');
  for (const [key, s] of [...byWarning].sort((a, b) => b[1].size - a[1].size || a[0].localeCompare(b[0]))) {
    lines.push(`| ${cell(key)} | ${s.size} |`);
  }
  return lines.join('\n');
}
