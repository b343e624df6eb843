/**
 * SDS: the secrets listeners and clusters name, fetched by name where their
 * sds_config says (sds-refs.ts): over the ADS stream (`{ ads: {} }`), or
 * over a SecretDiscoveryService stream (StreamSecrets, or DeltaSecrets for
 * DELTA_GRPC) to a static cluster, one stream per distinct ConfigSource,
 * reusing the ADS client (ACK/NACK, reconnect with jittered back-off,
 * resubscription). Each Secret is validated by the registered Secret parser
 * and by the sink (a key that does not match its certificate, an expired
 * certificate); a bad one is NACKed naming it while the last good one keeps
 * serving. Stats are Envoy's SdsApi ones, per secret: `sds.<name>.update_attempt`,
 * `update_success`, `update_rejected`, `init_fetch_timeout`, and
 * `sds.<name>.control_plane.connected_state` for a non-aggregated stream.
 * Readiness (listener warming, the initial fetch): a secret is settled once
 * it arrived, its first update was rejected, or its source's
 * initial_fetch_timeout elapsed (Envoy's SdsApi init target).
 */
import type { SecretParser } from '../../sidecar/contracts/extension.ts';
import type { ClusterConfig, NodeConfig } from '../../sidecar/contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { SecretMaterial } from '../../sidecar/contracts/transport-socket.ts';
import { AdsClient, type TypeUpdate } from '../ads/ads-client.ts';
import { SDS_DELTA_PATH, SDS_SOTW_PATH, SECRET } from '../ads/discovery-messages.ts';
import { nodeMessage } from '../ads/node.ts';
import type { ProtoJson } from '../proto/json.ts';
import { AdsNames, InitialFetches } from './per-name-subscription.ts';
import { sdsTarget, type SdsRef, type SdsSource } from './sds-refs.ts';

/** Where accepted secrets go (the server's secret store, behind a material check). */
export interface SecretSink {
  /** Stores a secret; returns why it is refused (key and certificate do not match, expired ...), or undefined. */
  apply(material: SecretMaterial): string | undefined;
  /** Forgets a secret nothing needs any more. */
  remove(name: string): void;
}

/** Options of the manager. */
export interface SdsManagerOptions {
  /** Bootstrap clusters: SDS streams go to STATIC ones. */
  readonly staticClusters: readonly ClusterConfig[];
  /** Names of static_resources.secrets (a reference without sds_config must name one). */
  readonly staticSecretNames: ReadonlySet<string>;
  readonly node: NodeConfig;
  readonly version: string;
  /** The registered Secret parser (undefined when the build has no TLS). */
  readonly parser: SecretParser | undefined;
  readonly sink: SecretSink;
  /** dynamic_resources.ads_config is set (the ADS stream attaches later, in XdsManager.start). */
  readonly adsAvailable: boolean;
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Reconnect back-off of SDS streams (tests shorten it). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

/** One dynamic secret for /config_dump (SecretsConfigDump.DynamicSecret). */
export interface DynamicSecretView {
  readonly name: string;
  /** `uninitialized` while warming, as Envoy. */
  readonly versionInfo: string;
  readonly lastUpdated: Date;
  /** The Secret as received (canonical JSON); undefined while warming. */
  readonly raw?: ProtoJson;
}

interface SecretStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly rejected: Counter;
  readonly initFetchTimeout: Counter;
  readonly connected: Gauge;
}

interface SecretState {
  readonly name: string;
  readonly source: Exclude<SdsSource, { kind: 'static' }>;
  readonly stats: SecretStats;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  versionInfo: string;
  lastUpdated: Date;
  raw: ProtoJson | undefined;
  rawText: string | undefined;
}

interface Stream {
  readonly client: AdsClient;
  connected: boolean;
}

/** The SDS subscriptions of one process. */
export class SdsManager {
  private readonly opts: SdsManagerOptions;
  private readonly groups = new Map<string, readonly SdsRef[]>();
  private readonly secrets = new Map<string, SecretState>();
  private readonly streams = new Map<string, Stream>();
  private readonly ads = new AdsNames();
  private readonly fetches = new InitialFetches(this.secrets);
  private closed = false;

  constructor(opts: SdsManagerOptions) {
    this.opts = opts;
  }

  /** Lets `{ ads: {} }` secrets be subscribed on the ADS stream. */
  attachAds(subscribe: (names: readonly string[]) => void): void {
    this.ads.attach(subscribe);
    this.subscribeAds();
  }

  /**
   * Why a set of references cannot be served (for a NACK or a refused
   * bootstrap): an unsupported or unreachable source, a missing static
   * secret, one name from two different sources. `replacing`: the groups
   * these references will replace (not compared with).
   */
  check(replacing: readonly string[], refs: readonly SdsRef[]): string[] {
    const errors: string[] = [];
    const seen = new Map<string, SdsRef>();
    for (const [g, rs] of this.groups) if (!replacing.includes(g)) for (const r of rs) seen.set(r.name, r);
    for (const r of refs) {
      const what = `${r.owner}: secret '${r.name}'`;
      const s = r.source;
      if (s.kind === 'static') {
        if (!this.opts.staticSecretNames.has(r.name)) errors.push(`${what}: no static secret of that name (static_resources.secrets), and no sds_config`);
        continue;
      }
      if (!this.opts.parser) errors.push(`${what}: SDS needs the TLS extension, which this build lacks`);
      if (s.kind === 'ads' && !this.opts.adsAvailable) errors.push(`${what}: sds_config { ads: {} } needs dynamic_resources.ads_config`);
      if (s.kind === 'grpc') {
        const t = sdsTarget(this.opts.staticClusters, s.clusterName);
        if (typeof t === 'string') errors.push(`${what}: ${t}`);
      }
      if (this.opts.staticSecretNames.has(r.name)) errors.push(`${what}: a static secret has that name`);
      const other = seen.get(r.name);
      if (other && other.source.kind !== 'static' && sourceKey(other.source) !== sourceKey(s)) {
        errors.push(`${what}: ${other.owner} names it with a different sds_config (one source per secret name is supported)`);
      }
      seen.set(r.name, r);
    }
    return [...new Set(errors)];
  }

  /**
   * Makes `refs` the secrets `group` (`static`, `lds`, `cds`) needs and
   * brings the subscriptions up to date: new names are subscribed (their
   * initial fetch timers start), names nothing needs any more are
   * unsubscribed and forgotten. Call check() first.
   */
  setRefs(group: string, refs: readonly SdsRef[]): void {
    if (this.closed) return;
    this.groups.set(group, refs);
    const needed = new Map<string, Exclude<SdsSource, { kind: 'static' }>>();
    for (const rs of this.groups.values()) for (const r of rs) if (r.source.kind !== 'static' && !needed.has(r.name)) needed.set(r.name, r.source);
    for (const [name, st] of [...this.secrets]) {
      if (needed.get(name) && sourceKey(needed.get(name)!) === sourceKey(st.source)) continue;
      this.fetches.stopTimer(st);
      this.secrets.delete(name);
      if (st.raw) this.opts.sink.remove(name);
    }
    for (const [name, source] of needed) if (!this.secrets.has(name)) this.secrets.set(name, this.newState(name, source));
    this.subscribeAds();
    this.subscribeStreams();
    this.fetches.wake();
  }

  /** Names of every dynamic secret needed. */
  neededNames(): string[] {
    return [...this.secrets.keys()];
  }

  /** True when every named dynamic secret has settled (static and unknown names count as settled). */
  settled(names: readonly string[]): boolean {
    return this.fetches.settled(names);
  }

  /** Resolves once settled(names). */
  whenSettled(names: readonly string[]): Promise<void> {
    return this.fetches.whenSettled(names);
  }

  /** Dynamic secrets for /config_dump: active (arrived) and warming (not yet). */
  dump(): { active: DynamicSecretView[]; warming: DynamicSecretView[] } {
    const active: DynamicSecretView[] = [];
    const warming: DynamicSecretView[] = [];
    for (const s of this.secrets.values()) {
      if (s.raw) active.push({ name: s.name, versionInfo: s.versionInfo, lastUpdated: s.lastUpdated, raw: s.raw });
      else warming.push({ name: s.name, versionInfo: 'uninitialized', lastUpdated: s.lastUpdated });
    }
    return { active, warming };
  }

  /**
   * Validates and stores the secrets of one response from `sourceKey`'s
   * stream; returns the reasons to NACK. Each secret stands alone (Envoy's
   * SdsApi is one subscription per secret): good ones in the same response
   * are applied, a bad one keeps its last good version.
   */
  onUpdate(u: TypeUpdate, source: string): string[] {
    if (u.typeUrl !== SECRET) return [`unexpected resource type ${u.typeUrl} on an SDS stream`];
    const errors: string[] = [];
    for (const name of u.received) {
      const st = this.secrets.get(name);
      // Not asked for on this stream (e.g. unsubscribed while in flight): ignored, as a gRPC mux ignores unwatched resources.
      if (!st || sourceKey(st.source) !== source) continue;
      const r = u.resources.get(name);
      if (!r) continue;
      st.stats.attempt.inc();
      const reason = this.apply(st, r.value, u.versionInfo || r.version);
      if (reason) {
        st.stats.rejected.inc();
        errors.push(`secret '${name}': ${reason}`);
        this.opts.log.warn({ secret: name, version: u.versionInfo || r.version, reason }, 'SDS secret rejected; keeping the previous one');
        this.fetches.settle(st);
      } else {
        st.stats.success.inc();
      }
    }
    // Envoy ignores an SDS removal: the secret is removed when nothing references it.
    for (const name of u.removed) if (this.secrets.get(name)) this.opts.log.info({ secret: name }, 'SDS server removed a secret still in use; keeping it');
    this.fetches.wake();
    return errors;
  }

  /** Stops every SDS stream and timer. */
  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) s.client.close();
    this.streams.clear();
    for (const st of this.secrets.values()) this.fetches.stopTimer(st);
  }

  private apply(st: SecretState, value: ProtoJson, version: string): string | undefined {
    const text = JSON.stringify(value);
    if (text === st.rawText) {
      st.versionInfo = version;
      return undefined;
    }
    if (value['name'] !== undefined && value['name'] !== st.name) return `unexpected SDS secret (expecting ${st.name}): ${String(value['name'])}`;
    const parsed = this.opts.parser!(value, `secret '${st.name}'`, version);
    if (!parsed.ok) return parsed.errors.map((e) => e.message).join('; ');
    const refused = this.opts.sink.apply(parsed.config);
    if (refused) return refused;
    st.raw = value;
    st.rawText = text;
    st.versionInfo = version;
    st.lastUpdated = new Date();
    this.opts.log.info({ secret: st.name, version }, 'SDS secret updated');
    this.fetches.settle(st);
    return undefined;
  }

  private newState(name: string, source: Exclude<SdsSource, { kind: 'static' }>): SecretState {
    const s = this.opts.stats.scope('sds').scope(name);
    const st: SecretState = {
      name,
      source,
      stats: {
        attempt: s.counter('update_attempt'),
        success: s.counter('update_success'),
        rejected: s.counter('update_rejected'),
        initFetchTimeout: s.counter('init_fetch_timeout'),
        connected: s.scope('control_plane').gauge('connected_state'),
      },
      settled: false,
      timer: undefined,
      versionInfo: 'uninitialized',
      lastUpdated: new Date(),
      raw: undefined,
      rawText: undefined,
    };
    this.fetches.startTimer(name, st, source.initialFetchTimeoutMs, () => {
      st.stats.initFetchTimeout.inc();
      this.opts.log.warn({ secret: name, timeoutMs: source.initialFetchTimeoutMs }, 'SDS initial fetch timed out; listeners and clusters using it go on without it');
    });
    return st;
  }

  private namesOf(key: string): string[] {
    return [...this.secrets.values()].filter((s) => sourceKey(s.source) === key).map((s) => s.name).sort();
  }

  private subscribeAds(): void {
    this.ads.update(this.namesOf('ads'));
  }

  private subscribeStreams(): void {
    const wanted = new Map<string, Extract<SdsSource, { kind: 'grpc' }>>();
    for (const s of this.secrets.values()) if (s.source.kind === 'grpc') wanted.set(s.source.key, s.source);
    for (const [key, stream] of [...this.streams]) {
      if (wanted.has(key)) continue;
      stream.client.close();
      this.streams.delete(key);
    }
    for (const [key, source] of wanted) {
      let stream = this.streams.get(key);
      if (!stream) {
        const target = sdsTarget(this.opts.staticClusters, source.clusterName);
        if (typeof target === 'string') continue; // refused by check()
        const s: Stream = {
          connected: false,
          client: new AdsClient({
            target,
            mode: source.mode,
            paths: { sotw: SDS_SOTW_PATH, delta: SDS_DELTA_PATH },
            node: nodeMessage(this.opts.node, this.opts.version),
            setNodeOnFirstMessageOnly: source.setNodeOnFirstMessageOnly,
            stats: this.opts.stats,
            log: this.opts.log,
            handlerCountedTypes: new Set([SECRET]),
            onConnectedState: (c) => {
              s.connected = c;
              for (const n of this.namesOf(key)) this.secrets.get(n)!.stats.connected.set(c ? 1 : 0);
            },
            onUpdate: async (u) => this.onUpdate(u, key),
            ...(this.opts.backoffBaseMs !== undefined ? { backoffBaseMs: this.opts.backoffBaseMs } : {}),
            ...(this.opts.backoffMaxMs !== undefined ? { backoffMaxMs: this.opts.backoffMaxMs } : {}),
          }),
        };
        stream = s;
        this.streams.set(key, stream);
        stream.client.subscribe(SECRET, this.namesOf(key));
        stream.client.start();
        this.opts.log.info({ cluster: source.clusterName, mode: source.mode }, 'SDS stream opened');
        continue;
      }
      const names = this.namesOf(key);
      for (const n of names) this.secrets.get(n)!.stats.connected.set(stream.connected ? 1 : 0);
      stream.client.subscribe(SECRET, names);
    }
  }
}

function sourceKey(s: SdsSource): string {
  return s.kind === 'static' ? 'static' : s.key;
}
