/**
 * envoy.config.bootstrap.v3.Bootstrap (canonical JSON) -> the first config
 * snapshot: node, admin, static listeners and clusters, runtime, stats tags.
 * Every unsupported feature that would change behaviour is an error with its
 * field path; features that are safe to skip are warnings. All errors are
 * collected, so one run reports everything wrong with a file.
 */
import { ConfigError, ConfigErrors } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, ParseContext } from '../../sidecar/contracts/extension.ts';
import type { ClusterConfig, ListenerConfig, NodeConfig, SocketAddress } from '../../sidecar/contracts/snapshot.ts';
import type { SecretMaterial } from '../../sidecar/contracts/transport-socket.ts';
import { parseAddress } from './address.ts';
import { parseCluster } from './cluster.ts';
import { parseListener } from './listener.ts';
import { durationMs, list, msg, str, type Json } from './proto-values.ts';
import { parseGrpcApiConfigSource } from './config-source.ts';

/** A `stats_config.stats_tags` entry. */
export interface StatsTagConfig {
  readonly tagName: string;
  readonly regex?: string;
  readonly fixedValue?: string;
}

/** The ADS stream (dynamic_resources.ads_config). */
export interface AdsSourceConfig {
  readonly mode: 'sotw' | 'delta';
  /** The static cluster that reaches the management server. */
  readonly clusterName: string;
  readonly target: SocketAddress;
  readonly setNodeOnFirstMessageOnly: boolean;
}

/**
 * Where one resource type comes from: the ADS stream, or a file holding a
 * DiscoveryResponse (`path_config_source`, or the deprecated `path`), watched
 * for moves into place (and in-place writes) in its directory, or in
 * `watched_directory` when given.
 */
export type ConfigSourceConfig =
  | { readonly kind: 'ads' }
  | { readonly kind: 'path'; readonly path: string; readonly watchedDirectory?: string }
  | GrpcSourceConfig;

/**
 * A non-aggregated gRPC source (`api_config_source`, api_type GRPC or
 * DELTA_GRPC, one envoy_grpc service): its own stream to the type's
 * discovery service (ListenerDiscoveryService, ClusterDiscoveryService)
 * on a STATIC cluster with one endpoint, as ads_config requires.
 */
export interface GrpcSourceConfig {
  readonly kind: 'grpc';
  readonly mode: 'sotw' | 'delta';
  readonly clusterName: string;
  readonly target: SocketAddress;
  readonly setNodeOnFirstMessageOnly: boolean;
}

type ParsedSource = Exclude<ConfigSourceConfig, GrpcSourceConfig> | Omit<GrpcSourceConfig, 'target'>;

/** Where dynamic configuration comes from (dynamic_resources). */
export interface XdsSourceConfig {
  /** The ADS stream, when ads_config is set. */
  readonly ads?: AdsSourceConfig;
  /** 0 waits forever (Istio's setting); Envoy's default is 15 s. */
  readonly initialFetchTimeoutMs: number;
  readonly lds?: ConfigSourceConfig;
  readonly cds?: ConfigSourceConfig;
}

/** Parses ads_config: GRPC or DELTA_GRPC with one envoy_grpc service. */
function parseAdsConfig(ads: Json, path: string): Omit<AdsSourceConfig, 'target'> {
  return parseGrpcApiConfigSource(ads, path);
}

/** Config source fields that say nothing about where resources come from. */
const CONFIG_SOURCE_OPTIONS = new Set(['resource_api_version', 'initial_fetch_timeout', 'authorities']);

/** dynamic_resources before the xDS clusters' addresses are resolved. */
interface ParsedDynamicResources {
  readonly ads?: Omit<AdsSourceConfig, 'target'>;
  readonly initialFetchTimeoutMs: number;
  readonly lds?: ParsedSource;
  readonly cds?: ParsedSource;
}

/**
 * Parses dynamic_resources: lds_config/cds_config `{ ads: {} }` (which needs
 * ads_config), `{ api_config_source: { api_type: GRPC | DELTA_GRPC,
 * grpc_services: [{ envoy_grpc }] } }` (a non-aggregated stream),
 * `{ path_config_source: { path, watched_directory } }` or the deprecated
 * `{ path }`. REST api_config_source and xdstp locators are refused.
 */
function parseDynamicResources(d: Json, path: string, warn: (e: ConfigError) => void): ParsedDynamicResources {
  const adsJson = msg(d['ads_config']);
  const ads = adsJson ? parseAdsConfig(adsJson, `${path}.ads_config`) : undefined;
  let initialFetchTimeoutMs = 15_000;
  const source = (k: string): ParsedSource | undefined => {
    const cs = msg(d[k]);
    if (!cs) return undefined;
    const t = durationMs(cs['initial_fetch_timeout'], `${path}.${k}.initial_fetch_timeout`);
    if (t !== undefined) initialFetchTimeoutMs = t;
    if (cs['ads'] !== undefined) {
      if (!ads) throw new ConfigError(`${path}.${k}.ads`, 'an { ads: {} } config source needs dynamic_resources.ads_config');
      return { kind: 'ads' };
    }
    const acs = msg(cs['api_config_source']);
    if (acs) return { kind: 'grpc', ...parseAdsConfig(acs, `${path}.${k}.api_config_source`) };
    const pcs = msg(cs['path_config_source']);
    if (pcs) {
      const file = str(pcs['path']);
      if (!file) throw new ConfigError(`${path}.${k}.path_config_source.path`, 'path is required');
      const wd = msg(pcs['watched_directory']);
      if (wd && !str(wd['path'])) throw new ConfigError(`${path}.${k}.path_config_source.watched_directory.path`, 'path is required');
      return wd ? { kind: 'path', path: file, watchedDirectory: str(wd['path']) } : { kind: 'path', path: file };
    }
    if (str(cs['path'])) {
      warn(new ConfigError(`${path}.${k}.path`, 'deprecated: use path_config_source { path }'));
      return { kind: 'path', path: str(cs['path']) };
    }
    const kinds = Object.keys(cs).filter((x) => !CONFIG_SOURCE_OPTIONS.has(x));
    throw new ConfigError(`${path}.${k}`, `only { ads: {} }, api_config_source (GRPC, DELTA_GRPC), path_config_source and path config sources are supported (${kinds.join(', ') || 'none'} is not)`);
  };
  const lds = source('lds_config');
  const cds = source('cds_config');
  if (d['lds_resources_locator'] !== undefined || d['cds_resources_locator'] !== undefined) throw new ConfigError(path, 'xdstp resource locators are not supported');
  return { ads, initialFetchTimeoutMs, lds, cds };
}

/** The first snapshot, built from the bootstrap. */
export interface BootstrapSnapshot {
  /** Dynamic configuration source, when the bootstrap has dynamic_resources. */
  readonly xds?: XdsSourceConfig;
  readonly bootstrap: Json;
  readonly node: NodeConfig;
  readonly admin?: SocketAddress;
  readonly listeners: readonly ListenerConfig[];
  readonly clusters: readonly ClusterConfig[];
  /** static_resources.secrets. */
  readonly secrets: readonly SecretMaterial[];
  readonly runtime: Readonly<Record<string, unknown>>;
  readonly statsTags: readonly StatsTagConfig[];
  readonly useAllDefaultTags: boolean;
  readonly warnings: readonly ConfigError[];
}

/** Overrides from the command line (--service-node etc.). */
export interface NodeOverrides {
  readonly serviceNode?: string;
  readonly serviceCluster?: string;
  readonly serviceZone?: string;
}

/** Top-level Bootstrap fields that are accepted, with what they mean here. */
const WARN_FIELDS: Record<string, string> = {
  stats_sinks: 'stats sinks are not implemented; stats are served by the admin API only',
  stats_flush_interval: 'no stats sinks, nothing to flush',
  tracing: 'tracing is not implemented yet',
  overload_manager: 'the overload manager is not implemented yet; no load shedding',
  watchdog: 'watchdogs are not implemented',
  watchdogs: 'watchdogs are not implemented',
  hds_config: 'health discovery service is not implemented',
  flags_path: 'flags files are not read',
  cluster_manager: 'cluster manager options are not applied',
  enable_dispatcher_stats: 'dispatcher stats are not kept',
  header_prefix: 'the x-envoy header prefix cannot be changed',
  stats_server_version_override: 'not applied',
  use_tcp_for_dns_lookups: 'the system resolver is used',
  dns_resolution_config: 'the system resolver is used',
  typed_dns_resolver_config: 'the system resolver is used',
  application_log_config: 'not applied; application logs are JSON lines (pino)',
  stats_flush_on_admin: 'no stats sinks, nothing to flush',
  default_regex_engine: 'regexes are compiled as JavaScript RegExp with RE2 syntax conversion',
  perf_tracing_file_path: 'not applied',
  memory_allocator_manager: 'not applied',
  default_socket_interface: 'not applied',
  inline_headers: 'not applied',
  certificate_provider_instances: 'not applied (TLS comes with the TLS issue)',
  xds_delegate_extension: 'not applied',
  xds_config_tracker_extension: 'not applied',
  listener_manager: 'not applied',
  grpc_async_client_manager_config: 'not applied',
  node_context_params: 'not applied',
  fatal_actions: 'not applied',
};

/** Builds the snapshot; throws ConfigErrors with every reason. */
export function translateBootstrap(b: Json, registry: ExtensionRegistry, overrides: NodeOverrides = {}): BootstrapSnapshot {
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const ctx = (path: string): ParseContext => ({ path, warn: (e) => warnings.push(e) });
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConfigError) errors.push(e);
      else if (e instanceof ConfigErrors) errors.push(...e.errors);
      else throw e;
      return undefined;
    }
  };

  for (const [k, why] of Object.entries(WARN_FIELDS)) if (b[k] !== undefined) warnings.push(new ConfigError(k, why));
  const dyn = msg(b['dynamic_resources']);
  const xds = dyn && Object.keys(dyn).length ? attempt(() => parseDynamicResources(dyn, 'dynamic_resources', (w) => warnings.push(w))) : undefined;
  for (const k of ['bootstrap_extensions', 'config_sources']) {
    list(b[k]).forEach((e, i) => {
      const tc = msg(e['typed_config']);
      const t = str(tc?.['type_url']) || str(tc?.['@type']) || str(e['name']);
      // Internal listeners are refused where a listener uses them; enabling
      // the feature alone changes nothing.
      if (k === 'bootstrap_extensions' && t.endsWith('envoy.extensions.bootstrap.internal_listener.v3.InternalListener')) {
        warnings.push(new ConfigError(`${k}[${i}]`, 'internal listeners are not supported; a listener with an envoy_internal_address is refused'));
        return;
      }
      errors.push(new ConfigError(`${k}[${i}]`, `unsupported extension '${t}' (${str(e['name'])})`));
    });
  }

  const nodeJson = msg(b['node']) ?? {};
  const node: NodeConfig = Object.freeze({
    id: overrides.serviceNode ?? str(nodeJson['id']),
    cluster: overrides.serviceCluster ?? str(nodeJson['cluster']),
    zone: overrides.serviceZone ?? str(msg(nodeJson['locality'])?.['zone']),
    metadata: Object.freeze(msg(nodeJson['metadata']) ?? {}),
  });

  const adminJson = msg(b['admin']);
  let admin: SocketAddress | undefined;
  if (adminJson && adminJson['address'] !== undefined) {
    admin = attempt(() => parseAddress(msg(adminJson['address']), 'admin.address'));
    if (adminJson['access_log'] !== undefined || adminJson['access_log_path'] !== undefined) warnings.push(new ConfigError('admin.access_log', 'admin access logs are not written'));
  }

  const sr = msg(b['static_resources']) ?? {};
  const secrets: SecretMaterial[] = [];
  list(sr['secrets']).forEach((j, i) => {
    const path = `static_resources.secrets[${i}]`;
    const parse = registry.secretParser;
    if (!parse) return errors.push(new ConfigError(path, 'secrets need the TLS extension, which this build lacks'));
    const r = parse(j, path, 'static');
    if (!r.ok) return errors.push(...r.errors);
    if (secrets.some((x) => x.name === r.config.name)) return errors.push(new ConfigError(`${path}.name`, `duplicate secret name '${r.config.name}'`));
    secrets.push(r.config);
  });
  const clusters: ClusterConfig[] = [];
  const clusterNames = new Set<string>();
  // Names as written, so a route naming a cluster that failed to parse is
  // not reported twice.
  const writtenClusterNames = new Set(list(sr['clusters']).map((c) => str(c['name'])));
  list(sr['clusters']).forEach((c, i) => {
    const cfg = attempt(() => parseCluster(c, `static_resources.clusters[${i}]`, (w) => warnings.push(w), registry));
    if (!cfg) return;
    if (clusterNames.has(cfg.name)) errors.push(new ConfigError(`static_resources.clusters[${i}].name`, `duplicate cluster name '${cfg.name}'`));
    clusterNames.add(cfg.name);
    clusters.push(cfg);
  });
  const listeners: ListenerConfig[] = [];
  const listenerNames = new Set<string>();
  list(sr['listeners']).forEach((l, i) => {
    const path = `static_resources.listeners[${i}]`;
    const cfg = attempt(() => parseListener(l, path, registry, ctx(path)));
    if (!cfg) return;
    if (listenerNames.has(cfg.name)) errors.push(new ConfigError(`${path}.name`, `duplicate listener name '${cfg.name}'`));
    listenerNames.add(cfg.name);
    listeners.push(cfg);
    // validate_clusters (default true for a static route_config): its routes may only name
    // clusters the bootstrap defines; `false` defers that to request time (503 NC), as Envoy.
    cfg.filterChains.forEach((fc, j) => fc.filters.forEach((f, k) => {
      const hcm = f.config as { routeConfig?: { referencedClusters: readonly string[] }; rawRouteConfig?: Json };
      if (hcm.rawRouteConfig?.['validate_clusters'] === false) return;
      for (const name of hcm.routeConfig?.referencedClusters ?? []) {
        if (!writtenClusterNames.has(name)) {
          errors.push(new ConfigError(`${path}.filter_chains[${j}].filters[${k}]`, `route references unknown cluster '${name}'`));
        }
      }
    }));
  });

  const runtime: Record<string, unknown> = {};
  const lr = msg(b['layered_runtime']);
  for (const layer of list(lr?.['layers'])) {
    const sl = msg(layer['static_layer']);
    if (sl) Object.assign(runtime, sl);
    else if (layer['disk_layer'] !== undefined) warnings.push(new ConfigError('layered_runtime', `disk runtime layer '${str(layer['name'])}' is not read`));
    else if (layer['rtds_layer'] !== undefined) warnings.push(new ConfigError('layered_runtime', `RTDS layer '${str(layer['name'])}' needs xDS, not implemented yet`));
  }
  if (b['runtime'] !== undefined) Object.assign(runtime, msg(b['runtime']) ?? {});

  const sc = msg(b['stats_config']) ?? {};
  const statsTags = list(sc['stats_tags']).map((t) => Object.freeze({
    tagName: str(t['tag_name']),
    regex: typeof t['regex'] === 'string' ? t['regex'] : undefined,
    fixedValue: typeof t['fixed_value'] === 'string' ? t['fixed_value'] : undefined,
  }));
  if (sc['stats_matcher'] !== undefined) warnings.push(new ConfigError('stats_config.stats_matcher', 'stats are not filtered by stats_matcher'));
  if (sc['histogram_bucket_settings'] !== undefined) warnings.push(new ConfigError('stats_config.histogram_bucket_settings', 'default buckets are used'));

  // The xDS clusters (ads_config, api_config_source): STATIC, one endpoint, plaintext.
  const xdsTarget = (clusterName: string, field: string): SocketAddress | undefined => {
    const c = clusters.find((x) => x.name === clusterName);
    if (!c) errors.push(new ConfigError(field, `no static cluster named '${clusterName}'`));
    else if (c.type !== 'STATIC' || c.endpoints.length !== 1) errors.push(new ConfigError(field, `the xDS cluster '${clusterName}' must be a STATIC cluster with one endpoint`));
    // The gRPC client dials plaintext (TCP or a Unix socket): refuse TLS rather than silently dropping it.
    else if (c.transportSocket || c.transportSocketMatches.length) errors.push(new ConfigError(field, `the xDS cluster '${clusterName}' has a transport socket: xDS over TLS is not supported (plaintext over TCP or a Unix socket only, as Istio's pilot-agent XDS proxy is reached)`));
    else return c.endpoints[0]!.address;
    return undefined;
  };
  const adsParsed = xds?.ads;
  const adsTarget = adsParsed ? xdsTarget(adsParsed.clusterName, 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name') : undefined;
  const ads: AdsSourceConfig | undefined = adsParsed && adsTarget ? Object.freeze({ ...adsParsed, target: adsTarget }) : undefined;
  const resolve = (cs: ParsedSource | undefined, k: string): ConfigSourceConfig | undefined => {
    if (cs?.kind !== 'grpc') return cs;
    const target = xdsTarget(cs.clusterName, `dynamic_resources.${k}.api_config_source.grpc_services[0].envoy_grpc.cluster_name`);
    return target ? Object.freeze({ ...cs, target }) : undefined;
  };
  const lds = resolve(xds?.lds, 'lds_config');
  const cds = resolve(xds?.cds, 'cds_config');
  if (errors.length) throw new ConfigErrors(errors);
  return Object.freeze({
    xds: xds ? Object.freeze({ initialFetchTimeoutMs: xds.initialFetchTimeoutMs, ads, lds, cds }) : undefined,
    bootstrap: b,
    node,
    admin,
    listeners: Object.freeze(listeners),
    clusters: Object.freeze(clusters),
    secrets: Object.freeze(secrets),
    runtime: Object.freeze(runtime),
    statsTags: Object.freeze(statsTags),
    useAllDefaultTags: sc['use_all_default_tags'] !== false,
    warnings: Object.freeze(warnings),
  });
}
