/**
 * One listener at run time: a net.Server on a socket address or a pipe, the
 * current version of its filter chains (a ChainSet), older versions still
 * draining the connections they took before an in-place update, per-listener
 * stats (`listener.<address>.*`, continuous across updates), and its part of
 * draining: stop accepting, let handlers finish, then close what is left.
 *
 * Before the server's initialization is done (Envoy starts its workers only
 * once its init manager has finished: CDS/EDS, LDS/RDS, SDS, ECDS initial
 * fetches or their initial_fetch_timeout), a listener is bound but holds
 * the connections it accepts: counted (downstream_cx_total/_active), not
 * handed to any filter chain and not answered, read at most up to the
 * socket's high-water mark (then TCP flow control holds the client). A
 * client that closes before sending anything, or resets, is cleaned up at
 * once; one that sent bytes and then closed is seen by its handler once
 * served (the bytes and the FIN stay queued in order). startServing()
 * hands every held connection to the version current then; draining or
 * closing the listener meanwhile destroys them (Envoy's listen backlog is
 * reset when its socket closes).
 */
import { chmod, unlink } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import { InvariantError } from '../contracts/errors.ts';
import type { ExtensionRegistry, NetworkFilterRuntime } from '../contracts/extension.ts';
import type { ListenerConfig, SocketAddress } from '../contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';
import { addressStatName, addressString } from '../../xds/translate/address.ts';
import type { InspectedFacts } from '../contracts/listener-filter.ts';
import { ChainSet, predicateMatches, type ChainRuntime, type ChainSetRuntime } from './chain-set.ts';

function unmapV4(a: string | undefined): string {
  return a === undefined ? '' : a.startsWith('::ffff:') ? a.slice(7) : a;
}

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
/** Most connections a listener holds while the server initializes (Linux's default somaxconn, 4096). */
export const MAX_HELD_CONNECTIONS = 4096;

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
  private readonly filterTimeout: Counter;
  private readonly handshakeTimeout: Counter;
  private readonly cxOverflow: Counter;
  private isDraining = false;
  private boundPort = 0;
  /**
   * Connections accepted before the server's initialization is done, with
   * what cleans each up should its client go away; undefined once serving
   * (the one check an accepted connection pays).
   */
  private held: Map<Socket, () => void> | undefined;

  /**
   * Builds the filter chains' handlers; throws when one cannot be built.
   * Binds nothing yet. `serving` false: accepted connections are held until
   * startServing() (the server is still initializing).
   */
  constructor(config: ListenerConfig, registry: ExtensionRegistry, stats: StatsScope, rt: Omit<NetworkFilterRuntime, 'draining' | 'stats'>, serving = true) {
    // The stats scope is named by address, so an in-place update (same
    // address) keeps counting into the same counters.
    const s = stats.scope(`listener.${addressStatName(config.address)}`);
    this.cxTotal = s.counter('downstream_cx_total');
    this.cxActive = s.gauge('downstream_cx_active');
    this.cxDestroy = s.counter('downstream_cx_destroy');
    this.noChain = s.counter('no_filter_chain_match');
    this.filterTimeout = s.counter('downstream_pre_cx_timeout');
    this.handshakeTimeout = s.counter('downstream_cx_transport_socket_connect_timeout');
    this.cxOverflow = s.counter('downstream_cx_overflow');
    this.deps = { registry, stats, rt, listenerDraining: () => this.isDraining, listenerStats: s };
    this.current = new ChainSet(config, this.deps);
    // Half-open is allowed so tcp_proxy can forward a client's FIN; handlers
    // that do not want it (the HTTP connection manager) turn it off per socket.
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false, allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.server.on('error', (e) => rt.log.warn({ listener: config.name, err: e.message }, 'listener error'));
    if (!serving) this.held = new Map();
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
    // bind_to_port: false binds nothing (see the warning at parse time).
    if (!this.config.bindToPort) return;
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
    if (this.held) {
      this.hold(socket, this.held);
      return;
    }
    this.serve(socket);
  }

  /** Hands a connection to the current version: listener filters, then its filter chain. */
  private serve(socket: Socket): void {
    // The connection belongs to the version current now, for its whole life.
    const set = this.current;
    set.track(socket);
    const facts: InspectedFacts = { transportProtocol: 'raw_buffer', applicationProtocols: [] };
    const port = socket.localPort ?? 0;
    const inspectors = set.inspectors.filter((i) => i.inspector.needsData && !(i.disabled && predicateMatches(i.disabled, port)));
    if (inspectors.length === 0) {
      this.dispatch(set, socket, facts);
      return;
    }
    this.inspect(set, socket, inspectors.map((i) => i.inspector), facts);
  }

  /**
   * Holds a connection accepted during initialization. Its stream is left
   * as Node made it (not flowing, no 'data' listener): bytes are buffered up
   * to the high-water mark and kept for the handler. 'end' is only emitted
   * while nothing is buffered, so it means the client closed without a
   * word: the connection is destroyed; a reset destroys it through 'error'.
   */
  private hold(socket: Socket, held: Map<Socket, () => void>): void {
    // Bounded as a kernel listen backlog is (at Linux's default somaxconn):
    // past it a connection is refused, counted as Envoy counts a listener's
    // connection-limit overflow.
    if (held.size >= MAX_HELD_CONNECTIONS) {
      this.cxOverflow.inc();
      socket.destroy();
      return;
    }
    const onEnd = (): void => { socket.destroy(); };
    const onClose = (): void => { held.delete(socket); };
    socket.once('end', onEnd);
    socket.once('close', onClose);
    held.set(socket, () => {
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onClose);
    });
  }

  /** Connections held because the server is still initializing. */
  get heldConnections(): number {
    return this.held?.size ?? 0;
  }

  /**
   * The server's initialization is done: accepted connections go to their
   * filter chains from now on, and those held meanwhile go now, in the
   * order they came, to the version current now.
   */
  startServing(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const [socket, release] of held) {
      release();
      if (!socket.destroyed) this.serve(socket);
    }
  }

  /** Destroys the held connections (the listener stops accepting before it served them). */
  private dropHeld(): void {
    if (!this.held) return;
    for (const socket of [...this.held.keys()]) socket.destroy();
  }

  /**
   * Runs the listener filters over the first bytes (peeked: given back to
   * the socket afterwards), bounded by listener_filters_timeout.
   */
  private inspect(set: ChainSet, socket: Socket, inspectors: ReadonlyArray<ChainSet['inspectors'][number]['inspector']>, facts: InspectedFacts): void {
    let peeked: Buffer = Buffer.alloc(0);
    const pending = new Set(inspectors);
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.pause();
      if (peeked.length) socket.unshift(peeked);
      this.dispatch(set, socket, facts);
    };
    const onData = (chunk: Buffer): void => {
      peeked = peeked.length ? Buffer.concat([peeked, chunk]) : chunk;
      for (const i of [...pending]) {
        const v = i.inspect(peeked, facts);
        if (v === 'need-more') continue;
        if (v !== 'done') {
          this.deps.rt.log.debug({ listener: set.config.name, reason: v.reject }, 'listener filter closed the connection');
          socket.destroy();
          if (timer) clearTimeout(timer);
          return;
        }
        pending.delete(i);
      }
      if (pending.size === 0) finish();
    };
    // A client that half-closes before the inspectors are sure. With nothing received, go on
    // with what is known (a chain may still answer). Bytes already read cannot be handed on:
    // a stream takes no unshift() after its 'end', so the connection closes, as Envoy closes
    // one that ends mid-inspection. (The inspectors settle as soon as the bytes rule their
    // protocol out, so only a truncated ClientHello or request line gets here.)
    const onEnd = (): void => {
      if (peeked.length === 0) { finish(); return; }
      if (timer) clearTimeout(timer);
      this.deps.rt.log.debug({ listener: set.config.name, bytes: peeked.length }, 'client closed before the listener filters decided');
      socket.destroy();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', () => { if (timer) clearTimeout(timer); });
    const ms = set.config.listenerFiltersTimeoutMs;
    if (ms > 0) {
      timer = setTimeout(() => {
        this.filterTimeout.inc();
        if (set.config.continueOnListenerFiltersTimeout) finish();
        else socket.destroy();
      }, ms);
    }
  }

  /** Picks the filter chain, secures the connection if the chain has TLS, hands it over. */
  private dispatch(set: ChainSet, socket: Socket, facts: InspectedFacts): void {
    if (socket.destroyed) return;
    const chain = set.select(socket, facts);
    if (!chain) {
      this.noChain.inc();
      socket.destroy();
      return;
    }
    const addrs = {
      remoteAddress: unmapV4(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      localAddress: unmapV4(socket.localAddress),
      localPort: socket.localPort ?? 0,
    };
    if (!chain.transport) {
      chain.handler.handle(socket, { ...addrs, serverName: facts.serverName });
      return;
    }
    this.secure(chain, socket, facts, addrs);
  }

  private secure(chain: ChainRuntime, socket: Socket, facts: InspectedFacts, addrs: { remoteAddress: string; remotePort: number; localAddress: string; localPort: number }): void {
    const timer = setTimeout(() => {
      this.handshakeTimeout.inc();
      this.deps.rt.log.debug({ listener: this.config.name, remote: addrs.remoteAddress }, 'TLS handshake timed out');
      socket.destroy();
    }, chain.config.transportSocketConnectTimeoutMs);
    chain.transport!.secure(socket, facts, (r) => {
      clearTimeout(timer);
      if (!r.ok) {
        this.deps.rt.log.debug({ listener: this.config.name, remote: addrs.remoteAddress, reason: r.reason }, 'TLS handshake failed');
        socket.destroy();
        return;
      }
      r.socket.on('error', () => undefined);
      chain.handler.handle(r.socket, { ...addrs, serverName: facts.serverName, tls: r.tls, peerPrincipal: r.peerPrincipal });
    });
  }

  /** Connections still open: held, and on the current and replaced versions. */
  get activeConnections(): number {
    let n = this.current.activeConnections + (this.held?.size ?? 0);
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
    this.dropHeld();
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
    this.dropHeld();
  }

  /** Closes the socket and every connection now. */
  closeAll(): void {
    this.server.close();
    this.dropHeld();
    this.current.closeAll();
    for (const r of this.retiring) r.closeAll();
  }
}
