/**
 * Registration of envoy.filters.network.http_connection_manager and
 * envoy.filters.http.router in the extension registry.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, NetworkFilterExtension } from '../../../sidecar/contracts/extension.ts';
import type { Cluster } from '../../../sidecar/upstream/cluster.ts';
import type { RouteTable } from '../route/route-match.ts';
import { HCM_TYPE, parseHcm, routerExtension, type HcmConfig } from './config.ts';
import { HttpConnectionManager } from './connection-manager.ts';

/** Registers the HCM and the router. */
export function setup(registry: ExtensionRegistry): void {
  registry.register(routerExtension);
  const hcm: NetworkFilterExtension<HcmConfig> = {
    category: 'envoy.filters.network',
    names: ['envoy.filters.network.http_connection_manager', 'envoy.http_connection_manager'],
    typeNames: [HCM_TYPE],
    parse(cfg, ctx) {
      try {
        return { ok: true, config: parseHcm(cfg, ctx.path, registry, ctx) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createHandler(config, rt) {
      const accessLogs = Object.freeze(config.accessLogs.map((a) => ({ filter: a.filter, logger: rt.accessLoggers(a.logger) })));
      return new HttpConnectionManager(config, rt.stats, {
        cluster: (name) => rt.clusters.cluster(name) as Cluster | undefined,
        get draining() {
          return rt.draining();
        },
        accessLogs,
        routeTable: (name) => rt.routeConfigs.get(name) as RouteTable | undefined,
        log: rt.log,
        extensionConfigs: rt.extensionConfigs,
      });
    },
  };
  registry.register(hcm);
}
