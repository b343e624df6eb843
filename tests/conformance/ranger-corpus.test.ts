/**
 * Apache Ranger's own policy-engine test corpus (../shared/fixtures/ranger:
 * policyengine/, resourcematcher/, validityscheduler/) against our engine,
 * one jest case per file with every failed expectation named in the message.
 * Expectations we do not meet are listed below, each with its reason; the
 * list is checked exactly: a listed case that starts passing, or a case that
 * is not listed and fails, fails this test (update the list and
 * docs/compatibility.md together).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTestJson, runTestFile } from '../../policies/ranger/engine/conformance.ts';
import { RangerPolicyEngine } from '../../policies/ranger/engine/engine.ts';
import { fromFixtures } from '../../sidecar/paths.ts';

const corpus = fromFixtures('ranger');
const dirs = ['policyengine', 'resourcematcher', 'validityscheduler'];

/** Files that are not test files (ServicePolicies download payloads, a deltas-only format). */
const NOT_TEST_FILES: Readonly<Record<string, string>> = {
  'policyengine/hbase-test-policies.json': 'a ServicePolicies download payload, no tests (loaded by the engine test below)',
  'policyengine/updated-hbase-test-policies.json': 'a ServicePolicies delta payload, no tests',
  'policyengine/test_policyengine_hdfs_incremental_delete.json': "TestPolicyEngineForDeltas format ('testsInfo'): checks trie internals after deltas, no access expectations",
};

const DEFERRED: readonly { file: string; reason: string; cases: readonly string[] }[] = [
  {
    file: "policyengine/test_policyengine_aws_s3.json",
    reason: "tag-based: the resource tags come from RangerFileBasedTagRetriever file /policyengine/aws_s3_tags.json, which is not in the fixtures",
    cases: [
      "Verify user3 has read access to some objects under s3://mycompany/pii [access]",
      "Verify user3 has no write access to any object under s3://mycompany/pii [access]",
      "Verify user3 has no read access to any object under s3://mycompany/vendor/pii [access]",
      "Verify user4 has read access to some objects under s3://mycompany/vendor [access]",
      "Verify user4 has read access to some objects under s3://mycompany/vendor/pii [access]",
      "Verify user4 has read access to some objects under s3://mycompany/vendor/pii/test [access]",
      "Verify user4 has no read access to any object under s3://mycompany/pii [access]",
      "Verify user4 has no write access to any object under s3://mycompany/pii [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_descendant_tags.json",
    reason: "tag-based: resource tags come from /policyengine/descendant_tags.json (RangerFileBasedTagRetriever), not in the fixtures",
    cases: [
      "DENY 'use employee;' for user1 using RESTRICTED tag [access]",
      "ALLOW 'use finance.tax_2016.ssn;' for user1 using PII tag [access]",
      "DENY 'use finance.tax_2016.name;' for user1 using RESTRICTED tag [access]",
      "DENY 'select finance.tax_2016.ssn;' for hive using PII tag [access]",
      "ALLOW 'use finance;' for hive using PII and RESTRICTED tags [access]",
      "DENY 'use default;' for user2 using PII tag [access]",
      "DENY 'use default.table1.name;' for user2 using PII tag [access]",
      "ALLOW 'use default;' for user using EXPIRES_ON tag [access]",
      "DENY 'use default;' for hive [access]",
      "DENY 'use default.table2;' for hive [access]",
      "ALLOW 'select default.table2;' for user1 [access]",
      "ALLOW 'show databases;' for user [access]",
      "DENY 'show databases;' for hive [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_descendant_tags_deny.json",
    reason: "tag-based: resource tags come from a RangerFileBasedTagRetriever file that is not in the fixtures",
    cases: [
      "DENY 'select name from finance.tax_2016;' for user2 [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_geo.json",
    reason: "needs RangerFileBasedGeolocationProvider and its data files /etc/ranger/geo/geo*.txt, which are not in the fixtures",
    cases: [
      "ALLOW 'read /finance/restricted/sales.db' for g=finance; valid clientIPAddress [access]",
      "ALLOW 'read /finance/restricted/hr/payroll.db' for g=finance [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_hdfs.json",
    reason: "script reads LOCATION_TEST_COUNTRY_CODE set by RangerFileBasedGeolocationProvider from /etc/ranger/geo/geo.txt, not in the fixtures",
    cases: [
      "ALLOW 'read /finance/restricted/sales.db' for g=finance; valid clientIPAddress [access]",
      "ALLOW 'read /finance/restricted/hr/payroll.db' for g=finance [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_hdfs_allaudit.json",
    reason: "script reads LOCATION_TEST_COUNTRY_CODE set by RangerFileBasedGeolocationProvider from /etc/ranger/geo/geo.txt, not in the fixtures",
    cases: [
      "ALLOW 'read /finance/restricted/sales.db' for g=finance; valid clientIPAddress [access]",
      "ALLOW 'read /finance/restricted/hr/payroll.db' for g=finance [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_hdfs_noaudit.json",
    reason: "script reads LOCATION_TEST_COUNTRY_CODE set by RangerFileBasedGeolocationProvider from /etc/ranger/geo/geo.txt, not in the fixtures",
    cases: [
      "ALLOW 'read /finance/restricted/sales.db' for g=finance; valid clientIPAddress [access]",
      "ALLOW 'read /finance/restricted/hr/payroll.db' for g=finance [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_resource_hierarchy_tags.json",
    reason: "tag-based: resource tags come from a RangerFileBasedTagRetriever file that is not in the fixtures",
    cases: [
      "table: db1.tbl1, user=test-user [access]",
      "table: db1.tbl1, user=test-user [datamask]",
      "column: db1.tbl1.SSN, user=test-user [access]",
      "column: db1.tbl1.SSN, user=test-user [datamask]",
      "column: db1.tbl1.Age, user=test-user [access]",
      "column: db1.tbl1.Age, user=test-user [datamask]",
      "column: db1.tbl1.Name, user=test-user [access]",
      "column: db1.tbl1.Name, user=test-user [datamask]",
      "database: db2, user=test-user [access]",
      "database: db2, user=test-user [datamask]",
      "table: db2.tbl1, user=test-user [access]",
      "table: db2.tbl1, user=test-user [datamask]",
      "column: db2.tbl1.Name, user=test-user [access]",
      "column: db2.tbl1.Name, user=test-user [datamask]",
      "database: order [access]",
      "table: order.customer [access]",
      "table: order.customer [datamask]",
      "table: order.customer [access]",
      "column: order.customer.address [access]",
      "column: order.customer.address [datamask]",
      "column: order.customer.address [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_tag_hbase.json",
    reason: "tag-based: resource tags come from /policyengine/hbaseTags.json (RangerFileBasedTagRetriever), not in the fixtures",
    cases: [
      "ALLOW 'scan finance.professional; with resourceMatchingScope=SELF_OR_DESCENDANTS' for hrt_12 [access]",
      "ALLOW 'scan finance.professional.ssn;' for hrt_12 [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_tag_hive_filebased.json",
    reason: "tag-based: resource tags come from a RangerFileBasedTagRetriever file that is not in the fixtures",
    cases: [
      "DENY 'select from employee.personal;' for user1 using EXPIRES_ON tag with isDescendantDenyIgnored=false [access]",
      "DENY 'use employee;' for user1 using EXPIRES_ON tag with isDescendantDenyIgnored=false [access]",
      "DENY 'select id from employee.personal;' for user1 using EXPIRES_ON tag [access]",
      "DENY 'select salary from employee.personal;' for user1 using EXPIRES_ON tag [access]",
      "DENY 'select address from employee.personal;' for user2 using RESTRICTED-FINAL tag [access]",
      "DENY 'select address from employee.personal;' for user3, owner=user2, using RESTRICTED-FINAL tag [access]",
      "DENY 'desc default.table2;' for user1 using PII-FINAL tag [access]",
      "DENY 'use default;' for user1 using PII, PII-FINAL tags [access]",
    ],
  },
  {
    file: "policyengine/test_policyengine_tag_hive_for_show_databases.json",
    reason: "tag-based: resource tags come from a RangerFileBasedTagRetriever file that is not in the fixtures",
    cases: [
      "DENY 'select ssn from employee.personal;' for hive [access]",
      "DENY 'use vendors;' for hive [access]",
    ],
  },
  {
    file: "resourcematcher/test_defaultpolicyresourcematcher_for_hdfs_policy.json",
    reason: "not an access decision: matches a policy against a policy (RangerPolicyResourceMatcher.isMatch(RangerPolicy, scope), an Admin search API)",
    cases: [
      "path=/finance/tax/refund / Exact match for 'path=/finance/tax/refund' policy (exactMatch)",
      "path=/finance/tax/* / Self or Ancestor match for 'path=/finance/tax/refund' policy (selfOrAncestorMatch)",
      "path=/finance* / Exact match for 'path=/finance/tax/refund' policy (exactMatch)",
    ],
  },
  {
    file: "resourcematcher/test_defaultpolicyresourcematcher_for_hive_policy.json",
    reason: "not an access decision: matches a policy against a policy (RangerPolicyResourceMatcher.isMatch(RangerPolicy, scope), an Admin search API)",
    cases: [
      "database=*:table=*:column:demo / Exact match for 'tmp:*:demo' policy (exactMatch)",
      "database=finance:table=tax:column:refund / Exact match for 'finance,hr,tmp*:tax,employee,tmp*:refund,salary,tmp*' policy (exactMatch)",
      "database=finance:table=tax:column:refund / No match for '*:*:*' policy (anyMatch)",
      "database=hr:table=*:column=refund / Exact match for 'finance,hr,tmp*:tax,employee,tmp*:refund,salary,tmp*' policy (exactMatch)",
      "database=hr:table=*:column=refund / No match for 'finance,tmp*:tax,employee,tmp*:refund,salary,tmp*' policy (anyMatch)",
      "database=hr:table=*:column=* / Exact match for 'finance,hr,tmp*:tax,employee,tmp*:refund,salary,tmp*' policy (exactMatch)",
      "database=hr:table=*:column=* / Exact match for 'finance,hr,tmp*:*,employee,tmp*:*,salary,tmp*' policy (exactMatch)",
      "database=hr:table=*:column=* / No match for 'finance,hr,tmp*::refund,salary,tmp*' policy (anyMatch)",
    ],
  },
];

const deferredByFile = new Map(DEFERRED.map((d) => [d.file, d]));

const files = dirs.flatMap((d) => readdirSync(join(corpus, d)).filter((f) => f.endsWith('.json')).sort().map((f) => `${d}/${f}`));

test('the corpus is all there', () => {
  expect(files.length).toBeGreaterThanOrEqual(55);
});

describe.each(files)('%s', (file) => {
  test('every expectation holds, except the listed deferred ones', () => {
    const outcome = runTestFile(parseTestJson(readFileSync(join(corpus, file), 'utf8')));
    if (NOT_TEST_FILES[file]) {
      expect(outcome.cases).toHaveLength(0);
      return;
    }
    expect(outcome.error).toBeUndefined();
    expect(outcome.cases.length).toBeGreaterThan(0);
    const deferred = new Set(deferredByFile.get(file)?.cases ?? []);
    const unexpected = outcome.cases.filter((c) => !c.ok && !deferred.has(c.name)).map((c) => `FAILED ${c.name}\n  expected: ${c.expected}\n  actual:   ${c.actual}`);
    const nowPassing = outcome.cases.filter((c) => c.ok && deferred.has(c.name)).map((c) => `now passes (remove from DEFERRED): ${c.name}`);
    const missing = [...deferred].filter((n) => !outcome.cases.some((c) => c.name === n)).map((n) => `listed but not run: ${n}`);
    expect([...unexpected, ...nowPassing, ...missing].join('\n')).toBe('');
  });
});

test('the ServicePolicies download payloads build an engine', () => {
  const sp = JSON.parse(readFileSync(join(corpus, 'policyengine', 'hbase-test-policies.json'), 'utf8'));
  const { engine } = RangerPolicyEngine.create(sp, { strictAccessTypes: false });
  expect(engine.serviceName).toBe(sp.serviceName);
  expect(engine.policyVersion).toBe(sp.policyVersion);
});
