/**
 * envoy.transport_sockets.tls at run time, both ways. A filter chain with a
 * DownstreamTlsContext terminates TLS on accepted sockets; a cluster with an
 * UpstreamTlsContext originates it. Certificates and trust come inline, from
 * files (read when the config is parsed) or by name from the secret store
 * (SDS); a rotated secret rebuilds the secure context for new handshakes
 * while established sessions keep theirs. The peer is verified as Envoy
 * does (trust chain, SAN matchers, SPKI/hash pins) with Envoy's ssl.* stats.
 */
import { readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { AcceptedConnectionFacts, DownstreamTransport, SecuredConnection, TransportSocketExtension, TransportSocketRuntime, UpstreamTarget, UpstreamTransport } from '../../sidecar/contracts/transport-socket.ts';
import type { CertificateInfo, TlsConnectionInfo } from '../../sidecar/contracts/tls.ts';
import { certificateInfo, connectionInfo, peerPrincipal } from './certificate-info.ts';
import { parseDownstreamTlsContext, parseUpstreamTlsContext, type CommonTlsContextConfig, type DownstreamTlsContextConfig, type UpstreamTlsContextConfig } from './context-config.ts';
import type { VerifyFailureStat } from './peer-verification.ts';
import { parseSecret, secretToMaterial } from './secrets.ts';
import { createDownstreamTls, createUpstreamTls, resolveMaterial, type DownstreamTls, type TlsMaterial, type UpstreamTls } from './secure-context.ts';

const DOWNSTREAM_TYPE = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TYPE = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** Envoy's ssl.* counters of one listener or cluster. */
class SslStats {
  private readonly scope: StatsScope;
  readonly handshake: Counter;
  readonly connectionError: Counter;
  readonly noCertificate: Counter;
  private readonly verify = new Map<string, Counter>();
  constructor(scope: StatsScope) {
    this.scope = scope.scope('ssl');
    this.handshake = this.scope.counter('handshake');
    this.connectionError = this.scope.counter('connection_error');
    this.noCertificate = this.scope.counter('no_certificate');
  }
  fail(stat: VerifyFailureStat): void {
    let c = this.verify.get(stat);
    if (!c) this.verify.set(stat, (c = this.scope.counter(stat)));
    c.inc();
  }
  version(v: string): void {
    this.scope.counter(`versions.${v}`).inc();
  }
}

/**
 * The live TLS setup of one context: its inline material plus the SDS
 * secrets it names, rebuilt (secure-context.ts) whenever one of those
 * changes. A rebuild that fails keeps the last good setup, loudly.
 */
class SetupHolder<T> {
  private readonly common: CommonTlsContextConfig;
  private readonly rt: TransportSocketRuntime;
  private readonly build: (m: TlsMaterial) => ParseResult<T>;
  private readonly unwatch: Array<() => void> = [];
  /** Undefined until every secret has arrived and the material is usable. */
  current: T | undefined;
  /** Our first certificate, described once per rebuild (access logs, XFCC By=). */
  localInfo: CertificateInfo | undefined;
  /** Called after each successful rebuild. */
  onChange: (() => void) | undefined;
  readonly secretNames: readonly string[];

  constructor(common: CommonTlsContextConfig, rt: TransportSocketRuntime, build: (m: TlsMaterial) => ParseResult<T>) {
    this.common = common;
    this.rt = rt;
    this.build = build;
    this.secretNames = Object.freeze([...common.certificateSds.map((x) => x.name), ...(common.validationSds ? [common.validationSds.name] : [])]);
    for (const n of this.secretNames) this.unwatch.push(rt.secrets.watch(n, () => this.rebuild()));
    this.rebuild();
  }

  private rebuild(): void {
    const m = resolveMaterial(this.common, this.rt.secrets);
    if (!m.ok) {
      if (m.errors.length) this.refuse(m.errors);
      return; // secrets still missing: warming
    }
    const r = this.build(m.material);
    if (!r.ok) return this.refuse(r.errors);
    this.current = r.config;
    const leaf = m.material.certificates.find((c) => c.certificate.certificateChain)?.certificate.certificateChain;
    this.localInfo = leaf ? certificateInfo(new X509Certificate(leaf)) : undefined;
    this.onChange?.();
  }

  private refuse(errors: readonly ConfigError[]): void {
    // A bad rotation keeps the last good setup: established and new
    // connections go on with it, and the refusal is loud.
    this.rt.log.warn({ secrets: this.secretNames, reason: errors.map((e) => e.message).join('; ') }, 'TLS material refused; keeping the previous certificate');
    this.rt.stats.counter('ssl.context_update_error').inc();
  }

  close(): void {
    for (const u of this.unwatch) u();
  }
}

/** A TLSSocket's raw socket (Node sets `_parent` when it wraps a net.Socket). */
function rawOf(t: TLSSocket): Socket | undefined {
  return (t as TLSSocket & { _parent?: Socket })._parent;
}

/**
 * TLS termination for one filter chain. Accepted sockets are handed to a
 * tls.Server that never listens (server.emit('connection')): Node then does
 * what only its server path does (client-certificate authorization, SNI,
 * session tickets). A rotated secret replaces the server's contexts.
 */
class TlsDownstream implements DownstreamTransport {
  private readonly cfg: DownstreamTlsContextConfig;
  private readonly holder: SetupHolder<DownstreamTls>;
  private readonly stats: SslStats;
  private readonly server: tls.Server;
  private readonly pending = new WeakMap<Socket, (r: SecuredConnection) => void>();

  constructor(cfg: DownstreamTlsContextConfig, rt: TransportSocketRuntime) {
    this.cfg = cfg;
    this.holder = new SetupHolder(cfg.common, rt, (m) => createDownstreamTls(cfg, m));
    this.stats = new SslStats(rt.stats);
    // Validation may arrive later by SDS: decide from the config, not the material.
    const validates = cfg.common.validation !== undefined || cfg.common.validationSds !== undefined;
    const acceptUntrusted = cfg.common.validation?.trustChainVerification === 'ACCEPT_UNTRUSTED';
    this.server = tls.createServer({
      ...this.holder.current?.contextOptions,
      requestCert: cfg.requireClientCertificate || validates,
      // With a required client certificate and a trust anchor, OpenSSL
      // aborts the handshake itself (the client sees the alert); otherwise
      // the peer is verified after the handshake (DownstreamTls.verify).
      rejectUnauthorized: cfg.requireClientCertificate && validates && !acceptUntrusted,
      ALPNProtocols: cfg.common.alpnProtocols.length ? [...cfg.common.alpnProtocols] : undefined,
      // SNI picks among several certificates of the current setup.
      SNICallback: (name, cb) => {
        const cur = this.holder.current;
        const pick = cur?.serverOptions.SNICallback;
        if (pick) pick(name, cb);
        else cb(null, cur?.secureContext);
      },
      // The listener bounds the handshake (transport_socket_connect_timeout).
      handshakeTimeout: 0,
    });
    this.holder.onChange = () => {
      if (this.holder.current) this.server.setSecureContext(this.holder.current.contextOptions);
    };
    this.server.on('secureConnection', (t: TLSSocket) => this.onSecure(t));
    this.server.on('tlsClientError', (e: Error, t: TLSSocket) => {
      const raw = rawOf(t);
      const done = raw && this.pending.get(raw);
      if (!done || !raw) return;
      this.pending.delete(raw);
      this.stats.connectionError.inc();
      t.destroy();
      done({ ok: false, reason: e.message });
    });
  }

  get secretNames(): readonly string[] {
    return this.holder.secretNames;
  }

  ready(): boolean {
    return this.holder.current !== undefined;
  }

  secure(socket: Socket, _facts: AcceptedConnectionFacts, done: (r: SecuredConnection) => void): void {
    if (!this.holder.current) {
      done({ ok: false, reason: `TLS secrets not available yet (${this.holder.secretNames.join(', ')})` });
      return;
    }
    this.pending.set(socket, done);
    // A peer that goes away mid-handshake.
    socket.once('close', () => {
      const d = this.pending.get(socket);
      if (!d) return;
      this.pending.delete(socket);
      this.stats.connectionError.inc();
      d({ ok: false, reason: 'connection closed during the TLS handshake' });
    });
    this.server.emit('connection', socket);
  }

  private onSecure(t: TLSSocket): void {
    const raw = rawOf(t);
    const done = raw && this.pending.get(raw);
    const cur = this.holder.current;
    if (!done || !raw || !cur) {
      t.destroy();
      return;
    }
    this.pending.delete(raw);
    const verdict = cur.verify(t);
    if (!verdict.ok) {
      this.stats.fail(verdict.stat);
      this.stats.connectionError.inc();
      t.destroy();
      done({ ok: false, reason: verdict.reason });
      return;
    }
    this.stats.handshake.inc();
    const info: TlsConnectionInfo = connectionInfo(t, { keepPem: true, local: this.holder.localInfo });
    this.stats.version(info.version);
    if (!info.peer) this.stats.noCertificate.inc();
    done({ ok: true, socket: t, tls: info, peerPrincipal: peerPrincipal(info.peer) });
  }

  close(): void {
    this.holder.close();
  }
}

/** TLS origination for one cluster. */
class TlsUpstream implements UpstreamTransport {
  private readonly holder: SetupHolder<UpstreamTls>;
  private readonly stats: SslStats;

  constructor(cfg: UpstreamTlsContextConfig, rt: TransportSocketRuntime) {
    this.holder = new SetupHolder(cfg.common, rt, (m) => createUpstreamTls(cfg, m));
    this.stats = new SslStats(rt.stats);
  }

  get secretNames(): readonly string[] {
    return this.holder.secretNames;
  }

  ready(): boolean {
    return this.holder.current !== undefined;
  }

  connect(target: UpstreamTarget, alpn: readonly string[], done: (err: string | undefined, socket?: Socket, info?: TlsConnectionInfo) => void): Socket {
    const cur = this.holder.current;
    if (!cur) {
      const reason = `TLS secrets not available yet (${this.holder.secretNames.join(', ')})`;
      const s = new net.Socket();
      process.nextTick(() => {
        done(reason);
        s.destroy(new Error(reason));
      });
      return s;
    }
    // An HTTP pool names the one protocol its codec speaks (what Istio's
    // istio.alpn filter makes Envoy do); tcp_proxy passes none and the
    // configured alpn_protocols are offered.
    const t: TLSSocket = tls.connect({
      ...(target.path ? { path: target.path } : { host: target.host, port: target.port }),
      ...cur.connectOptions(target.host, alpn.length ? alpn : undefined),
    });
    cur.track(t);
    // An error after the caller took the socket is the caller's to handle; one
    // nobody listens to must not take the process down.
    t.on('error', () => undefined);
    let settled = false;
    const finish = (err: string | undefined, info?: TlsConnectionInfo): void => {
      if (settled) return;
      settled = true;
      t.removeListener('error', onError);
      done(err, err ? undefined : t, info);
    };
    const onError = (e: Error): void => {
      this.stats.connectionError.inc();
      finish(e.message);
    };
    t.once('error', onError);
    t.once('secureConnect', () => {
      const verdict = cur.verify(t);
      if (!verdict.ok) {
        this.stats.fail(verdict.stat);
        finish(`TLS error: ${verdict.reason}`);
        t.destroy(new Error(`TLS error: ${verdict.reason}`));
        return;
      }
      this.stats.handshake.inc();
      finish(undefined, connectionInfo(t, { local: this.holder.localInfo }));
    });
    return t;
  }

  close(): void {
    this.holder.close();
  }
}

function parseWith<C>(f: () => { ok: true; config: C } | { ok: false; errors: ConfigError[] }): { ok: true; config: C } | { ok: false; errors: ConfigError[] } {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, errors: [e] };
    throw e;
  }
}

/** Registers envoy.transport_sockets.tls for listeners (downstream) and clusters (upstream). */
export function setup(registry: ExtensionRegistry): void {
  // DataSource files are read when the config is parsed (start-up, or an
  // xDS update): certificates on disk are small, and Istio sends them by SDS.
  const readFile = (p: string): Buffer => readFileSync(p);
  const down: TransportSocketExtension<DownstreamTlsContextConfig> = {
    category: 'envoy.transport_sockets.downstream',
    names: ['envoy.transport_sockets.tls', 'tls'],
    typeNames: [DOWNSTREAM_TYPE],
    parse: (config, ctx) => parseWith(() => parseDownstreamTlsContext(config, ctx.path, { readFile })),
    createDownstream: (config, rt) => new TlsDownstream(config, rt),
  };
  const up: TransportSocketExtension<UpstreamTlsContextConfig> = {
    category: 'envoy.transport_sockets.upstream',
    names: ['envoy.transport_sockets.tls', 'tls'],
    typeNames: [UPSTREAM_TYPE],
    parse: (config, ctx) => parseWith(() => parseUpstreamTlsContext(config, ctx.path, { readFile })),
    createUpstream: (config, rt) => new TlsUpstream(config, rt),
  };
  registry.register(down);
  registry.register(up);
  registry.registerSecretParser((json, path, version) => {
    const r = parseWith(() => parseSecret(json, path, { readFile }));
    return r.ok ? { ok: true, config: secretToMaterial(r.config, version) } : r;
  });
}
