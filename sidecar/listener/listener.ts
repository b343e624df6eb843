/**
 * One listener at run time: a net.Server on a socket address or a pipe,
 * the filter chains of its snapshot (each with the handler of its terminal
 * network filter), per-listener stats (`listener.<address>.*`), and its part
 * of draining: stop accepting, let handlers finish, then close what is left.
 */
import { chmod, unlink } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import type { ConnectionHandler, ExtensionRegistry, NetworkFilterExtension, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { FilterChainConfig, ListenerConfig } from '../contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';
import { addressStatName } from '../../xds/translate/address.ts';
import { selectFilterChain } from './filter-chain-match.ts';

/** A listener and its connections. */
export class Listener {
  readonly config: ListenerConfig;
  readonly addedAt = new Date();
  private readonly server: net.Server;
  private readonly handlers = new Map<FilterChainConfig, ConnectionHandler>();
  private readonly sockets = new Set<Socket>();
  private readonly cxTotal: Counter;
  private readonly cxActive: Gauge;
  private readonly cxDestroy: Counter;
  private readonly noChain: Counter;
  private draining = false;
  private boundPort = 0;

  constructor(config: ListenerConfig, registry: ExtensionRegistry, stats: StatsScope, rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>) {
    this.config = config;
    const s = stats.scope(`listener.${addressStatName(config.address)}`);
    this.cxTotal = s.counter('downstream_cx_total');
    this.cxActive = s.gauge('downstream_cx_active');
    this.cxDestroy = s.counter('downstream_cx_destroy');
    this.noChain = s.counter('no_filter_chain_match');
    const chains = config.defaultFilterChain ? [...config.filterChains, config.defaultFilterChain] : config.filterChains;
    for (const fc of chains) {
      const terminal = fc.filters[fc.filters.length - 1]!;
      const ext = registry.byTypeName('envoy.filters.network', terminal.typeName) as NetworkFilterExtension | undefined;
      if (!ext?.createHandler) throw new Error(`network filter ${terminal.typeName} has no handler`);
      this.handlers.set(fc, ext.createHandler(terminal.config, { ...rt, stats, draining: () => this.draining }));
    }
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.onConnection(socket));
    this.server.on('error', (e) => rt.log.warn({ listener: config.name, err: e.message }, 'listener error'));
  }

  /** The port actually bound (0 for pipes). */
  get port(): number {
    return this.boundPort;
  }

  /** Binds and starts accepting. Rejects when the address cannot be bound. */
  async listen(): Promise<void> {
    const a = this.config.address;
    if (a.kind === 'pipe') await unlink(a.path).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      const done = (): void => {
        this.server.removeListener('error', onError);
        resolve();
      };
      if (a.kind === 'pipe') this.server.listen(a.path, done);
      else this.server.listen({ host: a.host, port: a.port, backlog: 1024, ipv6Only: false }, done);
    });
    if (a.kind === 'pipe' && a.mode !== undefined) await chmod(a.path, a.mode);
    const addr = this.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : 0;
  }

  private onConnection(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.cxTotal.inc();
    this.cxActive.inc();
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.cxActive.dec();
      this.cxDestroy.inc();
    });
    socket.on('error', () => undefined); // a peer reset concerns only this connection
    const chain = selectFilterChain(this.config.filterChains, this.config.defaultFilterChain, {
      localAddress: (socket.localAddress ?? '').replace(/^::ffff:/, ''),
      localPort: socket.localPort ?? 0,
      remoteAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      remotePort: socket.remotePort ?? 0,
      serverName: '',
      transportProtocol: 'raw_buffer',
      applicationProtocols: [],
    });
    if (!chain) {
      this.noChain.inc();
      socket.destroy();
      return;
    }
    this.handlers.get(chain)!.handle(socket);
  }

  /** Connections still open. */
  get activeConnections(): number {
    return this.sockets.size;
  }

  /** Stops accepting; handlers start draining (Connection: close, GOAWAY). */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.server.close();
    for (const h of this.handlers.values()) h.drain();
  }

  /** Stops accepting without draining connections (non-graceful drain_listeners). */
  stopAccepting(): void {
    this.server.close();
  }

  /** Closes every connection now. */
  closeAll(): void {
    this.server.close();
    for (const h of this.handlers.values()) h.closeAll();
    for (const s of this.sockets) s.destroy();
  }
}
