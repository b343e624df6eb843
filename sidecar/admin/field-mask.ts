/**
 * google.protobuf.FieldMask applied to config-dump JSON, as Envoy's
 * `FieldMaskUtil::TrimMessage` does to messages: only the masked paths stay.
 * A path naming a field keeps it whole; a longer path descends into a
 * sub-message. A path cannot index through a repeated field.
 *
 * Without descriptors, validity is checked against a small schema of the
 * admin dump messages (first path component) and, inside embedded resources,
 * against the data: a path that crosses an array is invalid.
 */

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** Masked paths as a tree: `null` keeps the whole field. */
export type FieldMaskTree = Map<string, FieldMaskTree | null>;

/** Splits a mask string (`a.b,c`) into paths, as `FieldMaskUtil::FromString`. */
export function parseFieldMask(mask: string): string[] {
  return mask
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** Builds the path tree; a shorter path covering a longer one wins. */
export function fieldMaskTree(paths: readonly string[]): FieldMaskTree {
  const root: FieldMaskTree = new Map();
  for (const path of paths) {
    const frags = path.split('.');
    let node = root;
    for (let i = 0; i < frags.length; i++) {
      const frag = frags[i]!;
      const last = i === frags.length - 1;
      const existing = node.get(frag);
      if (existing === null) break;
      if (last) {
        node.set(frag, null);
        break;
      }
      let child = existing;
      if (child === undefined) {
        child = new Map();
        node.set(frag, child);
      }
      node = child;
    }
  }
  return root;
}

/** Whether a value is a plain JSON object (not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether every path descends only through objects in `data` (sub-paths of
 * absent fields are accepted: the field may exist in the schema).
 */
export function pathsCrossNoArray(data: JsonObject, tree: FieldMaskTree): boolean {
  for (const [key, sub] of tree) {
    if (sub === null) continue;
    const v = data[key];
    if (v === undefined) continue;
    if (!isJsonObject(v)) return false;
    if (!pathsCrossNoArray(v, sub)) return false;
  }
  return true;
}

/** The object with only the masked fields; `keep` names fields always kept (`@type`). */
export function trimJson(data: JsonObject, tree: FieldMaskTree, keep: readonly string[] = []): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(data)) {
    if (keep.includes(key)) {
      out[key] = value;
      continue;
    }
    const sub = tree.get(key);
    if (sub === undefined) continue;
    if (sub === null) out[key] = value;
    else if (isJsonObject(value)) out[key] = trimJson(value, sub);
  }
  return out;
}

/** The mask as protobuf's `FieldMask::DebugString()` prints it (for error texts). */
export function fieldMaskDebugString(paths: readonly string[]): string {
  return paths.map((p) => `paths: "${p}"\n`).join('');
}
