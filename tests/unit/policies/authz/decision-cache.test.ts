/**
 * The decision cache: hits for the same (principal, resource, access),
 * misses across a policy generation, LRU eviction at the bound, TTL; and
 * the rejection table every protocol maps verdicts with.
 */
import { DecisionCache, decisionKey } from '../../../../policies/authz/decision-cache.ts';
import type { AuthzDecision, AuthzRequest } from '../../../../policies/authz/authorizer.ts';
import { rejection } from '../../../../policies/rejection.ts';
import { StatsStore } from '../../../../sidecar/stats/store.ts';

function req(user: string, path = '/a', access = 'read', groups: string[] = []): AuthzRequest {
  return { principal: { user, groups, roles: [] }, resource: { path }, accessType: access, context: { clientIp: '10.0.0.1' } };
}
const ALLOW: AuthzDecision = { allowed: true, determined: true, audited: true, policyId: 1 };
const DENY: AuthzDecision = { allowed: false, determined: true, audited: true, policyId: 2 };

describe('decisionKey', () => {
  test('differs in every input a policy sees', () => {
    const base = decisionKey(req('u'));
    expect(decisionKey(req('u'))).toBe(base);
    expect(decisionKey(req('v'))).not.toBe(base);
    expect(decisionKey(req('u', '/b'))).not.toBe(base);
    expect(decisionKey(req('u', '/a', 'write'))).not.toBe(base);
    expect(decisionKey(req('u', '/a', 'read', ['g']))).not.toBe(base);
    expect(decisionKey({ ...req('u'), context: { clientIp: '10.0.0.2' } })).not.toBe(base);
    expect(decisionKey({ ...req('u'), principal: { user: 'u', groups: [], roles: ['r'] } })).not.toBe(base);
    // No ambiguity between a user name and a group list that share characters.
    expect(decisionKey(req('a', '/a', 'read', ['b']))).not.toBe(decisionKey(req('a\u0000b', '/a', 'read', [])));
    expect(decisionKey({ ...req('u'), resource: { database: 'd', table: 't' } })).not.toBe(decisionKey({ ...req('u'), resource: { database: 'd', column: 't' } }));
  });
});

describe('DecisionCache', () => {
  test('hits within a generation, misses after a policy change', () => {
    const stats = new StatsStore();
    const c = new DecisionCache({ maxEntries: 10, ttlMs: 0, stats: stats.scope('dc') });
    const k = decisionKey(req('u'));
    expect(c.get(k, 1)).toBeUndefined();
    c.set(k, 1, ALLOW);
    expect(c.get(k, 1)).toBe(ALLOW);
    expect(c.get(k, 2)).toBeUndefined(); // policies changed
    expect(c.entries).toBe(0);
    c.set(k, 1, DENY); // decided under old policies: not stored
    expect(c.get(k, 2)).toBeUndefined();
    c.set(k, 2, DENY);
    expect(c.get(k, 2)).toBe(DENY);
    expect(stats.counter('dc.hits').value()).toBe(2);
    expect(stats.counter('dc.misses').value()).toBe(3);
  });

  test('bounded: the least recently used entry goes', () => {
    const stats = new StatsStore();
    const c = new DecisionCache({ maxEntries: 3, ttlMs: 0, stats: stats.scope('dc') });
    const keys = ['a', 'b', 'c', 'd'].map((u) => decisionKey(req(u)));
    c.set(keys[0]!, 1, ALLOW);
    c.set(keys[1]!, 1, ALLOW);
    c.set(keys[2]!, 1, ALLOW);
    c.get(keys[0]!, 1); // a is now the most recent
    c.set(keys[3]!, 1, ALLOW);
    expect(c.entries).toBe(3);
    expect(c.get(keys[1]!, 1)).toBeUndefined();
    expect(c.get(keys[0]!, 1)).toBe(ALLOW);
    expect(stats.counter('dc.evictions').value()).toBe(1);
    expect(stats.gauge('dc.size').value()).toBe(3);
    for (let i = 0; i < 1000; i++) c.set(decisionKey(req(`x${i}`)), 1, DENY);
    expect(c.entries).toBe(3);
  });

  test('entries expire after the TTL; maxEntries 0 disables', () => {
    let now = 1000;
    const c = new DecisionCache({ maxEntries: 10, ttlMs: 500, now: () => now });
    const k = decisionKey(req('u'));
    c.set(k, 1, ALLOW);
    now += 499;
    expect(c.get(k, 1)).toBe(ALLOW);
    now += 1;
    expect(c.get(k, 1)).toBeUndefined();
    const off = new DecisionCache({ maxEntries: 0, ttlMs: 0 });
    off.set(k, 1, ALLOW);
    expect(off.get(k, 1)).toBeUndefined();
  });
});

describe('rejection table', () => {
  test('one row per verdict, every protocol', () => {
    expect(rejection('denied')).toMatchObject({ http: 403, grpc: 7, grpcName: 'PERMISSION_DENIED', sqlstate: '42501', mqtt: 0x87 });
    expect(rejection('exhausted')).toMatchObject({ http: 429, grpc: 8, grpcName: 'RESOURCE_EXHAUSTED', sqlstate: '53300', mqtt: 0x97 });
    expect(rejection('unavailable')).toMatchObject({ http: 503, grpc: 14, grpcName: 'UNAVAILABLE', sqlstate: '53400', mqtt: 0x89 });
    expect(Object.isFrozen(rejection('denied'))).toBe(true);
  });
});
