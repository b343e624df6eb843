/** ROUND_ROBIN: rotation, EDF weights, live health, panic mode. */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { roundRobin } from '../../../sidecar/upstream/lb-round-robin.ts';
import { countPicks, makeHosts, seededRandom } from './lb-fixtures.ts';

const ctx = {};

describe('roundRobin', () => {
  it('returns undefined for an empty host list', () => {
    expect(roundRobin()([], seededRandom(1)).chooseHost(ctx)).toBeUndefined();
  });

  it('rotates through equal-weight hosts in order from a random start', () => {
    const hosts = makeHosts(4);
    const lb = roundRobin()(hosts, seededRandom(7));
    const first = hosts.indexOf(lb.chooseHost(ctx)!);
    for (let i = 1; i < 12; i++) expect(lb.chooseHost(ctx)).toBe(hosts[(first + i) % 4]);
  });

  it('distributes by weight with an EDF schedule', () => {
    const hosts = makeHosts(3, [1, 2, 3]);
    const lb = roundRobin()(hosts, seededRandom(2));
    const counts = countPicks(6000, () => lb.chooseHost(ctx));
    // EDF is deterministic: each host is within one pick of its exact share.
    expect(Math.abs(counts.get(hosts[0]!.key)! - 1000)).toBeLessThanOrEqual(1);
    expect(Math.abs(counts.get(hosts[1]!.key)! - 2000)).toBeLessThanOrEqual(1);
    expect(Math.abs(counts.get(hosts[2]!.key)! - 3000)).toBeLessThanOrEqual(1);
  });

  it('interleaves weighted picks instead of bursting', () => {
    const hosts = makeHosts(2, [1, 4]);
    const lb = roundRobin()(hosts, () => 0);
    const seq = Array.from({ length: 10 }, () => hosts.indexOf(lb.chooseHost(ctx)!));
    // The light host appears once in every window of five.
    expect(seq.slice(0, 5).filter((i) => i === 0)).toHaveLength(1);
    expect(seq.slice(5, 10).filter((i) => i === 0)).toHaveLength(1);
  });

  it('skips hosts that become unhealthy after the balancer was built', () => {
    const hosts = makeHosts(4);
    const lb = roundRobin()(hosts, seededRandom(3));
    hosts[1]!.healthy = false;
    const counts = countPicks(300, () => lb.chooseHost(ctx));
    expect(counts.has(hosts[1]!.key)).toBe(false);
    expect([...counts.values()]).toEqual([100, 100, 100]);
    hosts[1]!.healthy = true;
    expect(countPicks(400, () => lb.chooseHost(ctx)).get(hosts[1]!.key)).toBe(100);
  });

  it('skips unhealthy hosts under EDF too', () => {
    const hosts = makeHosts(3, [1, 2, 3]);
    const lb = roundRobin()(hosts, seededRandom(3));
    hosts[2]!.healthy = false;
    const counts = countPicks(300, () => lb.chooseHost(ctx));
    expect(counts.get(hosts[0]!.key)).toBe(100);
    expect(counts.get(hosts[1]!.key)).toBe(200);
  });

  it('keeps to the healthy half at exactly the 50% threshold', () => {
    const hosts = makeHosts(4);
    hosts[0]!.healthy = false;
    hosts[1]!.healthy = false;
    const lb = roundRobin()(hosts, seededRandom(4));
    const counts = countPicks(100, () => lb.chooseHost(ctx));
    expect([...counts.keys()].sort()).toEqual([hosts[2]!.key, hosts[3]!.key]);
  });

  it('balances over all hosts in panic (fewer than 50% healthy)', () => {
    const hosts = makeHosts(4);
    for (const h of hosts.slice(0, 3)) h.healthy = false;
    const lb = roundRobin()(hosts, seededRandom(5));
    expect(countPicks(400, () => lb.chooseHost(ctx)).size).toBe(4);
  });

  it('uses all hosts when none is healthy, and none when panic is disabled', () => {
    const hosts = makeHosts(3);
    for (const h of hosts) h.healthy = false;
    expect(roundRobin()(hosts, seededRandom(6)).chooseHost(ctx)).toBeDefined();
    expect(roundRobin({ healthyPanicThreshold: 0 })(hosts, seededRandom(6)).chooseHost(ctx)).toBeUndefined();
  });

  it('rejects a bad panic threshold', () => {
    expect(() => roundRobin({ healthyPanicThreshold: 150 })).toThrow(ConfigError);
  });
});
