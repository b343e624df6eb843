/**
 * ECDS for HTTP filters: an `http_filters` entry with `config_discovery`
 * (envoy.config.core.v3.ExtensionConfigSource) instead of `typed_config`.
 * Its config is the TypedExtensionConfig of the filter's name, fetched over
 * ADS (xds/subscription/ecds-manager.ts validates it with the registered
 * extension and keeps the last good one). At run time the entry is a
 * dynamic filter factory: each new stream gets a filter built from the
 * config current when it starts (streams already running keep theirs);
 * before the first config arrives (after the listener stopped warming: the
 * initial fetch timed out) or after it is removed, default_config serves,
 * and without one the stream gets Envoy's MissingConfigFilter reply: 500,
 * empty body, response flag NFCF. A security filter delivered by ECDS
 * (rbac, jwt_authn, ranger) is therefore never skipped: no config means no
 * request passes it.
 */
import type {
  DiscoveredExtensionConfig, ExtensionConfigDiscovery, ExtensionConfigProvider, ExtensionRegistry,
  HttpFilterExtension, HttpFilterRuntime, ParseContext,
} from '../../../sidecar/contracts/extension.ts';
import { parseConfigDiscovery } from '../../../xds/subscription/ecds-config.ts';
import { StopIteration, type HttpFilter, type HttpFilterCallbacks, type HttpFilterFactory } from '../../../sidecar/contracts/http-filter.ts';
import type { Json } from '../../../xds/translate/proto-values.ts';

/** Envoy's MissingConfigFilter: a discovered filter without a config rejects every stream. */
class MissingConfigFilter implements HttpFilter {
  private readonly cb: HttpFilterCallbacks;

  constructor(cb: HttpFilterCallbacks) {
    this.cb = cb;
  }

  decodeHeaders(): typeof StopIteration {
    this.cb.sendLocalReply({ status: 500, body: '', details: 'missing_filter_config', responseFlag: 'NFCF' });
    return StopIteration;
  }
}

const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';

/** Parses an http_filters entry's config_discovery (the router cannot be discovered). */
export function parseHttpConfigDiscovery(entry: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext): ExtensionConfigDiscovery {
  return parseConfigDiscovery('envoy.filters.http', entry, path, registry, ctx, [ROUTER_TYPE]);
}

/** The factory of one config_discovery entry in one HCM. */
class DynamicFilterFactory implements HttpFilterFactory {
  readonly name: string;
  private readonly discovery: ExtensionConfigDiscovery;
  private readonly provider: ExtensionConfigProvider | undefined;
  private readonly rt: HttpFilterRuntime;
  private current: { readonly source: DiscoveredExtensionConfig; readonly factory: HttpFilterFactory } | undefined;
  private readonly superseded: HttpFilterFactory[] = [];

  constructor(discovery: ExtensionConfigDiscovery, rt: HttpFilterRuntime) {
    this.name = discovery.name;
    this.discovery = discovery;
    this.provider = rt.extensionConfigs;
    this.rt = rt;
  }

  create(callbacks: HttpFilterCallbacks): HttpFilter {
    const source = this.provider?.current(this.discovery.name) ?? this.discovery.defaultConfig;
    if (!source) return new MissingConfigFilter(callbacks);
    let cur = this.current;
    if (cur?.source !== source) {
      // Streams created from the previous factory keep it; it is released with the HCM.
      if (cur) this.superseded.push(cur.factory);
      cur = { source, factory: (source.extension as HttpFilterExtension).createFactory(source.config, this.rt) };
      this.current = cur;
    }
    return cur.factory.create(callbacks);
  }

  close(): void {
    this.current?.factory.close?.();
    for (const f of this.superseded) f.close?.();
    this.superseded.length = 0;
  }
}

/**
 * The pseudo extension of config_discovery entries (not registered): its
 * "config" is the ExtensionConfigDiscovery, its factory the dynamic one.
 */
export const dynamicFilterExtension: HttpFilterExtension<ExtensionConfigDiscovery> = {
  category: 'envoy.filters.http',
  names: [],
  typeNames: [],
  parse() {
    throw new Error('the ECDS pseudo extension is not parsed from config');
  },
  createFactory(config, rt) {
    return new DynamicFilterFactory(config, rt);
  },
};
