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
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import { constants as cryptoConstants, X509Certificate } from 'node:crypto';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { AcceptedConnectionFacts, DownstreamTransport, SecuredConnection, SecretMaterial, TransportSocketExtension, TransportSocketRuntime, UpstreamTarget, UpstreamTransport } from '../../sidecar/contracts/transport-socket.ts';
import type { CertificateInfo, TlsConnectionInfo } from '../../sidecar/contracts/tls.ts';
import { certificateInfo, connectionInfo, peerPrincipal } from './certificate-info.ts';
import { mergeValidation, parseDownstreamTlsContext, parseUpstreamTlsContext, type CommonTlsContextConfig, type DownstreamTlsContextConfig, type TlsCertificateConfig, type UpstreamTlsContextConfig, type ValidationContextConfig } from './context-config.ts';
import { verifyPeer, type VerifyFailureStat } from './peer-verification.ts';
import { certificateFromMaterial, parseSecret, secretToMaterial, validationFromMaterial } from './secrets.ts';

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
 * The secure context of one TLS config: inline material plus the SDS
 * secrets it names, rebuilt whenever one of those changes.
 */
class ContextHolder {
  private readonly common: CommonTlsContextConfig;
  private readonly rt: TransportSocketRuntime;
  private readonly isServer: boolean;
  private readonly extra: tls.SecureContextOptions;
  private readonly unwatch: Array<() => void> = [];
  /** Undefined until every secret has arrived (or when the material is unusable). */
  context: SecureContext | undefined;
  /** The options the context was built from (a tls.Server is given them). */
  options: tls.SecureContextOptions | undefined;
  /** Called after each successful rebuild. */
  onChange: (() => void) | undefined;
  validation: ValidationContextConfig | undefined;
  /** Our first certificate, described once per rebuild (access logs, XFCC By=). */
  localInfo: CertificateInfo | undefined;
  readonly secretNames: readonly string[];

  constructor(common: CommonTlsContextConfig, rt: TransportSocketRuntime, isServer: boolean, extra: tls.SecureContextOptions) {
    this.common = common;
    this.rt = rt;
    this.isServer = isServer;
    this.extra = extra;
    this.secretNames = Object.freeze([...common.certificateSds.map((s) => s.name), ...(common.validationSds ? [common.validationSds.name] : [])]);
    for (const n of this.secretNames) this.unwatch.push(rt.secrets.watch(n, () => this.rebuild()));
    this.rebuild();
  }

  private rebuild(): void {
    const certs: TlsCertificateConfig[] = [...this.common.certificates];
    for (const ref of this.common.certificateSds) {
      const m = this.rt.secrets.get(ref.name);
      const c = m && certificateFromMaterial(m);
      if (!c) return this.unusable(m ? `secret '${ref.name}' holds no tls_certificate` : undefined);
      certs.push(c);
    }
    let dynamic: ValidationContextConfig | undefined;
    if (this.common.validationSds) {
      const m: SecretMaterial | undefined = this.rt.secrets.get(this.common.validationSds.name);
      if (!m) return this.unusable(undefined);
      const v = validationFromMaterial(m);
      if (!v.ok) return this.unusable(v.errors.map((e) => e.message).join('; '));
      dynamic = v.validation;
    }
    const validation = mergeValidation(this.common.validation, dynamic);
    if (this.isServer && certs.length === 0) return this.unusable('a TLS server needs a certificate');
    try {
      const p = this.common.params;
      const options: tls.SecureContextOptions = {
        ...this.extra,
        minVersion: p.minVersion,
        maxVersion: p.maxVersion,
        ciphers: p.ciphers,
        ecdhCurve: p.ecdhCurve,
        ...(p.sigalgs ? { sigalgs: p.sigalgs } : {}),
        ...(certs.length ? {
          cert: certs.filter((c) => c.certificateChain).map((c) => c.certificateChain!),
          key: certs.filter((c) => c.privateKey).map((c) => ({ pem: c.privateKey!, passphrase: c.password })),
          pfx: certs.filter((c) => c.pkcs12).map((c) => ({ buf: c.pkcs12!, passphrase: c.password })),
        } : {}),
        ...(validation?.trustedCa ? { ca: validation.trustedCa } : {}),
        ...(validation?.crl ? { crl: validation.crl } : {}),
      };
      const ctx = tls.createSecureContext(options);
      for (const c of certs) refuseExpired(c);
      this.context = ctx;
      this.options = options;
      this.validation = validation;
      const leaf = certs.find((c) => c.certificateChain)?.certificateChain;
      this.localInfo = leaf ? certificateInfo(new X509Certificate(leaf)) : undefined;
      this.onChange?.();
    } catch (e) {
      this.unusable((e as Error).message);
    }
  }

  private unusable(reason: string | undefined): void {
    // A bad rotation keeps the last good context: established and new
    // connections go on with it, and the refusal is loud.
    if (reason) this.rt.log.warn({ secrets: this.secretNames, reason }, 'TLS material refused; keeping the previous certificate');
    if (reason) this.rt.stats.counter('ssl.context_update_error').inc();
  }

  close(): void {
    for (const u of this.unwatch) u();
  }
}

/** A certificate's name for messages: its subject, else its SANs (Istio's workload certificates have no subject). */
function name(x: X509Certificate): string {
  return x.subject?.replace(/\n/g, ',') || x.subjectAltName || `serial ${x.serialNumber}`;
}

/** An expired or not-yet-valid certificate is refused when loaded, as a clear error. */
function refuseExpired(c: TlsCertificateConfig): void {
  if (!c.certificateChain) return;
  const x = new X509Certificate(c.certificateChain);
  const now = Date.now();
  if (x.validToDate.getTime() < now) throw new Error(`certificate '${name(x)}' expired on ${x.validToDate.toISOString()}`);
  if (x.validFromDate.getTime() > now) throw new Error(`certificate '${name(x)}' is not valid before ${x.validFromDate.toISOString()}`);
}

/** A TLSSocket's raw socket (Node sets `_parent` when it wraps a net.Socket). */
function rawOf(t: TLSSocket): Socket | undefined {
  return (t as TLSSocket & { _parent?: Socket })._parent;
}

/**
 * TLS termination for one filter chain. Accepted sockets are handed to a
 * tls.Server that never listens (server.emit('connection')): Node then does
 * what only its server path does (client-certificate authorization, SNI,
 * session tickets). A rotated secret replaces the server's context.
 */
class TlsDownstream implements DownstreamTransport {
  private readonly cfg: DownstreamTlsContextConfig;
  private readonly holder: ContextHolder;
  private readonly stats: SslStats;
  private readonly server: tls.Server;
  private readonly pending = new WeakMap<Socket, (r: SecuredConnection) => void>();

  constructor(cfg: DownstreamTlsContextConfig, rt: TransportSocketRuntime) {
    this.cfg = cfg;
    let secureOptions = 0;
    if (cfg.disableStatelessSessionResumption) secureOptions |= cryptoConstants.SSL_OP_NO_TICKET;
    this.holder = new ContextHolder(cfg.common, rt, true, {
      ...(secureOptions ? { secureOptions } : {}),
      ...(cfg.sessionTimeoutS !== undefined ? { sessionTimeout: cfg.sessionTimeoutS } : {}),
      honorCipherOrder: !cfg.preferClientCiphers,
    });
    this.stats = new SslStats(rt.stats);
    // Validation may arrive later by SDS: decide from the config, not the material.
    const validates = cfg.common.validation !== undefined || cfg.common.validationSds !== undefined;
    const acceptUntrusted = cfg.common.validation?.trustChainVerification === 'ACCEPT_UNTRUSTED';
    this.server = tls.createServer({
      ...this.holder.options,
      requestCert: cfg.requireClientCertificate || validates,
      // With a required client certificate and a trust anchor, OpenSSL
      // aborts the handshake itself (the client sees the alert); otherwise
      // the peer is verified after the handshake (verifyPeer).
      rejectUnauthorized: cfg.requireClientCertificate && validates && !acceptUntrusted,
      ALPNProtocols: cfg.common.alpnProtocols.length ? [...cfg.common.alpnProtocols] : undefined,
      // The listener bounds the handshake (transport_socket_connect_timeout).
      handshakeTimeout: 0,
    });
    this.holder.onChange = () => {
      if (this.holder.options) this.server.setSecureContext(this.holder.options);
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
    return this.holder.context !== undefined;
  }

  secure(socket: Socket, _facts: AcceptedConnectionFacts, done: (r: SecuredConnection) => void): void {
    if (!this.holder.context) {
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
    if (!done || !raw) {
      t.destroy();
      return;
    }
    this.pending.delete(raw);
    const fail = (reason: string): void => {
      this.stats.connectionError.inc();
      t.destroy();
      done({ ok: false, reason });
    };
    if (this.cfg.requireSni && !t.servername) return fail('client sent no SNI (require_sni)');
    const verdict = verifyPeer(t, this.holder.validation, { requireCertificate: this.cfg.requireClientCertificate });
    if (!verdict.ok) {
      this.stats.fail(verdict.stat);
      return fail(verdict.reason);
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
  private readonly cfg: UpstreamTlsContextConfig;
  private readonly holder: ContextHolder;
  private readonly stats: SslStats;

  constructor(cfg: UpstreamTlsContextConfig, rt: TransportSocketRuntime) {
    this.cfg = cfg;
    this.holder = new ContextHolder(cfg.common, rt, false, {});
    this.stats = new SslStats(rt.stats);
  }

  get secretNames(): readonly string[] {
    return this.holder.secretNames;
  }

  ready(): boolean {
    return this.holder.context !== undefined;
  }

  connect(target: UpstreamTarget, alpn: readonly string[], done: (err: string | undefined, socket?: Socket, info?: TlsConnectionInfo) => void): Socket {
    const ctx = this.holder.context;
    const validation = this.holder.validation;
    if (!ctx) {
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
    const protocols = alpn.length ? [...alpn] : this.cfg.common.alpnProtocols.length ? [...this.cfg.common.alpnProtocols] : undefined;
    const t: TLSSocket = tls.connect({
      ...(target.path ? { path: target.path } : { host: target.host, port: target.port }),
      secureContext: ctx,
      servername: this.cfg.sni,
      ALPNProtocols: protocols,
      // Envoy does not check the host name; SANs are checked by the matchers below.
      checkServerIdentity: () => undefined,
      rejectUnauthorized: false,
    });
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
      const verdict = verifyPeer(t, validation, { requireCertificate: validation !== undefined, sniSanValidation: this.cfg.autoSniSanValidation ? this.cfg.sni : undefined });
      if (!verdict.ok) {
        this.stats.fail(verdict.stat);
        finish(`TLS error: ${verdict.reason}`);
        t.destroy(new Error(`TLS error: ${verdict.reason}`));
        return;
      }
      this.stats.handshake.inc();
      finish(undefined, connectionInfo(t));
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
