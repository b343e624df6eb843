/**
 * bind_to_port: false (Istio's outbound listeners): the listener is accepted
 * with a warning and binds nothing, so it can never take a port that belongs
 * to the application in the pod.
 */
import net from 'node:net';
import { freePort } from '../../support/process.ts';
import { bootstrap, staticCluster, startSidecar } from '../../support/sidecar.ts';

test('a bind_to_port: false listener binds no port; the others serve', async () => {
  const port = await freePort();
  const yaml = bootstrap({ routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }]`, clusters: staticCluster('up', [1]) })
    .replace('  clusters:\n', `  - name: outbound_80
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    bind_to_port: false
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: o, cluster: up }
  clusters:\n`);
  const sc = await startSidecar(yaml);
  try {
    expect(sc.server.listenerManager.all().map((l) => l.config.name).sort()).toEqual(['main', 'outbound_80']);
    const err = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(err).toBe('ECONNREFUSED');
    const ok = await new Promise<string>((resolve) => {
      const s = net.connect(sc.port('main'), '127.0.0.1', () => { s.destroy(); resolve('connected'); });
      s.on('error', (e) => resolve(e.message));
    });
    expect(ok).toBe('connected');
  } finally {
    await sc.stop();
  }
});
