/**
 * The access loggers: envoy.access_loggers.file (FileAccessLog),
 * envoy.access_loggers.stdout and envoy.access_loggers.stderr, with
 * log_format (text_format, text_format_source, json_format,
 * omit_empty_values) or the deprecated format/json_format fields, and
 * Envoy's default format when none is given.
 */
import { ConfigError, type ParseResult } from '../contracts/errors.ts';
import type { Extension, ExtensionRegistry } from '../contracts/extension.ts';
import type { AccessLogEntry, AccessLogger } from '../contracts/access-log.ts';
import { compileJson, compileText, DEFAULT_FORMAT, type Formatter } from './format.ts';
import type { AccessLogManager } from './sinks.ts';

/** A validated logger config. */
export interface AccessLoggerConfig {
  /** Output path (`/dev/stdout` for the stdout logger). */
  readonly path: string;
  readonly format: Formatter;
  /** True for JSON formats (a newline is added to each line). */
  readonly json: boolean;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function parseFormat(cfg: Record<string, unknown>, path: string): { format: Formatter; json: boolean } {
  const lf = obj(cfg['log_format']);
  if (lf) {
    const p = `${path}.log_format`;
    const omit = lf['omit_empty_values'] === true;
    if (lf['formatters'] !== undefined) throw new ConfigError(`${p}.formatters`, 'formatter extensions are not supported');
    if (typeof lf['text_format'] === 'string') return { format: compileText(lf['text_format'], `${p}.text_format`, omit), json: false };
    const src = obj(lf['text_format_source']);
    if (src) {
      if (typeof src['inline_string'] !== 'string') throw new ConfigError(`${p}.text_format_source`, 'only inline_string is supported');
      return { format: compileText(src['inline_string'], `${p}.text_format_source`, omit), json: false };
    }
    const jf = obj(lf['json_format']);
    if (jf) return { format: compileJson(jf, `${p}.json_format`, omit), json: true };
    throw new ConfigError(p, 'log_format needs text_format, text_format_source or json_format');
  }
  if (typeof cfg['format'] === 'string') return { format: compileText(cfg['format'], `${path}.format`), json: false };
  const jf = obj(cfg['json_format']) ?? obj(cfg['typed_json_format']);
  if (jf) return { format: compileJson(jf, `${path}.json_format`), json: true };
  return { format: compileText(DEFAULT_FORMAT, path), json: false };
}

function extension(names: string[], typeName: string, fixedPath?: string): Extension<AccessLoggerConfig> {
  return {
    category: 'envoy.access_loggers',
    names,
    typeNames: [typeName],
    parse(cfg, ctx): ParseResult<AccessLoggerConfig> {
      try {
        const path = fixedPath ?? (typeof cfg['path'] === 'string' ? cfg['path'] : '');
        if (!path) throw new ConfigError(`${ctx.path}.path`, 'path is required');
        const { format, json } = parseFormat(cfg, ctx.path);
        return { ok: true, config: Object.freeze({ path, format, json }) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
  };
}

/** Registers the file, stdout and stderr access loggers. */
export function setup(registry: ExtensionRegistry): void {
  registry.register(extension(['envoy.access_loggers.file', 'envoy.file_access_log'], 'envoy.extensions.access_loggers.file.v3.FileAccessLog'));
  registry.register(extension(['envoy.access_loggers.stdout'], 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', '/dev/stdout'));
  registry.register(extension(['envoy.access_loggers.stderr'], 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog', '/dev/stderr'));
}

/** A logger writing formatted lines to its sink. */
export function createAccessLogger(cfg: AccessLoggerConfig, manager: AccessLogManager): AccessLogger {
  const sink = manager.sink(cfg.path);
  return {
    log(entry: AccessLogEntry): void {
      const line = cfg.format(entry);
      sink.write(cfg.json || !line.endsWith('\n') ? `${line}\n` : line);
    },
  };
}
