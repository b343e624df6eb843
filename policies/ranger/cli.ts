/**
 * `themis-sidecar ranger test FILE...`: runs Ranger test files (the
 * TestPolicyEngine format of Apache Ranger's policyengine/*.json, and the
 * resource-matcher and validity-scheduler formats) against this engine and
 * prints, per file and in total, `N passed, M failed` with the name, the
 * expected and the actual result of every failure. Exit 1 if any failed.
 */
import { readFile } from 'node:fs/promises';
import { parseTestJson, runTestFile } from './engine/conformance.ts';

/** Where the command writes. */
export interface CommandOutput {
  write(text: string): void;
  error(text: string): void;
}

/** Usage of `themis-sidecar ranger`. */
export const RANGER_HELP = `USAGE
  themis-sidecar ranger test FILE...   run Apache Ranger policy-engine test files against this engine
`;

/** Runs `ranger <args>`; resolves with the exit code. */
export async function rangerCommand(args: readonly string[], out: CommandOutput): Promise<number> {
  const [sub, ...files] = args;
  if (sub !== 'test' || files.length === 0) {
    out.error(sub === undefined || sub === 'test' ? RANGER_HELP : `unknown ranger subcommand '${sub}'\n${RANGER_HELP}`);
    return sub === '--help' || sub === '-h' ? 0 : 1;
  }
  let passed = 0, failed = 0, broken = 0;
  for (const file of files) {
    let outcome;
    try {
      outcome = runTestFile(parseTestJson(await readFile(file, 'utf8')));
    } catch (e) {
      out.write(`${file}: cannot run: ${(e as Error).message}\n`);
      broken++;
      continue;
    }
    const p = outcome.cases.filter((c) => c.ok).length;
    const f = outcome.cases.length - p;
    passed += p;
    failed += f;
    if (outcome.error) {
      broken++;
      out.write(`${file}: cannot run: ${outcome.error}\n`);
      continue;
    }
    out.write(`${file}: ${p} passed, ${f} failed\n`);
    for (const c of outcome.cases) {
      if (!c.ok) out.write(`  FAILED ${c.name}\n    expected: ${c.expected}\n    actual:   ${c.actual}\n`);
    }
  }
  out.write(`total: ${passed} passed, ${failed} failed${broken ? `, ${broken} file(s) not runnable` : ''}\n`);
  return failed > 0 || broken > 0 ? 1 : 0;
}
