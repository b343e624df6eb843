/**
 * The ADS client: one gRPC stream (state-of-the-world or delta) to the
 * management server, with Envoy's xDS protocol rules: node on the first
 * message (or every message), per-type version_info and nonce, ACK and NACK
 * with error_detail (a google.rpc.Status naming the resource and the reason)
 * while the last good state keeps serving, wildcard LDS/CDS, named
 * subscriptions for the other types, and on reconnect (jittered exponential
 * back-off) the current subscriptions again, with initial_resource_versions
 * for delta. Resources reach the handler as canonical JSON; the handler
 * validates them completely and answers with errors (NACK) or none (ACK).
 */
import * as grpc from '@grpc/grpc-js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { toJson, type Message } from '@bufbuild/protobuf';
import type { SocketAddress } from '../../sidecar/contracts/snapshot.ts';
import type { Counter, Gauge, StatsScope } from '../../sidecar/contracts/stats.ts';
import { envoyRegistry } from '../proto/registry.ts';
import type { ProtoJson } from '../proto/json.ts';
import {
  ADS_DELTA_PATH, ADS_SOTW_PATH, codecs, deltaRequest, discoveryRequest, rpcStatus,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from './discovery-messages.ts';
import { resourceName, typeShortName, WILDCARD_TYPES } from './resource-names.ts';

/** One resource as the handler sees it. */
export interface XdsResource {
  readonly name: string;
  readonly version: string;
  readonly value: ProtoJson;
}

/** The state of one type after a response, before it is accepted. */
export interface TypeUpdate {
  readonly typeUrl: string;
  /** Every resource of the type after this response. */
  readonly resources: ReadonlyMap<string, XdsResource>;
  /** Names added or changed by this response. */
  readonly changed: readonly string[];
  /** Names removed by this response. */
  readonly removed: readonly string[];
  /** Names the response carried (changed or not). */
  readonly received: readonly string[];
  readonly versionInfo: string;
}

/** Validates and applies updates; returns the reasons to NACK, or [] to ACK. */
export type UpdateHandler = (u: TypeUpdate) => Promise<string[]>;

/** Options of the client. */
export interface AdsClientOptions {
  readonly target: SocketAddress;
  readonly mode: 'sotw' | 'delta';
  /** envoy.config.core.v3.Node as a message (sent on the first message of each stream). */
  readonly node: Message;
  readonly setNodeOnFirstMessageOnly: boolean;
  readonly onUpdate: UpdateHandler;
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Back-off base and cap in ms (Envoy: 500 ms, 30 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly random?: () => number;
  /**
   * The gRPC methods (default: the aggregated service). A per-type service
   * such as SecretDiscoveryService (StreamSecrets/DeltaSecrets) speaks the
   * same protocol for its one type.
   */
  readonly paths?: { readonly sotw: string; readonly delta: string };
  /**
   * Reports the stream's connected state; default: the
   * `control_plane.connected_state` gauge (an SDS stream sets Envoy's
   * `sds.<secret>.control_plane.connected_state` per secret instead).
   */
  readonly onConnectedState?: (connected: boolean) => void;
  /**
   * Types whose update_* stats the handler keeps itself (SDS counts per
   * secret: `sds.<name>.update_success`); no per-type counters for these.
   */
  readonly handlerCountedTypes?: ReadonlySet<string>;
}

interface TypeState {
  /** Subscribed names; null for a wildcard subscription. */
  names: Set<string> | null;
  resources: Map<string, XdsResource>;
  versionInfo: string;
  nonce: string;
  stats: { attempt: Counter; success: Counter; rejected: Counter; version: Gauge };
}

const NO_COUNTER: Counter = { inc: () => undefined, value: () => 0 };
const NO_GAUGE: Gauge = { set: () => undefined, inc: () => undefined, dec: () => undefined, value: () => 0 };
const NO_STATS: TypeState['stats'] = { attempt: NO_COUNTER, success: NO_COUNTER, rejected: NO_COUNTER, version: NO_GAUGE };

type Stream = grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse | DeltaDiscoveryResponse>;

function target(a: SocketAddress): string {
  return a.kind === 'pipe' ? `unix:${a.path}` : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The ADS client of one process. */
export class AdsClient {
  private readonly opts: AdsClientOptions;
  private readonly client: grpc.Client;
  private readonly types = new Map<string, TypeState>();
  private stream: Stream | undefined;
  private sentNode = false;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Serialises response handling: one update is validated at a time. */
  private queue: Promise<void> = Promise.resolve();
  private readonly setConnected: (connected: boolean) => void;

  constructor(opts: AdsClientOptions) {
    this.opts = opts;
    this.client = new grpc.Client(target(opts.target), grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    if (opts.onConnectedState) this.setConnected = opts.onConnectedState;
    else {
      const gauge = opts.stats.scope('control_plane').gauge('connected_state');
      this.setConnected = (c) => gauge.set(c ? 1 : 0);
    }
  }

  /** Subscribes to a type: `'*'` for a wildcard, or the exact set of names. */
  subscribe(typeUrl: string, names: '*' | readonly string[]): void {
    let st = this.types.get(typeUrl);
    const next = names === '*' ? null : new Set(names);
    if (!st) {
      st = {
        names: next,
        resources: new Map(),
        versionInfo: '',
        nonce: '',
        stats: this.opts.handlerCountedTypes?.has(typeUrl) ? NO_STATS : this.typeStats(typeUrl),
      };
      this.types.set(typeUrl, st);
      this.sendSubscription(typeUrl, st, next ? [...next] : [], []);
      return;
    }
    const before = st.names;
    st.names = next;
    if (this.opts.mode === 'delta') {
      const add = next ? [...next].filter((n) => !before || !before.has(n)) : [];
      const remove = before ? [...before].filter((n) => !next || !next.has(n)) : [];
      if (add.length || remove.length) this.sendSubscription(typeUrl, st, add, remove);
    } else if (JSON.stringify(before && [...before].sort()) !== JSON.stringify(next && [...next].sort())) {
      this.sendSubscription(typeUrl, st, next ? [...next] : [], []);
    }
  }

  private typeStats(typeUrl: string): TypeState['stats'] {
    const short = typeShortName(typeUrl);
    const s = this.opts.stats.scope(short === 'cds' ? 'cluster_manager.cds' : short === 'lds' ? 'listener_manager.lds' : short);
    return { attempt: s.counter('update_attempt'), success: s.counter('update_success'), rejected: s.counter('update_rejected'), version: s.gauge('version') };
  }

  /** The resources of a type currently accepted. */
  resources(typeUrl: string): ReadonlyMap<string, XdsResource> {
    return this.types.get(typeUrl)?.resources ?? new Map();
  }

  /** The accepted version_info of a type. */
  version(typeUrl: string): string {
    return this.types.get(typeUrl)?.versionInfo ?? '';
  }

  /** Opens the stream (and re-opens it after failures until close()). */
  start(): void {
    if (this.closed || this.stream) return;
    const path = this.opts.mode === 'delta' ? (this.opts.paths?.delta ?? ADS_DELTA_PATH) : (this.opts.paths?.sotw ?? ADS_SOTW_PATH);
    const reqCodec = this.opts.mode === 'delta' ? codecs.deltaRequest : codecs.discoveryRequest;
    const resCodec = this.opts.mode === 'delta' ? codecs.deltaResponse : codecs.discoveryResponse;
    const stream = this.client.makeBidiStreamRequest(
      path,
      (v: DiscoveryRequest | DeltaDiscoveryRequest) => reqCodec.serialize(v as never),
      (b: Buffer) => resCodec.deserialize(b),
    ) as Stream;
    this.stream = stream;
    this.sentNode = false;
    let gotResponse = false;
    stream.on('data', (res: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (!gotResponse) {
        gotResponse = true;
        this.attempt = 0;
        this.setConnected(true);
        this.opts.log.info({}, 'xDS stream established');
      }
      this.queue = this.queue.then(() => this.onResponse(res)).catch((e: unknown) => this.opts.log.warn({ err: (e as Error).message }, 'xDS update failed'));
    });
    const onEnd = (err?: Error): void => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.setConnected(false);
      if (this.closed) return;
      this.opts.log.warn({ err: err?.message }, 'xDS stream closed; reconnecting');
      this.scheduleReconnect();
    };
    stream.on('error', (e) => onEnd(e));
    stream.on('end', () => onEnd());
    // The current subscriptions, again (with what we have, for delta).
    for (const [typeUrl, st] of this.types) this.sendSubscription(typeUrl, st, st.names ? [...st.names] : [], [], true);
  }

  /** Closes the stream and stops reconnecting. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.client.close();
    this.setConnected(false);
  }

  private scheduleReconnect(): void {
    const base = this.opts.backoffBaseMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const ceiling = Math.min(max, base * 2 ** this.attempt++);
    const delay = (this.opts.random ?? Math.random)() * ceiling;
    this.retryTimer = setTimeout(() => this.start(), delay);
    this.retryTimer.unref();
  }

  private nodeField(): { node?: Message } {
    if (this.opts.setNodeOnFirstMessageOnly && this.sentNode) return {};
    this.sentNode = true;
    return { node: this.opts.node };
  }

  private sendSubscription(typeUrl: string, st: TypeState, subscribe: string[], unsubscribe: string[], initial = false): void {
    const s = this.stream;
    if (!s) return;
    if (this.opts.mode === 'delta') {
      const initialResourceVersions: Record<string, string> = {};
      if (initial) for (const r of st.resources.values()) initialResourceVersions[r.name] = r.version;
      s.write(deltaRequest({ ...this.nodeField(), typeUrl, resourceNamesSubscribe: subscribe, resourceNamesUnsubscribe: unsubscribe, initialResourceVersions }));
    } else {
      s.write(discoveryRequest({ ...this.nodeField(), typeUrl, resourceNames: st.names ? [...st.names] : [], versionInfo: st.versionInfo, responseNonce: initial ? '' : st.nonce }));
    }
  }

  private decode(any: Any): ProtoJson {
    const msg = anyUnpack(any, envoyRegistry());
    if (!msg) throw new Error(`cannot decode resource of type ${any.typeUrl}`);
    const desc = envoyRegistry().getMessage(msg.$typeName)!;
    return toJson(desc, msg, { registry: envoyRegistry(), useProtoFieldName: true }) as ProtoJson;
  }

  private async onResponse(res: DiscoveryResponse | DeltaDiscoveryResponse): Promise<void> {
    const typeUrl = res.typeUrl;
    const st = this.types.get(typeUrl);
    if (!st) return; // not subscribed (a server bug): ignore, as Envoy does
    st.stats.attempt.inc();
    const next = new Map(st.resources);
    const changed: string[] = [];
    const removed: string[] = [];
    const received: string[] = [];
    const errors: string[] = [];
    let versionInfo: string;
    if ('removedResources' in res) {
      versionInfo = res.systemVersionInfo;
      for (const r of res.resources) {
        if (!r.resource) continue;
        try {
          next.set(r.name, { name: r.name, version: r.version, value: this.decode(r.resource) });
          changed.push(r.name);
          received.push(r.name);
        } catch (e) {
          errors.push(`${r.name}: ${(e as Error).message}`);
        }
      }
      for (const n of res.removedResources) if (next.delete(n)) removed.push(n);
    } else {
      versionInfo = res.versionInfo;
      const seen = new Set<string>();
      for (const any of res.resources) {
        try {
          const value = this.decode(any);
          const name = resourceName(typeUrl, value);
          if (seen.has(name)) errors.push(`duplicate resource name '${name}'`);
          seen.add(name);
          received.push(name);
          const prev = next.get(name);
          const v = JSON.stringify(value);
          if (!prev || JSON.stringify(prev.value) !== v) changed.push(name);
          next.set(name, { name, version: versionInfo, value });
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      if (WILDCARD_TYPES.has(typeUrl)) for (const n of [...next.keys()]) if (!seen.has(n)) { next.delete(n); removed.push(n); }
    }
    if (!errors.length) {
      try {
        errors.push(...(await this.opts.onUpdate({ typeUrl, resources: next, changed, removed, received, versionInfo })));
      } catch (e) {
        // A handler that throws has not applied the update: NACK it rather than leave the server without an answer.
        errors.push(`internal error while applying the update: ${(e as Error).message}`);
      }
    }
    const s = this.stream;
    if (errors.length) {
      st.stats.rejected.inc();
      this.opts.log.warn({ type: typeShortName(typeUrl), version: versionInfo, errors }, 'xDS update rejected (NACK); keeping the last good config');
      const errorDetail = rpcStatus(3 /* INVALID_ARGUMENT */, errors.join('; '));
      if (this.opts.mode === 'delta') s?.write(deltaRequest({ ...this.nodeField(), typeUrl, responseNonce: res.nonce, errorDetail }));
      else s?.write(discoveryRequest({ ...this.nodeField(), typeUrl, resourceNames: st.names ? [...st.names] : [], versionInfo: st.versionInfo, responseNonce: res.nonce, errorDetail }));
      st.nonce = res.nonce;
      return;
    }
    st.resources = next;
    st.versionInfo = versionInfo;
    st.nonce = res.nonce;
    st.stats.success.inc();
    if (this.opts.mode === 'delta') s?.write(deltaRequest({ ...this.nodeField(), typeUrl, responseNonce: res.nonce }));
    else s?.write(discoveryRequest({ ...this.nodeField(), typeUrl, resourceNames: st.names ? [...st.names] : [], versionInfo, responseNonce: res.nonce }));
  }
}
