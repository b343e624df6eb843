/**
 * Runs Ranger's own test files against this engine: the TestPolicyEngine
 * format (policyengine/*.json: a service, its policies, and requests with
 * expected access, audit, data-mask, row-filter and resource-access-info
 * results), TestDefaultPolicyResourceMatcher / TestResourceMatcher files
 * (resourcematcher/*.json, `#` comment lines allowed) and the validity
 * scheduler files. Used by `themis-sidecar ranger test` and by the
 * conformance test; returns one outcome per expectation.
 */
import { ConfigErrors } from '../../../sidecar/contracts/errors.ts';
import { parseLenientJson } from './audit-filter.ts';
import { RangerPolicyEngine, type RangerAccessRequest, type RangerTag } from './engine.ts';
import { JsonReader, readPolicyResources, readServiceDef, readValiditySchedule } from './model.ts';
import { createElementMatcher } from './path-matcher.ts';
import { PolicyResourceMatcher } from './policy-resource-matcher.ts';
import type { ElementMatchingScope } from './resource-matcher.ts';
import { ServiceDefHelper } from './service-def.ts';
import { isScheduleApplicable, zonedTime } from './validity-schedule.ts';
import { validateScheduleInto } from './validity-validator.ts';

/** One checked expectation. */
export interface CaseOutcome {
  readonly name: string;
  readonly ok: boolean;
  readonly expected: string;
  readonly actual: string;
}

/** The outcomes of one file (or why it could not run). */
export interface FileOutcome {
  readonly format: 'policyengine' | 'resourcematcher' | 'validityscheduler' | 'unknown';
  readonly cases: readonly CaseOutcome[];
  readonly error?: string;
  readonly warnings: readonly string[];
}

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Ranger test harness settings (TestPolicyEngine's ranger-admin-test-site.xml). */
const TRUSTED_PROXIES = new Set(['255.255.255.255', '128.101.101.101', '128.101.101.99']);
/** TestPolicyEngine runs with the JVM zone set to PST for time-dependent files. */
export const HARNESS_TIME_ZONE = 'America/Los_Angeles';

/** Strips Ranger's `#` comment lines and parses. */
export function parseTestJson(text: string): unknown {
  return JSON.parse(text.split('\n').map(stripComment).join('\n'));
}

/** A line without its `#` comment (a `#` outside a JSON string). */
function stripComment(line: string): string {
  let inStr = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

/** Runs a file of any supported format. */
export function runTestFile(json: unknown): FileOutcome {
  if (Array.isArray(json)) return runValiditySchedulerCases(json);
  const j = json as J;
  if (j && Array.isArray(j.testCases)) return runResourceMatcherCases(j);
  if (j && j.serviceDef && Array.isArray(j.tests)) return runPolicyEngineCases(j);
  return { format: 'unknown', cases: [], error: 'not a TestPolicyEngine, resource-matcher or validity-scheduler file (no tests/testCases)', warnings: [] };
}

/** "20180113-14:32:27.000-0800" (the harness's Gson date format) -> Date. */
export function parseHarnessDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const off = (m[8] === '-' ? -1 : 1) * (+m[9] * 60 + +m[10]);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]) - off * 60000);
}

function rolesJson(j: J): unknown {
  const roles = new Map<string, { name: string; users: { name: string }[]; groups: { name: string }[]; roles: { name: string }[] }>();
  const role = (n: string): { name: string; users: { name: string }[]; groups: { name: string }[]; roles: { name: string }[] } => {
    let r = roles.get(n);
    if (!r) roles.set(n, (r = { name: n, users: [], groups: [], roles: [] }));
    return r;
  };
  for (const [u, rs] of Object.entries((j.userRoles ?? {}) as Record<string, string[]>)) for (const r of rs) role(r).users.push({ name: u });
  for (const [g, rs] of Object.entries((j.groupRoles ?? {}) as Record<string, string[]>)) for (const r of rs) role(r).groups.push({ name: g });
  for (const [m, rs] of Object.entries((j.roleRoles ?? {}) as Record<string, string[]>)) for (const r of rs) role(r).roles.push({ name: m });
  return { rangerRoles: [...roles.values()] };
}

function servicePolicies(j: J, policies: unknown[], zones: unknown): J {
  const sp: J = { serviceName: j.serviceName, serviceDef: j.serviceDef, policies, policyVersion: 100, securityZones: zones, serviceConfig: j.serviceConfig, auditMode: j.auditMode };
  if (j.tagPolicyInfo) sp.tagPolicies = { serviceName: j.tagPolicyInfo.serviceName, serviceDef: j.tagPolicyInfo.serviceDef, policies: j.tagPolicyInfo.tagPolicies, serviceConfig: j.tagPolicyInfo.serviceConfig };
  return sp;
}

function applyDeltas(policies: J[], deltas: J[] | undefined): J[] {
  let out = [...policies];
  for (const d of deltas ?? []) {
    const p = d.policy as J | undefined;
    if (!p) continue;
    // RangerPolicyDelta: 0 = create, 1 = update, 2 = delete
    if (d.changeType === 0) out.push(p);
    else if (d.changeType === 1) out = out.map((x) => (x.id === p.id ? p : x));
    else if (d.changeType === 2) out = out.filter((x) => x.id !== p.id);
  }
  return out;
}

/** The request of one harness test. */
export function harnessRequest(t: J): RangerAccessRequest {
  const r = t.request as J;
  const ctx: Record<string, unknown> = { ...(r.context ?? {}) };
  let tags: RangerTag[] | undefined;
  if (typeof ctx.TAGS === 'string') {
    tags = (ctx.TAGS.trim() ? (parseLenientJson(ctx.TAGS) as J[]) : []).map((x) => ({ type: x.type, attributes: x.attributes ?? {}, matchType: x.matchType, validityPeriods: tagValidityPeriods(x) }));
    delete ctx.TAGS;
  }
  let requestedResources: Record<string, string>[] | undefined;
  if (typeof ctx.REQUESTED_RESOURCES === 'string' && ctx.REQUESTED_RESOURCES.trim()) {
    requestedResources = ((parseLenientJson(ctx.REQUESTED_RESOURCES) as J).requestedResources as J[]).map((x) => x.elements as Record<string, string>);
    delete ctx.REQUESTED_RESOURCES;
  }
  const remote: string | undefined = r.remoteIPAddress;
  const fwd: string[] | undefined = r.forwardedAddresses;
  const client: string | undefined = r.clientIPAddress ?? (fwd?.length && remote && TRUSTED_PROXIES.has(remote) ? fwd[fwd.length - 1] : remote);
  const ua = t.userAttributes as Record<string, Record<string, string>> | undefined;
  return {
    resource: (r.resource?.elements ?? {}) as Record<string, string>,
    resourceOwner: r.resource?.ownerUser,
    accessType: r.accessType ?? '',
    user: r.user,
    userGroups: r.userGroups ?? [],
    userRoles: r.userRoles,
    clientIPAddress: client,
    remoteIPAddress: remote,
    forwardedAddresses: fwd,
    accessTime: typeof r.accessTime === 'string' ? parseHarnessDate(r.accessTime) : undefined,
    action: r.action,
    requestData: r.requestData,
    context: ctx,
    resourceMatchingScope: r.resourceMatchingScope === 'SELF_OR_DESCENDANTS' ? 'SELF_OR_DESCENDANTS' : 'SELF',
    resourceElementMatchingScopes: r.resourceElementMatchingScopes as Record<string, ElementMatchingScope> | undefined,
    ignoreDescendantDeny: r.isDescendantDenyIgnored === undefined ? true : r.isDescendantDenyIgnored !== false,
    tags,
    requestedResources,
    userAttributes: ua?.[r.user],
    groupAttributes: t.groupAttributes,
    accessTypes: Array.isArray(ctx.ACCESSTYPES) ? (ctx.ACCESSTYPES as string[]) : undefined,
    anyOfAccessTypes: ctx.ISANYACCESS === true,
  };
}

/**
 * A harness tag's validity periods: `validityPeriods`, or (as RangerTagForEval reads them in
 * TestPolicyEngine) the JSON string of its `options.TAG_VALIDITY_PERIODS`.
 */
function tagValidityPeriods(tag: J): unknown[] | undefined {
  if (Array.isArray(tag.validityPeriods) && tag.validityPeriods.length) return tag.validityPeriods;
  const opt = tag.options?.TAG_VALIDITY_PERIODS;
  if (typeof opt !== 'string') return undefined;
  try {
    const v = parseLenientJson(opt);
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string {
  return JSON.stringify(v ?? null);
}

function runEngineTests(engine: RangerPolicyEngine, tests: J[], prefix: string): CaseOutcome[] {
  const out: CaseOutcome[] = [];
  for (const t of tests) {
    const name = `${prefix}${t.name}`;
    let req: RangerAccessRequest;
    try {
      req = harnessRequest(t);
    } catch (e) {
      out.push({ name, ok: false, expected: 'a runnable request', actual: `bad request: ${(e as Error).message}` });
      continue;
    }
    if (t.result) {
      const r = engine.isAccessAllowed(req);
      const exp = { isAllowed: t.result.isAllowed, isAudited: t.result.isAudited };
      const act = { isAllowed: r.isAllowed, isAudited: r.isAudited };
      out.push({ name: `${name} [access]`, ok: exp.isAllowed === act.isAllowed && exp.isAudited === act.isAudited, expected: str(exp), actual: `${str(act)} policyId=${r.policyId}` });
    }
    if (t.dataMaskResult) {
      const r = engine.evalDataMask(req);
      const info = t.dataMaskResult.additionalInfo ?? {};
      const exp = { maskType: info.maskType ?? null, maskCondition: info.maskCondition ?? null, maskedValue: info.maskedValue ?? null, policyId: t.dataMaskResult.policyId ?? -1 };
      const act = { maskType: r.maskType, maskCondition: r.maskCondition, maskedValue: r.maskedValue, policyId: r.policyId };
      out.push({ name: `${name} [datamask]`, ok: str(exp) === str(act), expected: str(exp), actual: str(act) });
    }
    if (t.rowFilterResult) {
      const r = engine.evalRowFilter(req);
      const info = t.rowFilterResult.additionalInfo ?? {};
      const exp = { filterExpr: info.filterExpr ?? null, policyId: t.rowFilterResult.policyId ?? -1 };
      const act = { filterExpr: r.filterExpr, policyId: r.policyId };
      out.push({ name: `${name} [rowfilter]`, ok: str(exp) === str(act), expected: str(exp), actual: str(act) });
    }
    if (t.resourceAccessInfo) {
      const r = engine.getResourceAccessInfo(req);
      const e = t.resourceAccessInfo as J;
      const exp = { allowedUsers: [...(e.allowedUsers ?? [])].sort(), allowedGroups: [...(e.allowedGroups ?? [])].sort(), deniedUsers: [...(e.deniedUsers ?? [])].sort(), deniedGroups: [...(e.deniedGroups ?? [])].sort() };
      out.push({ name: `${name} [resourceAccessInfo]`, ok: str(exp) === str(r), expected: str(exp), actual: str(r) });
    }
  }
  return out;
}

/** Runs a TestPolicyEngine file. */
export function runPolicyEngineCases(j: J): FileOutcome {
  const build = (policies: unknown[], zones: unknown): { engine: RangerPolicyEngine; warnings: string[] } => RangerPolicyEngine.create(servicePolicies(j, policies, zones), {
    roles: rolesJson(j),
    superUsers: j.superUsers, superGroups: j.superGroups,
    auditExcludedUsers: j.auditExcludedUsers, auditExcludedGroups: j.auditExcludedGroups, auditExcludedRoles: j.auditExcludedRoles,
    defaultTimeZone: HARNESS_TIME_ZONE,
    strictAccessTypes: false,
  });
  try {
    const { engine, warnings } = build(j.policies ?? [], j.securityZones);
    const cases = runEngineTests(engine, j.tests ?? [], '');
    if (j.updatedPolicies && j.updatedTests) {
      const updated = applyDeltas(j.policies ?? [], j.updatedPolicies.policyDeltas);
      const second = build(updated, j.updatedPolicies.securityZones ?? j.securityZones);
      cases.push(...runEngineTests(second.engine, j.updatedTests, 'updated: '));
    }
    return { format: 'policyengine', cases, warnings };
  } catch (e) {
    const msg = e instanceof ConfigErrors ? e.errors.map((x) => x.message).join('; ') : (e as Error).message;
    return { format: 'policyengine', cases: [], error: `engine refused the policies: ${msg}`, warnings: [] };
  }
}

/** Runs a resource-matcher file (TestDefaultPolicyResourceMatcher or TestResourceMatcher format). */
export function runResourceMatcherCases(j: J): FileOutcome {
  const out: CaseOutcome[] = [];
  const r = new JsonReader();
  const sd = j.serviceDef ? readServiceDef(r, j.serviceDef, 'serviceDef') : undefined;
  const helper = sd ? new ServiceDefHelper(sd) : undefined;
  for (const tc of j.testCases as J[]) {
    if (helper && tc.policyResources) {
      const m = new PolicyResourceMatcher(helper, 0, readPolicyResources(r, tc.policyResources, 'policyResources'));
      for (const t of tc.tests as J[]) {
        const env = envFrom(t.evalContext, t.resource?.ownerUser);
        const res = (t.resource?.elements ?? {}) as Record<string, string>;
        let act: boolean;
        {
          const mt = m.getMatchType(res, undefined, env);
          act = t.type === 'exactMatch' || t.type === 'selfMatch' ? mt === 'SELF' || mt === 'SELF_AND_ALL_DESCENDANTS'
            : t.type === 'selfAndAllDescendants' ? mt === 'SELF_AND_ALL_DESCENDANTS' || mt === 'DESCENDANT'
            : t.type === 'descendantMatch' ? mt === 'DESCENDANT'
            : t.type === 'ancestorMatch' ? mt === 'ANCESTOR'
            : t.type === 'selfOrDescendantMatch' ? mt === 'SELF' || mt === 'SELF_AND_ALL_DESCENDANTS' || mt === 'DESCENDANT'
            : t.type === 'selfOrAncestorMatch' ? mt === 'SELF' || mt === 'SELF_AND_ALL_DESCENDANTS' || mt === 'ANCESTOR'
            : mt !== 'NONE';
        }
        out.push({ name: `${tc.name} / ${t.name} (${t.type})`, ok: act === t.result, expected: String(t.result), actual: String(act) });
      }
    } else if (tc.resourceDef) {
      const def = readServiceDef(r, { name: 'x', resources: [{ name: 'r', ...tc.resourceDef }] }, 'resourceDef')!.resources[0];
      const pr = readPolicyResources(r, { r: tc.policyResource }, 'policyResource').r;
      const m = createElementMatcher(def, pr);
      for (const t of tc.tests as J[]) {
        const act = m.isMatch(t.input, 'SELF', envFrom(t.evalContext, undefined));
        out.push({ name: `${tc.name} / ${t.name} input=${str(t.input)}`, ok: act === t.result, expected: String(t.result), actual: String(act) });
      }
    }
  }
  return { format: 'resourcematcher', cases: out, warnings: r.errors.map((e) => e.message) };
}

function envFrom(ctx: Record<string, unknown> | undefined, owner: string | undefined): { token(name: string): unknown } {
  const c = ctx ?? {};
  return { token: (name: string) => (Object.hasOwn(c, `token:${name}`) ? c[`token:${name}`] : name === 'OWNER' ? owner : undefined) };
}

/** Runs a validity-scheduler file (a list of schedules, an access time, validity and applicability). */
export function runValiditySchedulerCases(list: J[]): FileOutcome {
  const out: CaseOutcome[] = [];
  for (const tc of list) {
    const r = new JsonReader();
    const failures: string[] = [];
    let valid = true;
    const schedules = [];
    for (const [i, s] of (tc.validitySchedules as J[]).entries()) {
      const parsed = readValiditySchedule(r, s, `validitySchedules[${i}]`);
      if (!parsed) failures.push('unreadable');
      // as the Java harness: one failure list for all schedules of a case
      const ok = parsed !== undefined && validateScheduleInto(parsed, HARNESS_TIME_ZONE, failures);
      valid &&= ok;
      if (valid && parsed) schedules.push(parsed);
    }
    const at = parseHarnessDate(tc.accessTime)?.getTime() ?? zonedTime(1970, 1, 1, 0, 0, 0, 'UTC');
    const applicable = valid && schedules.some((s) => isScheduleApplicable(s, at, HARNESS_TIME_ZONE));
    const exp = { isValid: tc.result.isValid, isApplicable: tc.result.isApplicable, validationFailureCount: tc.result.validationFailureCount };
    const act = { isValid: valid, isApplicable: applicable, validationFailureCount: failures.length };
    out.push({ name: tc.name, ok: str(exp) === str(act), expected: str(exp), actual: `${str(act)}${failures.length ? ` (${failures.join('; ')})` : ''}` });
  }
  return { format: 'validityscheduler', cases: out, warnings: [] };
}
