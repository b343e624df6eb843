/**
 * Envoy's canonical proto3 JSON mapping, both ways. Input (YAML/JSON files,
 * --config-yaml, later xDS resources) is checked with field paths, decoded
 * conformantly by @bufbuild/protobuf, and handed to the rest of the sidecar as
 * canonical JSON with proto field names (snake_case, defaults omitted,
 * durations as "1.5s", Any as {"@type": ...}): the same shape Envoy's
 * /config_dump prints, and the shape extension `parse` functions read.
 */
import { fromJson, mergeFromJson, toJson, type JsonValue, type Message } from '@bufbuild/protobuf';
import { ConfigError, ConfigErrors } from '../../sidecar/contracts/errors.ts';
import { checkJson, type JsonCheckOptions } from './json-check.ts';
import { envoyRegistry } from './registry.ts';

/** A decoded message in canonical JSON form (proto field names). */
export type ProtoJson = Record<string, unknown>;

/** The result of decoding: the canonical value and what was only worth a warning. */
export interface Decoded {
  value: ProtoJson;
  warnings: ConfigError[];
}

function descOf(typeName: string) {
  const desc = envoyRegistry().getMessage(typeName);
  if (!desc) throw new ConfigErrors([new ConfigError('', `unknown message type ${typeName}`)]);
  return desc;
}

function toMessage(typeName: string, layers: unknown[], opts: JsonCheckOptions, paths: string[]): { msg: Message; warnings: ConfigError[] } {
  const desc = descOf(typeName);
  const registry = envoyRegistry();
  const warnings: ConfigError[] = [];
  let msg: Message | undefined;
  for (let i = 0; i < layers.length; i++) {
    const checked = checkJson(desc, layers[i], opts, paths[i] ?? '');
    warnings.push(...checked.warnings);
    if (checked.errors.length) throw new ConfigErrors(checked.errors);
    try {
      const json = checked.value as JsonValue;
      msg = msg ? mergeFromJson(desc, msg, json, { registry }) : fromJson(desc, json, { registry });
    } catch (e) {
      // The walk accepts what the decoder refuses only in corner cases
      // (out-of-range numbers, bad base64); the decoder's message names the type.
      throw new ConfigErrors([new ConfigError(paths[i] ?? '', (e as Error).message)]);
    }
  }
  return { msg: msg!, warnings };
}

/**
 * Decodes one or more JSON layers of `typeName`, each merged over the previous
 * with protobuf merge semantics (Envoy's `--config-yaml` over `-c`).
 * Throws ConfigErrors with every path-named error of the first bad layer.
 */
export function decodeJson(typeName: string, layers: unknown[], opts: JsonCheckOptions = {}, paths: string[] = []): Decoded {
  const { msg, warnings } = toMessage(typeName, layers, opts, paths);
  const value = toJson(descOf(typeName), msg, { registry: envoyRegistry(), useProtoFieldName: true }) as ProtoJson;
  return { value, warnings };
}

/** Re-encodes canonical JSON in Envoy's config_dump shape (it already is; this validates it). */
export function canonicalize(typeName: string, json: unknown): ProtoJson {
  return decodeJson(typeName, [json]).value;
}
