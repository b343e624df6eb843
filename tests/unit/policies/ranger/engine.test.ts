/**
 * RangerPolicyEngine: building from a ServicePolicies download (bad input is
 * refused with every reason), and decisions: deny before allow, exceptions,
 * isDenyAllElse, roles (nested), super users, `_any`, priorities, data masks.
 */
import { ConfigErrors } from '../../../../sidecar/contracts/errors.ts';
import { RangerPolicyEngine } from '../../../../policies/ranger/engine/engine.ts';

const DEFAULT = 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher';
const serviceDef = {
  name: 'hive',
  resources: [
    { name: 'database', level: 1, matcher: DEFAULT },
    { name: 'table', level: 2, parent: 'database', matcher: DEFAULT },
    { name: 'column', level: 3, parent: 'table', matcher: DEFAULT },
  ],
  accessTypes: [{ name: 'select' }, { name: 'update' }, { name: 'all', impliedGrants: ['select', 'update'] }],
  dataMaskDef: { resources: [{ name: 'database' }, { name: 'table', parent: 'database' }, { name: 'column', parent: 'table' }], maskTypes: [{ name: 'MASK' }] },
  policyConditions: [{ name: 'expr', evaluator: 'org.apache.ranger.plugin.conditionevaluator.RangerScriptConditionEvaluator' }, { name: 'weird', evaluator: 'com.example.Unknown' }],
};
const res = (db: string, t = '*', c = '*') => ({ database: { values: [db] }, table: { values: [t] }, column: { values: [c] } });
const policies = [
  { id: 1, name: 'sales', resources: res('sales'), policyItems: [{ accesses: [{ type: 'all' }], groups: ['analysts'], roles: ['auditor'] }], denyPolicyItems: [{ accesses: [{ type: 'update' }], users: ['mallory'] }], allowExceptions: [{ accesses: [{ type: 'select' }], users: ['eve'] }] },
  { id: 2, name: 'locked', resources: res('locked'), isDenyAllElse: true, policyItems: [{ accesses: [{ type: 'select' }], users: ['alice'] }] },
  { id: 3, name: 'override', policyPriority: 1, resources: res('locked', 'open'), policyItems: [{ accesses: [{ type: 'select' }], groups: ['public'] }] },
  { id: 4, name: 'cond', resources: res('cond'), policyItems: [{ accesses: [{ type: 'select' }], groups: ['public'], conditions: [{ type: 'expr', values: ["IS_IN_GROUP('eng')"] }] }, { accesses: [{ type: 'update' }], groups: ['public'], conditions: [{ type: 'weird', values: ['x'] }] }] },
  { id: 10, name: 'mask', policyType: 1, resources: res('sales', 'people', 'ssn'), dataMaskPolicyItems: [{ accesses: [{ type: 'select' }], groups: ['public'], dataMaskInfo: { dataMaskType: 'MASK', valueExpr: "'${{USER._name}}'" } }] },
];
const roles = { rangerRoles: [{ name: 'auditor', users: [], groups: [], roles: [{ name: 'junior' }] }, { name: 'junior', users: [{ name: 'bob' }] }] };
const { engine, warnings } = RangerPolicyEngine.create({ serviceName: 'hive-prod', policyVersion: 7, serviceDef, policies }, { roles, superUsers: ['root'] });
const ask = (user: string, groups: string[], resource: Record<string, string>, accessType: string) => engine.isAccessAllowed({ user, userGroups: groups, resource, accessType });

test('identity', () => {
  expect(engine.serviceName).toBe('hive-prod');
  expect(engine.policyVersion).toBe(7);
});

test('allow by group; implied grants; deny beats allow; exceptions', () => {
  expect(ask('ann', ['analysts'], { database: 'sales', table: 't' }, 'update')).toMatchObject({ isAllowed: true, policyId: 1, isAudited: true });
  expect(ask('mallory', ['analysts'], { database: 'sales', table: 't' }, 'update')).toMatchObject({ isAllowed: false, policyId: 1 });
  expect(ask('eve', ['analysts'], { database: 'sales', table: 't' }, 'select').isAllowed).toBe(false);
  expect(ask('zed', [], { database: 'sales', table: 't' }, 'select')).toMatchObject({ isAllowed: false, policyId: -1 });
});

test('nested roles grant', () => {
  expect(ask('bob', [], { database: 'sales' }, 'select').isAllowed).toBe(true);
});

test('isDenyAllElse denies, a higher-priority policy overrides', () => {
  expect(ask('zed', [], { database: 'locked', table: 'x' }, 'select')).toMatchObject({ isAllowed: false, policyId: 2 });
  expect(ask('zed', [], { database: 'locked', table: 'open' }, 'select')).toMatchObject({ isAllowed: true, policyId: 3 });
});

test('super users are allowed everything', () => {
  expect(ask('root', [], { database: 'anything' }, 'update')).toMatchObject({ isAllowed: true, reason: 'superuser' });
});

test('"" asks for any access; a database request sees table-level policies', () => {
  expect(ask('ann', ['analysts'], { database: 'sales' }, '').isAllowed).toBe(true);
});

test('conditions: a script condition decides; an unknown evaluator fails closed and is a warning', () => {
  expect(ask('u', ['eng'], { database: 'cond', table: 't' }, 'select').isAllowed).toBe(true);
  expect(ask('u', ['ops'], { database: 'cond', table: 't' }, 'select').isAllowed).toBe(false);
  expect(ask('u', ['eng'], { database: 'cond', table: 't' }, 'update').isAllowed).toBe(false);
  expect(warnings.join('\n')).toMatch(/policies\[3\]\.policyItems\[1\]\.conditions\[0\].*com\.example\.Unknown/);
});

test('data mask with a request expression', () => {
  const r = engine.evalDataMask({ user: 'carol', userGroups: [], accessType: 'select', resource: { database: 'sales', table: 'people', column: 'ssn' } });
  expect(r).toMatchObject({ maskType: 'MASK', maskedValue: "'carol'", policyId: 10 });
  expect(engine.evalDataMask({ user: 'carol', userGroups: [], accessType: 'select', resource: { database: 'sales', table: 'people', column: 'name' } }).maskType).toBeNull();
});

function reasons(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigErrors);
    return (e as ConfigErrors).errors.map((x) => x.message);
  }
  throw new Error('no ConfigErrors thrown');
}

test('malformed input is refused with every reason and its path', () => {
  expect(reasons(() => RangerPolicyEngine.create('nope'))).toEqual([expect.stringMatching(/must be an object/)]);
  const r = reasons(() => RangerPolicyEngine.create({ serviceDef, policies: [{ name: 'no id', resources: 7 }, { id: 2, policyItems: 'x' }] }));
  expect(r).toEqual(expect.arrayContaining([
    'serviceName: is required',
    'policies[0].id: is required',
    'policies[0].resources: must be an object, not a number',
    'policies[1].policyItems: must be an array, not a string',
  ]));
});

test('an unknown access type in a policy item is refused (and tolerated on request, as Ranger does)', () => {
  const bad = { serviceName: 's', serviceDef, policies: [{ id: 1, resources: res('x'), policyItems: [{ accesses: [{ type: 'selct' }], users: ['a'] }] }] };
  expect(reasons(() => RangerPolicyEngine.create(bad))).toEqual(["policies[0].policyItems[0].accesses[0].type: access type 'selct' is not defined by service definition 'hive'"]);
  expect(RangerPolicyEngine.create(bad, { strictAccessTypes: false }).warnings[0]).toMatch(/selct.*ignored/);
});

test('a gap in the resource hierarchy is refused', () => {
  const gap = { serviceName: 's', serviceDef, policies: [{ id: 1, resources: { database: { values: ['d'] }, column: { values: ['c'] } }, policyItems: [] }] };
  expect(reasons(() => RangerPolicyEngine.create(gap))).toEqual([expect.stringMatching(/^policies\[0\]\.resources: resources \[database, column\] leave a gap/)]);
  const unknown = { serviceName: 's', serviceDef, policies: [{ id: 1, resources: { bucket: { values: ['b'] } } }] };
  expect(reasons(() => RangerPolicyEngine.create(unknown))).toEqual(["policies[0].resources: resource 'bucket' is not defined by service definition 'hive'"]);
});

test('malformed roles are refused', () => {
  expect(reasons(() => RangerPolicyEngine.create({ serviceName: 's', serviceDef, policies: [] }, { roles: { rangerRoles: [{ users: 'x' }] } }))).toEqual(expect.arrayContaining(['roles.rangerRoles[0].name: is required']));
});
