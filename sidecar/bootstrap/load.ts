/**
 * Loading the bootstrap as Envoy does: `-c FILE` (YAML or JSON by extension,
 * YAML also accepted for other names), `--config-yaml STRING` merged over it
 * with protobuf merge semantics, decoded with the canonical proto3 JSON
 * mapping against the Envoy v3 API, with field paths in every error.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { ConfigError, ConfigErrors } from '../contracts/errors.ts';
import { decodeJson, type ProtoJson } from '../../xds/proto/json.ts';

/** The bootstrap as loaded, before translation. */
export interface LoadedBootstrap {
  readonly value: ProtoJson;
  readonly warnings: readonly ConfigError[];
}

/**
 * Parses YAML or JSON text into a plain value; errors name the source.
 *
 * An integer written as a plain number beyond ±Number.MAX_SAFE_INTEGER is kept
 * as its decimal string, which proto3 JSON accepts for every numeric field:
 * Envoy reads such a literal exactly into an int64/uint64 (a header
 * range_match bound), and a double would round it before anything could tell.
 * (In a google.protobuf.Value it becomes a string where Envoy keeps a rounded
 * double; our parsers refuse such values anyway, proto-values.ts `int`.)
 */
export function parseConfigText(text: string, source: string): unknown {
  try {
    if (/\.json$/i.test(source)) return JSON.parse(quoteUnsafeJsonIntegers(text));
    const docs = YAML.parseAllDocuments(text, { intAsBigInt: true });
    if (docs.length > 1) throw new ConfigError(source, 'multiple YAML documents; a bootstrap is one document');
    const doc = docs[0];
    if (!doc) return {};
    if (doc.errors.length) throw new ConfigError(source, `invalid YAML: ${doc.errors[0]!.message}`);
    return integersFromBigInt(doc.toJS({ maxAliasCount: 1000 }), new Set()) ?? {};
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigErrors([e]);
    throw new ConfigErrors([new ConfigError(source, `cannot parse: ${(e as Error).message}`)]);
  }
}

/** Loads and decodes a bootstrap. Throws ConfigErrors. */
export async function loadBootstrap(opts: { configPath?: string; configYaml?: string; allowUnknownFields?: boolean }): Promise<LoadedBootstrap> {
  const layers: unknown[] = [];
  const paths: string[] = [];
  if (opts.configPath) {
    let text: string;
    try {
      text = await readFile(opts.configPath, 'utf8');
    } catch (e) {
      throw new ConfigErrors([new ConfigError('', `cannot read '${opts.configPath}': ${(e as Error).message}`)]);
    }
    layers.push(parseConfigText(text, opts.configPath));
    paths.push('');
  }
  if (opts.configYaml) {
    layers.push(parseConfigText(opts.configYaml, '--config-yaml'));
    paths.push('');
  }
  if (layers.length === 0) throw new ConfigErrors([new ConfigError('', 'no configuration given: use -c FILE or --config-yaml')]);
  for (const [i, l] of layers.entries()) {
    if (typeof l !== 'object' || l === null || Array.isArray(l)) {
      throw new ConfigErrors([new ConfigError(paths[i] ?? '', 'the bootstrap must be a mapping')]);
    }
  }
  const d = decodeJson('envoy.config.bootstrap.v3.Bootstrap', layers, { allowUnknownFields: opts.allowUnknownFields }, paths);
  return { value: d.value, warnings: d.warnings };
}

/** A string literal (skipped whole), or an integer literal: a whole number token, not digits of a fraction or exponent. */
const JSON_INTEGER = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?(?:0|[1-9]\d*)(?![\d.eE])/g;

/** JSON text with every integer literal a double cannot hold exactly turned into a string literal. */
function quoteUnsafeJsonIntegers(text: string): string {
  return text.replace(JSON_INTEGER, (tok) => (tok.startsWith('"') || Number.isSafeInteger(Number(tok)) ? tok : `"${tok}"`));
}

/** YAML parsed with intAsBigInt, integers back to numbers, the unsafe ones to decimal strings (in place). */
function integersFromBigInt(v: unknown, seen: Set<object>): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v !== 'object' || v === null || seen.has(v)) return v;
  // Aliases share objects; each is converted once.
  seen.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = integersFromBigInt(v[i], seen);
  } else {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = integersFromBigInt(o[k], seen);
  }
  return v;
}
