/**
 * `istio.alpn` (istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig),
 * the HTTP filter istiod puts on outbound listeners. In Envoy it writes, per
 * request, the ALPN list the upstream TLS connection offers
 * (`istio-http/1.1`, `istio`, `http/1.1` ...), chosen by the upstream
 * cluster's HTTP protocol, so that the server-side Istio proxy knows the
 * client is in the mesh. It changes nothing but that TLS ALPN offer.
 *
 * Here: the overrides are validated and put into the stream's filter state
 * under `istio.alpn.overrides` (protocol -> ALPN list) for the upstream TLS
 * transport; until upstream TLS reads them they have no effect, which the
 * start-up warning says.
 */
import { Continue, type HttpFilter } from '../../sidecar/contracts/http-filter.ts';
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry, HttpFilterExtension } from '../../sidecar/contracts/extension.ts';

/** Type name of the filter config. */
export const ALPN_TYPE = 'istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig';
/** Filter-state key of the overrides. */
export const ALPN_FILTER_STATE_KEY = 'istio.alpn.overrides';

/** Upstream HTTP protocol -> the ALPN list offered to a TLS upstream. */
export type AlpnOverrides = Readonly<Partial<Record<'HTTP10' | 'HTTP11' | 'HTTP2', readonly string[]>>>;

/** Parses the FilterConfig. */
export function parseAlpn(cfg: Record<string, unknown>, path: string): AlpnOverrides {
  const out: Record<string, readonly string[]> = {};
  const list = cfg['alpn_override'];
  if (list !== undefined && !Array.isArray(list)) throw new ConfigError(`${path}.alpn_override`, 'must be a list');
  (list as unknown[] | undefined ?? []).forEach((o, i) => {
    const p = `${path}.alpn_override[${i}]`;
    const e = (o ?? {}) as Record<string, unknown>;
    const proto = e['upstream_protocol'] === undefined ? 'HTTP10' : String(e['upstream_protocol']);
    if (!['HTTP10', 'HTTP11', 'HTTP2'].includes(proto)) throw new ConfigError(`${p}.upstream_protocol`, `unknown upstream protocol '${proto}'`);
    if (out[proto]) throw new ConfigError(`${p}.upstream_protocol`, `${proto} is overridden twice`);
    const alpn = e['alpn_override'];
    if (!Array.isArray(alpn) || alpn.some((a) => typeof a !== 'string' || a === '' || a.length > 255)) throw new ConfigError(`${p}.alpn_override`, 'must be a list of ALPN protocol names (1-255 bytes)');
    out[proto] = Object.freeze([...(alpn as string[])]);
  });
  return Object.freeze(out);
}

/** Registers istio.alpn. */
export function setup(registry: ExtensionRegistry): void {
  const ext: HttpFilterExtension<AlpnOverrides> = {
    category: 'envoy.filters.http',
    names: ['istio.alpn'],
    typeNames: [ALPN_TYPE],
    parse(cfg, ctx): ParseResult<AlpnOverrides> {
      try {
        const config = parseAlpn(cfg, ctx.path);
        ctx.warn(new ConfigError(ctx.path, 'istio.alpn accepted: its ALPN overrides apply to upstream TLS connections, which this sidecar does not originate yet (no effect until then)'));
        return { ok: true, config };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createFactory(config) {
      return {
        name: 'istio.alpn',
        create(cb): HttpFilter {
          return {
            decodeHeaders() {
              cb.filterState.set(ALPN_FILTER_STATE_KEY, config);
              return Continue;
            },
          };
        },
      };
    },
  };
  registry.register(ext);
}
