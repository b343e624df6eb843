/**
 * Where the XdsManager's resources come from: per type, the ADS stream, a
 * non-aggregated gRPC stream of the type's own discovery service
 * (api_config_source: ListenerDiscoveryService, ClusterDiscoveryService) or
 * a watched file (path_config_source). Both feed the manager's one update
 * handler, serialised on one queue so a file's CDS and the stream's LDS are
 * never validated at the same time; the manager subscribes and asks for
 * versions through this one interface without knowing which it is.
 */
import type { ClusterConfig, NodeConfig, SocketAddress, XdsStreamSourceRef } from '../../sidecar/contracts/snapshot.ts';
import type { StatsScope } from '../../sidecar/contracts/stats.ts';
import { AdsClient, type UpdateHandler, type XdsResource } from '../ads/ads-client.ts';
import { CLUSTER, DISCOVERY_SERVICES, ENDPOINT, LISTENER, ROUTE, SECRET } from '../ads/discovery-messages.ts';
import { nodeMessage } from '../ads/node.ts';
import { typeShortName } from '../ads/resource-names.ts';
import type { ProtoJson } from '../proto/json.ts';
import type { XdsSourceConfig } from '../translate/bootstrap.ts';
import { streamSourceKey } from '../translate/config-source.ts';
import { FileSubscription } from './file-subscription.ts';

/** A source of xDS resources, as the XdsManager uses it. */
export interface ResourceSource {
  /**
   * Subscribes to a type: `'*'` for a wildcard, or the exact set of names;
   * sourceOf says which non-aggregated gRPC source a name (EDS, RDS) comes
   * from (undefined: ADS).
   */
  subscribe(typeUrl: string, names: '*' | readonly string[], sourceOf?: (name: string) => XdsStreamSourceRef | undefined): void;
  /** Why a gRPC source cannot be used (its xDS cluster), or undefined. */
  checkSource(src: XdsStreamSourceRef): string | undefined;
  /** The accepted version_info of a type. */
  version(typeUrl: string): string;
  /** Connects / reads and starts watching. */
  start(): void;
  /** Stops everything. */
  close(): void;
}

/** What the sources need. */
export interface ResourceSourceOptions {
  readonly source: XdsSourceConfig;
  /** The bootstrap's static clusters: where EDS/RDS api_config_source streams dial. */
  readonly staticClusters?: readonly ClusterConfig[];
  readonly node: NodeConfig;
  readonly version: string;
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  readonly onUpdate: UpdateHandler;
  /** Debounce of file events (tests shorten it). */
  readonly fileDebounceMs?: number;
}

/** Builds the source the bootstrap describes: ADS when ads_config is set, files for path config sources. */
export function createResourceSource(opts: ResourceSourceOptions): ResourceSource {
  return new RoutedSource(opts);
}

class RoutedSource implements ResourceSource {
  private readonly opts: ResourceSourceOptions;
  private readonly ads: AdsClient | undefined;
  private readonly files = new Map<string, FileSubscription>();
  /** Non-aggregated streams, one per type (each type has its own service). */
  private readonly grpc = new Map<string, AdsClient>();
  /** Non-aggregated EDS/RDS streams, one per distinct (type, source): `type\nsourceKey`. */
  private readonly named = new Map<string, AdsClient>();
  private readonly serialised: UpdateHandler;
  private started = false;
  private queue: Promise<unknown> = Promise.resolve();
  private warned = new Map<string, string>();

  constructor(opts: ResourceSourceOptions) {
    this.opts = opts;
    const s = opts.source;
    const serialised: UpdateHandler = (u) => {
      const p = this.queue.then(() => opts.onUpdate(u));
      this.queue = p.catch(() => undefined);
      return p;
    };
    this.serialised = serialised;
    if (s.ads) {
      this.ads = new AdsClient({
        target: s.ads.target,
        mode: s.ads.mode,
        node: nodeMessage(opts.node, opts.version),
        setNodeOnFirstMessageOnly: s.ads.setNodeOnFirstMessageOnly,
        stats: opts.stats,
        log: opts.log,
        onUpdate: serialised,
        // SDS counts per secret (sds.<name>.update_*), in the SdsManager.
        handlerCountedTypes: new Set([SECRET]),
      });
    }
    const check = this.ads ? undefined : needsNoAds;
    for (const [typeUrl, cs] of [[CLUSTER, s.cds], [LISTENER, s.lds]] as const) {
      if (cs?.kind === 'grpc') {
        const svc = DISCOVERY_SERVICES.find((x) => x.typeUrl === typeUrl)!;
        this.grpc.set(typeUrl, new AdsClient({
          target: cs.target,
          mode: cs.mode,
          paths: { sotw: `/${svc.service}/${svc.sotw!}`, delta: `/${svc.service}/${svc.delta}` },
          node: nodeMessage(opts.node, opts.version),
          setNodeOnFirstMessageOnly: cs.setNodeOnFirstMessageOnly,
          stats: opts.stats,
          log: opts.log,
          // The same validation as ADS, plus what cannot arrive without ADS.
          onUpdate: check ? (u) => { const errors = check(u.typeUrl, u.resources); return errors.length ? Promise.resolve(errors) : serialised(u); } : serialised,
        }));
        continue;
      }
      if (cs?.kind !== 'path') continue;
      this.files.set(typeUrl, new FileSubscription({
        typeUrl,
        path: cs.path,
        watchedDirectory: cs.watchedDirectory,
        onUpdate: opts.onUpdate,
        schedule: (job) => { this.queue = this.queue.then(job).catch((e: unknown) => opts.log.warn({ err: (e as Error).message }, 'config file update failed')); },
        check,
        stats: opts.stats,
        log: opts.log,
        debounceMs: opts.fileDebounceMs,
      }));
    }
  }

  checkSource(src: XdsStreamSourceRef): string | undefined {
    if (src.kind !== 'grpc') return this.ads ? undefined : 'an { ads: {} } config source needs dynamic_resources.ads_config';
    const t = this.target(src.clusterName);
    return typeof t === 'string' ? t : undefined;
  }

  /** The address of an xDS cluster (STATIC, one endpoint, plaintext), or why not. */
  private target(clusterName: string): SocketAddress | string {
    const c = this.opts.staticClusters?.find((x) => x.name === clusterName);
    if (!c) return `api_config_source: no static cluster named '${clusterName}'`;
    if (c.type !== 'STATIC' || c.endpoints.length !== 1) return `api_config_source: the xDS cluster '${clusterName}' must be a STATIC cluster with one endpoint`;
    if (c.transportSocket || c.transportSocketMatches.length) return `api_config_source: the xDS cluster '${clusterName}' has a transport socket: xDS over TLS is not supported`;
    return c.endpoints[0]!.address;
  }

  /** The stream of a (type, gRPC source), opened on first use. */
  private namedStream(typeUrl: string, src: Extract<XdsStreamSourceRef, { kind: 'grpc' }>): AdsClient | undefined {
    const key = `${typeUrl}\n${streamSourceKey(src)}`;
    const have = this.named.get(key);
    if (have) return have;
    const target = this.target(src.clusterName);
    if (typeof target === 'string') return undefined; // refused when the cluster/listener was validated
    const svc = DISCOVERY_SERVICES.find((x) => x.typeUrl === typeUrl)!;
    const c = new AdsClient({
      target,
      mode: src.mode,
      paths: { sotw: `/${svc.service}/${svc.sotw!}`, delta: `/${svc.service}/${svc.delta}` },
      node: nodeMessage(this.opts.node, this.opts.version),
      setNodeOnFirstMessageOnly: src.setNodeOnFirstMessageOnly,
      stats: this.opts.stats,
      log: this.opts.log,
      onUpdate: this.serialised,
    });
    this.named.set(key, c);
    if (this.started) c.start();
    return c;
  }

  subscribe(typeUrl: string, names: '*' | readonly string[], sourceOf?: (name: string) => XdsStreamSourceRef | undefined): void {
    if (sourceOf && names !== '*' && (typeUrl === ENDPOINT || typeUrl === ROUTE)) {
      // Names by source: each gRPC source's stream gets its names (streams no longer named get none).
      const bySource = new Map<string, string[]>();
      const adsNames: string[] = [];
      for (const n of names) {
        const src = sourceOf(n);
        if (src?.kind !== 'grpc') { adsNames.push(n); continue; }
        const stream = this.namedStream(typeUrl, src);
        if (!stream) continue;
        const key = `${typeUrl}\n${streamSourceKey(src)}`;
        bySource.set(key, [...(bySource.get(key) ?? []), n]);
      }
      for (const [key, stream] of this.named) if (key.startsWith(`${typeUrl}\n`)) stream.subscribe(typeUrl, bySource.get(key) ?? []);
      this.subscribeDefault(typeUrl, adsNames);
      return;
    }
    this.subscribeDefault(typeUrl, names);
  }

  private subscribeDefault(typeUrl: string, names: '*' | readonly string[]): void {
    if (this.files.has(typeUrl)) return; // a file always carries the whole state of its type
    const own = this.grpc.get(typeUrl);
    if (own) {
      own.subscribe(typeUrl, names);
      return;
    }
    if (this.ads) {
      this.ads.subscribe(typeUrl, names);
      return;
    }
    // Static EDS clusters or RDS listeners without ads_config: nothing can
    // deliver these; say so once per change of the set.
    const key = names === '*' ? '*' : [...names].sort().join(',');
    if (key && this.warned.get(typeUrl) !== key) {
      this.warned.set(typeUrl, key);
      this.opts.log.warn({ type: typeShortName(typeUrl), names }, 'resources needed over ADS, but dynamic_resources has no ads_config');
    }
  }

  version(typeUrl: string): string {
    const named = [...this.named].find(([k]) => k.startsWith(`${typeUrl}\n`))?.[1];
    return this.files.get(typeUrl)?.version() ?? this.grpc.get(typeUrl)?.version(typeUrl) ?? this.ads?.version(typeUrl) ?? named?.version(typeUrl) ?? '';
  }

  start(): void {
    // CDS before LDS, as Envoy initialises them: files refresh in this order on the queue.
    for (const f of this.files.values()) f.start();
    for (const c of this.grpc.values()) c.start();
    for (const c of this.named.values()) c.start();
    this.started = true;
    this.ads?.start();
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    for (const c of this.grpc.values()) c.close();
    for (const c of this.named.values()) c.close();
    this.started = false;
    this.ads?.close();
  }
}

/**
 * Without ads_config, file-delivered clusters may not be EDS (EDS is only
 * supported over ADS) and listeners may not use HCM `rds`: refused with the
 * resource named, rather than waiting forever for what cannot arrive.
 */
function needsNoAds(typeUrl: string, resources: ReadonlyMap<string, XdsResource>): string[] {
  const errors: string[] = [];
  for (const r of resources.values()) {
    const edsConfig = (r.value['eds_cluster_config'] as ProtoJson | undefined)?.['eds_config'] as ProtoJson | undefined;
    if (typeUrl === CLUSTER && (r.value['type'] === 'EDS' || r.value['eds_cluster_config'] !== undefined) && edsConfig?.['api_config_source'] === undefined) {
      errors.push(`cluster '${r.name}': EDS over { ads: {} } needs dynamic_resources.ads_config (or use an api_config_source)`);
    }
    if (typeUrl === LISTENER) {
      const chains = [...(Array.isArray(r.value['filter_chains']) ? (r.value['filter_chains'] as ProtoJson[]) : []), ...(r.value['default_filter_chain'] ? [r.value['default_filter_chain'] as ProtoJson] : [])];
      for (const fc of chains) for (const f of Array.isArray(fc['filters']) ? (fc['filters'] as ProtoJson[]) : []) {
        const rds = (f['typed_config'] as ProtoJson | undefined)?.['rds'] as ProtoJson | undefined;
        if (rds !== undefined && (rds['config_source'] as ProtoJson | undefined)?.['api_config_source'] === undefined) errors.push(`listener '${r.name}': filter '${String(f['name'])}' uses rds over { ads: {} }, which needs dynamic_resources.ads_config (or use an api_config_source)`);
      }
    }
  }
  return errors;
}
