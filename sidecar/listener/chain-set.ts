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
import type { ConnectionFilterExtension, ConnectionHandler, ExtensionRegistry, NetworkFilterExtension, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { InspectedFacts, ListenerFilterExtension, ListenerInspector } from '../contracts/listener-filter.ts';
import type { FilterChainConfig, ListenerConfig, ListenerFilterPredicate } from '../contracts/snapshot.ts';
import type { StatsScope } from '../contracts/stats.ts';
import type { DownstreamTransport, TransportSocketExtension } from '../contracts/transport-socket.ts';
import { withConnectionFilters } from './connection-filters.ts';
import { selectFilterChain, type ConnectionFacts } from './filter-chain-match.ts';
import { selectByMatcher } from './filter-chain-matcher.ts';

/** A filter chain at run time: its handler (non-terminal filters, then the terminal one) and its transport socket. */
export interface ChainRuntime {
  readonly config: FilterChainConfig;
  readonly handler: ConnectionHandler;
  /** Undefined: raw_buffer. */
  readonly transport: DownstreamTransport | undefined;
}

/** A listener filter at run time. */
export interface ListenerInspectorRuntime {
  readonly name: string;
  readonly inspector: ListenerInspector;
  readonly disabled: ListenerFilterPredicate | undefined;
}

/** True when filter_disabled matches the connection's destination port. */
export function predicateMatches(p: ListenerFilterPredicate, port: number): boolean {
  switch (p.kind) {
    case 'any': return true;
    case 'port': return port >= p.start && port < p.end;
    case 'or': return p.rules.some((r) => predicateMatches(r, port));
    case 'and': return p.rules.every((r) => predicateMatches(r, port));
    case 'not': return !predicateMatches(p.rule, port);
  }
}

/** What building handlers needs besides the config. */
export interface ChainSetRuntime {
  readonly registry: ExtensionRegistry;
  readonly stats: StatsScope;
  readonly rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>;
  /** True once the owning listener drains as a whole. */
  readonly listenerDraining: () => boolean;
  /** `listener.<address>.` (ssl.* stats of the transport sockets). */
  readonly listenerStats: StatsScope;
}

/** The handlers of one listener config version and the connections they own. */
export class ChainSet {
  readonly config: ListenerConfig;
  /** When this version was built (config_dump's last_updated). */
  readonly createdAt = new Date();
  private readonly handlers = new Map<FilterChainConfig, ChainRuntime>();
  /** The listener filters, in configured order. */
  readonly inspectors: readonly ListenerInspectorRuntime[];
  private readonly sockets = new Set<Socket>();
  private isDraining = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private retired: (() => void) | undefined;
  private released = false;

  /** Builds one handler per filter chain; closes the ones built if a later one fails. */
  constructor(config: ListenerConfig, deps: ChainSetRuntime) {
    this.config = config;
    const draining = (): boolean => this.isDraining || deps.listenerDraining();
    const chains = config.defaultFilterChain ? [...config.filterChains, config.defaultFilterChain] : config.filterChains;
    this.inspectors = Object.freeze(config.listenerFilters.map((f) => {
      const ext = deps.registry.byTypeName('envoy.filters.listener', f.typeName) as ListenerFilterExtension | undefined;
      if (!ext?.createInspector) throw new Error(`listener filter ${f.typeName} has no inspector`);
      return { name: f.name, inspector: ext.createInspector(f.config), disabled: f.disabled };
    }));
    try {
      for (const fc of chains) {
        const terminal = fc.filters[fc.filters.length - 1]!;
        const ext = deps.registry.byTypeName('envoy.filters.network', terminal.typeName) as NetworkFilterExtension | undefined;
        if (!ext?.createHandler) throw new Error(`network filter ${terminal.typeName} has no handler`);
        let transport: DownstreamTransport | undefined;
        if (fc.transportSocket) {
          const ts = deps.registry.byTypeName('envoy.transport_sockets.downstream', fc.transportSocket.typeName) as TransportSocketExtension | undefined;
          if (!ts?.createDownstream) throw new Error(`transport socket ${fc.transportSocket.typeName} cannot terminate`);
          transport = ts.createDownstream(fc.transportSocket.config, { secrets: deps.rt.secrets, stats: deps.listenerStats, log: deps.rt.log });
        }
        const rt = { ...deps.rt, stats: deps.stats, draining };
        // The filters before the terminal one run on each connection first (connection-filters.ts).
        const before = fc.filters.slice(0, -1).map((f) => {
          const x = deps.registry.byTypeName('envoy.filters.network', f.typeName) as ConnectionFilterExtension | undefined;
          if (!x?.createConnectionFilter) throw new Error(`network filter ${f.typeName} cannot run before the terminal filter`);
          return { name: f.name, filter: x.createConnectionFilter(f.config, rt) };
        });
        const handler = withConnectionFilters(before, ext.createHandler(terminal.config, rt), deps.rt.log);
        this.handlers.set(fc, { config: fc, handler, transport });
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

  /** The filter chain matching the connection and what the listener filters found, if any. */
  select(socket: Socket, facts: InspectedFacts): ChainRuntime | undefined {
    const f: ConnectionFacts = {
      localAddress: (socket.localAddress ?? '').replace(/^::ffff:/, ''),
      localPort: socket.localPort ?? 0,
      remoteAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      remotePort: socket.remotePort ?? 0,
      serverName: facts.serverName ?? '',
      transportProtocol: facts.transportProtocol,
      applicationProtocols: facts.applicationProtocols,
    };
    // filter_chain_matcher, when set, replaces filter_chain_match (Envoy ignores the latter then).
    const m = this.config.filterChainMatcher;
    const chain = m ? selectByMatcher(m, this.config.defaultFilterChain, f) : selectFilterChain(this.config.filterChains, this.config.defaultFilterChain, f);
    return chain ? this.handlers.get(chain) : undefined;
  }

  /** True when every transport socket has the secrets it needs (the listener is warm). */
  get ready(): boolean {
    for (const c of this.handlers.values()) if (c.transport && !c.transport.ready()) return false;
    return true;
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
    for (const h of this.handlers.values()) h.handler.drain();
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
    this.release();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    const done = this.retired;
    this.retired = undefined;
    done();
  }

  /** Releases what the chains' configs hold (secret watches, filter pollers); once. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    for (const h of this.handlers.values()) {
      h.transport?.close();
      h.handler.close?.();
    }
  }

  /** Closes every connection now. */
  closeAll(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    for (const h of this.handlers.values()) h.handler.closeAll();
    this.release();
    for (const s of this.sockets) s.destroy();
    // 'close' of the destroyed sockets comes later; the work is over now.
    this.finishRetire();
  }
}
