/**
 * The plugin's local policy cache (Ranger's `policy.cache.dir` files): the
 * last downloaded ServicePolicies (and RangerRoles) JSON, written after each
 * download and read at start when the Admin cannot be reached. Writes go to
 * a temporary file in the same directory and are renamed over the old one,
 * so a reader (or a crash) never sees half a file. All I/O is asynchronous.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';

/** The roles cache file beside a policies cache file (Ranger: `<app>_<service>_roles.json`). */
export function rolesCachePath(policiesPath: string): string {
  return policiesPath.endsWith('.json') ? `${policiesPath.slice(0, -5)}_roles.json` : `${policiesPath}_roles`;
}

/** Writes `value` as JSON to `path` atomically (temp file + rename). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Reads a JSON object from `path`; undefined when missing or not a JSON object. */
export async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Moves a cache file aside (Ranger's disableCache on service-not-found); ignores a missing file. */
export async function disableCacheFile(path: string, now: number): Promise<void> {
  await rename(path, `${path}_${now}`).catch(() => undefined);
}
