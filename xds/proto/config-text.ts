/**
 * Configuration text (a bootstrap, a filesystem xDS DiscoveryResponse) to a
 * plain value for the proto3 JSON decoder: JSON by extension, YAML otherwise.
 */
import YAML from 'yaml';
import { ConfigError, ConfigErrors } from '../../sidecar/contracts/errors.ts';

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
export function parseConfigText(text: string, source: string, what = 'a bootstrap'): unknown {
  try {
    if (/\.json$/i.test(source)) return JSON.parse(quoteUnsafeJsonIntegers(text));
    const docs = YAML.parseAllDocuments(text, { intAsBigInt: true });
    if (docs.length > 1) throw new ConfigError(source, `multiple YAML documents; ${what} is one document`);
    const doc = docs[0];
    if (!doc) return {};
    if (doc.errors.length) throw new ConfigError(source, `invalid YAML: ${doc.errors[0]!.message}`);
    return integersFromBigInt(doc.toJS({ maxAliasCount: 1000 }), new Set()) ?? {};
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigErrors([e]);
    throw new ConfigErrors([new ConfigError(source, `cannot parse: ${(e as Error).message}`)]);
  }
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
