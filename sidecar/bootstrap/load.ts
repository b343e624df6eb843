/**
 * Loading the bootstrap as Envoy does: `-c FILE` (YAML or JSON by extension,
 * YAML also accepted for other names), `--config-yaml STRING` merged over it
 * with protobuf merge semantics, decoded with the canonical proto3 JSON
 * mapping against the Envoy v3 API, with field paths in every error.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, ConfigErrors } from '../contracts/errors.ts';
import { parseConfigText } from '../../xds/proto/config-text.ts';
import { decodeJson, type ProtoJson } from '../../xds/proto/json.ts';

/** The bootstrap as loaded, before translation. */
export interface LoadedBootstrap {
  readonly value: ProtoJson;
  readonly warnings: readonly ConfigError[];
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
