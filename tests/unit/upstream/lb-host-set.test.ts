/** Panic-threshold host selection shared by every policy. */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { panicThresholdFrom } from '../../../sidecar/contracts/lb-options.ts';
import { HostSet, hostHashKey, isHostSetInPanic } from '../../../sidecar/upstream/lb-host-set.ts';
import { makeHosts } from './lb-fixtures.ts';

describe('isHostSetInPanic', () => {
  it('is in panic strictly below the threshold, as Envoy', () => {
    expect(isHostSetInPanic(4, 2, 50)).toBe(false);
    expect(isHostSetInPanic(4, 1, 50)).toBe(true);
    expect(isHostSetInPanic(3, 1, 34)).toBe(true);
    expect(isHostSetInPanic(3, 1, 33)).toBe(false);
    expect(isHostSetInPanic(0, 0, 50)).toBe(true);
  });

  it('never panics with a threshold of 0', () => {
    expect(isHostSetInPanic(4, 0, 0)).toBe(false);
    expect(isHostSetInPanic(0, 0, 0)).toBe(false);
  });
});

describe('panicThresholdFrom', () => {
  it('defaults to 50 and rounds', () => {
    expect(panicThresholdFrom(undefined)).toBe(50);
    expect(panicThresholdFrom(33.6)).toBe(34);
  });

  it('rejects values outside 0..100 with the field path', () => {
    expect(() => panicThresholdFrom(101)).toThrow(ConfigError);
    expect(() => panicThresholdFrom(Number.NaN)).toThrow(/common_lb_config\.healthy_panic_threshold/);
  });
});

describe('HostSet', () => {
  it('uses healthy hosts, or all hosts in panic, following live flags', () => {
    const hosts = makeHosts(4);
    const set = new HostSet(hosts);
    expect(set.hostsToUse).toHaveLength(4);
    const v1 = set.version;

    hosts[0]!.healthy = false;
    hosts[1]!.healthy = false;
    expect(set.refresh()).toBeGreaterThan(v1);
    expect(set.hostsToUse.map((h) => h.key)).toEqual([hosts[2]!.key, hosts[3]!.key]);
    expect(set.inPanic).toBe(false);

    hosts[2]!.healthy = false;
    const v2 = set.refresh();
    expect(set.inPanic).toBe(true);
    expect(set.hostsToUse).toHaveLength(4);

    // Still in panic: the hosts to use did not change, so no rebuild is needed.
    hosts[3]!.healthy = false;
    expect(set.refresh()).toBe(v2);
    expect(set.healthyCount).toBe(0);
  });

  it('does not bump the version when nothing changed', () => {
    const set = new HostSet(makeHosts(3));
    const v = set.version;
    expect(set.refresh()).toBe(v);
    expect(set.refresh()).toBe(v);
  });
});

describe('hostHashKey', () => {
  it("is Envoy's address asString()", () => {
    expect(hostHashKey(makeHosts(1)[0]!)).toBe('10.0.0.1:8080');
    expect(hostHashKey({ key: '[::1]:80', address: '::1', port: 80, weight: 1, healthy: true, activeRequests: 0 })).toBe('[::1]:80');
    expect(hostHashKey({ key: 'unix:/run/db.sock', address: '/run/db.sock', port: 0, weight: 1, healthy: true, activeRequests: 0 })).toBe('/run/db.sock');
  });
});
