/**
 * A failing test (bug report): an http_connection_manager behind the
 * tls_inspector and http_inspector listener filters (every Istio outbound
 * HTTP listener) never answers a plain HTTP/1.1 request. Listener.inspect()
 * pauses the socket explicitly (socket.pause()) before dispatch; the HCM's
 * AUTO codec sniffing then adds a 'data' listener, which does not resume an
 * explicitly paused stream, so no byte is ever read. tcp_proxy works because
 * it pipes. Fix (owner of listener.ts / connection-manager.ts): resume the
 * socket after attaching the sniffing listener, or let dispatch leave it
 * flowing as it found it.
 */
import { send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream } from '../../support/upstreams.ts';
test('HCM behind tls_inspector + http_inspector', async () => {
  const up = await startHttpUpstream('up');
  const yaml = bootstrap({ routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`, clusters: staticCluster('up', [up.port]) })
    .replace('    filter_chains:\n', `    listener_filters:\n    - name: envoy.filters.listener.tls_inspector\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }\n    - name: envoy.filters.listener.http_inspector\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }\n    filter_chains:\n`);
  const sc = await startSidecar(yaml);
  try {
    const r = await send('h1', sc.port(), { path: '/' });
    expect(r.status).toBe(200);
  } finally { await sc.stop(); await up.close(); }
}, 10000);
