/** RANDOM: weighted random choice over the hosts to use. */

import { random } from '../../../sidecar/upstream/lb-random.ts';
import { countPicks, makeHosts, seededRandom } from './lb-fixtures.ts';

const ctx = {};

describe('random', () => {
  it('returns undefined for an empty host list', () => {
    expect(random()([], seededRandom(1)).chooseHost(ctx)).toBeUndefined();
  });

  it('is uniform over equal weights', () => {
    const hosts = makeHosts(4);
    const lb = random()(hosts, seededRandom(2));
    for (const n of countPicks(20000, () => lb.chooseHost(ctx)).values()) expect(n / 20000).toBeCloseTo(0.25, 1);
  });

  it('follows weights', () => {
    const hosts = makeHosts(3, [1, 3, 6]);
    const lb = random()(hosts, seededRandom(3));
    const counts = countPicks(20000, () => lb.chooseHost(ctx));
    expect(counts.get(hosts[0]!.key)! / 20000).toBeCloseTo(0.1, 1);
    expect(counts.get(hosts[1]!.key)! / 20000).toBeCloseTo(0.3, 1);
    expect(counts.get(hosts[2]!.key)! / 20000).toBeCloseTo(0.6, 1);
  });

  it('skips hosts that turn unhealthy and balances over all in panic', () => {
    const hosts = makeHosts(4, [1, 2, 3, 4]);
    const lb = random()(hosts, seededRandom(4));
    hosts[3]!.healthy = false;
    expect(countPicks(2000, () => lb.chooseHost(ctx)).has(hosts[3]!.key)).toBe(false);
    hosts[2]!.healthy = false;
    hosts[1]!.healthy = false;
    expect(countPicks(2000, () => lb.chooseHost(ctx)).size).toBe(4);
  });
});
