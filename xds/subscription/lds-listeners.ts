/**
 * LDS listeners: Envoy's listener warming list, per listener. The
 * XdsManager validates an LDS update and hands it here; each new or
 * changed listener waits on its own for what it needs (its SDS secrets and
 * ECDS configs to settle, its RDS route configurations to arrive or their
 * initial_fetch_timeout to pass) and becomes active, replacing the version
 * of its name that serves meanwhile, as soon as that is ready. As Envoy's
 * ListenerManagerImpl and LdsApiImpl:
 * - listeners that need nothing apply with the update, and those it leaves
 *   out are removed at once, warming or active; both are one apply, so a
 *   listener that cannot bind NACKs the update and nothing of it changes
 *   (stricter than Envoy, which keeps the rest: config is swapped whole);
 * - a new version of a warming listener replaces its warming version; the
 *   active version given back drops the warming one (envoyproxy/envoy#12645);
 *   an unchanged one keeps warming where it is (and its timers);
 * - the update is ACKed once accepted, before anything warms;
 * - listener_added / listener_modified / listener_removed count when an
 *   update is accepted (sink.listenersAccepted), total_listeners_warming is
 *   the warming list (sink.listenersWarming), listener_create_success counts
 *   when the listener manager starts serving one;
 * - until the first update has warmed (or the initial fetch timed out:
 *   startWorkers), its listeners become active together once the last is
 *   warm, as Envoy starts its workers only after its init manager is done.
 * A warm listener that cannot bind is dropped (logged, listener_create_failure);
 * the version it would replace keeps serving.
 */
import { sameConfig } from '../../sidecar/contracts/config-identity.ts';
import type { ListenerConfig } from '../../sidecar/contracts/snapshot.ts';
import type { TypeUpdate } from '../ads/ads-client.ts';
import type { ProtoJson } from '../proto/json.ts';
import type { EcdsManager, EcdsRef } from './ecds-manager.ts';
import type { SdsManager } from './sds-manager.ts';
import type { SdsRef } from './sds-refs.ts';
import { rdsRefsOf } from './rds-refs.ts';
import type { ConfigSink, DynamicResource } from './xds-manager.ts';

/** What the LDS listeners need from their owner (the XdsManager). */
export interface LdsListenersOptions {
  readonly staticListeners: readonly ListenerConfig[];
  readonly sink: Pick<ConfigSink, 'applyListeners' | 'listenersAccepted' | 'listenersWarming'>;
  readonly sds?: SdsManager;
  readonly ecds?: EcdsManager;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Active dynamic listeners for /config_dump, kept here (the owner's map). */
  readonly dump: Map<string, DynamicResource>;
  /** Whether a route configuration has a table now. */
  readonly routePresent: (name: string) => boolean;
  /** An RDS initial_fetch_timeout passed before the route configuration arrived. */
  readonly onRouteTimeout: (name: string) => void;
  /** The active or warming listeners changed (route subscriptions, readiness). */
  readonly onChange: () => void;
}

/** A listener LDS accepted that waits for its dependencies (Envoy's warming list). */
interface WarmingListener {
  readonly config: ListenerConfig;
  readonly versionInfo: string;
  /** When it was accepted (warming_state.last_updated). */
  readonly since: Date;
  readonly sds: readonly SdsRef[];
  readonly ecds: readonly EcdsRef[];
  /** Its dependencies are ready (during the initial fetch it waits for the rest of the first update). */
  warm: boolean;
  /** Ends its RDS wait (it was replaced or removed). */
  cancel: () => void;
}

/** An active dynamic listener with what it uses. */
interface ActiveListener {
  readonly config: ListenerConfig;
  readonly sds: readonly SdsRef[];
  readonly ecds: readonly EcdsRef[];
}

/** What a warming listener waits for. */
interface Needs {
  readonly secrets: readonly string[];
  readonly extensionConfigs: readonly string[];
  /** Route configuration names not received, with their initial_fetch_timeout (ms; 0 = forever). */
  readonly routes: ReadonlyMap<string, number>;
}

/** The dynamic listeners: active ones and the warming list. */
export class LdsListeners {
  private readonly opts: LdsListenersOptions;
  /** Active dynamic listeners by name. */
  private readonly active = new Map<string, ActiveListener>();
  /** Warming listeners by name (at most one version per name, beside the active one). */
  private readonly warmingList = new Map<string, WarmingListener>();
  /** Listener names in the order of the last accepted update (the order they are applied in). */
  private listenerOrder: string[] = [];
  /** Changes of the listener set (accepted updates, warmed listeners) run one at a time, in order. */
  private listenerJobs: Promise<unknown> = Promise.resolve();
  /** Called after each accepted RDS update (RDS waits of warming listeners). */
  private readonly routeWaiters = new Set<() => void>();
  /** The initial fetch is over (ready or timed out): warm listeners apply one by one. */
  private workersStarted = false;
  /** An accepted update has had no listener left warming (the initial fetch's LDS part is done). */
  private firstWarmed = false;

  constructor(opts: LdsListenersOptions) {
    this.opts = opts;
  }

  /** The first accepted update has warmed (every listener of it active, removed or dropped). */
  get initialized(): boolean {
    return this.firstWarmed;
  }

  /** Active dynamic listeners. */
  activeConfigs(): ListenerConfig[] {
    return [...this.active.values()].map((a) => a.config);
  }

  /** Warming listeners. */
  warmingConfigs(): ListenerConfig[] {
    return [...this.warmingList.values()].map((w) => w.config);
  }

  /** Warming listeners (new ones, and new versions of active ones), for /config_dump. */
  warmingDump(): DynamicResource[] {
    return [...this.warmingList.values()].map((w) => ({ name: w.config.name, versionInfo: w.versionInfo, lastUpdated: w.since, raw: w.config.raw as ProtoJson }));
  }

  /**
   * Applies a validated LDS update (every listener of the type after it, with
   * the SDS and ECDS references of each); returns the reasons to NACK.
   */
  accept(u: TypeUpdate, parsed: readonly ListenerConfig[], sdsOf: ReadonlyMap<string, SdsRef[]>, ecdsOf: ReadonlyMap<string, EcdsRef[]>): Promise<string[]> {
    return this.listenerJob(() => this.acceptNow(u, parsed, sdsOf, ecdsOf));
  }

  /** Route configurations arrived: the RDS waits of warming listeners look again. */
  routesUpdated(): void {
    for (const w of [...this.routeWaiters]) w();
  }

  /** The initial fetch is over: from now on each listener becomes active once warm (those warm already go now). */
  startWorkers(): void {
    this.workersStarted = true;
    if ([...this.warmingList.values()].some((w) => w.warm)) void this.listenerJob(() => this.activateWarmed());
  }

  /** Runs a change of the listener set after the ones before it (accepted updates and warmed listeners read and change the same state). */
  private listenerJob<T>(job: () => Promise<T>): Promise<T> {
    const run = this.listenerJobs.then(job);
    this.listenerJobs = run.catch(() => undefined);
    return run;
  }

  /** The first LDS update is still warming: its listeners become active together (Envoy starts its workers after init). */
  private get initialListeners(): boolean {
    return !this.firstWarmed && !this.workersStarted;
  }

  /**
   * Applies an accepted LDS update (Envoy's LdsApiImpl: removeListener for
   * each listener left out, addOrUpdateListener for the others): removals
   * and listeners that need nothing apply now, together (a bind failure is
   * a NACK and changes nothing); the others warm each on its own.
   */
  private async acceptNow(u: TypeUpdate, parsed: readonly ListenerConfig[], sdsOf: ReadonlyMap<string, SdsRef[]>, ecdsOf: ReadonlyMap<string, EcdsRef[]>): Promise<string[]> {
    const sds = this.opts.sds;
    const ecds = this.opts.ecds;
    const names = new Set(parsed.map((l) => l.name));
    const removed = [...new Set([...this.active.keys(), ...this.warmingList.keys()])].filter((n) => !names.has(n));
    const counts = { added: 0, modified: 0, removed: removed.length };
    /** Warming versions this update ends (replaced, or the active version is back). */
    const dropped: string[] = [];
    const candidates: ListenerConfig[] = [];
    for (const l of parsed) {
      const act = this.active.get(l.name);
      const warm = this.warmingList.get(l.name);
      if (act && sameConfig(act.config, l)) {
        // Back to the active version: its warming version goes (Envoy counts this as modified).
        if (warm) { dropped.push(l.name); counts.modified++; }
        continue;
      }
      if (warm && sameConfig(warm.config, l)) continue; // unchanged: keeps warming where it is
      if (act || warm) counts.modified++;
      else counts.added++;
      if (warm) dropped.push(l.name);
      candidates.push(l);
    }
    const kept = [...this.warmingList.values()].filter((w) => names.has(w.config.name) && !dropped.includes(w.config.name));
    // What the candidates need is subscribed before their readiness is judged (a name never
    // subscribed counts as settled); what the warming list needs stays until the update commits.
    const previousWarmingRefs = { sds: this.warmingSds(), ecds: this.warmingEcds() };
    sds?.setRefs('lds-warming', [...previousWarmingRefs.sds, ...candidates.flatMap((l) => sdsOf.get(l.name) ?? [])]);
    ecds?.setRefs('lds-warming', [...previousWarmingRefs.ecds, ...candidates.flatMap((l) => ecdsOf.get(l.name) ?? [])]);
    const ready: ActiveListener[] = [];
    const toWarm: Array<{ config: ListenerConfig; needs: Needs }> = [];
    for (const l of candidates) {
      const needs = this.needsOf(l, sdsOf.get(l.name) ?? [], ecdsOf.get(l.name) ?? []);
      if (this.satisfied(needs)) ready.push({ config: l, sds: sdsOf.get(l.name) ?? [], ecds: ecdsOf.get(l.name) ?? [] });
      else toWarm.push({ config: l, needs });
    }
    const version = (n: string): string => u.versionInfo || u.resources.get(n)?.version || '';
    const now = new Date();
    /** Ready listeners that warm anyway: the first update's listeners become active together. */
    let heldBack: ActiveListener[] = [];
    let activateNow = ready;
    if (this.initialListeners) {
      const keptWarm = kept.filter((w) => w.warm);
      if (toWarm.length === 0 && keptWarm.length === kept.length) activateNow = [...ready, ...keptWarm.map((w) => ({ config: w.config, sds: w.sds, ecds: w.ecds }))];
      else { heldBack = ready; activateNow = []; }
    }
    const removesActive = removed.some((n) => this.active.has(n));
    if (removesActive || activateNow.length) {
      const next = new Map(this.active);
      for (const n of removed) next.delete(n);
      for (const a of activateNow) next.set(a.config.name, a);
      try {
        await this.opts.sink.applyListeners([...this.opts.staticListeners, ...this.ordered(next, parsed.map((l) => l.name))]);
      } catch (e) {
        sds?.setRefs('lds-warming', previousWarmingRefs.sds);
        ecds?.setRefs('lds-warming', previousWarmingRefs.ecds);
        return [(e as Error).message];
      }
    }
    // Accepted: commit.
    this.listenerOrder = parsed.map((l) => l.name);
    for (const n of [...removed, ...dropped]) {
      this.warmingList.get(n)?.cancel();
      this.warmingList.delete(n);
    }
    for (const n of removed) {
      this.active.delete(n);
      this.opts.dump.delete(n);
    }
    for (const a of activateNow) {
      const w = this.warmingList.get(a.config.name);
      this.warmingList.delete(a.config.name);
      this.active.set(a.config.name, a);
      this.opts.dump.set(a.config.name, { name: a.config.name, versionInfo: w?.versionInfo ?? version(a.config.name), lastUpdated: now, raw: a.config.raw as ProtoJson });
    }
    for (const a of heldBack) this.startWarming(a.config, version(a.config.name), now, a.sds, a.ecds, undefined);
    for (const t of toWarm) this.startWarming(t.config, version(t.config.name), now, sdsOf.get(t.config.name) ?? [], ecdsOf.get(t.config.name) ?? [], t.needs);
    this.opts.sink.listenersAccepted(counts);
    this.listenerSetChanged();
    return [];
  }

  /** What a listener waits for: secrets and extension configs not settled, route configurations not received. */
  private needsOf(l: ListenerConfig, sdsRefs: readonly SdsRef[], ecdsRefs: readonly EcdsRef[]): Needs {
    const routes = new Map<string, number>();
    for (const r of rdsRefsOf(l)) {
      if (this.opts.routePresent(r.name)) continue;
      const prev = routes.get(r.name);
      routes.set(r.name, prev === undefined ? r.timeoutMs : prev === 0 || r.timeoutMs === 0 ? 0 : Math.max(prev, r.timeoutMs));
    }
    return { secrets: this.opts.sds ? sdsRefs.map((r) => r.name) : [], extensionConfigs: this.opts.ecds ? this.opts.ecds.warmingNames(ecdsRefs) : [], routes };
  }

  private satisfied(n: Needs): boolean {
    return (!this.opts.sds || this.opts.sds.settled(n.secrets)) && (!this.opts.ecds || this.opts.ecds.settled(n.extensionConfigs)) && [...n.routes.keys()].every((r) => this.opts.routePresent(r));
  }

  /** Puts a listener in the warming list; `needs` undefined: it is warm already (held back during the initial fetch). */
  private startWarming(config: ListenerConfig, versionInfo: string, since: Date, sdsRefs: readonly SdsRef[], ecdsRefs: readonly EcdsRef[], needs: Needs | undefined): void {
    const entry: WarmingListener = { config, versionInfo, since, sds: sdsRefs, ecds: ecdsRefs, warm: needs === undefined, cancel: () => undefined };
    this.warmingList.set(config.name, entry);
    if (!needs) return;
    const sds = this.opts.sds;
    const ecds = this.opts.ecds;
    this.opts.log.info({ listener: config.name, version: versionInfo, secrets: needs.secrets.filter((n) => !sds?.settled([n])), extensionConfigs: needs.extensionConfigs.filter((n) => !ecds?.settled([n])), routeConfigurations: [...needs.routes.keys()].filter((n) => !this.opts.routePresent(n)) }, 'listener warming: waiting for its TLS secrets, extension configs or route configurations');
    const routes = this.whenRoutes(needs.routes);
    entry.cancel = routes.cancel;
    void Promise.all([sds?.whenSettled(needs.secrets), ecds?.whenSettled(needs.extensionConfigs), routes.done]).then(() => {
      if (this.warmingList.get(config.name) !== entry) return; // replaced or removed meanwhile
      entry.warm = true;
      void this.listenerJob(() => this.activateWarmed());
    });
  }

  /**
   * Makes warm listeners active: each on its own (a bind failure drops that
   * one, logged, and the version it would replace keeps serving), or during
   * the initial fetch all of the first update together once all are warm.
   */
  private async activateWarmed(): Promise<void> {
    const warm = [...this.warmingList.values()].filter((w) => w.warm);
    if (warm.length === 0) return;
    const groups = this.initialListeners ? (warm.length === this.warmingList.size ? [warm] : []) : warm.map((w) => [w]);
    for (const group of groups) {
      if (group.some((w) => this.warmingList.get(w.config.name) !== w)) continue;
      // A listener that cannot be applied (its address taken) is dropped alone: the rest of
      // the group serves, as Envoy, which refuses only that listener, would have it.
      let members = group;
      while (members.length) {
        // An update during a failed attempt may have replaced some: only current ones go on.
        members = members.filter((w) => this.warmingList.get(w.config.name) === w);
        if (!members.length) break;
        const next = new Map(this.active);
        for (const w of members) next.set(w.config.name, { config: w.config, sds: w.sds, ecds: w.ecds });
        try {
          await this.opts.sink.applyListeners([...this.opts.staticListeners, ...this.ordered(next, this.listenerOrder)]);
          break;
        } catch (e) {
          const failed = (e as { listener?: unknown }).listener;
          const culprit = members.find((w) => w.config.name === failed);
          const dropped = culprit ? [culprit] : members;
          this.opts.log.warn({ listeners: dropped.map((w) => w.config.name), version: dropped[0]!.versionInfo, error: (e as Error).message }, 'warmed listener could not be applied; the version it replaces (if any) keeps serving');
          for (const w of dropped) this.warmingList.delete(w.config.name);
          members = culprit ? members.filter((w) => w !== culprit) : [];
          this.listenerSetChanged();
        }
      }
      if (!members.length) continue;
      const now = new Date();
      for (const w of members) {
        this.warmingList.delete(w.config.name);
        this.active.set(w.config.name, { config: w.config, sds: w.sds, ecds: w.ecds });
        this.opts.dump.set(w.config.name, { name: w.config.name, versionInfo: w.versionInfo, lastUpdated: now, raw: w.config.raw as ProtoJson });
      }
      this.listenerSetChanged();
    }
  }

  /** The active listeners in the order of the last LDS update (names it does not list, which cannot happen, last). */
  private ordered(set: ReadonlyMap<string, ActiveListener>, order: readonly string[]): ListenerConfig[] {
    const out: ListenerConfig[] = [];
    for (const n of order) { const a = set.get(n); if (a) out.push(a.config); }
    for (const [n, a] of set) if (!order.includes(n)) out.push(a.config);
    return out;
  }

  /** The SDS references of the warming listeners. */
  private warmingSds(): SdsRef[] {
    return [...this.warmingList.values()].flatMap((w) => w.sds);
  }

  /** The ECDS references of the warming listeners. */
  private warmingEcds(): EcdsRef[] {
    return [...this.warmingList.values()].flatMap((w) => w.ecds);
  }

  /**
   * After the active or warming listeners changed: what they use stays
   * subscribed (active first, so nothing moving from warming to active is
   * dropped in between), the gauge; then the owner (route subscriptions,
   * readiness).
   */
  private listenerSetChanged(): void {
    const active = [...this.active.values()];
    this.opts.sds?.setRefs('lds', active.flatMap((a) => a.sds));
    this.opts.sds?.setRefs('lds-warming', this.warmingSds());
    this.opts.ecds?.setRefs('lds', active.flatMap((a) => a.ecds));
    this.opts.ecds?.setRefs('lds-warming', this.warmingEcds());
    this.opts.sink.listenersWarming(this.warmingList.size);
    if (this.warmingList.size === 0) this.firstWarmed = true;
    this.opts.onChange();
  }

  /**
   * Waits until every route configuration named has arrived or its
   * initial_fetch_timeout passed (0: waits until it arrives); `cancel` ends
   * the wait (the listener was replaced or removed).
   */
  private whenRoutes(needed: ReadonlyMap<string, number>): { done: Promise<void>; cancel: () => void } {
    if (needed.size === 0) return { done: Promise.resolve(), cancel: () => undefined };
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      const left = new Set(needed.keys());
      const timers: NodeJS.Timeout[] = [];
      finish = (): void => {
        for (const t of timers) clearTimeout(t);
        this.routeWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        for (const n of [...left]) if (this.opts.routePresent(n)) left.delete(n);
        if (left.size === 0) finish();
      };
      this.routeWaiters.add(check);
      for (const [n, ms] of needed) {
        if (ms <= 0) continue;
        const t = setTimeout(() => {
          if (!left.has(n)) return;
          this.opts.log.warn({ routeConfiguration: n, timeoutMs: ms }, 'RDS initial fetch timed out; the warming listener goes on without it (404 NR until it arrives)');
          this.opts.onRouteTimeout(n);
          left.delete(n);
          if (left.size === 0) finish();
        }, ms);
        t.unref();
        timers.push(t);
      }
    });
    return { done, cancel: () => finish() };
  }
}
