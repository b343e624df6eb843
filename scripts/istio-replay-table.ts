// Writes the Istio config dump replay table into docs/compatibility.md,
// between the markers <!-- istio-replay:begin --> and <!-- istio-replay:end -->.
// Run: node scripts/istio-replay-table.ts (Node 24). `--print` prints the
// table (and every NACK in full with `--all`) without writing.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRegistry } from '../sidecar/main.ts';
import { replayAll, renderReplayTable } from '../sidecar/bootstrap/istio-replay-report.ts';
import { fromRepo } from '../sidecar/paths.ts';

const results = replayAll(createRegistry());
const table = renderReplayTable(results);
if (process.argv.includes('--all')) {
  for (const r of results) {
    if (!r.ok) console.log(`NACK ${r.resource.file} ${r.resource.kind} ${r.resource.name}\n  ${r.errors.map((e) => e.message).join('\n  ')}`);
    for (const w of r.warnings) console.log(`warn ${r.resource.kind} ${r.resource.name}: ${w.message}`);
  }
}
if (process.argv.includes('--print') || process.argv.includes('--all')) {
  console.log(table);
} else {
  const doc = fromRepo('docs', 'compatibility.md');
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- istio-replay:begin -->';
  const end = '<!-- istio-replay:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) throw new Error('docs/compatibility.md lacks the istio-replay markers');
  writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${table}\n${text.slice(j)}`);
  const replayed = results.filter((r) => r.resource.kind !== 'Secret');
  console.log(`${replayed.filter((r) => r.ok).length}/${replayed.length} ACK; table written to docs/compatibility.md`);
}
