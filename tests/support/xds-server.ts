/**
 * An xDS management server for tests: serves the Aggregated Discovery
 * Service (StreamAggregatedResources and DeltaAggregatedResources) and the
 * per-type discovery services over @grpc/grpc-js, with messages encoded by
 * @bufbuild/protobuf from the Envoy registry. Resources are set per type URL
 * from canonical JSON; every change is pushed to the streams subscribed to
 * it. Every request is recorded and classified (request, ACK, NACK) so tests
 * can wait for a client's ACK or NACK instead of sleeping.
 */
import * as grpc from '@grpc/grpc-js';
import { DISCOVERY_SERVICES, codecs, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse } from '../../xds/ads/discovery-messages.ts';
import { ResourceStore, type TypeState } from './xds-resources.ts';
import { DeltaStream, SotwStream, type RecordedRequest, type SentResponse, type StreamHost } from './xds-streams.ts';

export type { RecordedRequest, SentResponse } from './xds-streams.ts';

export { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, VIRTUAL_HOST } from '../../xds/ads/discovery-messages.ts';

/** Where to listen. */
export interface XdsServerOptions {
  /** `unix:/path` or `host:port`; default `127.0.0.1:0`. */
  address?: string;
}

/** A running test control plane. */
export interface XdsServer {
  /** The bound TCP port (0 on a unix socket). */
  readonly port: number;
  /** What a client dials: `127.0.0.1:<port>` or `unix:/path`. */
  readonly address: string;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Every response sent, in order. */
  readonly responses: readonly SentResponse[];
  /**
   * Replaces all resources of `typeUrl` (name -> canonical JSON, `@type` optional)
   * and pushes the change; `version` is the SotW version_info (default: a counter).
   * Throws if a resource does not decode.
   */
  setResources(typeUrl: string, resources: Record<string, unknown>, version?: string): void;
  /** The current version_info of a type, or undefined if never set. */
  version(typeUrl: string): string | undefined;
  /** Per-resource versions (hash of the bytes) of a type. */
  resourceVersions(typeUrl: string): Record<string, string>;
  /** Resolves with the first request (index >= `since`) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (request: RecordedRequest) => boolean, timeoutMs?: number, since?: number): Promise<RecordedRequest>;
  /** The version of the latest ACK for a type (SotW version_info, delta system_version_info answered). */
  acked(typeUrl: string): string | undefined;
  /** All ACKs of a type. */
  acks(typeUrl: string): RecordedRequest[];
  /** All NACKs of a type. */
  nacks(typeUrl: string): RecordedRequest[];
  /** How many streams are open. */
  streams(): number;
  /** The gRPC methods of the open streams (`/package.Service/Method`), in opening order. */
  streamMethods(): string[];
  /** The nodes of the open streams (as sent on their first message). */
  nodes(): unknown[];
  /** Ends every open stream with UNAVAILABLE (clients reconnect). */
  dropStreams(): void;
  /** Drops all streams and shuts the server down. */
  close(): Promise<void>;
}

type DiscoveryMethod =
  | grpc.MethodDefinition<DiscoveryRequest, DiscoveryResponse>
  | grpc.MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

interface OpenStream {
  state: SotwStream | DeltaStream;
  call: grpc.ServerDuplexStream<unknown, unknown>;
  /** `/package.Service/Method`. */
  method: string;
}

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  since: number;
  resolve: (request: RecordedRequest) => void;
}

function method<Req, Res>(path: string, req: { serialize(v: Req): Buffer; deserialize(b: Buffer): Req }, res: { serialize(v: Res): Buffer; deserialize(b: Buffer): Res }): grpc.MethodDefinition<Req, Res> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: req.serialize,
    requestDeserialize: req.deserialize,
    responseSerialize: res.serialize,
    responseDeserialize: res.deserialize,
  };
}

class TestXdsServer implements XdsServer {
  port = 0;
  address = '';
  readonly requests: RecordedRequest[] = [];
  readonly responses: SentResponse[] = [];
  readonly server = new grpc.Server();
  private readonly store = new ResourceStore((typeUrl) => this.pushChange(typeUrl));
  private readonly open = new Set<OpenStream>();
  private readonly waiters = new Set<Waiter>();
  private nonce = 0;
  private streamIds = 0;
  private readonly host: StreamHost = {
    resources: (typeUrl) => this.store.get(typeUrl),
    nextNonce: () => String(++this.nonce),
    record: (request) => this.record(request),
    sent: (response) => { this.responses.push(response); },
  };

  constructor() {
    for (const svc of DISCOVERY_SERVICES) {
      const methods: Array<[string, DiscoveryMethod]> = [];
      const implementation: grpc.UntypedServiceImplementation = {};
      if (svc.sotw) {
        methods.push([svc.sotw, method(`/${svc.service}/${svc.sotw}`, codecs.discoveryRequest, codecs.discoveryResponse)]);
        implementation[svc.sotw] = (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
          const state = new SotwStream(++this.streamIds, this.host, (r) => call.write(r), svc.typeUrl);
          this.serve(call, state, (req) => state.onRequest(req), `/${svc.service}/${svc.sotw!}`);
        };
      }
      methods.push([svc.delta, method(`/${svc.service}/${svc.delta}`, codecs.deltaRequest, codecs.deltaResponse)]);
      implementation[svc.delta] = (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
        const state = new DeltaStream(++this.streamIds, this.host, (r) => call.write(r), svc.typeUrl);
        this.serve(call, state, (req) => state.onRequest(req), `/${svc.service}/${svc.delta}`);
      };
      this.server.addService(Object.fromEntries(methods), implementation);
    }
  }

  private serve<Req, Res>(call: grpc.ServerDuplexStream<Req, Res>, state: SotwStream | DeltaStream, onRequest: (req: Req) => void, method: string): void {
    const entry: OpenStream = { state, call: call as grpc.ServerDuplexStream<unknown, unknown>, method };
    this.open.add(entry);
    const forget = () => { this.open.delete(entry); };
    call.on('data', (req: Req) => {
      try {
        onRequest(req);
      } catch (e) {
        call.emit('error', { code: grpc.status.INTERNAL, details: `xds-server: ${(e as Error).message}` });
      }
    });
    call.on('end', () => { forget(); call.end(); });
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('finish', forget);
  }

  private record(request: RecordedRequest): void {
    this.requests.push(request);
    const index = this.requests.length - 1;
    for (const w of this.waiters) {
      if (index >= w.since && w.predicate(request)) {
        this.waiters.delete(w);
        w.resolve(request);
      }
    }
  }

  private pushChange(typeUrl: string): void {
    for (const { state } of this.open) state.onChange(typeUrl);
  }

  setResources(typeUrl: string, resources: Record<string, unknown>, version?: string): void {
    this.store.set(typeUrl, resources, version);
  }

  version(typeUrl: string): string | undefined {
    return this.store.get(typeUrl)?.version;
  }

  resourceVersions(typeUrl: string): Record<string, string> {
    const state: TypeState | undefined = this.store.get(typeUrl);
    return Object.fromEntries([...(state?.resources.values() ?? [])].map((r) => [r.name, r.version]));
  }

  waitFor(predicate: (request: RecordedRequest) => boolean, timeoutMs = 5000, since = 0): Promise<RecordedRequest> {
    const found = this.requests.find((r, i) => i >= since && predicate(r));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        since,
        resolve: (r) => { clearTimeout(timer); resolve(r); },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.requests.map((r) => `${r.kind} ${r.verdict} ${r.typeUrl.replace(/.*\./, '')} v=${r.versionInfo ?? r.answeredVersion ?? ''} n=${r.responseNonce}`);
        reject(new Error(`xds-server: no matching request within ${timeoutMs} ms; seen:\n  ${seen.join('\n  ')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  acked(typeUrl: string): string | undefined {
    const last = this.acks(typeUrl).at(-1);
    return last ? (last.kind === 'sotw' ? last.versionInfo : last.answeredVersion) : undefined;
  }

  acks(typeUrl: string): RecordedRequest[] {
    return this.requests.filter((r) => r.typeUrl === typeUrl && r.verdict === 'ack');
  }

  nacks(typeUrl: string): RecordedRequest[] {
    return this.requests.filter((r) => r.typeUrl === typeUrl && r.verdict === 'nack');
  }

  streams(): number {
    return this.open.size;
  }

  streamMethods(): string[] {
    return [...this.open].map((s) => s.method);
  }

  nodes(): unknown[] {
    return [...this.open].map((s) => s.state.node);
  }

  dropStreams(): void {
    for (const entry of [...this.open]) {
      this.open.delete(entry);
      entry.call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'xds-server: stream dropped' });
    }
  }

  async close(): Promise<void> {
    this.dropStreams();
    // Not tryShutdown: an xDS client keeps its connection for reconnects, and tests need no drain.
    this.server.forceShutdown();
  }
}

/** Starts a test control plane on `opts.address` (default 127.0.0.1, an ephemeral port). */
export async function startXdsServer(opts: XdsServerOptions = {}): Promise<XdsServer> {
  const server = new TestXdsServer();
  const address = opts.address ?? '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) => {
    server.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  server.port = address.startsWith('unix:') ? 0 : port;
  server.address = address.startsWith('unix:') ? address : `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
  return server;
}
