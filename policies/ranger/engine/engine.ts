/**
 * The Apache Ranger policy engine (RangerPolicyEngineImpl): built once from a
 * ServicePolicies download (service definition, policies, tag policies,
 * security zones, service config) and a roles download, then answers access,
 * data-mask and row-filter questions synchronously. Order of evaluation, as
 * Ranger: super users and groups are allowed; tag policies (for the request's
 * tags) decide first; resource policies of the request's security zone may
 * then override by priority; what no policy allows is denied. Audit: the
 * service's auditMode, isAuditEnabled of matched policies, excluded users,
 * groups and roles, and the audit filters of the service config.
 */
import { ConfigError, ConfigErrors } from '../../../sidecar/contracts/errors.ts';
import { AuditFilter, readAuditFilters } from './audit-filter.ts';
import { JsonReader, POLICY_TYPE_ACCESS, POLICY_TYPE_DATAMASK, POLICY_TYPE_ROWFILTER, readPolicy, readServiceDef, type Policy, type ServiceDef } from './model.ts';
import type { EvalState, PolicyEvaluator } from './policy-evaluator.ts';
import type { MatchType } from './policy-resource-matcher.ts';
import { PolicyRepository } from './repository.ts';
import { ResultBuilder, type EvalRequest, type RangerAccessRequest, type RangerAccessResult, type RangerDataMaskResult, type RangerRowFilterResult, type RangerTag } from './request.ts';
import { RoleTable } from './roles.ts';
import { evaluateExpression } from './conditions/script-condition.ts';
import { parseScript } from './script-parser.ts';
import { normalizeTagServiceDef, ServiceDefHelper, stripComponent } from './service-def.ts';
import { isTagApplicable } from './validity-schedule.ts';
import { readZones, type SecurityZone } from './zones.ts';

export type { RangerAccessRequest, RangerAccessResult, RangerDataMaskResult, RangerRowFilterResult, RangerTag } from './request.ts';

/** Options of RangerPolicyEngine.create. */
export interface RangerEngineOptions {
  /** A RangerRoles JSON (the /service/roles/download payload). */
  readonly roles?: unknown;
  readonly superUsers?: readonly string[];
  readonly superGroups?: readonly string[];
  readonly auditExcludedUsers?: readonly string[];
  readonly auditExcludedGroups?: readonly string[];
  readonly auditExcludedRoles?: readonly string[];
  /** Replaces the download's serviceDef. */
  readonly serviceDefOverride?: unknown;
  /** IANA zone for validity schedules without one (Ranger uses the JVM's default zone). */
  readonly defaultTimeZone?: string;
  /**
   * An access type the service definition does not define is a ConfigError (default true).
   * false: as Ranger, the access is ignored (and reported in warnings).
   */
  readonly strictAccessTypes?: boolean;
}

/** Users/groups allowed or denied an access on a resource (RangerResourceAccessInfo). */
export interface RangerResourceAccessInfo {
  readonly allowedUsers: readonly string[];
  readonly allowedGroups: readonly string[];
  readonly deniedUsers: readonly string[];
  readonly deniedGroups: readonly string[];
}

type AuditMode = 'audit-all' | 'audit-none' | 'audit-default';

const SUPER_USER_ACCESS = '_super_user';
const NO_ROLES: ReadonlySet<string> = new Set();

function csv(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** A Ranger policy engine for one service. Immutable once built. */
export class RangerPolicyEngine {
  readonly serviceName: string;
  readonly policyVersion: number | undefined;
  readonly serviceDef: ServiceDef;
  readonly #helper: ServiceDefHelper;
  readonly #repo: PolicyRepository;
  readonly #zoneRepos: ReadonlyMap<string, PolicyRepository>;
  readonly #zones: readonly SecurityZone[];
  readonly #tagRepo: PolicyRepository | undefined;
  readonly #roles: RoleTable;
  readonly #superUsers: ReadonlySet<string>;
  readonly #superGroups: ReadonlySet<string>;
  readonly #auditUsers: ReadonlySet<string>;
  readonly #auditGroups: ReadonlySet<string>;
  readonly #auditRoles: ReadonlySet<string>;
  readonly #auditMode: AuditMode;
  readonly #auditFilters: readonly AuditFilter[];
  readonly #tagAuditFilters: readonly AuditFilter[];
  readonly #hasPolicies: boolean;
  /** Zone of validity schedules and temporary tags without their own. */
  readonly #defaultZone: string;

  private constructor(init: {
    serviceName: string; policyVersion: number | undefined; serviceDef: ServiceDef; helper: ServiceDefHelper; repo: PolicyRepository;
    zoneRepos: Map<string, PolicyRepository>; zones: SecurityZone[]; tagRepo: PolicyRepository | undefined; roles: RoleTable;
    superUsers: Set<string>; superGroups: Set<string>; auditUsers: Set<string>; auditGroups: Set<string>; auditRoles: Set<string>;
    auditMode: AuditMode; auditFilters: AuditFilter[]; tagAuditFilters: AuditFilter[]; hasPolicies: boolean; defaultZone: string;
  }) {
    this.serviceName = init.serviceName;
    this.policyVersion = init.policyVersion;
    this.serviceDef = init.serviceDef;
    this.#helper = init.helper;
    this.#repo = init.repo;
    this.#zoneRepos = init.zoneRepos;
    this.#zones = init.zones;
    this.#tagRepo = init.tagRepo;
    this.#roles = init.roles;
    this.#superUsers = init.superUsers;
    this.#superGroups = init.superGroups;
    this.#auditUsers = init.auditUsers;
    this.#auditGroups = init.auditGroups;
    this.#auditRoles = init.auditRoles;
    this.#auditMode = init.auditMode;
    this.#auditFilters = init.auditFilters;
    this.#tagAuditFilters = init.tagAuditFilters;
    this.#hasPolicies = init.hasPolicies;
    this.#defaultZone = init.defaultZone;
  }

  /**
   * Builds an engine from a ServicePolicies JSON and an optional RangerRoles JSON.
   * Throws ConfigErrors with every reason for malformed input; conditions that
   * cannot be evaluated (they fail closed) and other tolerated oddities are `warnings`.
   */
  static create(servicePolicies: unknown, opts: RangerEngineOptions = {}): { engine: RangerPolicyEngine; warnings: string[] } {
    const r = new JsonReader();
    const warnings: string[] = [];
    const warn = (m: string): void => void warnings.push(m);
    const sp = r.obj(servicePolicies, '', true);
    if (!sp) throw new ConfigErrors(r.errors.length ? r.errors : [new ConfigError('', 'ServicePolicies must be a JSON object')]);
    const serviceName = r.str(sp.serviceName, 'serviceName');
    if (!serviceName) r.fail('serviceName', 'is required');
    const policyVersion = sp.policyVersion === undefined || sp.policyVersion === null ? undefined : r.num(sp.policyVersion, 'policyVersion', 0);
    const serviceDef = opts.serviceDefOverride !== undefined ? readServiceDef(r, opts.serviceDefOverride, 'serviceDefOverride') : readServiceDef(r, sp.serviceDef, 'serviceDef');
    const policies = r.arr(sp.policies, 'policies').map((p, i) => readPolicy(r, p, `policies[${i}]`));
    const cfg = r.options(sp.serviceConfig, 'serviceConfig');
    const modeRaw = r.str(sp.auditMode, 'auditMode', 'audit-default').toLowerCase();
    const auditMode: AuditMode = modeRaw === 'audit-all' || modeRaw === 'audit-none' ? modeRaw : 'audit-default';
    const tp = r.obj(sp.tagPolicies, 'tagPolicies');
    const errors: ConfigError[] = [];
    if (!serviceDef) {
      throw new ConfigErrors([...r.errors, ...errors]);
    }
    const zoneDefault = opts.defaultTimeZone ?? 'UTC';
    const helper = new ServiceDefHelper(serviceDef);
    const valid = policies.filter((p): p is Policy => p !== undefined);
    const strict = opts.strictAccessTypes ?? true;
    checkAccessTypes(helper, valid, (i) => `policies[${i}]`, strict ? errors : null, warn);
    const repo = new PolicyRepository(helper, valid, (i) => `policies[${i}]`, errors, warn, zoneDefault);

    const zones = readZones(r, sp.securityZones, helper);
    const zoneRepos = new Map<string, PolicyRepository>();
    for (const z of zones) {
      checkAccessTypes(helper, z.policies, (i) => `securityZones.${z.name}.policies[${i}]`, strict ? errors : null, warn);
      zoneRepos.set(z.name, new PolicyRepository(helper, z.policies, (i) => `securityZones.${z.name}.policies[${i}]`, errors, warn, zoneDefault));
    }

    let tagRepo: PolicyRepository | undefined;
    let tagAuditFilters: AuditFilter[] = [];
    if (tp) {
      const tagDefRaw = readServiceDef(r, tp.serviceDef, 'tagPolicies.serviceDef');
      const tagPolicies = r.arr(tp.policies, 'tagPolicies.policies').map((p, i) => readPolicy(r, p, `tagPolicies.policies[${i}]`)).filter((p): p is Policy => p !== undefined);
      if (tagDefRaw) {
        const tagDef = normalizeTagServiceDef(tagDefRaw, serviceDef.name);
        const tagHelper = new ServiceDefHelper(tagDef);
        const normalized = tagPolicies.map((p) => normalizeTagPolicy(p, serviceDef.name));
        tagRepo = new PolicyRepository(tagHelper, normalized, (i) => `tagPolicies.policies[${i}]`, errors, warn, zoneDefault);
        tagAuditFilters = readAuditFilters(tagHelper, r.options(tp.serviceConfig, 'tagPolicies.serviceConfig')['ranger.plugin.audit.filters'], warn);
      }
    }

    const roleErrors: ConfigError[] = [];
    const roles = opts.roles === undefined || opts.roles === null ? new RoleTable() : RoleTable.read(opts.roles, roleErrors);
    const all = [...r.errors, ...errors, ...roleErrors];
    if (all.length) throw new ConfigErrors(all);

    const engine = new RangerPolicyEngine({
      serviceName, policyVersion, serviceDef, helper, repo, zoneRepos, zones, tagRepo, roles,
      superUsers: new Set([...(opts.superUsers ?? []), ...csv(cfg['ranger.plugin.super.users'])]),
      superGroups: new Set([...(opts.superGroups ?? []), ...csv(cfg['ranger.plugin.super.groups'])]),
      auditUsers: new Set([...(opts.auditExcludedUsers ?? []), ...csv(cfg['ranger.plugin.audit.exclude.users'])]),
      auditGroups: new Set([...(opts.auditExcludedGroups ?? []), ...csv(cfg['ranger.plugin.audit.exclude.groups'])]),
      auditRoles: new Set([...(opts.auditExcludedRoles ?? []), ...csv(cfg['ranger.plugin.audit.exclude.roles'])]),
      auditMode,
      auditFilters: readAuditFilters(helper, cfg['ranger.plugin.audit.filters'], warn),
      tagAuditFilters,
      hasPolicies: valid.length > 0 || zones.some((z) => z.policies.length > 0),
      defaultZone: zoneDefault,
    });
    return { engine, warnings };
  }

  /** Is the access allowed, and is it audited? */
  isAccessAllowed(req: RangerAccessRequest): RangerAccessResult {
    return snapshot(this.#decide(req, POLICY_TYPE_ACCESS));
  }

  /** How to mask the requested column, if at all (maskType null: no masking policy applies). */
  evalDataMask(req: RangerAccessRequest): RangerDataMaskResult {
    const r = this.#decide(req, POLICY_TYPE_DATAMASK);
    return { ...snapshot(r), maskType: r.maskType, maskCondition: r.maskCondition, maskedValue: r.maskedValue };
  }

  /** Which rows the user may see (filterExpr null: no row-filter policy applies). */
  evalRowFilter(req: RangerAccessRequest): RangerRowFilterResult {
    const r = this.#decide(req, POLICY_TYPE_ROWFILTER);
    return { ...snapshot(r), filterExpr: r.filterExpr };
  }

  /** Users and groups that policies allow or deny this access (Ranger's getResourceAccessInfo). */
  getResourceAccessInfo(req: RangerAccessRequest): RangerResourceAccessInfo {
    const e = this.#normalize(req);
    const out = { allowedUsers: new Set<string>(), allowedGroups: new Set<string>(), deniedUsers: new Set<string>(), deniedGroups: new Set<string>() };
    const zones = this.#zonesOf(e);
    const repos = zones.length ? zones.map((z) => this.#zoneRepos.get(z)!) : [this.#repo];
    for (const repo of repos) {
      for (const ev of repo.all(POLICY_TYPE_ACCESS)) {
        const t = ev.matchType(e);
        if (t !== 'NONE') ev.accessInfo(e, e.accessType, t, out);
      }
    }
    for (const u of out.deniedUsers) out.allowedUsers.delete(u);
    for (const g of out.deniedGroups) out.allowedGroups.delete(g);
    const sorted = (s: Set<string>): string[] => [...s].sort();
    return { allowedUsers: sorted(out.allowedUsers), allowedGroups: sorted(out.allowedGroups), deniedUsers: sorted(out.deniedUsers), deniedGroups: sorted(out.deniedGroups) };
  }

  #normalize(req: RangerAccessRequest): EvalRequest {
    const accessType = req.accessType === '' || req.accessType === undefined ? '_any' : req.accessType;
    const groups = new Set(req.userGroups ?? []);
    const roles = this.#roles.isEmpty && !req.userRoles?.length ? NO_ROLES : this.#roles.rolesFor(req.user, groups, req.userRoles);
    const resource: Record<string, string | readonly string[]> = {};
    for (const [k, v] of Object.entries(req.resource ?? {})) if (v !== undefined && v !== null) resource[k] = v;
    const e: { -readonly [K in keyof EvalRequest]: EvalRequest[K] } = {
      resource,
      owner: req.resourceOwner,
      accessType,
      isAccessTypeAny: accessType === '_any',
      user: req.user,
      userGroups: groups,
      userRoles: roles,
      clientIPAddress: req.clientIPAddress ?? req.remoteIPAddress,
      accessTime: req.accessTime ?? new Date(),
      original: req,
      context: req.context ?? {},
      scope: req.resourceMatchingScope === 'SELF_OR_DESCENDANTS' ? 'SELF_OR_DESCENDANTS' : 'SELF',
      elementScopes: req.resourceElementMatchingScopes,
      ignoreDescendantDeny: req.ignoreDescendantDeny ?? true,
      tags: req.tags ?? [],
      env: { token: () => undefined },
    };
    const owner = req.resourceOwner;
    let exprCache: Map<string, unknown> | undefined;
    e.env = {
      token: (name) => (name === 'USER' ? req.user : name === 'OWNER' ? owner : req.context?.[`token:${name}`]),
      expr: (src) => {
        exprCache ??= new Map();
        if (exprCache.has(src)) return exprCache.get(src);
        let v: unknown;
        try {
          v = evaluateExpression(parseScript(src), e);
        } catch {
          v = undefined;
        }
        exprCache.set(src, v);
        return v;
      },
    };
    return e;
  }

  #zonesOf(req: EvalRequest): string[] {
    if (this.#zones.length === 0) return [];
    return this.#zones.filter((z) => z.matches(req)).map((z) => z.name);
  }

  #isSuperUser(req: EvalRequest): boolean {
    if (this.#superUsers.has(req.user)) return true;
    for (const g of req.userGroups) if (this.#superGroups.has(g)) return true;
    return false;
  }

  #isAuditExcluded(req: EvalRequest): boolean {
    if (this.#auditUsers.has(req.user)) return true;
    for (const g of req.userGroups) if (this.#auditGroups.has(g)) return true;
    for (const x of req.userRoles) if (this.#auditRoles.has(x)) return true;
    return false;
  }

  #newResult(req: EvalRequest): ResultBuilder {
    const r = new ResultBuilder();
    if (this.#auditMode === 'audit-all') r.setAudited(true);
    else if (this.#auditMode === 'audit-none') r.setAudited(false);
    else if (!this.#hasPolicies && !this.#tagRepo) r.setAudited(true);
    if (this.#isAuditExcluded(req)) r.setAudited(false);
    return r;
  }

  #decide(raw: RangerAccessRequest, policyType: number): ResultBuilder {
    const req = this.#normalize(raw);
    const zones = this.#zonesOf(req);
    let ret: ResultBuilder | undefined;
    if (zones.length === 0 || (zones.length > 1 && !req.isAccessTypeAny)) {
      ret = this.#evaluate(req, policyType, undefined, this.#repo);
    } else {
      for (const z of zones) {
        ret = this.#evaluate(req, policyType, z, this.#zoneRepos.get(z)!);
        ret.zoneName = z;
        if (ret.isAllowed) break;
      }
    }
    if (req.isAccessTypeAny && Object.keys(req.resource).length === 0 && ret && !ret.isAllowed && this.#zoneRepos.size) {
      for (const [z, repo] of this.#zoneRepos) {
        const r = this.#evaluate(req, policyType, z, repo);
        if (r.isAllowed) {
          r.zoneName = z;
          ret = r;
          break;
        }
      }
    }
    if (policyType === POLICY_TYPE_ACCESS) this.#applyAuditFilters(req, ret!);
    return ret!;
  }

  #evaluate(req: EvalRequest, policyType: number, zone: string | undefined, repo: PolicyRepository): ResultBuilder {
    const isAny = req.isAccessTypeAny;
    const multi = req.original.accessTypes?.length ? req.original.accessTypes.map((a) => a.toLowerCase()) : undefined;
    const state: EvalState = {
      accessTypes: isAny ? this.#helper.accessTypeNames.map((a) => a.toLowerCase()) : multi,
      isAnyAccess: isAny || (multi !== undefined && req.original.anyOfAccessTypes === true),
      accessTypeResults: new Map(),
    };
    const superUser = this.#isSuperUser(req);
    const ret = this.#newResult(req);
    if (superUser || req.accessType === SUPER_USER_ACCESS) {
      ret.setAllowed(superUser);
      ret.isAccessDetermined = true;
      ret.policyId = -1;
      ret.policyPriority = Number.MAX_SAFE_INTEGER;
      ret.reason = 'superuser';
    }
    this.#evaluateTags(req, policyType, zone, ret, state);
    const allowedByTags = ret.isAccessDetermined && ret.isAllowed;
    const deniedByTags = ret.isAccessDetermined && !ret.isAllowed;
    if (repo.policyCount > 0) {
      ret.isAccessDetermined = false;
      const evaluators = req.elementScopes ? repo.all(policyType) : repo.likelyMatches(policyType, req.resource);
      const exact = policyType === POLICY_TYPE_DATAMASK || policyType === POLICY_TYPE_ROWFILTER;
      if (!exact || this.#helper.isValidHierarchy(policyType, new Set(Object.keys(req.resource)), true)) {
        for (const ev of evaluators) {
          // Ranger only sees the evaluators its resource trie finds for the request; one that cannot
          // match must not end the loop below (an allow by tags is final after a policy without deny).
          const matchType = ev.resourceMatchers[0].getMatchType(req.resource, req.elementScopes, req.env);
          if (matchType === 'NONE' && (ev.resourceMatchers.length === 1 || ev.matchType(req) === 'NONE')) continue;
          if (!ev.isApplicable(req.accessTime)) continue;
          if (deniedByTags) {
            if (ret.policyPriority >= ev.priority) ret.isAccessDetermined = true;
          } else if (ret.isAllowed) {
            if (policyType === POLICY_TYPE_ACCESS ? ret.policyPriority > ev.priority : ret.policyPriority >= ev.priority) ret.isAccessDetermined = true;
          }
          ev.evaluate(req, ret, state, matchType);
          if (ret.isAllowed && !ev.hasDeny) ret.isAccessDetermined = true;
          if (ret.isAuditedDetermined && ret.isAccessDetermined) break;
        }
      }
      if (!ret.isAccessDetermined) {
        if (deniedByTags) ret.setAllowed(false);
        else if (allowedByTags) ret.setAllowed(true);
        if (!ret.isAllowed) ret.isAccessDetermined = true;
      }
      if (ret.isAllowed) ret.isAccessDetermined = true;
    }
    return ret;
  }

  #evaluateTags(req: EvalRequest, policyType: number, zone: string | undefined, result: ResultBuilder, state: EvalState): void {
    const repo = this.#tagRepo;
    if (!repo || req.tags.length === 0) return;
    const zoneDef = zone ? this.#zones.find((z) => z.name === zone) : undefined;
    const useDefaultZone = !zoneDef?.containsAssociatedTagService;
    const time = req.accessTime;
    const pairs: { ev: PolicyEvaluator; tag: RangerTag }[] = [];
    for (const tag of req.tags) {
      if (!isTagApplicable(tag.validityPeriods, time.getTime(), this.#defaultZone)) continue;
      const tagResource = { tag: tag.type };
      for (const ev of repo.likelyMatches(policyType, tagResource)) {
        const t = ev.resourceMatchers[0].getMatchType(tagResource, undefined, req.env);
        if (t !== 'SELF' && t !== 'SELF_AND_ALL_DESCENDANTS') continue;
        if (!ev.isApplicable(time)) continue;
        if (useDefaultZone ? ev.policy.zoneName !== undefined : ev.policy.zoneName !== zone) continue;
        pairs.push({ ev, tag });
      }
    }
    pairs.sort((a, b) => (a.ev.priority !== b.ev.priority ? b.ev.priority - a.ev.priority : a.ev.hasDeny !== b.ev.hasDeny ? (a.ev.hasDeny ? -1 : 1) : a.ev.order - b.ev.order));
    for (const { ev, tag } of pairs) {
      const tagReq: EvalRequest = { ...req, tag, tagMatchType: (tag.matchType ?? 'SELF') as MatchType };
      const tagResult = new ResultBuilder();
      tagResult.copyAccessFrom(result);
      tagResult.copyAuditFrom(result);
      ev.evaluate(tagReq, tagResult, state);
      if (tagResult.isAllowed && !ev.hasDeny) tagResult.isAccessDetermined = true;
      if (tagResult.isAudited) result.copyAuditFrom(tagResult);
      if (!result.isAccessDetermined) {
        if (tagResult.isAccessDetermined) result.copyAccessFrom(tagResult);
        else if (!result.isAllowed && tagResult.isAllowed) result.copyAccessFrom(tagResult);
      }
      if (result.isAuditedDetermined && result.isAccessDetermined) break;
    }
    if (result.isAllowed) result.isAccessDetermined = true;
  }

  /**
   * RangerPolicyEngineImpl.evaluateAuditPolicies: the tag service's audit filters first, each
   * tried for every applicable tag of the request (filters in their order, then tags), then
   * the service's own; the first that matches decides.
   */
  #applyAuditFilters(req: EvalRequest, result: ResultBuilder): void {
    if (this.#auditFilters.length === 0 && this.#tagAuditFilters.length === 0) return;
    if (this.#isAuditExcluded(req)) return;
    if (req.tags.length && this.#tagAuditFilters.length) {
      const ms = req.accessTime.getTime();
      const tags = req.tags.filter((t) => isTagApplicable(t.validityPeriods, ms, this.#defaultZone));
      for (const f of this.#tagAuditFilters) {
        if (tags.some((t) => f.matchesTag(req, t, result.isAllowed))) {
          result.setAudited(f.isAudited);
          return;
        }
      }
    }
    for (const f of this.#auditFilters) {
      if (f.matches(req, result.isAllowed)) {
        result.setAudited(f.isAudited);
        return;
      }
    }
  }
}

function snapshot(r: ResultBuilder): RangerAccessResult {
  return {
    isAllowed: r.isAllowed,
    isAccessDetermined: r.isAccessDetermined,
    isAudited: r.isAudited,
    isAuditedDetermined: r.isAuditedDetermined,
    policyId: r.policyId,
    policyVersion: r.policyVersion,
    policyPriority: r.policyPriority,
    zoneName: r.zoneName,
    reason: r.reason,
  };
}

/** Every access type a policy item names must be one the service (or its markers) defines. */
function checkAccessTypes(helper: ServiceDefHelper, policies: readonly Policy[], where: (i: number) => string, errors: ConfigError[] | null, warn: (msg: string) => void): void {
  policies.forEach((p, i) => {
    const lists: [string, readonly { accesses: readonly { type: string }[] }[]][] = [
      ['policyItems', p.policyItems], ['denyPolicyItems', p.denyPolicyItems], ['allowExceptions', p.allowExceptions],
      ['denyExceptions', p.denyExceptions], ['dataMaskPolicyItems', p.dataMaskPolicyItems], ['rowFilterPolicyItems', p.rowFilterPolicyItems],
    ];
    for (const [field, items] of lists) {
      items.forEach((it, j) => it.accesses.forEach((a, k) => {
        if (a.type && !helper.knownAccessTypes.has(a.type.toLowerCase())) {
          const e = new ConfigError(`${where(i)}.${field}[${j}].accesses[${k}].type`, `access type '${a.type}' is not defined by service definition '${helper.serviceDef.name}'`);
          if (errors) errors.push(e);
          else warn(`${e.message}; the access is ignored`);
        }
      }));
    }
  });
}

/** A tag policy seen by one component: `hive:select` -> `select`, other components' accesses dropped. */
function normalizeTagPolicy(p: Policy, component: string): Policy {
  const prefix = `${component}:`;
  const fix = (items: Policy['policyItems']): Policy['policyItems'] => items.flatMap((it) => {
    const accesses = it.accesses.flatMap((a) => {
      const t = stripComponent(a.type, prefix);
      return t === undefined ? [] : [{ ...a, type: t }];
    });
    if (accesses.length === 0 && it.accesses.length > 0 && !it.delegateAdmin) return [];
    return [{ ...it, accesses }];
  });
  return {
    ...p,
    policyItems: fix(p.policyItems), denyPolicyItems: fix(p.denyPolicyItems), allowExceptions: fix(p.allowExceptions),
    denyExceptions: fix(p.denyExceptions), dataMaskPolicyItems: fix(p.dataMaskPolicyItems), rowFilterPolicyItems: fix(p.rowFilterPolicyItems),
  };
}
