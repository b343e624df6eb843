/**
 * The test ADS server (tests/support/xds-server.ts) against independent and
 * minimal clients on real sockets: @grpc/grpc-js-xds resolves `xds:///echo.test`
 * through it (LDS -> RDS -> CDS -> EDS, SotW) and a unary RPC reaches a real
 * grpc-js backend, updates and NACKs and reconnects included; a hand-written
 * delta client checks wildcard and named subscriptions, changed-only
 * pushes, removed_resources and reconnect with initial_resource_versions;
 * and NACKs with error_detail are recorded. Waits are on responses and
 * recorded requests, never sleeps.
 */
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { fromBinary, fromJson, toJson, type Message } from '@bufbuild/protobuf';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envoyRegistry } from '../../../xds/proto/registry.ts';
import {
  ADS_DELTA_PATH, ADS_SOTW_PATH, codecs, deltaRequest, discoveryRequest, rpcStatus,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../../../xds/ads/discovery-messages.ts';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, startXdsServer, type XdsServer } from '../../support/xds-server.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** Runs on teardown, newest first. */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// ---------------------------------------------------------------- helpers

const SAY = '/test.Echo/Say';
const passthrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

/** A grpc-js server whose one method answers `<prefix>: <request>`. */
async function startEcho(prefix: string): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  server.addService(
    { Say: { path: SAY, requestStream: false, responseStream: false, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize } },
    { Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${prefix}: ${call.request.toString()}`)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => server.forceShutdown() };
}

function say(client: grpc.Client, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(SAY, passthrough.serialize, passthrough.deserialize, Buffer.from(text), { deadline: Date.now() + 10_000 },
      (err, reply) => (err ? reject(err) : resolve(reply!.toString())));
  });
}

function node(id: string): Message {
  return fromJson(envoyRegistry().getMessage('envoy.config.core.v3.Node')!, { id });
}

/** A minimal bidi xDS client: sends requests, hands out responses in order. */
class StreamClient<Req, Res extends { nonce: string }> {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Req, Res>;
  private readonly queue: Res[] = [];
  private readonly waiting: Array<(r: Res) => void> = [];
  closed = false;

  constructor(address: string, path: string, req: { serialize(v: Req): Buffer }, res: { deserialize(b: Buffer): Res }) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
    this.call = this.client.makeBidiStreamRequest(path, req.serialize, res.deserialize);
    this.call.on('data', (r: Res) => {
      const w = this.waiting.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.call.on('error', () => { this.closed = true; });
    this.call.on('status', () => { this.closed = true; });
    cleanups.push(() => this.close());
  }

  send(req: Req): void {
    this.call.write(req);
  }

  /** The next response; rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Res> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(done), 1);
        reject(new Error('no xDS response'));
      }, timeoutMs);
      const done = (r: Res) => { clearTimeout(timer); resolve(r); };
      this.waiting.push(done);
    });
  }

  /** Responses received and not yet taken. */
  pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

function deltaClient(server: XdsServer, address = server.address) {
  return new StreamClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(address, ADS_DELTA_PATH, codecs.deltaRequest, codecs.deltaResponse);
}

function sotwClient(server: XdsServer) {
  return new StreamClient<DiscoveryRequest, DiscoveryResponse>(server.address, ADS_SOTW_PATH, codecs.discoveryRequest, codecs.discoveryResponse);
}

function cluster(name: string, connectTimeout = '1s'): object {
  return { name, type: 'EDS', connect_timeout: connectTimeout, eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
}

function assignment(clusterName: string, port: number): object {
  return {
    cluster_name: clusterName,
    endpoints: [{
      locality: { region: 'test', zone: 'a' },
      load_balancing_weight: 1,
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }],
    }],
  };
}

/** The names and versions of a delta response. */
function summary(r: DeltaDiscoveryResponse): { names: string[]; removed: string[] } {
  return { names: r.resources.map((x) => x.name).sort(), removed: [...r.removedResources].sort() };
}

async function startServer(opts?: { address?: string }): Promise<XdsServer> {
  const server = await startXdsServer(opts);
  cleanups.push(() => server.close());
  return server;
}

// ---------------------------------------------------------------- grpc-js-xds

describe('an independent xDS client (@grpc/grpc-js-xds, SotW ADS)', () => {
  test('resolves LDS -> RDS -> CDS -> EDS, ACKs each, follows updates, NACKs bad config, survives dropped streams', async () => {
    const one = await startEcho('one');
    cleanups.push(() => one.close());
    const two = await startEcho('two');
    cleanups.push(() => two.close());
    const server = await startServer();

    server.setResources(LISTENER, {
      'echo.test': {
        name: 'echo.test',
        api_listener: {
          api_listener: {
            '@type': HCM,
            rds: { route_config_name: 'echo-route', config_source: { ads: {}, resource_api_version: 'V3' } },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
          },
        },
      },
    });
    server.setResources(ROUTE, {
      'echo-route': {
        name: 'echo-route',
        virtual_hosts: [{ name: 'echo', domains: ['echo.test'], routes: [{ match: { prefix: '' }, route: { cluster: 'echo-cluster' } }] }],
      },
    });
    server.setResources(CLUSTER, { 'echo-cluster': cluster('echo-cluster') });
    server.setResources(ENDPOINT, { 'echo-cluster': assignment('echo-cluster', one.port) });

    // The bootstrap is read when the first xds: channel resolves (cached per module instance).
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: server.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'test', locality: {} },
    });
    cleanups.push(() => { delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG; });
    registerXdsResolver();
    const client = new grpc.Client('xds:///echo.test', grpc.credentials.createInsecure());
    cleanups.push(() => client.close());

    expect(await say(client, 'hello')).toBe('one: hello');
    for (const type of [LISTENER, ROUTE, CLUSTER, ENDPOINT]) {
      const ack = await server.waitFor((r) => r.typeUrl === type && r.verdict === 'ack' && r.versionInfo === server.version(type));
      expect(ack.kind).toBe('sotw');
      expect(server.acked(type)).toBe(server.version(type));
    }
    const first = server.requests[0];
    expect(first.node).toMatchObject({ id: 'test' });
    expect(server.requests.find((r) => r.typeUrl === LISTENER)?.resourceNames).toEqual(['echo.test']);
    expect(server.requests.find((r) => r.typeUrl === ROUTE)?.resourceNames).toEqual(['echo-route']);
    expect(server.nacks(LISTENER)).toEqual([]);
    expect(server.streams()).toBe(1);
    expect(server.nodes()).toEqual([expect.objectContaining({ id: 'test' })]);

    // An EDS update is pushed, ACKed, and moves traffic.
    server.setResources(ENDPOINT, { 'echo-cluster': assignment('echo-cluster', two.port) }, 'eds-2');
    await server.waitFor((r) => r.typeUrl === ENDPOINT && r.verdict === 'ack' && r.versionInfo === 'eds-2');
    let reply = '';
    for (let i = 0; i < 50 && !reply.startsWith('two'); i++) reply = await say(client, 'again');
    expect(reply).toBe('two: again');

    // A cluster grpc cannot use is NACKed with the last good version and a reason.
    const goodCds = server.version(CLUSTER);
    server.setResources(CLUSTER, { 'echo-cluster': { ...cluster('echo-cluster'), lb_policy: 'LEAST_REQUEST' } }, 'cds-bad');
    const nack = await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'nack');
    expect(nack.versionInfo).toBe(goodCds);
    expect(nack.answeredVersion).toBe('cds-bad');
    expect(nack.errorDetail?.message).toMatch(/lb_policy/);
    expect(server.nacks(CLUSTER)).toHaveLength(1);
    expect(await say(client, 'still')).toBe('two: still');

    // A dropped stream is re-established; the client re-requests with what it has.
    const since = server.requests.length;
    server.dropStreams();
    const again = await server.waitFor((r) => r.typeUrl === LISTENER && r.streamId !== first.streamId, 10_000, since);
    expect(again.verdict).toBe('request');
    expect(again.node).toMatchObject({ id: 'test' });
    server.setResources(CLUSTER, { 'echo-cluster': cluster('echo-cluster') }, 'cds-fixed');
    await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'ack' && r.versionInfo === 'cds-fixed', 10_000, since);
    expect(await say(client, 'back')).toBe('two: back');
  });
});

// ---------------------------------------------------------------- delta

describe('delta xDS (DeltaAggregatedResources)', () => {
  test('wildcard CDS: full first, then only changed resources, then removed_resources, then reconnect from initial_resource_versions', async () => {
    const server = await startServer();
    server.setResources(CLUSTER, { a: cluster('a'), b: cluster('b') }, 'c1');
    const client = deltaClient(server);
    client.send(deltaRequest({ typeUrl: CLUSTER, node: node('delta') }));

    const r1 = await client.next();
    expect(summary(r1)).toEqual({ names: ['a', 'b'], removed: [] });
    expect(r1.systemVersionInfo).toBe('c1');
    expect(r1.resources.map((r) => r.version)).toEqual(r1.resources.map((r) => server.resourceVersions(CLUSTER)[r.name]));
    client.send(deltaRequest({ typeUrl: CLUSTER, responseNonce: r1.nonce }));
    await server.waitFor((r) => r.kind === 'delta' && r.verdict === 'ack' && r.responseNonce === r1.nonce);
    expect(server.acked(CLUSTER)).toBe('c1');
    expect(server.requests[0]).toMatchObject({ kind: 'delta', verdict: 'request', subscribe: [], node: { id: 'delta' } });

    // Change a; b's bytes are equal, so b is not resent.
    server.setResources(CLUSTER, { a: cluster('a', '2s'), b: cluster('b') }, 'c2');
    const r2 = await client.next();
    expect(summary(r2)).toEqual({ names: ['a'], removed: [] });
    const decoded = fromBinary(envoyRegistry().getMessage('envoy.config.cluster.v3.Cluster')!, r2.resources[0].resource!.value);
    expect(toJson(envoyRegistry().getMessage('envoy.config.cluster.v3.Cluster')!, decoded, { useProtoFieldName: true })).toMatchObject({ name: 'a', connect_timeout: '2s' });
    client.send(deltaRequest({ typeUrl: CLUSTER, responseNonce: r2.nonce }));

    // Drop b.
    server.setResources(CLUSTER, { a: cluster('a', '2s') }, 'c3');
    const r3 = await client.next();
    expect(summary(r3)).toEqual({ names: [], removed: ['b'] });
    client.send(deltaRequest({ typeUrl: CLUSTER, responseNonce: r3.nonce }));
    await server.waitFor((r) => r.verdict === 'ack' && r.responseNonce === r3.nonce);
    const haveA = r2.resources[0].version;
    client.close();

    // While away: c appears. The client comes back knowing a (current) and b (gone).
    server.setResources(CLUSTER, { a: cluster('a', '2s'), c: cluster('c') }, 'c4');
    const back = deltaClient(server);
    back.send(deltaRequest({ typeUrl: CLUSTER, node: node('delta'), initialResourceVersions: { a: haveA, b: 'whatever-b-was' } }));
    const r4 = await back.next();
    expect(summary(r4)).toEqual({ names: ['c'], removed: ['b'] });
    expect(r4.systemVersionInfo).toBe('c4');
    const hello = server.requests.at(-1)!;
    expect(hello.initialResourceVersions).toEqual({ a: haveA, b: 'whatever-b-was' });
  });

  test('named EDS subscriptions: subscribe, late arrival, unsubscribe, explicit removal', async () => {
    const server = await startServer();
    server.setResources(ENDPOINT, { x: assignment('x', 1001) });
    const client = deltaClient(server);
    client.send(deltaRequest({ typeUrl: ENDPOINT, node: node('eds'), resourceNamesSubscribe: ['x', 'y'] }));
    const r1 = await client.next();
    expect(summary(r1)).toEqual({ names: ['x'], removed: [] });
    client.send(deltaRequest({ typeUrl: ENDPOINT, responseNonce: r1.nonce }));

    // y arrives; x is unchanged, z is not subscribed.
    server.setResources(ENDPOINT, { x: assignment('x', 1001), y: assignment('y', 1002), z: assignment('z', 1003) });
    const r2 = await client.next();
    expect(summary(r2)).toEqual({ names: ['y'], removed: [] });
    client.send(deltaRequest({ typeUrl: ENDPOINT, responseNonce: r2.nonce, resourceNamesUnsubscribe: ['x'] }));
    await server.waitFor((r) => r.responseNonce === r2.nonce && r.unsubscribe?.[0] === 'x');

    // x changes (unsubscribed: nothing for it); y is deleted (removed_resources).
    server.setResources(ENDPOINT, { x: assignment('x', 2001), z: assignment('z', 1003) });
    const r3 = await client.next();
    expect(summary(r3)).toEqual({ names: [], removed: ['y'] });
    expect(client.pending()).toBe(0);

    // Subscribing later to an existing one sends just it.
    client.send(deltaRequest({ typeUrl: ENDPOINT, responseNonce: r3.nonce, resourceNamesSubscribe: ['z'] }));
    expect(summary(await client.next())).toEqual({ names: ['z'], removed: [] });
  });

  test('over a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xds-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = await startServer({ address: `unix:${join(dir, 'ads.sock')}` });
    expect(server.port).toBe(0);
    server.setResources(LISTENER, {});
    const client = deltaClient(server);
    client.send(deltaRequest({ typeUrl: LISTENER, node: node('unix') }));
    // An empty wildcard set still gets one (empty) response, so the client can finish warming.
    const r = await client.next();
    expect(summary(r)).toEqual({ names: [], removed: [] });
    expect(server.streams()).toBe(1);
  });
});

// ---------------------------------------------------------------- NACK and SotW bookkeeping

describe('ACK/NACK bookkeeping', () => {
  test('a SotW NACK with error_detail is recorded and not answered with the same resources; a stale nonce is ignored', async () => {
    const server = await startServer();
    server.setResources(CLUSTER, { a: cluster('a') }, 'v1');
    const client = sotwClient(server);
    client.send(discoveryRequest({ typeUrl: CLUSTER, node: node('sotw') }));
    const r1 = await client.next();
    expect(r1.versionInfo).toBe('v1');
    expect(r1.resources).toHaveLength(1);

    client.send(discoveryRequest({ typeUrl: CLUSTER, responseNonce: r1.nonce, versionInfo: '', errorDetail: rpcStatus(3, 'cluster a: no thanks') }));
    const nack = await server.waitFor((r) => r.verdict === 'nack');
    expect(server.nacks(CLUSTER)).toEqual([expect.objectContaining({
      kind: 'sotw', typeUrl: CLUSTER, responseNonce: r1.nonce, versionInfo: '', answeredVersion: 'v1',
      errorDetail: { code: 3, message: 'cluster a: no thanks' }, stale: false,
    })]);
    expect(nack.node).toBeUndefined();
    expect(server.acked(CLUSTER)).toBeUndefined();

    // A new state is pushed regardless of the NACK.
    server.setResources(CLUSTER, { a: cluster('a', '3s'), b: cluster('b') }, 'v2');
    const r2 = await client.next();
    expect(r2.versionInfo).toBe('v2');
    // An answer to the older nonce is stale: recorded, ignored (its narrower subscription included).
    client.send(discoveryRequest({ typeUrl: CLUSTER, responseNonce: r1.nonce, versionInfo: 'v1', resourceNames: ['a'] }));
    client.send(discoveryRequest({ typeUrl: CLUSTER, responseNonce: r2.nonce, versionInfo: 'v2' }));
    await server.waitFor((r) => r.verdict === 'ack' && r.versionInfo === 'v2');
    expect(server.requests.filter((r) => r.stale)).toEqual([expect.objectContaining({ responseNonce: r1.nonce })]);
    expect(server.acked(CLUSTER)).toBe('v2');

    server.setResources(CLUSTER, { b: cluster('b') }, 'v3');
    const r3 = await client.next();
    expect(r3.versionInfo).toBe('v3');
    expect(r3.resources.map((a) => a.typeUrl)).toEqual([CLUSTER]);
    expect(r3.resources).toHaveLength(1);
    expect(client.pending()).toBe(0);
  });

  test('a delta NACK is recorded with the version it refuses', async () => {
    const server = await startServer();
    server.setResources(ROUTE, { r: { name: 'r' } }, 'rv1');
    const client = deltaClient(server);
    client.send(deltaRequest({ typeUrl: ROUTE, node: node('d'), resourceNamesSubscribe: ['r'] }));
    const r1 = await client.next();
    client.send(deltaRequest({ typeUrl: ROUTE, responseNonce: r1.nonce, errorDetail: rpcStatus(3, 'route r refused') }));
    const nack = await server.waitFor((r) => r.verdict === 'nack', 5000);
    expect(nack).toMatchObject({ kind: 'delta', typeUrl: ROUTE, answeredVersion: 'rv1', errorDetail: { code: 3, message: 'route r refused' } });
    expect(server.nacks(ROUTE)).toHaveLength(1);
    expect(server.acked(ROUTE)).toBeUndefined();
  });

  test('a per-type service (ClusterDiscoveryService/StreamClusters) serves its type when type_url is left empty', async () => {
    const server = await startServer();
    server.setResources(CLUSTER, { a: cluster('a') }, 'p1');
    const client = new StreamClient<DiscoveryRequest, DiscoveryResponse>(server.address,
      '/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters', codecs.discoveryRequest, codecs.discoveryResponse);
    client.send(discoveryRequest({ node: node('cds') }));
    const r = await client.next();
    expect(r).toMatchObject({ typeUrl: CLUSTER, versionInfo: 'p1' });
    client.send(discoveryRequest({ responseNonce: r.nonce, versionInfo: 'p1' }));
    expect(await server.waitFor((x) => x.verdict === 'ack')).toMatchObject({ typeUrl: CLUSTER, versionInfo: 'p1' });
  });

  test('bad resource JSON throws naming the resource; waitFor times out with what it saw', async () => {
    const server = await startServer();
    expect(() => server.setResources(CLUSTER, { bad: { name: 'bad', no_such_field: 1 } })).toThrow(/bad.*Cluster/);
    expect(() => server.setResources(CLUSTER, { a: { '@type': LISTENER, name: 'a' } })).toThrow(/@type/);
    await expect(server.waitFor(() => true, 50)).rejects.toThrow(/no matching request/);
  });
});
