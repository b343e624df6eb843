/**
 * Test harness: runs a real Server in the test process on a bootstrap given
 * as YAML (listeners on port 0 get real ports), plus helpers to read the
 * bound ports and stats.
 */
import { ConfigErrors } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import { LogRegistry } from '../../sidecar/lifecycle/log.ts';
import { Server } from '../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../sidecar/main.ts';

/** A started in-process sidecar. */
export interface TestSidecar {
  readonly server: Server;
  /** Bound port of a listener by name (the first one when omitted). */
  port(listener?: string): number;
  /** A counter or gauge value by full name (0 when absent). */
  stat(name: string): number;
  /** Drains with the given time and waits for exit. */
  stop(drainTimeS?: number): Promise<void>;
}

/** Starts a sidecar on a bootstrap YAML string. Throws ConfigErrors for bad config. */
export async function startSidecar(yaml: string, opts: { drainTimeS?: number; register?: (registry: ExtensionRegistry) => void } = {}): Promise<TestSidecar> {
  const registry = createRegistry();
  opts.register?.(registry);
  const snapshot = await buildSnapshot({ configYaml: yaml, allowUnknownStaticFields: false }, registry);
  const logs = new LogRegistry(process.env['THEMIS_TEST_LOG'] ?? 'off');
  const server = new Server({ snapshot, registry, logs, drainTimeS: opts.drainTimeS ?? 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  await server.start();
  return {
    server,
    port(listener?: string) {
      const all = server.listenerManager.all();
      const l = listener ? all.find((x) => x.config.name === listener) : all[0];
      if (!l) throw new Error(`no listener ${listener}`);
      return l.port;
    },
    stat(name: string) {
      return server.stats.findCounter(name)?.value() ?? server.stats.findGauge(name)?.value() ?? 0;
    },
    async stop(drainTimeS?: number) {
      void drainTimeS;
      server.shutdown('test');
      await server.exited;
    },
  };
}

/** The reasons of a refused bootstrap, for assertions. */
export async function bootstrapErrors(yaml: string): Promise<string[]> {
  try {
    await buildSnapshot({ configYaml: yaml }, createRegistry());
    return [];
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors.map((x) => x.message);
    throw e;
  }
}

/** A minimal bootstrap: one HCM listener on port 0 with the given route_config and clusters. */
export function bootstrap(parts: { routes: string; clusters: string; hcmExtra?: string; admin?: boolean }): string {
  const indent = (s: string, n: number): string => s.split('\n').map((l) => (l ? ' '.repeat(n) + l : l)).join('\n');
  return `
${parts.admin === false ? '' : 'admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 0 }'}
static_resources:
  listeners:
  - name: main
    address:
      socket_address: { address: 127.0.0.1, port_value: 0 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
${parts.hcmExtra ? indent(parts.hcmExtra, 10) : ''}
          route_config:
${indent(parts.routes, 12)}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(parts.clusters, 2)}
`;
}

/** A STATIC cluster entry (YAML list item) over the given ports. */
export function staticCluster(name: string, ports: number[], extra = ''): string {
  const eps = ports.map((p) => `      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('\n');
  return `- name: ${name}
  type: STATIC
  connect_timeout: 0.5s
${extra ? extra.split('\n').map((l) => `  ${l}`).join('\n') + '\n' : ''}  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
${eps}`;
}
