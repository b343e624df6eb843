/**
 * The listener manager: applies a set of listeners while traffic flows, with
 * Envoy's listener update semantics (make-before-break) and its
 * `listener_manager.*` stats. By name, comparing the listener as given:
 * - unchanged: kept as is (same object, same socket, same connections);
 * - added: built and bound;
 * - modified, same address: updated in place (the socket keeps listening,
 *   new connections get the new filter chains, the old ones drain);
 * - modified, new address: the new one is bound first, then the old drains;
 * - removed: stops accepting, drains, closes what is left after the drain time.
 * Every change is built (and bound) before any is committed: a failure
 * leaves the previous set serving, so the caller can NACK.
 *
 * Warming (listeners accepted by LDS and waiting for their RDS, SDS or ECDS
 * dependencies) is the LDS side's (xds/subscription/lds-listeners.ts): it
 * applies each listener once warm, counts listener_added/modified/removed
 * when it accepts an update, as Envoy's addOrUpdateListener and
 * removeListener do (countAccepted, with `countChanges: false` on its
 * applies), and reports total_listeners_warming (setWarming).
 * listener_create_success counts listeners that start serving, as Envoy's
 * does when a worker has added one.
 *
 * Until startWorkers() (the server's initialization is done, as Envoy's
 * ListenerManagerImpl::startWorkers after its init manager) every listener,
 * static or applied during the initial fetch, is bound but holds the
 * connections it accepts (listener.ts); startWorkers() serves them and sets
 * listener_manager.workers_started.
 */
import type { ExtensionRegistry, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { ListenerConfig, SocketAddress } from '../contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';
import { addressString } from '../../xds/translate/address.ts';
import type { ChainSet } from './chain-set.ts';
import { Listener, sameAddress } from './listener.ts';
import { sameConfig } from '../contracts/config-identity.ts';

/** What an apply changed, by listener name. */
export interface ListenerUpdateResult {
  readonly added: string[];
  readonly modified: string[];
  readonly removed: string[];
}

/** How an apply drains what it replaces or removes. */
export interface ApplyOptions {
  /** Connections of replaced/removed listeners still open after this long are closed. */
  readonly drainTimeMs: number;
  /**
   * Whether this apply counts listener_added/modified/removed (default
   * true). False when the caller counted them as it accepted the changes
   * (LDS, before warming: countAccepted).
   */
  readonly countChanges?: boolean;
}

/** An apply refused because a listener could not be built or bound; nothing changed. */
export class ListenerUpdateError extends Error {
  /** The listener that failed. */
  readonly listener: string;

  constructor(listener: string, reason: string, cause?: unknown) {
    super(`listener '${listener}': ${reason}`, { cause });
    this.name = 'ListenerUpdateError';
    this.listener = listener;
  }
}

/** A socket address that identifies one socket (port 0 means "any": never shared). */
function reusable(a: SocketAddress): boolean {
  return a.kind === 'pipe' || a.port !== 0;
}

/** All listeners. */
export class ListenerManager {
  private listeners: Listener[] = [];
  /** Removed or replaced listeners still draining their connections. */
  private readonly departing = new Set<Listener>();
  private readonly registry: ExtensionRegistry;
  private readonly stats: StatsScope;
  private readonly rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>;
  private readonly totalActive: Gauge;
  private readonly totalDraining: Gauge;
  private readonly chainsDraining: Gauge;
  private readonly workersStarted: Gauge;
  private readonly added: Counter;
  private readonly modified: Counter;
  private readonly removed: Counter;
  private readonly inPlace: Counter;
  private readonly createSuccess: Counter;
  private readonly createFailure: Counter;
  private readonly totalWarming: Gauge;
  /** Applies run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** startWorkers() was called: new listeners serve what they accept at once. */
  private serving = false;

  constructor(registry: ExtensionRegistry, stats: StatsScope, rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>) {
    this.registry = registry;
    this.stats = stats;
    this.rt = rt;
    const lm = stats.scope('listener_manager');
    this.totalActive = lm.gauge('total_listeners_active');
    this.totalDraining = lm.gauge('total_listeners_draining');
    this.chainsDraining = lm.gauge('total_filter_chains_draining');
    this.workersStarted = lm.gauge('workers_started');
    this.added = lm.counter('listener_added');
    this.modified = lm.counter('listener_modified');
    this.removed = lm.counter('listener_removed');
    this.inPlace = lm.counter('listener_in_place_updated');
    this.createSuccess = lm.counter('listener_create_success');
    this.createFailure = lm.counter('listener_create_failure');
    this.totalWarming = lm.gauge('total_listeners_warming');
  }

  /**
   * Counts what an accepted LDS update changes, when it is accepted (warming
   * listeners included), as Envoy's addOrUpdateListener (listener_added for a
   * new name, listener_modified for a new version of an active or warming
   * one) and removeListener (listener_removed, active or warming) do.
   */
  countAccepted(changes: { readonly added: number; readonly modified: number; readonly removed: number }): void {
    this.added.inc(changes.added);
    this.modified.inc(changes.modified);
    this.removed.inc(changes.removed);
  }

  /** Sets total_listeners_warming: listeners accepted and waiting for their dependencies. */
  setWarming(count: number): void {
    this.totalWarming.set(count);
  }

  /**
   * Builds and binds every listener; on a failure closes what was bound and
   * rejects. They hold what they accept until startWorkers().
   */
  async start(configs: readonly ListenerConfig[]): Promise<void> {
    await this.apply(configs, { drainTimeMs: 0 });
  }

  /**
   * The server's initialization is done (Envoy's startWorkers): listeners
   * serve the connections they held and every one they accept from now on;
   * sets workers_started. Idempotent.
   */
  startWorkers(): void {
    if (this.serving) return;
    this.serving = true;
    // (Listeners replaced or removed meanwhile dropped what they held when they began draining.)
    for (const l of this.listeners) l.startServing();
    this.workersStarted.set(1);
  }

  /** Connections held by listeners until the server's initialization is done. */
  get heldConnections(): number {
    let n = 0;
    for (const l of this.listeners) n += l.heldConnections;
    return n;
  }

  /**
   * Makes `configs` the listener set (see the module comment). Rejects with
   * a ListenerUpdateError naming the listener when one cannot be built or
   * bound; the previous set then keeps serving, and whatever this call
   * built is closed again. Resolves once the new set serves; draining goes
   * on in the background for up to drainTimeMs.
   */
  apply(configs: readonly ListenerConfig[], opts: ApplyOptions): Promise<ListenerUpdateResult> {
    const run = this.queue.then(() => this.applyNow(configs, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(configs: readonly ListenerConfig[], opts: ApplyOptions): Promise<ListenerUpdateResult> {
    const names = new Set<string>();
    for (const c of configs) {
      if (names.has(c.name)) throw new ListenerUpdateError(c.name, 'duplicate listener name in the update');
      names.add(c.name);
    }
    for (let i = 0; i < configs.length; i++) {
      for (let j = i + 1; j < configs.length; j++) {
        const a = configs[i]!, b = configs[j]!;
        if (reusable(a.address) && sameAddress(a.address, b.address)) {
          throw new ListenerUpdateError(b.name, `has duplicate address '${addressString(b.address)}' as listener '${a.name}'`);
        }
      }
    }
    const byName = new Map(this.listeners.map((l) => [l.config.name, l]));
    const result: ListenerUpdateResult = { added: [], modified: [], removed: [] };
    // What each config will be served by: an existing listener (kept or
    // updated in place) or a new one to bind.
    const kept = new Map<ListenerConfig, Listener>();
    const updates: Array<{ config: ListenerConfig; listener: Listener }> = [];
    const toBind: ListenerConfig[] = [];
    const departing: Listener[] = [];
    for (const c of configs) {
      const old = byName.get(c.name);
      if (!old) {
        result.added.push(c.name);
        toBind.push(c);
      } else if (sameConfig(old.config, c)) {
        kept.set(c, old);
      } else {
        result.modified.push(c.name);
        if (sameAddress(old.config.address, c.address)) updates.push({ config: c, listener: old });
        else {
          toBind.push(c);
          departing.push(old);
        }
      }
    }
    for (const l of this.listeners) {
      if (!names.has(l.config.name)) {
        result.removed.push(l.config.name);
        departing.push(l);
      }
    }
    // A new listener on the address of one going away (a rename, two
    // listeners trading addresses) takes over its socket in place rather
    // than racing it for the port.
    for (let i = toBind.length - 1; i >= 0; i--) {
      const c = toBind[i]!;
      if (!reusable(c.address)) continue;
      const k = departing.findIndex((l) => sameAddress(l.config.address, c.address));
      if (k < 0) continue;
      updates.push({ config: c, listener: departing[k]! });
      departing.splice(k, 1);
      toBind.splice(i, 1);
    }

    // Build everything; commit nothing until all of it stands.
    const prepared: Array<{ config: ListenerConfig; listener: Listener; next: ChainSet }> = [];
    const bound = new Map<ListenerConfig, Listener>();
    let current = '';
    try {
      for (const u of updates) {
        current = u.config.name;
        prepared.push({ ...u, next: u.listener.prepare(u.config) });
      }
      for (const c of toBind) {
        current = c.name;
        const l = new Listener(c, this.registry, this.stats, this.rt, this.serving);
        bound.set(c, l);
        await l.listen();
      }
    } catch (e) {
      for (const l of bound.values()) l.closeAll();
      for (const p of prepared) p.next.closeAll();
      this.createFailure.inc();
      const reason = e instanceof Error ? e.message : String(e);
      const where = toBind.find((c) => c.name === current);
      throw new ListenerUpdateError(current, where ? `cannot bind ${addressString(where.address)}: ${reason}` : reason, e);
    }

    // Commit: synchronous from here on.
    for (const p of prepared) {
      void p.listener.swap(p.next, opts.drainTimeMs).then(() => this.refreshGauges());
      kept.set(p.config, p.listener);
      this.inPlace.inc();
    }
    for (const [c, l] of bound) {
      kept.set(c, l);
      // Built to hold (before startWorkers), bound after it ran: serve now, or it holds for ever.
      if (this.serving) l.startServing();
    }
    this.listeners = configs.map((c) => kept.get(c)!);
    for (const l of departing) {
      this.departing.add(l);
      void l.retire(opts.drainTimeMs).then(() => {
        this.departing.delete(l);
        this.refreshGauges();
      });
    }
    this.createSuccess.inc(prepared.length + bound.size);
    if (opts.countChanges !== false) this.countAccepted({ added: result.added.length, modified: result.modified.length, removed: result.removed.length });
    this.refreshGauges();
    return result;
  }

  private refreshGauges(): void {
    let draining = this.departing.size;
    let chains = 0;
    for (const l of this.listeners) {
      draining += (l.draining ? 1 : 0) + l.retiringVersions;
      chains += l.retiringChains;
    }
    for (const l of this.departing) chains += l.config.filterChains.length + (l.config.defaultFilterChain ? 1 : 0) + l.retiringChains;
    this.totalActive.set(this.listeners.length);
    this.totalDraining.set(draining);
    this.chainsDraining.set(chains);
  }

  /** The active listeners. */
  all(): readonly Listener[] {
    return this.listeners;
  }

  /** Connections open on all listeners, draining ones included. */
  get activeConnections(): number {
    let n = 0;
    for (const l of this.listeners) n += l.activeConnections;
    for (const l of this.departing) n += l.activeConnections;
    return n;
  }

  /** Drains listeners (all, or INBOUND only). */
  drain(inboundOnly = false): void {
    for (const l of this.listeners) if (!inboundOnly || l.config.inbound) l.drain();
    this.refreshGauges();
  }

  /** Stops accepting without draining (drain_listeners without graceful). */
  stopAccepting(inboundOnly = false): void {
    for (const l of this.listeners) if (!inboundOnly || l.config.inbound) l.stopAccepting();
  }

  /** Closes everything now, draining listeners included. */
  closeAll(): void {
    for (const l of this.listeners) l.closeAll();
    for (const l of this.departing) l.closeAll();
    this.totalActive.set(0);
  }
}
