/**
 * Runs `--mode validate` logic over a set of bootstrap files and renders the
 * result as the Markdown table kept in docs/compatibility.md (written by
 * scripts/compat-table.ts, checked by tests/conformance/fixtures.test.ts).
 */
import { readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ConfigErrors } from '../contracts/errors.ts';
import type { ExtensionRegistry } from '../contracts/extension.ts';
import { buildSnapshot } from '../main.ts';

/** The validation outcome of one file. */
export interface FixtureResult {
  readonly file: string;
  readonly ok: boolean;
  /** The reasons it was refused (first few), or the warnings when accepted. */
  readonly reasons: readonly string[];
}

/** Every .yaml/.yml/.json file under the given directories, sorted. */
export function fixtureFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ya?ml|json)$/.test(e.name)) out.push(p);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

/** Validates each file. */
export async function validateFiles(files: readonly string[], registry: ExtensionRegistry): Promise<FixtureResult[]> {
  const results: FixtureResult[] = [];
  for (const file of files) {
    try {
      const snap = await buildSnapshot({ configPath: file, allowUnknownStaticFields: false }, registry);
      results.push({ file, ok: true, reasons: snap.warnings.map((w) => `warning: ${w.message}`) });
    } catch (e) {
      if (!(e instanceof ConfigErrors)) throw e;
      results.push({ file, ok: false, reasons: e.errors.map((x) => x.message) });
    }
  }
  return results;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The Markdown table (paths relative to `base`). */
export function renderTable(results: readonly FixtureResult[], base: string): string {
  const lines = ['| file | result | reason (first; all with `themis-sidecar --mode validate -c FILE`) |', '|---|---|---|'];
  for (const r of results) {
    const name = relative(base, r.file) || basename(r.file);
    const first = r.reasons[0] ?? '';
    const more = r.reasons.length > 1 ? ` (+${r.reasons.length - 1} more)` : '';
    lines.push(`| ${cell(name)} | ${r.ok ? 'OK' : 'refused'} | ${cell(first)}${more} |`);
  }
  const ok = results.filter((r) => r.ok).length;
  lines.push('', `${ok} of ${results.length} files validate; every refusal names the unsupported field or extension.`);
  return lines.join('\n');
}
