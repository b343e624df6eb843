// Writes the bootstrap-fixture validation table into docs/compatibility.md,
// between the markers <!-- fixtures:begin --> and <!-- fixtures:end -->.
// Run: node scripts/compat-table.ts (Node 24), or `npm run compat-table`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry } from '../sidecar/main.ts';
import { fixtureFiles, renderTable, validateFiles } from '../sidecar/bootstrap/fixture-report.ts';
import { fromFixtures, fromRepo } from '../sidecar/paths.ts';

const shared = fromFixtures();
const files = fixtureFiles([join(shared, 'envoy'), join(shared, 'istio', 'bootstrap')]);
const results = await validateFiles(files, createRegistry());
const table = renderTable(results, shared);
const doc = fromRepo('docs', 'compatibility.md');
const text = readFileSync(doc, 'utf8');
const begin = '<!-- fixtures:begin -->';
const end = '<!-- fixtures:end -->';
const i = text.indexOf(begin);
const j = text.indexOf(end);
if (i < 0 || j < 0) throw new Error('docs/compatibility.md lacks the fixtures markers');
writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${table}\n${text.slice(j)}`);
console.log(`${results.filter((r) => r.ok).length}/${results.length} OK; table written to docs/compatibility.md`);
