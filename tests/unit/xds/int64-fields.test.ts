/**
 * 64-bit integers in config (int64/uint64 fields, written as strings by
 * canonical JSON, or as plain numbers in YAML): a field whose value means
 * nothing above 2^53 - 1 (sizes, counts, status ranges) is refused with its
 * path rather than rounded; one that keeps its meaning at any size (a header
 * range_match bound) keeps its exact value from the YAML text to the match.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { int } from '../../../xds/translate/proto-values.ts';
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { loadBootstrap } from '../../../sidecar/bootstrap/load.ts';
import { parseConfigText } from '../../../xds/proto/config-text.ts';
import { decodeDiscoveryFile } from '../../../xds/subscription/file-subscription.ts';
import { parseRouteConfig } from '../../../protocols/http/route/route-config.ts';
import { RouteTable } from '../../../protocols/http/route/route-match.ts';
import { bootstrap, bootstrapErrors, staticCluster } from '../../support/sidecar.ts';

// Decoded values are walked by key; `any` keeps those lines short.
type Json = Record<string, any>;

/** 2^53 + 1: the first integer a double cannot hold. */
const UNSAFE = '9007199254740993';

function thrown(f: () => unknown): ConfigError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

describe('int(): integers a double holds exactly, or a ConfigError at the field', () => {
  test('numbers, int64 strings and the default', () => {
    expect(int(7, 1, 'f')).toBe(7);
    expect(int('42', 1, 'f')).toBe(42);
    expect(int('-42', 1, 'f')).toBe(-42);
    expect(int(undefined, 3, 'f')).toBe(3);
    expect(int('', 3, 'f')).toBe(3);
    expect(int(String(Number.MAX_SAFE_INTEGER), 0, 'f')).toBe(Number.MAX_SAFE_INTEGER);
    expect(int(String(Number.MIN_SAFE_INTEGER), 0, 'f')).toBe(Number.MIN_SAFE_INTEGER);
  });

  test.each([
    [UNSAFE, UNSAFE],
    ['18446744073709551615', '18446744073709551615'],
    ['-9007199254740992', '-9007199254740992'],
    [2 ** 60, String(2 ** 60)],
  ])('refuses %p with the path and the value as written', (value, shown) => {
    const e = thrown(() => int(value, 0, 'a.b[0].c'));
    expect(e?.path).toBe('a.b[0].c');
    expect(e?.reason).toContain(shown);
  });

  test('refuses a string that is not an integer instead of reading NaN', () => {
    expect(thrown(() => int('12abc', 0, 'x.y'))?.path).toBe('x.y');
    expect(thrown(() => int('1.5', 0, 'x.y'))?.path).toBe('x.y');
  });
});

describe('a bootstrap with an int64 beyond 2^53 - 1 where Envoy gives it no meaning', () => {
  const CLUSTER0 = 'static_resources.clusters[0]';
  const ROUTE0 = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]';
  const routes = (retry: string): string => `virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - match: { prefix: "/" }
    route: { cluster: c, retry_policy: { retry_on: 5xx, ${retry} } }`;

  test.each([
    ['quoted', `"${UNSAFE}"`],
    ['a YAML number', UNSAFE],
  ])('refuses route retry_policy.host_selection_retry_max_attempts (%s) with its path', async (_what, written) => {
    const errs = await bootstrapErrors(bootstrap({ routes: routes(`host_selection_retry_max_attempts: ${written}`), clusters: staticCluster('c', [1]) }));
    expect(errs).toEqual([expect.stringMatching(new RegExp(`^${escape(ROUTE0)}\\.route\\.retry_policy\\.host_selection_retry_max_attempts: .*${UNSAFE}`))]);
  });

  test('refuses ring_hash_lb_config.minimum_ring_size (uint64) with its path and exact value', async () => {
    const errs = await bootstrapErrors(bootstrap({ routes: routes('num_retries: 1'), clusters: staticCluster('c', [1], `lb_policy: RING_HASH\nring_hash_lb_config: { minimum_ring_size: "18446744073709551615" }`) }));
    expect(errs).toEqual([expect.stringMatching(new RegExp(`^${escape(CLUSTER0)}\\.ring_hash_lb_config\\.minimum_ring_size: .*18446744073709551615`))]);
  });

  test('refuses maglev_lb_config.table_size (uint64) with its path', async () => {
    const errs = await bootstrapErrors(bootstrap({ routes: routes('num_retries: 1'), clusters: staticCluster('c', [1], `lb_policy: MAGLEV\nmaglev_lb_config: { table_size: "${UNSAFE}" }`) }));
    expect(errs).toEqual([expect.stringMatching(new RegExp(`^${escape(CLUSTER0)}\\.maglev_lb_config\\.table_size: .*${UNSAFE}`))]);
  });

  test('refuses an expected_statuses bound (Int64Range) with the path of the bound', async () => {
    const hc = `health_checks:
- timeout: 1s
  interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  http_health_check: { path: /healthz, expected_statuses: [{ start: 200, end: "${UNSAFE}" }] }`;
    const errs = await bootstrapErrors(bootstrap({ routes: routes('num_retries: 1'), clusters: staticCluster('c', [1], hc) }));
    expect(errs).toEqual([expect.stringMatching(new RegExp(`^${escape(CLUSTER0)}\\.health_checks\\[0\\]\\.http_health_check\\.expected_statuses\\[0\\]\\.end: .*${UNSAFE}`))]);
  });
});

describe('config text: integer literals a double cannot hold stay exact', () => {
  test('JSON: unsafe integers become decimal strings; fractions, exponents, strings and safe integers are untouched', () => {
    const text = `{"a": ${UNSAFE}, "b": 1.90071992547409930, "c": [1, -${UNSAFE}, 1e3, 2E+30000000000000000], "d": "x ${UNSAFE}", "e": 12}`;
    expect(parseConfigText(text, 'b.json')).toEqual({ a: UNSAFE, b: 1.9007199254740993, c: [1, `-${UNSAFE}`, 1000, Infinity], d: `x ${UNSAFE}`, e: 12 });
  });

  test('YAML: the same, through aliases', () => {
    const text = `a: ${UNSAFE}\nb: 1.5\nc: &x [1, -${UNSAFE}, 0x1F]\nd: *x\ne: "${UNSAFE}"\nf: 9007199254740991`;
    expect(parseConfigText(text, 'b.yaml')).toEqual({ a: UNSAFE, b: 1.5, c: [1, `-${UNSAFE}`, 31], d: [1, `-${UNSAFE}`, 31], e: UNSAFE, f: 9007199254740991 });
  });
});

test('a filesystem xDS file (DiscoveryResponse) keeps an unquoted unsafe integer exact too', () => {
  const rds = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
  const text = `resources:
- "@type": ${rds}
  name: r
  virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/", headers: [{ name: n, range_match: { start: ${UNSAFE}, end: 9007199254740995 } }] }, route: { cluster: c } }] }]`;
  const { resources } = decodeDiscoveryFile(text, 'rds.yaml', rds);
  const route = (resources.get('r')!.value as Json)['virtual_hosts'][0]['routes'][0];
  expect(route['match']['headers'][0]['range_match']).toEqual({ start: UNSAFE, end: '9007199254740995' });
});

describe('an int64 that keeps its meaning at any size keeps its exact value', () => {
  /** The route table of a one-listener bootstrap whose only route matches header `n` by range_match. */
  async function table(range: string, format: 'yaml' | 'json' = 'yaml'): Promise<RouteTable> {
    const yaml = bootstrap({
      routes: `virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - match: { prefix: "/", headers: [{ name: n, range_match: ${range} }] }
    route: { cluster: c }`,
      clusters: staticCluster('c', [1]),
    });
    let value: Json;
    if (format === 'yaml') {
      value = (await loadBootstrap({ configYaml: yaml })).value;
    } else {
      // The same bootstrap as a .json file, the range written as JSON numbers.
      const json = JSON.stringify(YAML.parse(yaml.replace(range, '"@@RANGE@@"'))).replace('"@@RANGE@@"', range);
      const dir = await mkdtemp(join(tmpdir(), 'int64-'));
      try {
        await writeFile(join(dir, 'bootstrap.json'), json);
        value = (await loadBootstrap({ configPath: join(dir, 'bootstrap.json') })).value;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const hcm = (value as Json)['static_resources']['listeners'][0]['filter_chains'][0]['filters'][0]['typed_config'];
    expect(hcm['route_config']['virtual_hosts'][0]['routes'][0]['match']['headers'][0]['range_match']).toEqual({ start: UNSAFE, end: '9007199254740994' });
    return new RouteTable(parseRouteConfig(hcm['route_config'], 'route_config', { readFile: () => '' }));
  }

  test.each([
    ['YAML numbers', `{ start: ${UNSAFE}, end: 9007199254740994 }`],
    ['canonical JSON strings', `{ start: "${UNSAFE}", end: "9007199254740994" }`],
  ])('a header range_match bound written as %s', async (_what, range) => {
    const t = await table(range);
    const v = t.config.virtualHosts[0]!;
    expect(t.route(v, { n: UNSAFE }, '/')).toBeDefined();
    // 2^53, which 2^53 + 1 would round to in a double.
    expect(t.route(v, { n: '9007199254740992' }, '/')).toBeUndefined();
  });

  test('a header range_match bound written as a JSON number in a .json bootstrap', async () => {
    const t = await table(`{ "start": ${UNSAFE}, "end": 9007199254740994 }`, 'json');
    const v = t.config.virtualHosts[0]!;
    expect(t.route(v, { n: UNSAFE }, '/')).toBeDefined();
    expect(t.route(v, { n: '9007199254740992' }, '/')).toBeUndefined();
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
