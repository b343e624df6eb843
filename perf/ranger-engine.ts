/**
 * Ranger policy engine, uncached decisions: 1,000 generated Hive policies
 * (database/table/column, literal and wildcard values, allow and deny items,
 * users and groups) and 100 users; measures decisions per second and the
 * median and p99 latency of single isAccessAllowed calls.
 *
 *   node perf/ranger-engine.ts [--decisions N]
 */
import { RangerPolicyEngine, type RangerAccessRequest } from '../policies/ranger/engine/engine.ts';

const DEFAULT = 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher';
const argN = process.argv.indexOf('--decisions');
const DECISIONS = argN > 0 ? Number(process.argv[argN + 1]) : 200_000;

let seed = 42;
const rnd = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

const serviceDef = {
  name: 'hive',
  resources: [
    { name: 'database', level: 1, matcher: DEFAULT, matcherOptions: { wildCard: true, ignoreCase: true } },
    { name: 'table', level: 2, parent: 'database', matcher: DEFAULT, matcherOptions: { wildCard: true, ignoreCase: true } },
    { name: 'column', level: 3, parent: 'table', matcher: DEFAULT, matcherOptions: { wildCard: true, ignoreCase: true } },
  ],
  accessTypes: ['select', 'update', 'create', 'drop', 'alter', 'index', 'lock', 'read', 'write'].map((name) => ({ name })).concat([{ name: 'all', impliedGrants: ['select', 'update', 'create', 'drop', 'alter', 'index', 'lock', 'read', 'write'] } as never]),
};

const users = Array.from({ length: 100 }, (_, i) => `user${i}`);
const groups = Array.from({ length: 20 }, (_, i) => `group${i}`);
const accesses = ['select', 'update', 'create', 'drop', 'alter'];
const policies = Array.from({ length: 1000 }, (_, i) => {
  const db = `db${i % 200}`;
  const table = i % 10 === 0 ? '*' : i % 10 === 1 ? `t${i % 50}*` : `t${i % 50}`;
  return {
    id: i + 1,
    name: `p${i}`,
    resources: { database: { values: [db] }, table: { values: [table] }, column: { values: i % 3 === 0 ? ['*'] : [`c${i % 7}`, `c${(i + 1) % 7}`] } },
    policyItems: [
      { accesses: [{ type: accesses[i % 5] }, { type: 'select' }], users: [users[i % 100], users[(i * 7) % 100]], groups: [groups[i % 20]] },
      { accesses: [{ type: 'all' }], users: [users[(i * 13) % 100]] },
    ],
    denyPolicyItems: i % 4 === 0 ? [{ accesses: [{ type: 'drop' }], groups: [groups[(i + 3) % 20]] }] : [],
  };
});

const built = performance.now();
const { engine } = RangerPolicyEngine.create({ serviceName: 'hive-perf', serviceDef, policies, policyVersion: 1 });
const buildMs = performance.now() - built;

const requests: RangerAccessRequest[] = Array.from({ length: 4096 }, () => {
  const u = rnd(100);
  return {
    user: users[u],
    userGroups: [groups[u % 20], groups[(u + 5) % 20]],
    accessType: accesses[rnd(5)],
    resource: { database: `db${rnd(220)}`, table: `t${rnd(60)}`, column: `c${rnd(8)}` },
  };
});

for (let i = 0; i < 20_000; i++) engine.isAccessAllowed(requests[i & 4095]);

let allowed = 0;
const t0 = performance.now();
for (let i = 0; i < DECISIONS; i++) if (engine.isAccessAllowed(requests[i & 4095]).isAllowed) allowed++;
const elapsed = performance.now() - t0;

const samples = new Float64Array(50_000);
for (let i = 0; i < samples.length; i++) {
  const req = requests[(i * 31) & 4095];
  const s = process.hrtime.bigint();
  engine.isAccessAllowed(req);
  samples[i] = Number(process.hrtime.bigint() - s) / 1000;
}
samples.sort();
const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];

console.log(JSON.stringify({
  policies: policies.length,
  users: users.length,
  buildMs: Math.round(buildMs),
  decisions: DECISIONS,
  allowedShare: +(allowed / DECISIONS).toFixed(3),
  decisionsPerSecond: Math.round(DECISIONS / (elapsed / 1000)),
  medianMicros: +pct(0.5).toFixed(2),
  p99Micros: +pct(0.99).toFixed(2),
  node: process.version,
}, null, 2));
