/**
 * The listener manager: builds and binds the listeners of a snapshot and
 * drains them, with Envoy's `listener_manager.*` stats.
 */
import type { ExtensionRegistry, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { ListenerConfig } from '../contracts/snapshot.ts';
import type { Gauge, StatsScope } from '../contracts/stats.ts';
import { Listener } from './listener.ts';

/** All listeners. */
export class ListenerManager {
  private listeners: Listener[] = [];
  private readonly registry: ExtensionRegistry;
  private readonly stats: StatsScope;
  private readonly rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>;
  private readonly totalActive: Gauge;
  private readonly workersStarted: Gauge;

  constructor(registry: ExtensionRegistry, stats: StatsScope, rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>) {
    this.registry = registry;
    this.stats = stats;
    this.rt = rt;
    const lm = stats.scope('listener_manager');
    this.totalActive = lm.gauge('total_listeners_active');
    this.workersStarted = lm.gauge('workers_started');
    lm.counter('listener_added');
    lm.gauge('total_listeners_warming');
    lm.gauge('total_listeners_draining');
  }

  /** Builds and binds every listener; on a bind failure closes what was bound and rejects. */
  async start(configs: readonly ListenerConfig[]): Promise<void> {
    const built = configs.map((c) => new Listener(c, this.registry, this.stats, this.rt));
    try {
      for (const l of built) await l.listen();
    } catch (e) {
      for (const l of built) l.closeAll();
      throw e;
    }
    this.listeners = built;
    this.stats.scope('listener_manager').counter('listener_added').inc(built.length);
    this.totalActive.set(built.length);
    this.workersStarted.set(1);
  }

  /** The active listeners. */
  all(): readonly Listener[] {
    return this.listeners;
  }

  /** Connections open on all listeners. */
  get activeConnections(): number {
    return this.listeners.reduce((n, l) => n + l.activeConnections, 0);
  }

  /** Drains listeners (all, or INBOUND only). */
  drain(inboundOnly = false): void {
    for (const l of this.listeners) if (!inboundOnly || l.config.inbound) l.drain();
    this.stats.scope('listener_manager').gauge('total_listeners_draining').set(this.listeners.filter((l) => !inboundOnly || l.config.inbound).length);
  }

  /** Stops accepting without draining (drain_listeners without graceful). */
  stopAccepting(inboundOnly = false): void {
    for (const l of this.listeners) if (!inboundOnly || l.config.inbound) l.stopAccepting();
  }

  /** Closes everything now. */
  closeAll(): void {
    for (const l of this.listeners) l.closeAll();
    this.totalActive.set(0);
  }
}
