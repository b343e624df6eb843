/** LEAST_REQUEST: power of N choices, full scan, weighted EDF with active-request bias. */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { leastRequest } from '../../../sidecar/upstream/lb-least-request.ts';
import { countPicks, makeHosts, seededRandom } from './lb-fixtures.ts';

const ctx = {};

describe('leastRequest', () => {
  it('returns undefined for an empty host list', () => {
    expect(leastRequest()([], seededRandom(1)).chooseHost(ctx)).toBeUndefined();
  });

  it('prefers the idle host with two choices', () => {
    const hosts = makeHosts(4);
    for (const h of hosts.slice(1)) h.activeRequests = 10;
    const lb = leastRequest()(hosts, seededRandom(2));
    const counts = countPicks(20000, () => lb.chooseHost(ctx));
    // P(idle) = 1 - (3/4)^2 = 0.4375, against 0.25 without choices.
    expect(counts.get(hosts[0]!.key)! / 20000).toBeCloseTo(0.4375, 1);
  });

  it('almost always finds the idle host with many choices', () => {
    const hosts = makeHosts(4);
    for (const h of hosts.slice(1)) h.activeRequests = 5;
    const lb = leastRequest({ choiceCount: 16 })(hosts, seededRandom(3));
    expect(countPicks(1000, () => lb.chooseHost(ctx)).get(hosts[0]!.key)!).toBeGreaterThan(980);
  });

  it('follows live active request counts', () => {
    const hosts = makeHosts(2);
    const lb = leastRequest({ selectionMethod: 'FULL_SCAN' })(hosts, seededRandom(4));
    hosts[0]!.activeRequests = 3;
    expect(lb.chooseHost(ctx)).toBe(hosts[1]);
    hosts[1]!.activeRequests = 7;
    expect(lb.chooseHost(ctx)).toBe(hosts[0]);
  });

  it('breaks full-scan ties at random', () => {
    const hosts = makeHosts(3);
    hosts[2]!.activeRequests = 1;
    const lb = leastRequest({ selectionMethod: 'FULL_SCAN' })(hosts, seededRandom(5));
    const counts = countPicks(4000, () => lb.chooseHost(ctx));
    expect(counts.has(hosts[2]!.key)).toBe(false);
    expect(counts.get(hosts[0]!.key)! / 4000).toBeCloseTo(0.5, 1);
  });

  it('never picks an unhealthy host', () => {
    const hosts = makeHosts(3);
    const lb = leastRequest()(hosts, seededRandom(6));
    hosts[0]!.healthy = false;
    hosts[1]!.activeRequests = 100;
    hosts[2]!.activeRequests = 100;
    expect(countPicks(500, () => lb.chooseHost(ctx)).has(hosts[0]!.key)).toBe(false);
  });

  it('uses weighted round robin when weights differ', () => {
    const hosts = makeHosts(2, [1, 3]);
    const lb = leastRequest()(hosts, seededRandom(7));
    const counts = countPicks(4000, () => lb.chooseHost(ctx));
    expect(Math.abs(counts.get(hosts[1]!.key)! - 3000)).toBeLessThanOrEqual(1);
  });

  it('divides weight by (active + 1) ^ bias', () => {
    const hosts = makeHosts(2, [2, 1]);
    hosts[0]!.activeRequests = 3; // 2 / 4 = 0.5 against 1 / 1 = 1
    const lb = leastRequest()(hosts, seededRandom(8));
    const counts = countPicks(3000, () => lb.chooseHost(ctx));
    expect(Math.abs(counts.get(hosts[1]!.key)! - 2000)).toBeLessThanOrEqual(2);

    const plain = leastRequest({ activeRequestBias: 0 })(hosts, seededRandom(8));
    const plainCounts = countPicks(3000, () => plain.chooseHost(ctx));
    expect(Math.abs(plainCounts.get(hosts[0]!.key)! - 2000)).toBeLessThanOrEqual(2);
  });

  it('uses the weighted schedule for equal weights when the bias is set explicitly', () => {
    const hosts = makeHosts(2);
    hosts[1]!.activeRequests = 3; // 1 against 1/4
    const lb = leastRequest({ activeRequestBias: 1 })(hosts, seededRandom(9));
    const counts = countPicks(5000, () => lb.chooseHost(ctx));
    expect(Math.abs(counts.get(hosts[0]!.key)! - 4000)).toBeLessThanOrEqual(2);
  });

  it('uses all hosts in panic', () => {
    const hosts = makeHosts(4);
    for (const h of hosts.slice(0, 3)) h.healthy = false;
    const lb = leastRequest()(hosts, seededRandom(10));
    expect(countPicks(400, () => lb.chooseHost(ctx)).size).toBe(4);
  });

  it('rejects invalid options with the Envoy field name', () => {
    expect(() => leastRequest({ choiceCount: 1 })).toThrow(/choice_count/);
    expect(() => leastRequest({ activeRequestBias: -1 })).toThrow(ConfigError);
    expect(() => leastRequest({ selectionMethod: 'BOGUS' as 'FULL_SCAN' })).toThrow(/selection_method/);
  });
});
