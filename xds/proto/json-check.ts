/**
 * Checks a JSON/YAML value against an Envoy API message type before it is
 * decoded, so that every mistake is reported with its field path, as Envoy
 * does (`static_resources.clusters[0].conect_timeout: unknown field`).
 * @bufbuild/protobuf's decoder is conformant but names only the message, not
 * the path; this walk finds the path, the decoder then does the conversion.
 *
 * Two Envoy behaviours live here because they change what is decoded:
 *  - `--allow-unknown-static-fields`: unknown fields become warnings and are
 *    dropped from the value;
 *  - an HTTP filter marked `is_optional` whose typed_config type nothing
 *    knows is dropped with a warning (Envoy skips it the same way).
 *
 * Envoy's own JSON parsing is more lenient than proto3 JSON in three ways
 * that real configs rely on (Envoy's examples, go-control-plane's samples),
 * and the walk normalises them: enum names in any case
 * (case_insensitive_enum_parsing), a single value where a list is expected
 * (the legacy protobuf JSON parser's behaviour), and a Duration written as
 * {seconds, nanos}.
 */
import { ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import { envoyRegistry, typeNameOfUrl } from './registry.ts';

/** What the walk found: errors (refuse), warnings (log and count). */
export interface JsonCheckResult {
  errors: ConfigError[];
  warnings: ConfigError[];
  /** The value to decode (unknown fields and skipped optional filters removed). */
  value: unknown;
}

/** Options of the walk. */
export interface JsonCheckOptions {
  /** Envoy's --allow-unknown-static-fields: unknown fields warn instead of failing. */
  allowUnknownFields?: boolean;
}

const HTTP_FILTER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter';

/**
 * Fields of newer Envoy versions than the API shipped in @grpc/grpc-js-xds,
 * which real configs (Istio's) already use: accepted with a warning saying
 * what not applying them means.
 */
const NEWER_FIELDS: Record<string, Record<string, string>> = {
  'envoy.config.bootstrap.v3.Bootstrap': {
    stats_eviction_interval: 'a newer Envoy field; unused stats are not evicted',
    statsEvictionInterval: 'a newer Envoy field; unused stats are not evicted',
  },
};
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Walks `json` as message type `desc`; never throws. */
export function checkJson(desc: DescMessage, json: unknown, opts: JsonCheckOptions = {}, path = ''): JsonCheckResult {
  const w = new Walk(opts);
  const value = w.message(desc, json, path);
  return { errors: w.errors, warnings: w.warnings, value };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

class Walk {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigError[] = [];
  private readonly opts: JsonCheckOptions;
  constructor(opts: JsonCheckOptions) {
    this.opts = opts;
  }

  private fail(path: string, reason: string): void {
    this.errors.push(new ConfigError(path, reason));
  }

  message(desc: DescMessage, v: unknown, path: string): unknown {
    switch (desc.typeName) {
      case 'google.protobuf.Any':
        return this.any(v, path);
      case 'google.protobuf.Duration': {
        if (isObject(v) && Object.keys(v).every((k) => k === 'seconds' || k === 'nanos')) {
          const secs = Number(v['seconds'] ?? 0), nanos = Number(v['nanos'] ?? 0);
          if (Number.isInteger(secs) && Number.isInteger(nanos) && Math.abs(nanos) < 1e9) {
            return `${(secs + nanos / 1e9).toFixed(9).replace(/\.?0+$/, '')}s`;
          }
        }
        if (typeof v !== 'string' || !DURATION.test(v)) this.fail(path, `invalid duration ${JSON.stringify(v)} (expected a string such as "0.25s")`);
        return v;
      }
      case 'google.protobuf.Timestamp':
        if (typeof v !== 'string' || !TIMESTAMP.test(v)) this.fail(path, `invalid timestamp ${JSON.stringify(v)} (expected RFC 3339)`);
        return v;
      case 'google.protobuf.Struct':
        if (!isObject(v)) this.fail(path, `expected an object, got ${kindOf(v)}`);
        return v;
      case 'google.protobuf.ListValue':
        if (!Array.isArray(v)) this.fail(path, `expected a list, got ${kindOf(v)}`);
        return v;
      case 'google.protobuf.Value':
        return v;
      case 'google.protobuf.FieldMask':
        if (typeof v !== 'string') this.fail(path, `expected a field mask string, got ${kindOf(v)}`);
        return v;
      case 'google.protobuf.DoubleValue':
      case 'google.protobuf.FloatValue':
      case 'google.protobuf.Int64Value':
      case 'google.protobuf.UInt64Value':
      case 'google.protobuf.Int32Value':
      case 'google.protobuf.UInt32Value':
      case 'google.protobuf.BoolValue':
      case 'google.protobuf.StringValue':
      case 'google.protobuf.BytesValue': {
        const inner = desc.fields[0]!;
        if (inner.fieldKind === 'scalar') this.scalar(inner.scalar, v, path);
        return v;
      }
    }
    if (!isObject(v)) {
      this.fail(path, `expected an object (${desc.typeName}), got ${kindOf(v)}`);
      return v;
    }
    const out: Record<string, unknown> = {};
    const oneofSeen = new Map<string, string>();
    for (const [key, fv] of Object.entries(v)) {
      const fpath = path ? `${path}.${key}` : key;
      const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
      const newer = field ? undefined : NEWER_FIELDS[desc.typeName]?.[key];
      if (newer) {
        this.warnings.push(new ConfigError(fpath, newer));
        continue;
      }
      if (!field) {
        if (this.opts.allowUnknownFields) {
          this.warnings.push(new ConfigError(fpath, 'unknown field (ignored: --allow-unknown-static-fields)'));
          continue;
        }
        this.fail(fpath, `unknown field (${desc.typeName} has no field '${key}')`);
        continue;
      }
      if (field.oneof && fv !== null) {
        const other = oneofSeen.get(field.oneof.name);
        if (other) this.fail(fpath, `oneof '${field.oneof.name}' already set by '${other}'`);
        oneofSeen.set(field.oneof.name, key);
      }
      if (fv === null) {
        out[key] = fv;
        continue;
      }
      out[key] = this.field(field, fv, fpath);
    }
    if (desc.typeName === HTTP_FILTER) return this.optionalHttpFilter(out, path);
    return out;
  }

  private field(field: DescField, v: unknown, path: string): unknown {
    switch (field.fieldKind) {
      case 'scalar':
        this.scalar(field.scalar, v, path);
        return v;
      case 'enum':
        return this.enumValue(field.enum, v, path);
      case 'message':
        return this.message(field.message, v, path);
      case 'list': {
        // A single value where a list is expected is a one-element list.
        const items = Array.isArray(v) ? v : [v];
        return items.map((item, i) => {
          const ipath = `${path}[${i}]`;
          if (field.listKind === 'message') return this.message(field.message, item, ipath);
          if (field.listKind === 'enum') return this.enumValue(field.enum, item, ipath);
          this.scalar(field.scalar, item, ipath);
          return item;
        });
      }
      case 'map': {
        if (!isObject(v)) {
          this.fail(path, `expected a map, got ${kindOf(v)}`);
          return v;
        }
        const out: Record<string, unknown> = {};
        for (const [k, item] of Object.entries(v)) {
          const ipath = `${path}[${JSON.stringify(k)}]`;
          if (field.mapKind === 'message') out[k] = this.message(field.message, item, ipath);
          else if (field.mapKind === 'enum') out[k] = this.enumValue(field.enum, item, ipath);
          else {
            this.scalar(field.scalar, item, ipath);
            out[k] = item;
          }
        }
        return out;
      }
    }
  }

  private any(v: unknown, path: string): unknown {
    if (!isObject(v)) {
      this.fail(path, `expected an object with "@type", got ${kindOf(v)}`);
      return v;
    }
    const typeUrl = v['@type'];
    if (typeof typeUrl !== 'string' || typeUrl === '') {
      this.fail(path, 'missing "@type"');
      return v;
    }
    const desc = envoyRegistry().getMessage(typeNameOfUrl(typeUrl));
    if (!desc) {
      this.fail(path, `unsupported extension type URL '${typeUrl}' (no such type in the Envoy API this sidecar implements)`);
      return v;
    }
    const { '@type': _t, ...rest } = v;
    // Well-known types inside Any carry their JSON form under "value".
    if (desc.typeName.startsWith('google.protobuf.') && desc.typeName !== 'google.protobuf.Empty') {
      const inner = this.message(desc, rest['value'], `${path}.value`);
      return { '@type': typeUrl, value: inner };
    }
    const inner = this.message(desc, rest, path);
    return isObject(inner) ? { '@type': typeUrl, ...inner } : v;
  }

  /** Envoy skips an is_optional HTTP filter whose type it does not know. */
  private optionalHttpFilter(f: Record<string, unknown>, path: string): unknown {
    if (f['is_optional'] !== true && f['isOptional'] !== true) return f;
    const paths = [`${path}.typed_config`, `${path}.typedConfig`];
    const idx = this.errors.findIndex((e) => paths.includes(e.path) && e.reason.startsWith('unsupported extension type URL'));
    if (idx < 0) return f;
    const [err] = this.errors.splice(idx, 1);
    this.warnings.push(new ConfigError(path, `optional HTTP filter '${String(f['name'])}' skipped: ${err!.reason}`));
    return { name: f['name'], is_optional: true, disabled: true };
  }

  /** Checks an enum value; returns it with the name in its declared case. */
  private enumValue(e: DescEnum, v: unknown, path: string): unknown {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string') {
      const hit = e.values.find((x) => x.name === v) ?? e.values.find((x) => x.name.toLowerCase() === v.toLowerCase());
      if (hit) return hit.name;
    }
    this.fail(path, `invalid value ${JSON.stringify(v)} for enum ${e.typeName} (one of ${e.values.map((x) => x.name).join(', ')})`);
    return v;
  }

  private scalar(t: ScalarType, v: unknown, path: string): void {
    const bad = (what: string): void => this.fail(path, `expected ${what}, got ${kindOf(v)} ${JSON.stringify(v)}`);
    switch (t) {
      case ScalarType.BOOL:
        if (typeof v !== 'boolean') bad('a boolean');
        return;
      case ScalarType.STRING:
        if (typeof v !== 'string') bad('a string');
        return;
      case ScalarType.BYTES:
        if (typeof v !== 'string') bad('base64 bytes');
        return;
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT:
        if (typeof v !== 'number' && !(typeof v === 'string' && /^(-?\d+(\.\d*)?([eE][+-]?\d+)?|NaN|-?Infinity)$/.test(v))) bad('a number');
        return;
      default: {
        const unsigned = t === ScalarType.UINT32 || t === ScalarType.UINT64 || t === ScalarType.FIXED32 || t === ScalarType.FIXED64;
        const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isInteger(n)) bad('an integer');
        else if (unsigned && n < 0) bad('a non-negative integer');
      }
    }
  }
}
