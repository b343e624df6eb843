/**
 * ECDS (Extension Config Discovery): the TypedExtensionConfig resources
 * that `config_discovery` filter entries name, subscribed by name over the
 * ADS stream. Each update is validated by the registered extension of its
 * type (which must be one of every referencing entry's type_urls; the
 * router cannot be discovered); a bad one is NACKed naming it and the last
 * good config keeps serving. The HCM's dynamic filter
 * (protocols/http/connection-manager/dynamic-filter.ts) reads `current()`
 * for each new stream.
 *
 * Warming (Envoy's ExtensionConfigSource): a listener naming a config that
 * has not arrived warms until it arrives or its initial_fetch_timeout
 * elapses, unless apply_default_config_without_warming is set (then its
 * default_config serves meanwhile). After a timeout or a removal the
 * default_config serves, or without one the filter rejects every stream
 * (500, NFCF).
 *
 * Stats are Envoy's: `extension_config_discovery.http_filter.<name>.`
 * `config_reload` (accepted), `config_fail` (rejected or initial fetch
 * timed out), `config_conflict` (a new listener's type_urls do not accept
 * the config already received for that name: the listener is NACKed).
 */
import type { DiscoveredExtensionConfig, ExtensionConfigDiscovery, ExtensionConfigProvider, ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ListenerConfig } from '../../sidecar/contracts/snapshot.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { TypeUpdate } from '../ads/ads-client.ts';
import type { ProtoJson } from '../proto/json.ts';
import { parseDiscoveredConfig } from './ecds-config.ts';
import { AdsNames, InitialFetches } from './per-name-subscription.ts';

/** The ECDS resource type. */
export const EXTENSION_CONFIG = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';

/** A config_discovery entry of a listener. */
export interface EcdsRef {
  /** `listener 'x'` (for messages). */
  readonly owner: string;
  readonly discovery: ExtensionConfigDiscovery;
}

/** One discovered config for /config_dump (EcdsConfigDump.EcdsFilterConfig). */
export interface EcdsConfigView {
  readonly name: string;
  readonly versionInfo: string;
  readonly lastUpdated: Date;
  readonly raw: ProtoJson;
}

/** Options of the manager. */
export interface EcdsManagerOptions {
  readonly registry: ExtensionRegistry;
  /** dynamic_resources.ads_config is set. */
  readonly adsAvailable: boolean;
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

interface ConfigState {
  readonly name: string;
  readonly stats: { readonly reload: Counter; readonly fail: Counter; readonly conflict: Counter };
  config: DiscoveredExtensionConfig | undefined;
  raw: ProtoJson | undefined;
  rawText: string | undefined;
  versionInfo: string;
  lastUpdated: Date;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** The config_discovery entries of listeners' HCMs (the HCM config is opaque here: read by shape). */
export function ecdsRefsOfListeners(listeners: readonly ListenerConfig[]): EcdsRef[] {
  const out: EcdsRef[] = [];
  for (const l of listeners) {
    const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
    for (const fc of chains) for (const f of fc.filters) {
      const entries = (f.config as { filters?: ReadonlyArray<{ discovery?: ExtensionConfigDiscovery }> } | undefined)?.filters;
      if (!Array.isArray(entries)) continue;
      for (const e of entries) if (e.discovery) out.push({ owner: `listener '${l.name}'`, discovery: e.discovery });
    }
  }
  return out;
}

/** The ECDS subscriptions of one process. */
export class EcdsManager implements ExtensionConfigProvider {
  private readonly opts: EcdsManagerOptions;
  private readonly groups = new Map<string, readonly EcdsRef[]>();
  private readonly configs = new Map<string, ConfigState>();
  private readonly ads = new AdsNames();
  private readonly fetches = new InitialFetches(this.configs);
  private closed = false;

  constructor(opts: EcdsManagerOptions) {
    this.opts = opts;
  }

  /** Lets the names be subscribed on the ADS stream. */
  attachAds(subscribe: (names: readonly string[]) => void): void {
    this.ads.attach(subscribe);
    this.subscribe();
  }

  /** ExtensionConfigProvider: the last accepted config of a name. */
  current(name: string): DiscoveredExtensionConfig | undefined {
    return this.configs.get(name)?.config;
  }

  /**
   * Why references cannot be served (NACK or refused bootstrap): no ADS
   * stream, or a config already received for the name that the entry's
   * type_urls do not accept (counted as config_conflict).
   */
  check(refs: readonly EcdsRef[]): string[] {
    const errors: string[] = [];
    for (const r of refs) {
      const what = `${r.owner}: extension config '${r.discovery.name}'`;
      if (!this.opts.adsAvailable) {
        errors.push(`${what}: config_discovery { config_source { ads: {} } } needs dynamic_resources.ads_config`);
        continue;
      }
      const st = this.configs.get(r.discovery.name);
      if (st?.config && !r.discovery.typeNames.includes(st.config.typeName)) {
        st.stats.conflict.inc();
        errors.push(`${what}: the config received has type URL 'type.googleapis.com/${st.config.typeName}', which is not one of the filter's type_urls`);
      }
    }
    return [...new Set(errors)];
  }

  /**
   * Makes `refs` what `group` (`static`, `lds`, `lds-warming`) needs: new
   * names are subscribed (their initial fetch timers start), names nothing
   * needs any more are unsubscribed and forgotten.
   */
  setRefs(group: string, refs: readonly EcdsRef[]): void {
    if (this.closed) return;
    this.groups.set(group, refs);
    const needed = new Map<string, EcdsRef>();
    for (const rs of this.groups.values()) for (const r of rs) if (!needed.has(r.discovery.name)) needed.set(r.discovery.name, r);
    for (const [name, st] of [...this.configs]) {
      if (needed.has(name)) continue;
      this.fetches.stopTimer(st);
      this.configs.delete(name);
    }
    for (const [name, r] of needed) if (!this.configs.has(name)) this.configs.set(name, this.newState(name, r.discovery.initialFetchTimeoutMs));
    this.subscribe();
    this.fetches.wake();
  }

  /** The names a listener with these references must wait for (no config yet, no default applied without warming). */
  warmingNames(refs: readonly EcdsRef[]): string[] {
    return [...new Set(refs.filter((r) => !r.discovery.applyDefaultConfigWithoutWarming).map((r) => r.discovery.name))];
  }

  /** The warming names of a group's references. */
  groupWarmingNames(group: string): string[] {
    return this.warmingNames(this.groups.get(group) ?? []);
  }

  /** True when each name has a config, was rejected at first, or timed out (unknown names count as settled). */
  settled(names: readonly string[]): boolean {
    return this.fetches.settled(names);
  }

  /** Resolves once settled(names). */
  whenSettled(names: readonly string[]): Promise<void> {
    return this.fetches.whenSettled(names);
  }

  /** Accepted configs for /config_dump. */
  dump(): EcdsConfigView[] {
    const out: EcdsConfigView[] = [];
    for (const s of this.configs.values()) if (s.raw) out.push({ name: s.name, versionInfo: s.versionInfo, lastUpdated: s.lastUpdated, raw: s.raw });
    return out;
  }

  /**
   * Validates and applies the TypedExtensionConfigs of one response;
   * returns the reasons to NACK. Each name stands alone (Envoy: one
   * subscription per name): good ones apply, a bad one keeps its last good config.
   */
  onUpdate(u: TypeUpdate): string[] {
    const errors: string[] = [];
    for (const name of u.received) {
      const st = this.configs.get(name);
      if (!st) continue; // not (or no longer) subscribed: ignored
      const r = u.resources.get(name);
      if (!r) continue;
      const version = u.versionInfo || r.version;
      const reason = this.apply(st, r.value, version);
      if (reason) {
        st.stats.fail.inc();
        errors.push(`extension config '${name}': ${reason}`);
        this.opts.log.warn({ name, version, reason }, 'ECDS config rejected; keeping the previous one');
        this.fetches.settle(st);
      }
    }
    for (const name of u.removed) {
      const st = this.configs.get(name);
      if (!st?.config) continue;
      // Envoy's onConfigRemoved: the default config serves, or the filter rejects streams.
      st.config = undefined;
      st.raw = undefined;
      st.rawText = undefined;
      st.lastUpdated = new Date();
      this.opts.log.warn({ name }, 'ECDS config removed; the default config (or a 500 for every stream) applies');
    }
    this.fetches.wake();
    return errors;
  }

  /** Stops the timers. */
  close(): void {
    this.closed = true;
    for (const st of this.configs.values()) this.fetches.stopTimer(st);
  }

  private refsOf(name: string): EcdsRef[] {
    const out: EcdsRef[] = [];
    for (const rs of this.groups.values()) for (const r of rs) if (r.discovery.name === name) out.push(r);
    return out;
  }

  private apply(st: ConfigState, value: ProtoJson, version: string): string | undefined {
    const text = JSON.stringify(value);
    if (text === st.rawText) {
      st.versionInfo = version;
      return undefined;
    }
    if (value['name'] !== undefined && value['name'] !== st.name) return `unexpected resource name '${String(value['name'])}'`;
    const typed = value['typed_config'];
    if (typeof typed !== 'object' || typed === null) return 'typed_config is required';
    const refs = this.refsOf(st.name);
    let parsed: DiscoveredExtensionConfig | undefined;
    try {
      // Every entry naming it must accept the type (the first one validates; the rest only check the type).
      for (const r of refs) parsed ??= parseDiscoveredConfig(r.discovery.category, typed as ProtoJson, 'typed_config', st.name, r.discovery.typeNames, this.opts.registry, { path: 'typed_config', warn: (w) => this.opts.log.warn({ name: st.name, path: w.path }, w.message) });
      for (const r of refs) if (parsed && !r.discovery.typeNames.includes(parsed.typeName)) throw new ConfigError('typed_config', `type URL 'type.googleapis.com/${parsed.typeName}' is not one of the type_urls of ${r.owner}`);
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    if (!parsed) return 'no filter references it';
    st.config = parsed;
    st.raw = value;
    st.rawText = text;
    st.versionInfo = version;
    st.lastUpdated = new Date();
    st.stats.reload.inc();
    this.opts.log.info({ name: st.name, version, type: parsed.typeName }, 'ECDS config updated');
    this.fetches.settle(st);
    return undefined;
  }

  private newState(name: string, initialFetchTimeoutMs: number): ConfigState {
    const s = this.opts.stats.scope('extension_config_discovery').scope(`http_filter.${name}`);
    const st: ConfigState = {
      name,
      stats: { reload: s.counter('config_reload'), fail: s.counter('config_fail'), conflict: s.counter('config_conflict') },
      config: undefined,
      raw: undefined,
      rawText: undefined,
      versionInfo: '',
      lastUpdated: new Date(),
      settled: false,
      timer: undefined,
    };
    this.fetches.startTimer(name, st, initialFetchTimeoutMs, () => {
      st.stats.fail.inc();
      this.opts.log.warn({ name, timeoutMs: initialFetchTimeoutMs }, 'ECDS initial fetch timed out; the default config (or a 500 for every stream) applies');
    });
    return st;
  }

  private subscribe(): void {
    this.ads.update([...this.configs.keys()].sort());
  }
}
