/**
 * One version of a listener's filter chains: the handlers built from one
 * ListenerConfig and the connections they took. A listener has exactly one
 * current set (new connections go there) and, after in-place updates, older
 * sets that drain the connections they already own (ARCHITECTURE.md idea 2:
 * in-flight work keeps the objects it started with). Retiring a set drains
 * its handlers (HTTP/1.1 Connection: close, HTTP/2 GOAWAY) and closes what
 * is still open after the drain time.
 */
import type { Socket } from 'node:net';
import type { ConnectionHandler, ExtensionRegistry, NetworkFilterExtension, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { FilterChainConfig, ListenerConfig } from '../contracts/snapshot.ts';
import type { StatsScope } from '../contracts/stats.ts';
import { selectFilterChain } from './filter-chain-match.ts';

/** What building handlers needs besides the config. */
export interface ChainSetRuntime {
  readonly registry: ExtensionRegistry;
  readonly stats: StatsScope;
  readonly rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>;
  /** True once the owning listener drains as a whole. */
  readonly listenerDraining: () => boolean;
}

/** The handlers of one listener config version and the connections they own. */
export class ChainSet {
  readonly config: ListenerConfig;
  /** When this version was built (config_dump's last_updated). */
  readonly createdAt = new Date();
  private readonly handlers = new Map<FilterChainConfig, ConnectionHandler>();
  private readonly sockets = new Set<Socket>();
  private isDraining = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private retired: (() => void) | undefined;

  /** Builds one handler per filter chain; closes the ones built if a later one fails. */
  constructor(config: ListenerConfig, deps: ChainSetRuntime) {
    this.config = config;
    const draining = (): boolean => this.isDraining || deps.listenerDraining();
    const chains = config.defaultFilterChain ? [...config.filterChains, config.defaultFilterChain] : config.filterChains;
    try {
      for (const fc of chains) {
        const terminal = fc.filters[fc.filters.length - 1]!;
        const ext = deps.registry.byTypeName('envoy.filters.network', terminal.typeName) as NetworkFilterExtension | undefined;
        if (!ext?.createHandler) throw new Error(`network filter ${terminal.typeName} has no handler`);
        this.handlers.set(fc, ext.createHandler(terminal.config, { ...deps.rt, stats: deps.stats, draining }));
      }
    } catch (e) {
      this.closeAll();
      throw e;
    }
  }

  /** True once this set drains (replaced, removed, or the listener drains). */
  get draining(): boolean {
    return this.isDraining;
  }

  /** Connections this set's handlers own. */
  get activeConnections(): number {
    return this.sockets.size;
  }

  /** Number of filter chains (default chain included). */
  get chainCount(): number {
    return this.handlers.size;
  }

  /** The handler of the filter chain matching the connection, if any. */
  select(socket: Socket): ConnectionHandler | undefined {
    const chain = selectFilterChain(this.config.filterChains, this.config.defaultFilterChain, {
      localAddress: (socket.localAddress ?? '').replace(/^::ffff:/, ''),
      localPort: socket.localPort ?? 0,
      remoteAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      remotePort: socket.remotePort ?? 0,
      serverName: '',
      transportProtocol: 'raw_buffer',
      applicationProtocols: [],
    });
    return chain ? this.handlers.get(chain) : undefined;
  }

  /** Counts a connection as this set's until it closes. */
  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.finishRetire();
    });
  }

  /** Starts draining the handlers (idempotent). */
  drain(): void {
    if (this.isDraining) return;
    this.isDraining = true;
    for (const h of this.handlers.values()) h.drain();
  }

  /**
   * Drains, then resolves once no connection is left: when the last one
   * closes, or after drainTimeMs, when the rest is closed.
   */
  retire(drainTimeMs: number): Promise<void> {
    this.drain();
    return new Promise<void>((resolve) => {
      const prev = this.retired;
      this.retired = () => {
        prev?.();
        resolve();
      };
      if (this.sockets.size === 0) return this.finishRetire();
      if (!this.drainTimer) {
        this.drainTimer = setTimeout(() => this.closeAll(), Math.max(0, drainTimeMs));
        this.drainTimer.unref();
      }
    });
  }

  private finishRetire(): void {
    if (!this.retired) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    const done = this.retired;
    this.retired = undefined;
    done();
  }

  /** Closes every connection now. */
  closeAll(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    for (const h of this.handlers.values()) h.closeAll();
    for (const s of this.sockets) s.destroy();
    // 'close' of the destroyed sockets comes later; the work is over now.
    this.finishRetire();
  }
}
