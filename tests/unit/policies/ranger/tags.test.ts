/**
 * Tag handling of RangerPolicyEngine: temporary tags (validityPeriods, as
 * RangerTagForEval.isApplicable) and the tag service's audit filters, tried
 * per tag of the request before the service's own (as
 * RangerPolicyEngineImpl.evaluateAuditPolicies).
 */
import { RangerPolicyEngine, type RangerTag } from '../../../../policies/ranger/engine/engine.ts';
import { zonedTime } from '../../../../policies/ranger/engine/validity-schedule.ts';

const PST = 'America/Los_Angeles';
const serviceDef = {
  name: 'hdfs',
  resources: [{ name: 'path', level: 1, matcher: 'org.apache.ranger.plugin.resourcematcher.RangerPathResourceMatcher', matcherOptions: { wildCard: true } }],
  accessTypes: [{ name: 'read' }, { name: 'write' }],
};
const tagServiceDef = {
  name: 'tag',
  resources: [{ name: 'tag', level: 1, matcher: 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher' }],
  accessTypes: [{ name: 'hdfs:read' }, { name: 'hdfs:write' }],
};
const policies = [
  { id: 1, name: 'all', isAuditEnabled: true, resources: { path: { values: ['/'], isRecursive: true } }, policyItems: [{ accesses: [{ type: 'read' }, { type: 'write' }], groups: ['public'] }] },
  { id: 2, name: 'quiet', isAuditEnabled: false, resources: { path: { values: ['/quiet'], isRecursive: true } }, policyItems: [{ accesses: [{ type: 'read' }, { type: 'write' }], groups: ['public'] }] },
];
const tagPolicies = [
  { id: 101, name: 'PII', resources: { tag: { values: ['PII'] } }, denyPolicyItems: [{ accesses: [{ type: 'hdfs:read' }], users: ['user'] }] },
];
const build = (tagConfig?: Record<string, string>) => RangerPolicyEngine.create({
  serviceName: 'hdfs-1', serviceDef, policies,
  serviceConfig: { 'ranger.plugin.audit.filters': "[{'resources':{'path':{'values':['/quiet'],'isRecursive':true}},'isAudited':false}]" },
  tagPolicies: { serviceName: 'tags', serviceDef: tagServiceDef, policies: tagPolicies, serviceConfig: tagConfig },
}, { defaultTimeZone: PST }).engine;

describe('temporary tags', () => {
  const engine = build();
  const tag = (minutes: number): RangerTag => ({
    type: 'PII',
    validityPeriods: [{ startTime: '2018/01/12 14:32:00', endTime: '2020/02/13 12:16:00', recurrences: [{ schedule: { minute: '0,10,20,30,40,50', hour: '*', dayOfMonth: '*', dayOfWeek: '*', month: '*', year: '2018' }, interval: { minutes } }] }],
  });
  const read = (t: RangerTag, h: number, m: number) => engine.isAccessAllowed({ user: 'user', userGroups: [], resource: { path: '/data/x' }, accessType: 'read', tags: [t], accessTime: new Date(zonedTime(2018, 1, 27, h, m, 0, PST)) });

  test('a tag inside its validity period brings its tag policies', () => {
    expect(read(tag(7), 10, 5)).toMatchObject({ isAllowed: false, policyId: 101 });
  });

  test('outside it, the tag is ignored', () => {
    expect(read(tag(4), 10, 6)).toMatchObject({ isAllowed: true, policyId: 1 });
  });

  test('a tag without validity periods always applies', () => {
    expect(read({ type: 'PII' }, 10, 6)).toMatchObject({ isAllowed: false, policyId: 101 });
  });
});

describe('audit filters of the tag service', () => {
  const engine = build({ 'ranger.plugin.audit.filters': "[ {'resources':{'tag':{'values':['AUDIT_ALL']}},'isAudited': true}, {'resources':{'tag':{'values':['NO_AUDIT']}},'isAudited': false} ]" });
  const write = (path: string, tags: RangerTag[]) => engine.isAccessAllowed({ user: 'u', userGroups: [], resource: { path }, accessType: 'write', tags });

  test('a tag filter matching one of the tags decides, before the service filters', () => {
    expect(write('/quiet/f', [{ type: 'AUDIT_ALL' }])).toMatchObject({ isAllowed: true, isAudited: true });
    expect(write('/data/f', [{ type: 'NO_AUDIT' }])).toMatchObject({ isAllowed: true, isAudited: false });
    expect(write('/data/f', [{ type: 'OTHER' }, { type: 'NO_AUDIT' }])).toMatchObject({ isAudited: false });
  });

  test('filters are tried in their order: the first one matching any tag wins', () => {
    expect(write('/data/f', [{ type: 'NO_AUDIT' }, { type: 'AUDIT_ALL' }])).toMatchObject({ isAudited: true });
  });

  test('no matching tag: the service filters and policies decide', () => {
    expect(write('/quiet/f', [{ type: 'OTHER' }])).toMatchObject({ isAudited: false });
    expect(write('/data/f', [{ type: 'OTHER' }])).toMatchObject({ isAudited: true });
  });

  test('a tag found on a descendant does not select a tag filter for a plain request', () => {
    expect(write('/data/f', [{ type: 'NO_AUDIT', matchType: 'DESCENDANT' }])).toMatchObject({ isAudited: true });
  });

  test('an expired temporary tag selects no filter', () => {
    const expired: RangerTag = { type: 'NO_AUDIT', validityPeriods: [{ startTime: '2018/01/01 00:00:00', endTime: '2018/01/02 00:00:00' }] };
    expect(write('/data/f', [expired])).toMatchObject({ isAudited: true });
  });
});

describe('data masks: tag policies against resource policies', () => {
  const DEFAULT = 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher';
  const hive = {
    name: 'hive',
    resources: [{ name: 'database', level: 1, matcher: DEFAULT }, { name: 'table', level: 2, parent: 'database', matcher: DEFAULT }, { name: 'column', level: 3, parent: 'table', matcher: DEFAULT }],
    accessTypes: [{ name: 'select' }],
    dataMaskDef: { resources: [{ name: 'database' }, { name: 'table', parent: 'database' }, { name: 'column', parent: 'table' }], maskTypes: [{ name: 'MASK' }, { name: 'SHUFFLE' }, { name: 'NONE' }] },
  };
  const tagDef = { name: 'tag', resources: [{ name: 'tag', level: 1, matcher: DEFAULT }], accessTypes: [{ name: 'hive:select' }], dataMaskDef: { resources: [{ name: 'tag' }], maskTypes: [{ name: 'MASK' }, { name: 'SHUFFLE' }] } };
  const col = { database: { values: ['employee'] }, table: { values: ['personal'] }, column: { values: ['ssn'] } };
  const { engine } = RangerPolicyEngine.create({
    serviceName: 'hive-1', serviceDef: hive,
    policies: [
      { id: 103, name: 'normal', policyType: 1, resources: col, dataMaskPolicyItems: [{ accesses: [{ type: 'select' }], users: ['user1'], dataMaskInfo: { dataMaskType: 'NONE' } }] },
      { id: 104, name: 'override', policyType: 1, policyPriority: 1, resources: col, dataMaskPolicyItems: [{ accesses: [{ type: 'select' }], users: ['user3'], dataMaskInfo: { dataMaskType: 'NONE' } }] },
    ],
    tagPolicies: { serviceName: 'tags', serviceDef: tagDef, policies: [{ id: 1, name: 'RESTRICTED', policyType: 1, resources: { tag: { values: ['RESTRICTED'] } }, dataMaskPolicyItems: [{ accesses: [{ type: 'hive:select' }], users: ['user1'], dataMaskInfo: { dataMaskType: 'MASK' } }, { accesses: [{ type: 'hive:select' }], users: ['user3'], dataMaskInfo: { dataMaskType: 'SHUFFLE' } }] }] },
  });
  const mask = (user: string) => engine.evalDataMask({ user, userGroups: [], resource: { database: 'employee', table: 'personal', column: 'ssn' }, accessType: 'select', tags: [{ type: 'RESTRICTED' }] });

  test('at the same priority the tag policy\'s mask stands', () => {
    expect(mask('user1')).toMatchObject({ maskType: 'MASK', policyId: 1 });
  });

  test('a higher-priority resource policy replaces it, and is the policy reported', () => {
    expect(mask('user3')).toMatchObject({ maskType: 'NONE', policyId: 104, policyPriority: 1 });
  });
});
