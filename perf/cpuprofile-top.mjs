// Aggregate a V8 .cpuprofile (node --cpu-prof) by function + url.
//   node perf/cpuprofile-top.mjs FILE.cpuprofile [N=15] [--inclusive]
// Idle samples and samples under module loading (startup: node:internal/modules/)
// are left out; shares are of the remaining (steady-state busy) time.
// Self time = sample time deltas attributed to the leaf frame; inclusive time
// counts each function once per sample stack (recursion-safe).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 15);
const prof = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(prof.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);

const shortUrl = (url) => (url || '').replace(/^file:\/\/.*?\/work\/main\//, '').replace(/^.*node_modules\//, 'node_modules/');
const label = (cf) => {
  const url = shortUrl(cf.url);
  const fn = cf.functionName || '(anonymous)';
  return url ? `${fn}  ${url}:${cf.lineNumber + 1}` : fn;
};
function bucket(cf) {
  const url = shortUrl(cf.url);
  if (/^(sidecar|protocols|xds)\//.test(url)) return 'repo (sidecar/, protocols/, xds/)';
  if (url.startsWith('node_modules/undici/') || url.startsWith('wasm://')) return 'undici (JS + llhttp wasm)';
  if (url.startsWith('node_modules/')) return 'other node_modules';
  if (url.startsWith('node:')) return 'node core JS (node:http, streams, events, timers)';
  if (cf.functionName === '(garbage collector)') return 'GC';
  if (cf.functionName === '(program)') return '(program): native, unattributed';
  return 'native builtins (writev/write syscalls, etc.)';
}

const self = new Map(), incl = new Map(), buckets = new Map();
const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
let total = 0, idle = 0, startup = 0;
const { samples, timeDeltas } = prof;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  total += dt;
  const leaf = byId.get(samples[i]);
  if (leaf.callFrame.functionName === '(idle)') { idle += dt; continue; }
  const stack = [];
  let isStartup = false;
  for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
    const cf = byId.get(id).callFrame;
    if (cf.url.startsWith('node:internal/modules/')) isStartup = true;
    stack.push(cf);
  }
  if (isStartup) { startup += dt; continue; }
  add(self, label(leaf.callFrame), dt);
  add(buckets, bucket(leaf.callFrame), dt);
  const seen = new Set();
  for (const cf of stack) {
    const k = label(cf);
    if (!seen.has(k)) { seen.add(k); add(incl, k, dt); }
  }
}
const busy = total - idle - startup;
const pct = (v) => ((100 * v) / busy).toFixed(1).padStart(5) + '%';
const ms = (v) => (v / 1000).toFixed(0).padStart(6) + ' ms';
const top = (m, k = n, filter = () => true) => [...m].filter(filter).sort((a, b) => b[1] - a[1]).slice(0, k);
console.log(`profile: ${file}`);
console.log(`samples ${samples.length}; total ${ms(total)}, idle ${ms(idle)}, startup (module loading) ${ms(startup)}; shares are of the remaining busy time ${ms(busy)}\n`);
console.log(`top ${n} self time (function  url:line):`);
for (const [k, v] of top(self)) console.log(`${pct(v)} ${ms(v)}  ${k}`);
console.log(`\nself time by where it is spent:`);
for (const [k, v] of top(buckets)) console.log(`${pct(v)} ${ms(v)}  ${k}`);
if (args.includes('--inclusive')) {
  console.log(`\ntop ${2 * n} inclusive time, repo sources (sidecar/, protocols/, xds/):`);
  for (const [k, v] of top(incl, 2 * n, ([k]) => /\s(sidecar|protocols|xds)\//.test(k))) console.log(`${pct(v)} ${ms(v)}  ${k}`);
}
