/**
 * A cluster's load-balancing options are checked when the config is translated, with the
 * field's path (sidecar/contracts/lb-options.ts, used by xds/translate/cluster.ts and the
 * balancers alike): `--mode validate` said OK to a MAGLEV table_size that is not prime or a
 * ring whose minimum exceeds its maximum, and serving then failed to start without a path.
 */
import { bootstrap, bootstrapErrors, staticCluster } from '../../support/sidecar.ts';

const ROUTES = 'virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: c } }] }]';
const CLUSTER0 = 'static_resources.clusters[0]';

async function errorsFor(lb: string): Promise<string[]> {
  return bootstrapErrors(bootstrap({ routes: ROUTES, clusters: staticCluster('c', [1], lb) }));
}

test.each([
  ['lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 4 }', 'maglev_lb_config.table_size: The table size of maglev must be prime number'],
  ['lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 5000012 }', 'maglev_lb_config.table_size: must be an integer <= 5000011, got 5000012'],
  ['lb_policy: RING_HASH\nring_hash_lb_config: { minimum_ring_size: 100, maximum_ring_size: 10 }', 'ring_hash_lb_config.minimum_ring_size: ring hash: minimum_ring_size (100) > maximum_ring_size (10)'],
  ['lb_policy: RING_HASH\nring_hash_lb_config: { maximum_ring_size: 8388609 }', 'ring_hash_lb_config.maximum_ring_size: must be an integer within 1..8388608, got 8388609'],
  ['lb_policy: LEAST_REQUEST\nleast_request_lb_config: { choice_count: 1 }', 'least_request_lb_config.choice_count: must be an integer >= 2, got 1'],
  ['common_lb_config: { healthy_panic_threshold: { value: 150 } }', 'common_lb_config.healthy_panic_threshold: must be within 0..100, got 150'],
])('refuses %j with the field path', async (lb, reason) => {
  expect(await errorsFor(lb)).toEqual([`${CLUSTER0}.${reason}`]);
});

test('accepts Envoy-valid options', async () => {
  for (const lb of [
    'lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 5000011 }',
    'lb_policy: RING_HASH\nring_hash_lb_config: { minimum_ring_size: 10, maximum_ring_size: 10 }',
    'lb_policy: LEAST_REQUEST\nleast_request_lb_config: { choice_count: 3 }',
    'common_lb_config: { healthy_panic_threshold: { value: 0 } }',
  ]) expect(await errorsFor(lb)).toEqual([]);
});
