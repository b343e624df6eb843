/**
 * Envoy's filesystem subscription (path_config_source, deprecated path):
 * a sidecar without a control plane takes its listeners and clusters from
 * DiscoveryResponse files; an atomic rewrite (write + rename) and an
 * in-place write move traffic; an invalid file is rejected (update_rejected)
 * while the last good config serves; a listener removed from the file
 * stops; watched_directory; the bootstrap checks of config sources.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import YAML from 'yaml';
import { send } from '../../support/client.ts';
import { freePort } from '../../support/process.ts';
import { bootstrapErrors, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { until } from '../../support/wait.ts';

const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

function listener(name: string, port: number): Record<string, unknown> {
  return {
    '@type': LISTENER,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: name,
          route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

function cluster(port: number): Record<string, unknown> {
  return {
    '@type': CLUSTER,
    name: 'backend',
    type: 'STATIC',
    connect_timeout: '0.5s',
    load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

function discoveryResponse(version: string, resources: Array<Record<string, unknown>>): string {
  return YAML.stringify({ version_info: version, resources });
}

/** Envoy's recommended update: write a temporary file, then move it into place. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function answeredBy(port: number): Promise<string> {
  try {
    const r = await send('h1', port, { path: '/' });
    return r.status === 200 ? String(r.json()['upstream']) : `status ${r.status}`;
  } catch (e) {
    return `error ${(e as NodeJS.ErrnoException).code}`;
  }
}


function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

function fsBootstrap(dir: string, cds: string, lds: string): string {
  return `
node: { id: fs-test, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  cds_config: ${cds}
  lds_config: ${lds}
`.replaceAll('DIR', dir);
}

describe('filesystem subscription (path_config_source)', () => {
  let a: TestUpstream, b: TestUpstream, sc: TestSidecar, dir: string, port: number, port2: number;
  const cdsRejected = (): number => sc.stat('cluster_manager.cds.update_rejected');

  beforeAll(async () => {
    [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
    dir = await mkdtemp(join(tmpdir(), 'themis-fs-'));
    [port, port2] = [await freePort(), await freePort()];
    await writeFile(join(dir, 'cds.yaml'), discoveryResponse('c1', [cluster(a.port)]));
    await writeFile(join(dir, 'lds.yaml'), discoveryResponse('l1', [listener('ingress', port), listener('extra', port2)]));
    sc = await startSidecar(fsBootstrap(dir, '{ path_config_source: { path: DIR/cds.yaml }, resource_api_version: V3 }', '{ path_config_source: { path: DIR/lds.yaml }, resource_api_version: V3 }'));
  });

  afterAll(async () => {
    await sc?.stop();
    await Promise.all([a?.close(), b?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('listeners and clusters from the files serve traffic before LIVE', async () => {
    expect(sc.server.state).toBe('LIVE');
    expect(await answeredBy(port)).toBe('a');
    expect(await answeredBy(port2)).toBe('a');
    expect(sc.stat('cluster_manager.cds.update_success')).toBe(1);
    expect(sc.stat('listener_manager.lds.update_success')).toBe(1);
    expect(sc.server.xdsVersions()).toEqual({ cds: 'c1', lds: 'l1' });
  });

  test('an atomic rewrite of cds.yaml (write + rename) moves traffic', async () => {
    await writeAtomically(join(dir, 'cds.yaml'), discoveryResponse('c2', [cluster(b.port)]));
    await until(async () => (await answeredBy(port)) === 'b');
    expect(sc.server.xdsVersions().cds).toBe('c2');
    expect(sc.server.clusters().find((c) => c.name === 'backend')?.versionInfo).toBe('c2');
  });

  test('an invalid file is rejected with update_rejected; the last good config keeps serving', async () => {
    const rejectedBy = async (write: () => Promise<void>): Promise<void> => {
      const before = cdsRejected();
      await write();
      await until(() => cdsRejected() > before);
      expect(await answeredBy(port)).toBe('b');
    };
    // A resource that fails validation (unknown field).
    await rejectedBy(() => writeAtomically(join(dir, 'cds.yaml'), discoveryResponse('c3', [{ ...cluster(a.port), no_such_field: 1 }])));
    // A file that is not YAML at all, written in place.
    await rejectedBy(() => writeFile(join(dir, 'cds.yaml'), 'resources: [ {\n'));
    // An empty file (what an in-place write looks like half-way).
    await rejectedBy(() => writeAtomically(join(dir, 'cds.yaml'), ''));
    // A resource of the wrong type.
    await rejectedBy(() => writeAtomically(join(dir, 'cds.yaml'), discoveryResponse('c4', [listener('x', 1)])));
    // A semantically invalid cluster (the translator refuses it).
    await rejectedBy(() => writeAtomically(join(dir, 'cds.yaml'), discoveryResponse('c5', [{ ...cluster(a.port), lb_policy: 'CLUSTER_PROVIDED' }])));
    expect(sc.server.xdsVersions().cds).toBe('c2');
    expect(sc.stat('cluster_manager.cds.update_success')).toBe(2);
  });

  test('an in-place write of a valid file is picked up', async () => {
    await writeFile(join(dir, 'cds.yaml'), discoveryResponse('c6', [cluster(a.port)]));
    await until(async () => (await answeredBy(port)) === 'a');
    expect(sc.server.xdsVersions().cds).toBe('c6');
  });

  test('a listener removed from lds.yaml stops; the other keeps serving', async () => {
    await writeAtomically(join(dir, 'lds.yaml'), discoveryResponse('l2', [listener('ingress', port)]));
    await until(() => refused(port2));
    expect(await answeredBy(port)).toBe('a');
    expect(sc.server.listeners().map((l) => l.name)).toEqual(['ingress']);
    expect(sc.server.xdsVersions().lds).toBe('l2');
  });
});

describe('filesystem subscription options', () => {
  let a: TestUpstream, b: TestUpstream, dir: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b')]);
    dir = await mkdtemp(join(tmpdir(), 'themis-fs-'));
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('watched_directory: a change there re-reads the file; the deprecated path field and JSON files work', async () => {
    const port = await freePort();
    const watched = await mkdtemp(join(dir, 'watched-'));
    await writeFile(join(dir, 'cds.json'), JSON.stringify({ version_info: 'j1', resources: [cluster(a.port)] }));
    await writeFile(join(dir, 'lds.yaml'), discoveryResponse('l1', [listener('ingress', port)]));
    const sc = await startSidecar(fsBootstrap(dir, '{ path_config_source: { path: DIR/cds.json, watched_directory: { path: WATCHED } } }'.replace('WATCHED', watched), '{ path: DIR/lds.yaml }'));
    try {
      expect(await answeredBy(port)).toBe('a');
      // Kubernetes ConfigMap style: the content changes, then a move in the watched directory signals it.
      await writeFile(join(dir, 'cds.json'), JSON.stringify({ version_info: 'j2', resources: [cluster(b.port)] }));
      await writeAtomically(join(watched, '..data'), 'swap');
      await until(async () => (await answeredBy(port)) === 'b');
      expect(sc.server.xdsVersions().cds).toBe('j2');
    } finally {
      await sc.stop();
    }
  });

  test('without ads_config, an EDS cluster or an RDS listener in a file is rejected, naming the resource', async () => {
    const port = await freePort();
    const eds = { '@type': CLUSTER, name: 'e', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } };
    await writeFile(join(dir, 'cds-eds.yaml'), discoveryResponse('1', [eds, cluster(a.port)]));
    await writeFile(join(dir, 'lds-ok.yaml'), discoveryResponse('1', [listener('ingress', port)]));
    const sc = await startSidecar(fsBootstrap(dir, '{ path: DIR/cds-eds.yaml, initial_fetch_timeout: 0.3s }', '{ path: DIR/lds-ok.yaml }'));
    try {
      expect(sc.stat('cluster_manager.cds.update_rejected')).toBe(1);
      expect(await answeredBy(port)).toBe('status 503');
      await writeAtomically(join(dir, 'cds-eds.yaml'), discoveryResponse('2', [cluster(a.port)]));
      await until(async () => (await answeredBy(port)) === 'a');
      const rds = listener('rds', await freePort()) as { filter_chains: Array<{ filters: Array<{ typed_config: Record<string, unknown> }> }> };
      const hcm = rds.filter_chains[0]!.filters[0]!.typed_config;
      delete hcm['route_config'];
      hcm['rds'] = { route_config_name: 'r', config_source: { ads: {} } };
      await writeAtomically(join(dir, 'lds-ok.yaml'), discoveryResponse('2', [listener('ingress', port), rds]));
      await until(() => sc.stat('listener_manager.lds.update_rejected') === 1);
      expect(await answeredBy(port)).toBe('a');
    } finally {
      await sc.stop();
    }
  });

  test('bootstrap: path sources need no ads_config; { ads: {} } needs it; other sources are refused with the reason', async () => {
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ path_config_source: { path: /tmp/cds.yaml } }', '{ path: /tmp/lds.yaml }'))).toEqual([]);
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ ads: {} }', '{ path: /tmp/lds.yaml }'))).toEqual([
      'dynamic_resources.cds_config.ads: an { ads: {} } config source needs dynamic_resources.ads_config',
    ]);
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ api_config_source: { api_type: REST, cluster_names: [x] } }', '{ path: /tmp/lds.yaml }'))).toEqual([
      'dynamic_resources.cds_config.api_config_source.api_type: api_type REST is not supported (GRPC and DELTA_GRPC are)',
    ]);
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ api_config_source: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: x } }] } }', '{ path: /tmp/lds.yaml }'))).toEqual([
      "dynamic_resources.cds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name: no static cluster named 'x'",
    ]);
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ self: {} }', '{ path: /tmp/lds.yaml }'))).toEqual([
      expect.stringMatching(/^dynamic_resources\.cds_config: only \{ ads: \{\} \}, api_config_source \(GRPC, DELTA_GRPC\), path_config_source and path config sources are supported \(self is not\)/),
    ]);
    expect(await bootstrapErrors(fsBootstrap('/tmp', '{ path_config_source: { watched_directory: { path: /tmp } } }', '{ path: /tmp/lds.yaml }'))).toEqual([
      'dynamic_resources.cds_config.path_config_source.path: path is required',
    ]);
  });
});
