/**
 * Per-stream xDS protocol state for the test control plane: what each stream
 * subscribed to per type URL, which nonce it must answer, and what it already
 * has. SotW streams get the full state of their view of a type whenever that
 * view changes (LDS/CDS wildcard on an empty or "*" resource_names, other
 * types by name); delta streams get only added or changed resources and
 * removed_resources, seeded on reconnect from initial_resource_versions.
 * Facts from Envoy's xDS protocol doc (api-docs/xds_protocol): a request
 * answers the latest nonce or is stale and ignored; version_info/error_detail
 * make an ACK or a NACK; a NACK is not answered with the same resources.
 */
import { create, type JsonObject, type Message } from '@bufbuild/protobuf';
import {
  CLUSTER, LISTENER, deltaResponse, discoveryResponse, nodeJson, schemas,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../../xds/ads/discovery-messages.ts';
import type { StoredResource, TypeState } from './xds-resources.ts';

/** One request as a stream received it, classified. */
export interface RecordedRequest {
  kind: 'sotw' | 'delta';
  /** Which stream (a reconnect is a new id). */
  streamId: number;
  typeUrl: string;
  /** `request`: no response_nonce (a first request or a resubscription); `ack`/`nack`: answers a response. */
  verdict: 'request' | 'ack' | 'nack';
  /** The nonce answered is not the latest sent on this stream for this type. */
  stale: boolean;
  responseNonce: string;
  /** SotW: the version the client says it has applied. */
  versionInfo?: string;
  /** SotW: the names it asks for (empty: wildcard for LDS/CDS). */
  resourceNames?: string[];
  /** Delta: resource_names_subscribe. */
  subscribe?: string[];
  /** Delta: resource_names_unsubscribe. */
  unsubscribe?: string[];
  /** Delta: initial_resource_versions (first request of a type on a stream). */
  initialResourceVersions?: Record<string, string>;
  /** For an ACK/NACK: the version_info (SotW) or system_version_info (delta) of the response it answers. */
  answeredVersion?: string;
  errorDetail?: { code: number; message: string };
  /** The node, when this message carried one (the first message of a stream must). */
  node?: JsonObject;
}

/** One response as sent, for assertions. */
export interface SentResponse {
  kind: 'sotw' | 'delta';
  streamId: number;
  typeUrl: string;
  nonce: string;
  version: string;
  /** Names of the resources carried. */
  names: string[];
  /** Delta: removed_resources. */
  removed: string[];
}

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  resources(typeUrl: string): TypeState | undefined;
  nextNonce(): string;
  record(request: RecordedRequest): void;
  sent(response: SentResponse): void;
}

const WILDCARD_TYPES = new Set([LISTENER, CLUSTER]);

/** LDS and CDS may be subscribed as a wildcard; other types only by name. */
export function isWildcardType(typeUrl: string): boolean {
  return WILDCARD_TYPES.has(typeUrl);
}

function errorOf(req: { errorDetail?: { code: number; message: string } }): RecordedRequest['errorDetail'] {
  return req.errorDetail ? { code: req.errorDetail.code, message: req.errorDetail.message } : undefined;
}

/** Shared bookkeeping of both stream kinds. */
abstract class StreamBase {
  readonly id: number;
  protected readonly host: StreamHost;
  protected readonly defaultTypeUrl: string | undefined;
  /** Versions sent per nonce, to say what an ACK acknowledges. */
  protected readonly versionOfNonce = new Map<string, string>();
  /** The node of the first message. */
  node: JsonObject | undefined;

  constructor(id: number, host: StreamHost, defaultTypeUrl?: string) {
    this.id = id;
    this.host = host;
    this.defaultTypeUrl = defaultTypeUrl;
  }

  protected seeNode(node: Message | undefined): JsonObject | undefined {
    if (!node) return undefined;
    const json = nodeJson(node);
    this.node ??= json;
    return json;
  }

  protected typeOf(typeUrl: string): string {
    return typeUrl || this.defaultTypeUrl || '';
  }

  /** Re-evaluates this stream's view of `typeUrl` after the resources changed. */
  abstract onChange(typeUrl: string): void;
}

interface SotwTypeState {
  wildcard: boolean;
  names: Set<string>;
  nonce: string;
  /** name:version of what was last sent, to skip pushes that change nothing for this stream. */
  sentSignature: string | undefined;
}

function signature(resources: StoredResource[]): string {
  return resources.map((r) => `${r.name}:${r.version}`).sort().join(',');
}

/** A state-of-the-world stream (StreamAggregatedResources or a per-type Stream*). */
export class SotwStream extends StreamBase {
  private readonly types = new Map<string, SotwTypeState>();
  private readonly send: (response: DiscoveryResponse) => void;

  constructor(id: number, host: StreamHost, send: (response: DiscoveryResponse) => void, defaultTypeUrl?: string) {
    super(id, host, defaultTypeUrl);
    this.send = send;
  }

  /** Handles one DiscoveryRequest. */
  onRequest(req: DiscoveryRequest): void {
    const typeUrl = this.typeOf(req.typeUrl);
    const state = this.types.get(typeUrl);
    const stale = req.responseNonce !== '' && req.responseNonce !== state?.nonce;
    this.host.record({
      kind: 'sotw',
      streamId: this.id,
      typeUrl,
      verdict: req.responseNonce === '' ? 'request' : req.errorDetail ? 'nack' : 'ack',
      stale,
      responseNonce: req.responseNonce,
      versionInfo: req.versionInfo,
      resourceNames: [...req.resourceNames],
      answeredVersion: this.versionOfNonce.get(req.responseNonce),
      errorDetail: errorOf(req),
      node: this.seeNode(req.node),
    });
    // A request answering an old nonce was overtaken by a newer response: ignore it.
    if (stale) return;
    const names = req.resourceNames;
    const wildcard = isWildcardType(typeUrl)
      && (names.includes('*') || (names.length === 0 && (state === undefined || state.wildcard)));
    const next: SotwTypeState = state ?? { wildcard, names: new Set(), nonce: '', sentSignature: undefined };
    const changed = state === undefined || next.wildcard !== wildcard
      || next.names.size !== names.length || names.some((n) => !next.names.has(n));
    next.wildcard = wildcard;
    next.names = new Set(names.filter((n) => n !== '*'));
    this.types.set(typeUrl, next);
    this.push(typeUrl, next, changed);
  }

  onChange(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (state) this.push(typeUrl, state, false);
  }

  private push(typeUrl: string, state: SotwTypeState, force: boolean): void {
    const current = this.host.resources(typeUrl);
    if (!current) return; // never set: the client waits, as with a control plane still warming
    const view = state.wildcard
      ? [...current.resources.values()]
      : [...state.names].flatMap((n) => current.resources.get(n) ?? []);
    const sig = signature(view);
    if (!force && sig === state.sentSignature) return;
    state.sentSignature = sig;
    state.nonce = this.host.nextNonce();
    this.versionOfNonce.set(state.nonce, current.version);
    this.send(discoveryResponse({ versionInfo: current.version, resources: view.map((r) => r.any), typeUrl, nonce: state.nonce }));
    this.host.sent({
      kind: 'sotw', streamId: this.id, typeUrl, nonce: state.nonce, version: current.version,
      names: view.map((r) => r.name), removed: [],
    });
  }
}

interface DeltaTypeState {
  wildcard: boolean;
  names: Set<string>;
  /** What the client has, by name: from initial_resource_versions, then from what was sent. */
  known: Map<string, string>;
  nonce: string;
}

/** An incremental stream (DeltaAggregatedResources or a per-type Delta*). */
export class DeltaStream extends StreamBase {
  private readonly types = new Map<string, DeltaTypeState>();
  private readonly send: (response: DeltaDiscoveryResponse) => void;

  constructor(id: number, host: StreamHost, send: (response: DeltaDiscoveryResponse) => void, defaultTypeUrl?: string) {
    super(id, host, defaultTypeUrl);
    this.send = send;
  }

  /** Handles one DeltaDiscoveryRequest. */
  onRequest(req: DeltaDiscoveryRequest): void {
    const typeUrl = this.typeOf(req.typeUrl);
    let state = this.types.get(typeUrl);
    const initial = Object.entries(req.initialResourceVersions);
    this.host.record({
      kind: 'delta',
      streamId: this.id,
      typeUrl,
      verdict: req.responseNonce === '' ? 'request' : req.errorDetail ? 'nack' : 'ack',
      stale: req.responseNonce !== '' && req.responseNonce !== state?.nonce,
      responseNonce: req.responseNonce,
      subscribe: [...req.resourceNamesSubscribe],
      unsubscribe: [...req.resourceNamesUnsubscribe],
      initialResourceVersions: initial.length > 0 ? Object.fromEntries(initial) : undefined,
      answeredVersion: this.versionOfNonce.get(req.responseNonce),
      errorDetail: errorOf(req),
      node: this.seeNode(req.node),
    });
    if (!state) {
      // Legacy wildcard: the first request of LDS/CDS naming nothing.
      state = {
        wildcard: isWildcardType(typeUrl) && req.resourceNamesSubscribe.length === 0,
        names: new Set(),
        known: new Map(initial),
        nonce: '',
      };
      this.types.set(typeUrl, state);
    }
    // Subscription changes count even on a stale nonce: the nonce only ties ACK/NACK to a response.
    for (const name of req.resourceNamesSubscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
    }
    for (const name of req.resourceNamesUnsubscribe) {
      if (name === '*') state.wildcard = false;
      else {
        state.names.delete(name);
        state.known.delete(name);
      }
    }
    this.push(typeUrl, state);
  }

  onChange(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (state) this.push(typeUrl, state);
  }

  private push(typeUrl: string, state: DeltaTypeState): void {
    const current = this.host.resources(typeUrl);
    if (!current) return;
    const inScope = (name: string) => state.wildcard || state.names.has(name);
    const updated: StoredResource[] = [];
    for (const r of current.resources.values()) {
      if (inScope(r.name) && state.known.get(r.name) !== r.version) updated.push(r);
    }
    const removed: string[] = [];
    for (const name of [...state.known.keys()]) {
      if (!inScope(name)) state.known.delete(name);
      else if (!current.resources.has(name)) removed.push(name);
    }
    // A wildcard subscription is answered once even when empty, or the client could not finish warming.
    const evenIfEmpty = state.nonce === '' && state.wildcard;
    if (updated.length === 0 && removed.length === 0 && !evenIfEmpty) return;
    for (const r of updated) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    state.nonce = this.host.nextNonce();
    this.versionOfNonce.set(state.nonce, current.version);
    this.send(deltaResponse({
      systemVersionInfo: current.version,
      resources: updated.map((r) => create(schemas.resource, { name: r.name, version: r.version, resource: r.any })),
      typeUrl,
      removedResources: removed,
      nonce: state.nonce,
    }));
    this.host.sent({
      kind: 'delta', streamId: this.id, typeUrl, nonce: state.nonce, version: current.version,
      names: updated.map((r) => r.name), removed,
    });
  }
}
