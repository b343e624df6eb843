/**
 * Resource matching as Ranger's RangerDefaultResourceMatcher and
 * RangerPathResourceMatcher: options and their defaults, wildcards, tokens,
 * quoted values, excludes, recursion; RangerURLResourceMatcher; and
 * policy-level match types.
 */
import type { ResourceDef } from '../../../../policies/ranger/engine/model.ts';
import { createElementMatcher } from '../../../../policies/ranger/engine/path-matcher.ts';
import { PolicyResourceMatcher } from '../../../../policies/ranger/engine/policy-resource-matcher.ts';
import { ServiceDefHelper } from '../../../../policies/ranger/engine/service-def.ts';
import { wildcardMatch } from '../../../../policies/ranger/engine/wildcard.ts';

const DEFAULT = 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher';
const PATH = 'org.apache.ranger.plugin.resourcematcher.RangerPathResourceMatcher';
const URL = 'org.apache.ranger.plugin.resourcematcher.RangerURLResourceMatcher';

function def(name: string, matcher: string, matcherOptions: Record<string, string> = {}, parent = ''): ResourceDef {
  return { name, type: 'string', level: 1, parent, mandatory: true, matcher, matcherOptions, recursiveSupported: true, excludesSupported: true, isValidLeaf: undefined };
}
const env = { token: (n: string) => (n === 'USER' ? 'bob' : undefined) };

test('wildcardMatch is FilenameUtils.wildcardMatch', () => {
  expect(wildcardMatch('abc', 'a*c')).toBe(true);
  expect(wildcardMatch('ac', 'a*c')).toBe(true);
  expect(wildcardMatch('abc', 'a?c')).toBe(true);
  expect(wildcardMatch('abbc', 'a?c')).toBe(false);
  expect(wildcardMatch('a'.repeat(5000), '*a*a*a*a*b')).toBe(false);
});

test('defaults: wildCard=true, ignoreCase=true', () => {
  const m = createElementMatcher(def('db', DEFAULT), { values: ['Fin*'], isExcludes: false, isRecursive: false });
  expect(m.isMatch('finance', 'SELF', env)).toBe(true);
  expect(m.isMatch('hr', 'SELF', env)).toBe(false);
});

test('wildCard=false and ignoreCase=false compare literally', () => {
  const m = createElementMatcher(def('db', DEFAULT, { wildCard: 'false', ignoreCase: 'false' }), { values: ['Fin*'], isExcludes: false, isRecursive: false });
  expect(m.isMatch('Fin*', 'SELF', env)).toBe(true);
  expect(m.isMatch('fin*', 'SELF', env)).toBe(false);
  expect(m.isMatch('Finance', 'SELF', env)).toBe(false);
});

test('* or no value matches anything; excludes flips', () => {
  expect(createElementMatcher(def('db', DEFAULT), { values: ['*'], isExcludes: false, isRecursive: false }).isMatchAny).toBe(true);
  const ex = createElementMatcher(def('db', DEFAULT), { values: ['tmp'], isExcludes: true, isRecursive: false });
  expect(ex.isMatch('tmp', 'SELF', env)).toBe(false);
  expect(ex.isMatch('prod', 'SELF', env)).toBe(true);
  expect(ex.isMatch(undefined, 'SELF', env)).toBe(false);
});

test('{USER} is replaced; unknown tokens stay as written', () => {
  const m = createElementMatcher(def('p', PATH), { values: ['/home/{USER}', '/x/{NOPE}'], isExcludes: false, isRecursive: true });
  expect(m.isMatch('/home/bob/file', 'SELF', env)).toBe(true);
  expect(m.isMatch('/home/alice', 'SELF', env)).toBe(false);
  expect(m.isMatch('/x/{NOPE}', 'SELF', env)).toBe(true);
});

test('quotedCaseSensitive: quoted resource values compare case-sensitively', () => {
  const m = createElementMatcher(def('db', DEFAULT, { quotedCaseSensitive: 'true' }), { values: ['"TestDb"'], isExcludes: false, isRecursive: false });
  expect(m.isMatch('"TestDb"', 'SELF', env)).toBe(true);
  expect(m.isMatch('"testdb"', 'SELF', env)).toBe(false);
});

test('recursive path values cover their subtree only at separators', () => {
  const m = createElementMatcher(def('p', PATH), { values: ['/a/b'], isExcludes: false, isRecursive: true });
  expect(m.isMatch('/a/b', 'SELF', env)).toBe(true);
  expect(m.isMatch('/a/b/c', 'SELF', env)).toBe(true);
  expect(m.isMatch('/a/bc', 'SELF', env)).toBe(false);
  const nr = createElementMatcher(def('p', PATH), { values: ['/a/b'], isExcludes: false, isRecursive: false });
  expect(nr.isMatch('/a/b/c', 'SELF', env)).toBe(false);
  expect(nr.isMatch('/a', 'SELF_OR_CHILD', env)).toBe(true);
  expect(nr.isMatch('/a', 'SELF_OR_PREFIX', env)).toBe(true);
});

test('policy match types along the hive hierarchy', () => {
  const helper = new ServiceDefHelper({
    name: 'hive', resources: [def('database', DEFAULT), def('table', DEFAULT, {}, 'database'), def('column', DEFAULT, {}, 'table')],
    accessTypes: [{ name: 'select', impliedGrants: [] }], markerAccessTypes: [], policyConditions: [], contextEnrichers: [],
    dataMaskDef: { resources: [], accessTypes: [] }, rowFilterDef: { resources: [], accessTypes: [] }, options: {},
  });
  const r = (v: string[]) => ({ values: v, isExcludes: false, isRecursive: false });
  const tbl = new PolicyResourceMatcher(helper, 0, { database: r(['db']), table: r(['t']), column: r(['*']) });
  expect(tbl.getMatchType({ database: 'db', table: 't' }, undefined, env)).toBe('SELF_AND_ALL_DESCENDANTS');
  expect(tbl.getMatchType({ database: 'db', table: 't', column: 'c' }, undefined, env)).toBe('SELF');
  expect(tbl.getMatchType({ database: 'db' }, undefined, env)).toBe('DESCENDANT');
  expect(tbl.getMatchType({ database: 'other' }, undefined, env)).toBe('NONE');
  const db = new PolicyResourceMatcher(helper, 0, { database: r(['db']) });
  expect(db.getMatchType({ database: 'db', table: 't' }, undefined, env)).toBe('ANCESTOR');
  const gap = new PolicyResourceMatcher(helper, 0, { database: r(['db']), column: r(['c']) });
  expect(gap.error).toMatch(/gap/);
  expect(gap.getMatchType({ database: 'db', table: 't', column: 'c' }, undefined, env)).toBe('NONE');
});

test('a recursive path value ending in the separator matches exactly that path, not the path without it', () => {
  const m = createElementMatcher(def('path', PATH), { values: ['/home/'], isExcludes: false, isRecursive: true });
  expect(m.isMatch('/home/', 'SELF', env)).toBe(true);
  expect(m.isMatch('/home/a.txt', 'SELF', env)).toBe(true);
  expect(m.isMatch('/home', 'SELF', env)).toBe(false);
  expect(m.isMatch('/homework/', 'SELF', env)).toBe(false);
});

test('RangerURLResourceMatcher: recursive wildcards keep the scheme; a trailing / is significant', () => {
  const m = createElementMatcher(def('url', URL), { values: ['http://bucket/dir/sub/'], isExcludes: false, isRecursive: true });
  expect(m.isMatch('http://bucket/dir/sub/', 'SELF', env)).toBe(true);
  expect(m.isMatch('http://bucket/dir/sub/file', 'SELF', env)).toBe(true);
  expect(m.isMatch('HTTP://bucket/dir/sub/file', 'SELF', env)).toBe(true);
  expect(m.isMatch('http://bucket/dir/sub', 'SELF', env)).toBe(false);
  // a list of requested values: any may match
  expect(m.isMatch(['http://bucket/dir/sub', 'http://bucket/dir/sub/'], 'SELF', env)).toBe(true);
  // not a URL (no scheme://, or scheme:///): no recursive wildcard match
  expect(m.isMatch('/bucket/dir/sub/file', 'SELF', env)).toBe(false);
  expect(m.isMatch('http:///bucket/dir/sub/file', 'SELF', env)).toBe(false);
  // as a plain path the scheme's // would be lost
  const asPath = createElementMatcher(def('url', PATH), { values: ['http://bucket/dir/sub/'], isExcludes: false, isRecursive: true });
  expect(asPath.isMatch('http://bucket/dir/sub/file', 'SELF', env)).toBe(false);
});

test('RangerURLResourceMatcher: recursive values without wildcards cover their subtree at separators', () => {
  const m = createElementMatcher(def('url', URL, { wildCard: 'false' }), { values: ['s3a://bucket/demo'], isExcludes: false, isRecursive: true });
  expect(m.isMatch('s3a://bucket/demo', 'SELF', env)).toBe(true);
  expect(m.isMatch('s3a://bucket/demo/x', 'SELF', env)).toBe(true);
  expect(m.isMatch('s3a://bucket/demolition', 'SELF', env)).toBe(false);
});
