/**
 * Whether a new config is the same as the running one: the same object, or
 * equal canonical JSON. Configs are immutable, so each config's JSON text is
 * computed once and remembered. Used by the cluster and listener managers to
 * keep unchanged clusters and listeners across updates.
 */

const rawText = new WeakMap<object, string>();

function textOf(raw: object): string {
  let t = rawText.get(raw);
  if (t === undefined) {
    t = JSON.stringify(raw);
    rawText.set(raw, t);
  }
  return t;
}

/** True when two configs were given identically (their `raw` canonical JSON). */
export function sameConfig(a: { readonly raw: object }, b: { readonly raw: object }): boolean {
  return a === b || a.raw === b.raw || textOf(a.raw) === textOf(b.raw);
}
