/**
 * ClusterLoadAssignment on the data path: failover to priority 1 when priority 0's hosts are
 * unhealthy (EDS health_status, active health checking), partial spill-over by the
 * overprovisioning factor, panic (all hosts, lb_healthy_panic per request), locality weighted
 * load balancing 3:1, and drop_overloads (503 DO, upstream_rq_drop_overload). Real upstreams on
 * 127.0.0.1, over HTTP/1.1 and HTTP/2.
 */
import { readFileSync } from 'node:fs';
import { PROTOCOLS, send } from '../../support/client.ts';
import { freePort, tempFile } from '../../support/process.ts';
import { bootstrap, bootstrapErrors, startSidecar, type TestSidecar } from '../../support/sidecar.ts';
import { startHttpUpstream, type TestUpstream } from '../../support/upstreams.ts';

let a: TestUpstream, b: TestUpstream, c: TestUpstream, sc: TestSidecar, accessLog: string;

interface Ep { port: number; health?: string }
interface Group { priority?: number; locality?: string; weight?: number; eps: Ep[] }

/** A STATIC cluster with LocalityLbEndpoints groups. */
function cluster(name: string, groups: Group[], extra = '', policy = ''): string {
  const g = groups.map((x) => {
    const eps = x.eps.map((e) => `      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${e.port} } } }${e.health ? `\n        health_status: ${e.health}` : ''}`).join('\n');
    return `    - priority: ${x.priority ?? 0}${x.locality ? `\n      locality: { region: r, zone: ${x.locality} }` : ''}${x.weight !== undefined ? `\n      load_balancing_weight: ${x.weight}` : ''}
      lb_endpoints:
${eps}`;
  }).join('\n');
  return `- name: ${name}
  type: STATIC
  connect_timeout: 0.5s
${extra ? extra.split('\n').map((l) => `  ${l}`).join('\n') + '\n' : ''}  load_assignment:
    cluster_name: ${name}
${policy ? `    policy: ${policy}\n` : ''}    endpoints:
${g}`;
}

const routes = (names: string[]): string => `virtual_hosts:
- name: v
  domains: ["*"]
  routes:
${names.map((n) => `  - match: { prefix: "/${n}" }\n    route: { cluster: ${n} }`).join('\n')}`;

beforeAll(async () => {
  [a, b, c] = await Promise.all([startHttpUpstream('a'), startHttpUpstream('b'), startHttpUpstream('c')]);
  const dead = await freePort();
  accessLog = tempFile('priority.log', '');
  sc = await startSidecar(bootstrap({
    routes: routes(['edsfail', 'hcfail', 'primary', 'spill', 'panic', 'calm', 'weakp0', 'locality', 'drop', 'nodrop', 'halfdrop']),
    clusters: [
      cluster('edsfail', [{ eps: [{ port: a.port, health: 'UNHEALTHY' }, { port: b.port, health: 'DRAINING' }] }, { priority: 1, eps: [{ port: c.port }] }]),
      cluster('hcfail', [{ eps: [{ port: dead }] }, { priority: 1, eps: [{ port: c.port }] }],
        'health_checks: [{ timeout: 0.5s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /healthz } }]'),
      cluster('primary', [{ eps: [{ port: a.port }] }, { priority: 1, eps: [{ port: c.port }] }]),
      // P0: 1 of 2 healthy -> 70% there, 30% to P1.
      cluster('spill', [{ eps: [{ port: a.port }, { port: b.port, health: 'UNHEALTHY' }] }, { priority: 1, eps: [{ port: c.port }] }]),
      // 1 of 3 healthy: below the 50% panic threshold, balanced over all three.
      cluster('panic', [{ eps: [{ port: a.port }, { port: b.port, health: 'UNHEALTHY' }, { port: c.port, health: 'UNHEALTHY' }] }]),
      cluster('calm', [{ eps: [{ port: a.port }, { port: b.port }, { port: c.port }] }]),
      // P0 1 of 3 healthy (46), P1 healthy: the total is 100, so P0 is not in panic.
      cluster('weakp0', [{ eps: [{ port: a.port }, { port: b.port, health: 'UNHEALTHY' }, { port: dead, health: 'UNHEALTHY' }] }, { priority: 1, eps: [{ port: c.port }] }]),
      cluster('locality', [{ locality: 'za', weight: 3, eps: [{ port: a.port }] }, { locality: 'zb', weight: 1, eps: [{ port: b.port }] }],
        'common_lb_config: { locality_weighted_lb_config: {} }'),
      cluster('drop', [{ eps: [{ port: a.port }] }], '', '{ drop_overloads: [{ category: throttle, drop_percentage: { numerator: 100 } }] }'),
      cluster('nodrop', [{ eps: [{ port: a.port }] }], '', '{ drop_overloads: [{ category: throttle, drop_percentage: { numerator: 0 } }] }'),
      cluster('halfdrop', [{ eps: [{ port: a.port }] }], '', '{ drop_overloads: [{ category: throttle, drop_percentage: { numerator: 5000, denominator: TEN_THOUSAND } }] }'),
    ].join('\n'),
    hcmExtra: `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${accessLog}
    log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n" } }`,
  }));
});

afterAll(async () => {
  await sc?.stop();
  await Promise.all([a.close(), b.close(), c.close()]);
});

/** Upstream names of `n` requests to `path`. */
async function tally(path: string, n: number, proto: 'h1' | 'h2' = 'h1'): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await send(proto, sc.port(), { path });
    const k = r.status === 200 ? String(r.json()['upstream']) : String(r.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe.each(PROTOCOLS)('priorities over %s', (proto) => {
  test('EDS health_status UNHEALTHY/DRAINING on every P0 host: all traffic fails over to P1', async () => {
    expect(await tally('/edsfail', 20, proto)).toEqual({ c: 20 });
  });

  test('active health checking marks P0 unhealthy: traffic fails over to P1', async () => {
    expect(await tally('/hcfail', 20, proto)).toEqual({ c: 20 });
  });

  test('a healthy P0 takes everything; P1 stands by', async () => {
    expect(await tally('/primary', 20, proto)).toEqual({ a: 20 });
  });
});

test('half of P0 healthy: ~70% stays on P0, ~30% spills to P1 (overprovisioning factor 140)', async () => {
  const t = await tally('/spill', 300);
  expect(t['b']).toBeUndefined();
  expect(t['a']! / 300).toBeGreaterThan(0.6);
  expect(t['a']! / 300).toBeLessThan(0.8);
  expect(t['a']! + t['c']!).toBe(300);
});

describe.each(PROTOCOLS)('panic over %s', (proto) => {
  test('1 of 3 hosts healthy: every request is balanced over all hosts and counted in lb_healthy_panic', async () => {
    const before = sc.stat('cluster.panic.lb_healthy_panic');
    const t = await tally('/panic', 30, proto);
    expect(t['a']! + (t['b'] ?? 0) + (t['c'] ?? 0)).toBe(30);
    expect((t['b'] ?? 0) + (t['c'] ?? 0)).toBeGreaterThan(0);
    expect(sc.stat('cluster.panic.lb_healthy_panic') - before).toBe(30);
  });

  test('every host healthy: lb_healthy_panic stays 0', async () => {
    expect(Object.values(await tally('/calm', 20, proto)).reduce((x, y) => x + y, 0)).toBe(20);
    expect(sc.stat('cluster.calm.upstream_rq_total')).toBeGreaterThan(0);
    expect(sc.stat('cluster.calm.lb_healthy_panic')).toBe(0);
  });

  test('a weak P0 covered by P1 is not in panic: its share goes to its healthy host only', async () => {
    const t = await tally('/weakp0', 60, proto);
    expect(t['a']! + t['c']!).toBe(60);
    expect(t['a']).toBeGreaterThan(10);
    expect(sc.stat('cluster.weakp0.lb_healthy_panic')).toBe(0);
  });
});

test('locality weights 3:1 split the requests 3:1', async () => {
  const t = await tally('/locality', 200);
  expect(t['a']! + t['b']!).toBe(200);
  expect(Math.abs(t['a']! / 200 - 0.75)).toBeLessThan(0.05);
});

describe.each(PROTOCOLS)('drop_overloads over %s', (proto) => {
  test('100%: every request gets a 503 drop overload, never reaching the upstream', async () => {
    const before = a.seen.length;
    const dropped = sc.stat('cluster.drop.upstream_rq_drop_overload');
    for (let i = 0; i < 10; i++) {
      const r = await send(proto, sc.port(), { path: '/drop' });
      expect(r.status).toBe(503);
      expect(r.text()).toBe('drop overload');
      expect(r.headers['x-envoy-drop-overload']).toBe('true');
    }
    expect(a.seen.length).toBe(before);
    expect(sc.stat('cluster.drop.upstream_rq_drop_overload') - dropped).toBe(10);
  });

  test('0%: nothing is dropped', async () => {
    expect(await tally('/nodrop', 10, proto)).toEqual({ a: 10 });
    expect(sc.stat('cluster.nodrop.upstream_rq_drop_overload')).toBe(0);
  });
});

test('50% (TEN_THOUSAND denominator) drops about half', async () => {
  const t = await tally('/halfdrop', 200);
  expect(t['503']! + t['a']!).toBe(200);
  expect(t['503']! / 200).toBeGreaterThan(0.35);
  expect(t['503']! / 200).toBeLessThan(0.65);
});

test('a dropped request is logged with DO and drop_overload', async () => {
  await send('h1', sc.port(), { path: '/drop/logged' });
  let log = '';
  for (let i = 0; i < 50 && !log.includes('/drop/logged'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    log = readFileSync(accessLog, 'utf8');
  }
  expect(log).toContain('/drop/logged 503 DO drop_overload');
});

test('refused: two drop_overloads categories, a priority above 128 (a locality weight of 0 is accepted)', async () => {
  const one = (policy: string, groups: Group[] = [{ eps: [{ port: 1 }] }]): string => bootstrap({ routes: routes(['x']), clusters: cluster('x', groups, '', policy) });
  expect((await bootstrapErrors(one('{ drop_overloads: [{ category: a, drop_percentage: { numerator: 1 } }, { category: b, drop_percentage: { numerator: 1 } }] }'))).join('\n'))
    .toMatch(/drop_overloads has 2 categories; only one is supported/);
  // A locality weight of 0 (as Envoy's own config dumps write an unset one) is taken as unset.
  expect(await bootstrapErrors(one('', [{ locality: 'z', weight: 0, eps: [{ port: 1 }] }]))).toEqual([]);
  expect((await bootstrapErrors(bootstrap({ routes: routes(['x']), clusters: cluster('x', [{ eps: [{ port: 1 }] }]).replace('priority: 0', 'priority: 129') }))).join('\n'))
    .toMatch(/priority must be an integer within 0..128/);
});
