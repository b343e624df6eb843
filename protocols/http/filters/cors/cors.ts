/**
 * `envoy.filters.http.cors` (envoy.extensions.filters.http.cors.v3.Cors).
 * Envoy's CORS filter does nothing by itself: it applies the CorsPolicy of
 * the matched route or virtual host (the deprecated `cors` fields, or
 * `typed_per_filter_config` with envoy.config.route.v3.CorsPolicy). Istio
 * puts the filter, with an empty config, on every HTTP listener.
 *
 * Here the filter is accepted and, having no policy, passes every request
 * through, exactly as Envoy does for routes without a policy. Route
 * configurations that carry a CorsPolicy (route or virtual-host `cors`,
 * `typed_per_filter_config`) are refused by the route parser with a reason
 * until HTTP filters can read the matched route's per-filter config: a
 * policy accepted and not applied would drop the browser's answers.
 */
import { Continue, type HttpFilter } from '../../../../sidecar/contracts/http-filter.ts';
import { ConfigError, type ParseResult } from '../../../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../../../sidecar/contracts/extension.ts';

/** Type name of the filter config. */
export const CORS_TYPE = 'envoy.extensions.filters.http.cors.v3.Cors';

/** The (empty) validated config. */
export type CorsConfig = Readonly<Record<string, never>>;

const passThrough: HttpFilter = { decodeHeaders: () => Continue };

/** Registers envoy.filters.http.cors. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<CorsConfig> = {
    category: 'envoy.filters.http',
    names: ['envoy.filters.http.cors', 'envoy.cors'],
    typeNames: [CORS_TYPE],
    parse(cfg, ctx): ParseResult<CorsConfig> {
      const extra = Object.keys(cfg).filter((k) => k !== '@type');
      // The Cors message has no fields in the API this sidecar implements.
      if (extra.length) return { ok: false, errors: [new ConfigError(`${ctx.path}.${extra[0]}`, 'unknown field of Cors')] };
      return { ok: true, config: Object.freeze({}) };
    },
    createFactory() {
      return { name: 'envoy.filters.http.cors', create: () => passThrough };
    },
  };
  registry.register(ext);
}
