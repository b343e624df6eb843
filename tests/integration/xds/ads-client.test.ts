/**
 * The sidecar's ADS client against the test management server, both
 * protocol variants: subscription, ACK, NACK with the old state kept,
 * removal, node on the first message only, reconnect after the server drops
 * the stream (delta: with initial_resource_versions).
 */
import { create } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { Message } from '@bufbuild/protobuf';
import { StatsStore } from '../../../sidecar/stats/store.ts';
import { AdsClient, type TypeUpdate } from '../../../xds/ads/ads-client.ts';
import { envoyRegistry } from '../../../xds/proto/registry.ts';
import { CLUSTER, ENDPOINT, startXdsServer, type XdsServer } from '../../support/xds-server.ts';
import { until } from '../../support/wait.ts';

function node(id: string): Message {
  return create(envoyRegistry().getMessage('envoy.config.core.v3.Node') as unknown as GenMessage<Message>, { id, cluster: 'test' } as never);
}

function cluster(name: string, timeout = '1s'): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: timeout, eds_cluster_config: { eds_config: { ads: {} } } };
}

const quiet = { info: () => undefined, warn: () => undefined };


describe.each(['sotw', 'delta'] as const)('ADS client (%s)', (mode) => {
  let server: XdsServer, client: AdsClient, updates: TypeUpdate[], reject: string | undefined;

  beforeEach(async () => {
    server = await startXdsServer();
    updates = [];
    reject = undefined;
    client = new AdsClient({
      target: { kind: 'tcp', host: '127.0.0.1', port: server.port },
      mode,
      node: node('sidecar~1.2.3.4~pod.ns~ns.svc.cluster.local'),
      setNodeOnFirstMessageOnly: true,
      stats: new StatsStore(),
      log: quiet,
      backoffBaseMs: 20,
      onUpdate: async (u) => {
        updates.push(u);
        return reject ? [reject] : [];
      },
    });
  });

  afterEach(async () => {
    client.close();
    await server.close();
  });

  test('wildcard CDS: update, ACK, change, removal', async () => {
    server.setResources(CLUSTER, { a: cluster('a'), b: cluster('b') }, 'v1');
    client.subscribe(CLUSTER, '*');
    client.start();
    await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'ack');
    expect([...client.resources(CLUSTER).keys()].sort()).toEqual(['a', 'b']);
    expect([...updates[0]!.changed].sort()).toEqual(['a', 'b']);
    server.setResources(CLUSTER, { a: cluster('a', '2s') }, 'v2');
    await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'ack' && r.answeredVersion === 'v2');
    const last = updates[updates.length - 1]!;
    expect(last.removed).toEqual(['b']);
    expect(last.changed).toEqual(['a']);
    expect(client.resources(CLUSTER).get('a')!.value['connect_timeout']).toBe('2s');
    // The node went on the first message of the stream only.
    const mine = server.requests.filter((r) => r.typeUrl === CLUSTER);
    expect(mine[0]!.node?.['id']).toBe('sidecar~1.2.3.4~pod.ns~ns.svc.cluster.local');
    expect(mine.slice(1).every((r) => r.node === undefined)).toBe(true);
  });

  test('a rejected update is NACKed with the reason and the old state is kept', async () => {
    server.setResources(CLUSTER, { a: cluster('a') }, 'v1');
    client.subscribe(CLUSTER, '*');
    client.start();
    await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'ack');
    const accepted = client.version(CLUSTER);
    reject = "cluster 'a': bad regex";
    server.setResources(CLUSTER, { a: cluster('a', '3s') }, 'v2');
    const nack = await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'nack');
    expect(nack.errorDetail?.message).toContain("cluster 'a': bad regex");
    expect(client.resources(CLUSTER).get('a')!.value['connect_timeout']).toBe('1s');
    expect(client.version(CLUSTER)).toBe(accepted);
  });

  test('named EDS subscriptions follow subscribe()', async () => {
    server.setResources(ENDPOINT, {
      a: { cluster_name: 'a', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] },
      b: { cluster_name: 'b' },
    }, 'e1');
    client.subscribe(ENDPOINT, ['a']);
    client.start();
    await server.waitFor((r) => r.typeUrl === ENDPOINT && r.verdict === 'ack');
    expect([...client.resources(ENDPOINT).keys()]).toEqual(['a']);
    client.subscribe(ENDPOINT, ['a', 'b']);
    await until(() => client.resources(ENDPOINT).has('b'));
    expect([...client.resources(ENDPOINT).keys()].sort()).toEqual(['a', 'b']);
  });

  test('reconnects after the server drops the stream and resubscribes', async () => {
    server.setResources(CLUSTER, { a: cluster('a') }, 'v1');
    client.subscribe(CLUSTER, '*');
    client.start();
    await server.waitFor((r) => r.typeUrl === CLUSTER && r.verdict === 'ack');
    const firstStream = server.requests[0]!.streamId;
    server.dropStreams();
    const again = await server.waitFor((r) => r.typeUrl === CLUSTER && r.streamId !== firstStream, 5000);
    expect(again.node?.['id']).toBe('sidecar~1.2.3.4~pod.ns~ns.svc.cluster.local');
    if (mode === 'delta') expect(Object.keys(again.initialResourceVersions ?? {})).toEqual(['a']);
    else expect(again.versionInfo).toBe('v1');
  });
});
