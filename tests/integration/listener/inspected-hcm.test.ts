/**
 * An http_connection_manager behind the tls_inspector and http_inspector
 * listener filters (every Istio outbound HTTP listener): the listener hands
 * over a socket it paused while peeking; the HCM must read from it.
 */
import { PROTOCOLS, send } from '../../support/client.ts';
import { bootstrap, staticCluster, startSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream } from '../../support/upstreams.ts';
test('HCM behind tls_inspector + http_inspector', async () => {
  const up = await startHttpUpstream('up');
  const yaml = bootstrap({ routes: `virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }]`, clusters: staticCluster('up', [up.port]) })
    .replace('    filter_chains:\n', `    listener_filters:\n    - name: envoy.filters.listener.tls_inspector\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }\n    - name: envoy.filters.listener.http_inspector\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }\n    filter_chains:\n`);
  const sc = await startSidecar(yaml);
  try {
    for (const proto of PROTOCOLS) {
      const r = await send(proto, sc.port(), { path: `/${proto}` });
      expect(r.status).toBe(200);
    }
  } finally { await sc.stop(); await up.close(); }
}, 10000);
