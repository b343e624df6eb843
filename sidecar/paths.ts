/**
 * Where the repository's own files are (the descriptor set, the embedded
 * default bootstrap). The only module that uses import.meta; jest maps it to
 * tests/support/paths.cjs.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot: string = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A path under the repository root. */
export function fromRepo(...parts: string[]): string {
  return join(repoRoot, ...parts);
}

/**
 * A path under the shared fixtures (Envoy and Istio configs, Ranger's test
 * corpus): $THEMIS_FIXTURES when set, else ../shared/fixtures beside the
 * repository. `./dev test` sets the variable for a clone made elsewhere.
 */
export function fromFixtures(...parts: string[]): string {
  return join(process.env['THEMIS_FIXTURES'] ?? join(repoRoot, '..', 'shared', 'fixtures'), ...parts);
}
