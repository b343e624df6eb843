/**
 * envoy.filters.network.http_connection_manager at run time: takes accepted
 * sockets from a listener's filter chain and serves HTTP/1.1 (our own strict
 * codec, http1-server.ts: it refuses smuggling shapes such as Content-Length
 * with Transfer-Encoding, duplicate Content-Length, bad header bytes) and h2c
 * (node:http2; AUTO codec sniffs the HTTP/2 preface). Each stream runs the
 * configured HTTP filters, then the router. Draining answers HTTP/1.1 with
 * `Connection: close` and sends HTTP/2 GOAWAY.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { DownstreamConnectionFacts, ExtensionConfigProvider, HttpFilterExtension } from '../../../sidecar/contracts/extension.ts';
import type { ConnectionInfo, HttpFilterFactory } from '../../../sidecar/contracts/http-filter.ts';
import type { StatsScope } from '../../../sidecar/contracts/stats.ts';
import type { RouteTable } from '../route/route-match.ts';
import { RouterStream, type RouterRuntime } from '../router/router.ts';
import type { HcmConfig } from './config.ts';
import { Http2Downstream } from './downstream.ts';
import { serveLeanHttp1, type LeanHttp1Connection, type LeanHttp1Downstream, type LeanHttp1Options } from './http1-server.ts';
import { HcmStats } from './hcm-stats.ts';
import { ClusterAsyncClient } from '../../../sidecar/upstream/async-client.ts';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const CONNECTION_INFO = Symbol('themis.connectionInfo');


/** Where HTTP connections report to the listener that owns them. */
export interface HcmHost extends RouterRuntime {
  log: { debug(o: object, m: string): void; warn(o: object, m: string): void };
  /** ECDS configs of config_discovery filters. */
  readonly extensionConfigs?: ExtensionConfigProvider;
}

/** One HCM instance (per filter chain of a listener snapshot). */
export class HttpConnectionManager {
  readonly config: HcmConfig;
  readonly stats: HcmStats;
  private readonly host: HcmHost;
  private readonly h2: http2.Http2Server;
  private readonly h1Connections = new Map<Socket, LeanHttp1Connection>();
  private readonly h1Options: LeanHttp1Options;
  /** The same over TLS: requests get `:scheme: https`. */
  private readonly h1TlsOptions: LeanHttp1Options;
  /** The HTTP filters before the router, in configured order. */
  private readonly filterFactories: readonly HttpFilterFactory[];
  private readonly h2Sessions = new Set<http2.ServerHttp2Session>();
  private draining = false;

  constructor(config: HcmConfig, stats: StatsScope, host: HcmHost) {
    this.config = config;
    this.stats = new HcmStats(stats, config.statPrefix);
    this.host = host;
    const hcmScope = stats.scope(`http.${config.statPrefix}`);
    const asyncClient = new ClusterAsyncClient((name) => host.cluster(name));
    this.filterFactories = Object.freeze(config.filters.map((f) => (f.extension as HttpFilterExtension).createFactory(f.config, { stats: hcmScope, extensionConfigs: host.extensionConfigs, asyncClient })));
    this.h1Options = Object.freeze({
      maxRequestHeadersKb: config.maxRequestHeadersKb,
      maxHeadersCount: config.maxHeadersCount,
      keepAliveTimeoutMs: Math.min(config.idleTimeoutMs, 2 ** 31 - 1),
      headersTimeoutMs: config.requestHeadersTimeoutMs,
    });
    this.h1TlsOptions = Object.freeze({ ...this.h1Options, scheme: 'https' });
    this.h2 = http2.createServer({
      maxHeaderListPairs: config.maxHeadersCount,
      maxSessionMemory: 64,
      settings: {
        maxConcurrentStreams: Math.min(config.h2MaxConcurrentStreams, 2 ** 31 - 1),
        initialWindowSize: Math.min(config.h2InitialStreamWindow, 2 ** 31 - 1),
        maxHeaderListSize: config.maxRequestHeadersKb * 1024,
      },
    });
    this.h2.on('session', (s: http2.ServerHttp2Session) => this.onH2Session(s));
    this.h2.on('stream', (stream, headers, flags, rawHeaders) => this.onH2Stream(stream, headers, flags, rawHeaders));
  }

  /** The inline route table, or the current RDS one. */
  private routeTable(): RouteTable | undefined {
    return this.config.routes ?? this.host.routeTable(this.config.rdsName!);
  }

  /** Active HTTP connections (for draining). */
  get activeConnections(): number {
    return this.h1Connections.size + this.h2Sessions.size;
  }

  /** Takes an accepted socket (decrypted when the chain terminates TLS). */
  handle(socket: Socket, facts: DownstreamConnectionFacts): void {
    // A client's FIN ends the connection once its response is written.
    socket.allowHalfOpen = false;
    (socket as Socket & { [CONNECTION_INFO]?: ConnectionInfo })[CONNECTION_INFO] = Object.freeze({
      remoteAddress: facts.remoteAddress || '127.0.0.1',
      remotePort: facts.remotePort,
      localAddress: facts.localAddress,
      localPort: facts.localPort,
      scheme: facts.tls ? 'https' : 'http',
      peerPrincipal: facts.peerPrincipal,
      tls: facts.tls,
    });
    this.stats.cxTotal.inc();
    this.stats.cxActive.inc();
    socket.once('close', () => {
      this.stats.cxActive.dec();
      this.stats.cxDestroy.inc();
    });
    // The listener may hand the socket over paused (listener filters peeked
    // at it): node:http2 takes it paused; HTTP/1.1 and sniffing need it flowing.
    const codec = this.config.codec;
    if (codec === 'HTTP2') return this.serveH2(socket);
    // Over TLS, ALPN decides (node:http2 cannot take bytes already read from
    // a TLS socket); without ALPN it is HTTP/1.1, as Envoy's AUTO does.
    if (facts.tls && facts.tls.alpn === 'h2') return this.serveH2(socket);
    if (codec === 'HTTP1' || facts.tls) {
      this.serveH1(socket);
      socket.resume();
      return;
    }
    // AUTO: the HTTP/2 connection preface decides.
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const n = Math.min(buffered.length, H2_PREFACE.length);
      const isH2 = buffered.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && buffered.length < H2_PREFACE.length) return; // need more bytes
      socket.removeListener('data', onData);
      socket.pause();
      socket.unshift(buffered);
      // node:http2 reads what is buffered on the socket on its next tick
      // (it must not be flowing until then); node:http needs it flowing.
      if (isH2) this.serveH2(socket);
      else {
        this.serveH1(socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.resume();
  }

  private serveH1(socket: Socket): void {
    this.stats.cxHttp1Total.inc();
    this.stats.cxHttp1Active.inc();
    const options = this.connectionInfo(socket).tls ? this.h1TlsOptions : this.h1Options;
    const conn = serveLeanHttp1(socket, options, (ds) => this.onH1Request(ds, socket), {
      onProtocolError: (status, reason) => {
        this.stats.cxProtocolError.inc();
        if (status === 431) this.stats.rqHeaderTooLarge.inc();
        this.stats.response(status);
        this.host.log.debug({ status, reason }, 'downstream HTTP/1 protocol error');
      },
    });
    this.h1Connections.set(socket, conn);
    // Accepted before a drain, its first request may still be on its way:
    // onH1Request answers it with Connection: close (see drain()).
    socket.once('close', () => {
      this.h1Connections.delete(socket);
      this.stats.cxHttp1Active.dec();
    });
  }

  private serveH2(socket: Socket): void {
    this.stats.cxHttp2Total.inc();
    this.h2.emit('connection', socket);
  }

  /** The connection's facts, set once per connection by handle(). */
  private connectionInfo(socket: Socket): ConnectionInfo {
    return (socket as Socket & { [CONNECTION_INFO]: ConnectionInfo })[CONNECTION_INFO];
  }

  private onH1Request(ds: LeanHttp1Downstream, socket: Socket): void {
    this.stats.streamStart(false);
    if (this.draining) {
      ds.closeConnectionAfter();
      this.stats.cxDrainClose.inc();
    }
    new RouterStream(this.config, this.routeTable(), ds, this.connectionInfo(socket), this.host, this.stats, this.filterFactories).run();
  }

  private onH2Session(s: http2.ServerHttp2Session): void {
    this.h2Sessions.add(s);
    this.stats.cxHttp2Active.inc();
    s.once('close', () => {
      this.h2Sessions.delete(s);
      this.stats.cxHttp2Active.dec();
    });
    s.on('error', (e) => {
      this.stats.cxProtocolError.inc();
      this.host.log.debug({ err: e.message }, 'downstream HTTP/2 session error');
    });
    s.setTimeout(Math.min(this.config.idleTimeoutMs, 2 ** 31 - 1), () => {
      this.stats.cxIdleTimeout.inc();
      s.goaway(http2.constants.NGHTTP2_NO_ERROR);
      s.close();
    });
    if (this.draining) s.goaway(http2.constants.NGHTTP2_NO_ERROR);
  }

  private onH2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
    this.stats.streamStart(true);
    stream.on('error', () => undefined); // resets are reported through the router's abort path
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    // A stream can still be announced while its session is being torn down
    // (drain, closeAll): refuse it (the client may retry) rather than serve
    // it without a connection.
    const socket = stream.session?.socket as Socket | undefined;
    if (!socket || stream.destroyed) {
      this.stats.rqRxReset.inc();
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      this.stats.streamDone();
      return;
    }
    const ds = new Http2Downstream(stream, rawHeaders, endStream);
    new RouterStream(this.config, this.routeTable(), ds, this.connectionInfo(socket), this.host, this.stats, this.filterFactories).run();
  }

  /**
   * Starts draining: HTTP/1.1 connections close after their next response
   * (Connection: close); HTTP/2 sessions get GOAWAY. As Envoy, an idle
   * HTTP/1.1 connection is not closed at once (its client may be sending a
   * request on it right now: the keep-alive race) but after drain_timeout.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const c of this.h1Connections.values()) if (!c.idle) c.drain();
    setTimeout(() => {
      for (const c of this.h1Connections.values()) c.drain();
    }, this.config.drainTimeoutMs).unref();
    for (const s of this.h2Sessions) {
      s.goaway(http2.constants.NGHTTP2_NO_ERROR);
      s.close();
    }
  }

  /** This HCM's chain version is gone: its filters release what their configs hold. */
  close(): void {
    for (const f of this.filterFactories) f.close?.();
  }

  /** Closes every connection now (end of the drain period). */
  closeAll(): void {
    for (const s of this.h1Connections.keys()) s.destroy();
    for (const s of this.h2Sessions) s.destroy();
  }
}
