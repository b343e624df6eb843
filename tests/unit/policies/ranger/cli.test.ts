/** `themis-sidecar ranger test FILE...` as a real process. */
import { join } from 'node:path';
import { fromFixtures } from '../../../../sidecar/paths.ts';
import { runCli, tempFile } from '../../../support/process.ts';

const corpus = fromFixtures('ranger');

test('passing files: per-file and total counts, exit 0', async () => {
  const r = await runCli(['ranger', 'test', join(corpus, 'policyengine', 'test_policyengine_priority.json'), join(corpus, 'resourcematcher', 'test_resourcematcher_default.json')]);
  expect(r.stdout).toMatch(/test_policyengine_priority\.json: 5 passed, 0 failed/);
  expect(r.stdout).toMatch(/test_resourcematcher_default\.json: \d+ passed, 0 failed/);
  expect(r.stdout).toMatch(/^total: \d+ passed, 0 failed$/m);
  expect(r.code).toBe(0);
});

test('a failing expectation is named with expected and actual, exit 1', async () => {
  const file = tempFile('t.json', JSON.stringify({
    serviceName: 's',
    serviceDef: { name: 'x', resources: [{ name: 'path', matcher: 'org.apache.ranger.plugin.resourcematcher.RangerPathResourceMatcher' }], accessTypes: [{ name: 'read' }] },
    policies: [{ id: 1, resources: { path: { values: ['/a'], isRecursive: true } }, policyItems: [{ accesses: [{ type: 'read' }], users: ['u'] }] }],
    tests: [
      { name: 'right', request: { resource: { elements: { path: '/a/b' } }, accessType: 'read', user: 'u', userGroups: [] }, result: { isAllowed: true, isAudited: true, policyId: 1 } },
      { name: 'wrong on purpose', request: { resource: { elements: { path: '/b' } }, accessType: 'read', user: 'u', userGroups: [] }, result: { isAllowed: true, isAudited: true, policyId: 1 } },
    ],
  }));
  const r = await runCli(['ranger', 'test', file]);
  expect(r.stdout).toContain('t.json: 1 passed, 1 failed');
  expect(r.stdout).toContain('FAILED wrong on purpose [access]');
  expect(r.stdout).toContain('expected: {"isAllowed":true,"isAudited":true}');
  expect(r.stdout).toMatch(/actual: +\{"isAllowed":false,"isAudited":false\}/);
  expect(r.stdout).toContain('total: 1 passed, 1 failed');
  expect(r.code).toBe(1);
});

test('no file: usage, exit 1', async () => {
  const r = await runCli(['ranger', 'test']);
  expect(r.stderr).toContain('themis-sidecar ranger test FILE...');
  expect(r.code).toBe(1);
});
