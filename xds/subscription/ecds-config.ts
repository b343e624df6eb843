/**
 * ECDS config parsing shared by the filter chains that accept
 * `config_discovery` (the HCM's http_filters today): the
 * ExtensionConfigSource of an entry, and each discovered config (a
 * TypedExtensionConfig's typed_config or a default_config) validated by the
 * registered extension of its type, which must be one of type_urls.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { DiscoveredExtensionConfig, ExtensionCategory, ExtensionConfigDiscovery, ExtensionRegistry, ParseContext } from '../../sidecar/contracts/extension.ts';
import { bool, durationMs, list, msg, str, type Json } from '../translate/proto-values.ts';

/** Envoy's default initial_fetch_timeout of a ConfigSource. */
const DEFAULT_INITIAL_FETCH_MS = 15_000;

/** The type name of a typed_config (TypedStruct unwrapped), without `type.googleapis.com/`. */
export function configTypeName(typed: Json): string {
  const outer = String(typed['@type'] ?? '').replace(/^.*\//, '');
  if (outer === 'xds.type.v3.TypedStruct' || outer === 'udpa.type.v1.TypedStruct') return String(typed['type_url'] ?? '').replace(/^.*\//, '');
  return outer;
}

/**
 * Validates one config for a discovered HTTP filter: a registered,
 * non-terminal extension whose type is one of `typeNames`. Throws a
 * ConfigError naming the field.
 */
export function parseDiscoveredConfig(category: ExtensionCategory, typed: Json, path: string, name: string, typeNames: readonly string[], registry: ExtensionRegistry, ctx: ParseContext): DiscoveredExtensionConfig {
  const typeName = configTypeName(typed);
  if (!typeNames.includes(typeName)) {
    throw new ConfigError(path, `type URL 'type.googleapis.com/${typeName}' is not one of the filter's type_urls (${typeNames.map((t) => `type.googleapis.com/${t}`).join(', ')})`);
  }
  const { extension, config } = registry.resolve(category, { name, typed_config: typed });
  if (!extension) throw new ConfigError(path, `unsupported extension type URL 'type.googleapis.com/${typeName}' (not implemented by this sidecar)`);
  const parsed = extension.parse(config, { path, warn: ctx.warn });
  if (!parsed.ok) throw parsed.errors[0]!;
  return Object.freeze({ extension, config: parsed.config, typeName });
}

/**
 * Parses a filter entry's config_discovery (ExtensionConfigSource); errors
 * name the field. `terminalTypes`: types that cannot be discovered (Envoy
 * refuses a terminal filter in a discovered position).
 */
export function parseConfigDiscovery(category: ExtensionCategory, entry: Json, path: string, registry: ExtensionRegistry, ctx: ParseContext, terminalTypes: readonly string[] = []): ExtensionConfigDiscovery {
  const p = `${path}.config_discovery`;
  const name = str(entry['name']);
  if (!name) throw new ConfigError(`${path}.name`, 'a filter with config_discovery needs a name (the TypedExtensionConfig resource name)');
  if (entry['typed_config'] !== undefined) throw new ConfigError(path, 'only one of typed_config, config_discovery may be set');
  const ecs = msg(entry['config_discovery']) ?? {};
  const source = msg(ecs['config_source']);
  if (!source) throw new ConfigError(`${p}.config_source`, 'config_source is required');
  if (source['ads'] === undefined) {
    throw new ConfigError(`${p}.config_source`, 'ECDS is supported over the ADS stream (config_source { ads: {} }); api_config_source and path_config_source are not');
  }
  const typeUrls = list(ecs['type_urls']).map(String);
  if (typeUrls.length === 0) throw new ConfigError(`${p}.type_urls`, 'at least one type URL is required');
  const typeNames = typeUrls.map((u, i) => {
    const t = u.replace(/^.*\//, '');
    if (terminalTypes.includes(t)) throw new ConfigError(`${p}.type_urls[${i}]`, `a terminal filter ('${u}') cannot be discovered by ECDS`);
    if (!registry.byTypeName(category, t)) throw new ConfigError(`${p}.type_urls[${i}]`, `no ${category} extension implements type URL '${u}'`);
    return t;
  });
  const dflt = msg(ecs['default_config']);
  const defaultConfig = dflt ? parseDiscoveredConfig(category, dflt, `${p}.default_config`, name, typeNames, registry, ctx) : undefined;
  const applyWithout = bool(ecs['apply_default_config_without_warming'], false);
  if (applyWithout && !defaultConfig) throw new ConfigError(`${p}.apply_default_config_without_warming`, 'needs a default_config');
  return Object.freeze({
    name,
    category,
    typeNames: Object.freeze(typeNames),
    defaultConfig,
    applyDefaultConfigWithoutWarming: applyWithout,
    initialFetchTimeoutMs: durationMs(source['initial_fetch_timeout'], `${p}.config_source.initial_fetch_timeout`) ?? DEFAULT_INITIAL_FETCH_MS,
  });
}

