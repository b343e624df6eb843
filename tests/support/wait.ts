/**
 * Polling for conditions tests cannot subscribe to (stats, socket counts,
 * state reached through another process).
 */

/** Resolves once `cond` holds; rejects naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
