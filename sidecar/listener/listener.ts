/**
 * One listener at run time: a net.Server on a socket address or a pipe, the
 * current version of its filter chains (a ChainSet), older versions still
 * draining the connections they took before an in-place update, per-listener
 * stats (`listener.<address>.*`, continuous across updates), and its part of
 * draining: stop accepting, let handlers finish, then close what is left.
 */
import { chmod, unlink } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import { InvariantError } from '../contracts/errors.ts';
import type { ExtensionRegistry, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { ListenerConfig, SocketAddress } from '../contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';
import { addressStatName, addressString } from '../../xds/translate/address.ts';
import { ChainSet, type ChainSetRuntime } from './chain-set.ts';

/**
 * True when two configured addresses name the same socket: same host and
 * port (port 0 included: an updated port-0 listener keeps its bound port),
 * or the same pipe path (a new mode is applied to the existing file).
 */
export function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  if (a.kind === 'pipe') return b.kind === 'pipe' && a.path === b.path;
  return b.kind === 'tcp' && a.host === b.host && a.port === b.port;
}

/** A listener and its connections. */
export class Listener {
  private readonly server: net.Server;
  private readonly deps: ChainSetRuntime;
  private current: ChainSet;
  /** Replaced versions still draining their connections. */
  private readonly retiring = new Set<ChainSet>();
  private readonly cxTotal: Counter;
  private readonly cxActive: Gauge;
  private readonly cxDestroy: Counter;
  private readonly noChain: Counter;
  private isDraining = false;
  private boundPort = 0;

  /** Builds the filter chains' handlers; throws when one cannot be built. Binds nothing yet. */
  constructor(config: ListenerConfig, registry: ExtensionRegistry, stats: StatsScope, rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>) {
    // The stats scope is named by address, so an in-place update (same
    // address) keeps counting into the same counters.
    const s = stats.scope(`listener.${addressStatName(config.address)}`);
    this.cxTotal = s.counter('downstream_cx_total');
    this.cxActive = s.gauge('downstream_cx_active');
    this.cxDestroy = s.counter('downstream_cx_destroy');
    this.noChain = s.counter('no_filter_chain_match');
    this.deps = { registry, stats, rt, listenerDraining: () => this.isDraining };
    this.current = new ChainSet(config, this.deps);
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.onConnection(socket));
    this.server.on('error', (e) => rt.log.warn({ listener: config.name, err: e.message }, 'listener error'));
  }

  /** The config new connections are served with. */
  get config(): ListenerConfig {
    return this.current.config;
  }

  /** When the current config version was built. */
  get addedAt(): Date {
    return this.current.createdAt;
  }

  /** The port actually bound (0 for pipes). */
  get port(): number {
    return this.boundPort;
  }

  /** True once the whole listener drains (removed, replaced, or server drain). */
  get draining(): boolean {
    return this.isDraining;
  }

  /** Replaced config versions still draining their connections. */
  get retiringVersions(): number {
    return this.retiring.size;
  }

  /** Filter chains of replaced config versions still draining. */
  get retiringChains(): number {
    let n = 0;
    for (const r of this.retiring) n += r.chainCount;
    return n;
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
    if (this.isDraining) {
      socket.destroy();
      return;
    }
    this.cxTotal.inc();
    this.cxActive.inc();
    socket.once('close', () => {
      this.cxActive.dec();
      this.cxDestroy.inc();
    });
    socket.on('error', () => undefined); // a peer reset concerns only this connection
    // The connection belongs to the version current now, for its whole life.
    const set = this.current;
    set.track(socket);
    const handler = set.select(socket);
    if (!handler) {
      this.noChain.inc();
      socket.destroy();
      return;
    }
    handler.handle(socket);
  }

  /** Connections still open, on the current and on replaced versions. */
  get activeConnections(): number {
    let n = this.current.activeConnections;
    for (const r of this.retiring) n += r.activeConnections;
    return n;
  }

  /**
   * Builds the handlers of a new version of this listener without swapping
   * it in (the manager builds every change before it commits any). The
   * address must be the one this listener is bound to.
   */
  prepare(config: ListenerConfig): ChainSet {
    if (!sameAddress(config.address, this.current.config.address)) {
      throw new InvariantError(`listener '${config.name}': an in-place update cannot move ${addressString(this.current.config.address)} to ${addressString(config.address)}`);
    }
    return new ChainSet(config, this.deps);
  }

  /**
   * Swaps in a prepared version: new connections get its handlers at once
   * (the socket keeps listening, no gap); the replaced version drains its
   * connections and closes those left after drainTimeMs. Resolves when the
   * replaced version has no connection left.
   */
  swap(next: ChainSet, drainTimeMs: number): Promise<void> {
    const old = this.current;
    this.current = next;
    if (this.isDraining) next.drain();
    const a = next.config.address;
    if (a.kind === 'pipe' && a.mode !== undefined && old.config.address.kind === 'pipe' && a.mode !== old.config.address.mode) {
      void chmod(a.path, a.mode).catch((e: Error) => this.deps.rt.log.warn({ listener: next.config.name, err: e.message }, 'cannot change pipe mode'));
    }
    this.retiring.add(old);
    return old.retire(drainTimeMs).then(() => {
      this.retiring.delete(old);
    });
  }

  /** In-place update: prepare + swap. Resolves when the replaced version has drained. */
  update(config: ListenerConfig, drainTimeMs: number): Promise<void> {
    return this.swap(this.prepare(config), drainTimeMs);
  }

  /** Stops accepting; handlers start draining (Connection: close, GOAWAY). */
  drain(): void {
    if (this.isDraining) return;
    this.isDraining = true;
    this.server.close();
    this.current.drain();
    for (const r of this.retiring) r.drain();
  }

  /**
   * Removal: stops accepting, drains every version, closes what is left
   * after drainTimeMs. Resolves when no connection is left.
   */
  async retire(drainTimeMs: number): Promise<void> {
    this.drain();
    await Promise.all([this.current.retire(drainTimeMs), ...[...this.retiring].map((r) => r.retire(drainTimeMs))]);
  }

  /** Stops accepting without draining connections (non-graceful drain_listeners). */
  stopAccepting(): void {
    this.server.close();
  }

  /** Closes the socket and every connection now. */
  closeAll(): void {
    this.server.close();
    this.current.closeAll();
    for (const r of this.retiring) r.closeAll();
  }
}
