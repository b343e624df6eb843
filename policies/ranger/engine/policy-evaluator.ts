/**
 * One policy: Ranger's RangerDefaultPolicyEvaluator. A policy applies when
 * its validity schedules allow the access time, one of its resource sets
 * (resources, then additionalResources) matches the request with a match
 * type the request accepts (SELF and SELF_AND_ALL_DESCENDANTS always;
 * DESCENDANT for `_any` or SELF_OR_DESCENDANTS requests; ANCESTOR for tags),
 * and its policy-level conditions hold. It then marks the request audited
 * (isAuditEnabled) and lets its items decide: deny items (minus deny
 * exceptions) before allow items (minus allow exceptions); isDenyAllElse
 * denies what no item allows. `_any` and multi-access requests are decided
 * per access type and combined, as Ranger does.
 */
import { createCondition, type ConditionEvaluator } from './conditions/condition.ts';
import { POLICY_TYPE_ACCESS, POLICY_TYPE_DATAMASK, POLICY_TYPE_ROWFILTER, type Policy, type PolicyItem } from './model.ts';
import { matchingItem, PolicyItemEvaluator, type ItemKind } from './policy-item.ts';
import { PolicyResourceMatcher, type MatchType } from './policy-resource-matcher.ts';
import { ResultBuilder, type EvalRequest } from './request.ts';
import type { ServiceDefHelper } from './service-def.ts';
import { resolveRequestExpressions } from './token-replacer.ts';
import { isScheduleApplicable } from './validity-schedule.ts';

/** Per-request state shared by the policies of one evaluation (Ranger keeps it in the request context). */
export interface EvalState {
  /** Access types decided one by one (for `_any` and multi-access requests). */
  readonly accessTypes: readonly string[] | undefined;
  readonly isAnyAccess: boolean;
  readonly accessTypeResults: Map<string, ResultBuilder>;
}

/** A compiled policy. */
export class PolicyEvaluator {
  readonly policy: Policy;
  readonly resourceMatchers: readonly PolicyResourceMatcher[];
  readonly #allow: readonly PolicyItemEvaluator[];
  readonly #deny: readonly PolicyItemEvaluator[];
  readonly #allowExceptions: readonly PolicyItemEvaluator[];
  readonly #denyExceptions: readonly PolicyItemEvaluator[];
  readonly #dataMask: readonly PolicyItemEvaluator[];
  readonly #rowFilter: readonly PolicyItemEvaluator[];
  readonly #conditions: readonly ConditionEvaluator[];
  readonly #defaultZone: string;
  /** Position in the download, the last tie-breaker of the evaluation order. */
  readonly order: number;

  constructor(helper: ServiceDefHelper, policy: Policy, where: string, order: number, warn: (msg: string) => void, defaultZone = 'UTC') {
    this.policy = policy;
    this.order = order;
    this.#defaultZone = defaultZone;
    const type = policy.policyType;
    this.resourceMatchers = [policy.resources, ...policy.additionalResources].map((r) => new PolicyResourceMatcher(helper, type, r));
    const items = (list: readonly PolicyItem[], kind: ItemKind, field: string): PolicyItemEvaluator[] => list.map((it, i) => new PolicyItemEvaluator(helper, kind, it, `${where}.${field}[${i}]`, warn));
    this.#allow = items(policy.policyItems, 'allow', 'policyItems');
    this.#deny = items(policy.denyPolicyItems, 'deny', 'denyPolicyItems');
    this.#allowExceptions = items(policy.allowExceptions, 'allowException', 'allowExceptions');
    this.#denyExceptions = items(policy.denyExceptions, 'denyException', 'denyExceptions');
    this.#dataMask = type === POLICY_TYPE_DATAMASK ? items(policy.dataMaskPolicyItems, 'dataMask', 'dataMaskPolicyItems') : [];
    this.#rowFilter = type === POLICY_TYPE_ROWFILTER ? items(policy.rowFilterPolicyItems, 'rowFilter', 'rowFilterPolicyItems') : [];
    this.#conditions = policy.conditions.map((c, i) => createCondition(helper, c, `${where}.conditions[${i}]`, warn));
  }

  /** Policy id. */
  get id(): number {
    return this.policy.id;
  }
  /** Policy priority (0 normal, 1 override). */
  get priority(): number {
    return this.policy.policyPriority;
  }
  /** Has deny items or denies all else (RangerAbstractPolicyEvaluator.hasDeny). */
  get hasDeny(): boolean {
    return this.policy.isDenyAllElse || this.#deny.length > 0;
  }
  /** Has allow items. */
  get hasAllow(): boolean {
    return this.#allow.length > 0;
  }

  /** Do the validity schedules allow `time`? */
  isApplicable(time: Date): boolean {
    if (this.policy.validitySchedules.length === 0) return true;
    return this.policy.validitySchedules.some((s) => isScheduleApplicable(s, time.getTime(), this.#defaultZone));
  }

  /** The match type of the request for this policy's first matching resource set. */
  matchType(req: EvalRequest): MatchType {
    let best: MatchType = 'NONE';
    for (const m of this.resourceMatchers) {
      const t = m.getMatchType(req.resource, req.elementScopes, req.env);
      if (t !== 'NONE') return t;
      best = t;
    }
    return best;
  }

  #hasMatchableItem(): boolean {
    switch (this.policy.policyType) {
      case POLICY_TYPE_DATAMASK: return this.#dataMask.length > 0;
      case POLICY_TYPE_ROWFILTER: return this.#rowFilter.length > 0;
      default: return this.hasAllow || this.hasDeny;
    }
  }

  /** RangerDefaultPolicyEvaluator.evaluate (`firstMatchType`: the first resource set's match type, if known). */
  evaluate(req: EvalRequest, result: ResultBuilder, state: EvalState, firstMatchType?: MatchType): void {
    const isTag = req.tag !== undefined;
    for (let i = 0; i < this.resourceMatchers.length; i++) {
      if (result.isAccessDetermined && result.isAuditedDetermined) return;
      const t = req.tagMatchType ?? (i === 0 && firstMatchType !== undefined ? firstMatchType : this.resourceMatchers[i].getMatchType(req.resource, req.elementScopes, req.env));
      const descendantOk = req.isAccessTypeAny || req.scope === 'SELF_OR_DESCENDANTS';
      const matched = t === 'SELF' || t === 'SELF_AND_ALL_DESCENDANTS' || (t === 'DESCENDANT' && descendantOk) || (t === 'ANCESTOR' && isTag);
      if (!matched) continue;
      if (!this.#conditions.every((c) => c.isMatched(req))) continue;
      if (!result.isAuditedDetermined && this.policy.isAuditEnabled) {
        result.setAudited(true);
        result.auditPolicyId = this.id;
      }
      if (!result.isAccessDetermined && this.#hasMatchableItem()) this.#evaluateItems(req, t, result, state);
    }
  }

  #evaluateItems(req: EvalRequest, matchType: MatchType, result: ResultBuilder, state: EvalState): void {
    const isAccessPolicy = this.policy.policyType === POLICY_TYPE_ACCESS;
    if (state.accessTypes && isAccessPolicy) {
      for (const at of state.accessTypes) {
        const one = new ResultBuilder();
        one.copyAuditFrom(result);
        const item = this.#matchingAccessItem(req, at, one);
        if (item) this.#update(one, req, matchType, item.kind !== 'deny', item);
        else if (this.policy.isDenyAllElse) this.#update(one, req, matchType, false, undefined);
        const allow = one.isAllowed ? one : undefined;
        const deny = !allow && one.isAccessDetermined ? one : undefined;
        if (!allow && !deny) continue;
        const old = state.accessTypeResults.get(at);
        if (!old) state.accessTypeResults.set(at, (allow ?? deny)!);
        else if (old.isAllowed) {
          if (deny) {
            if (this.priority >= old.policyPriority) state.accessTypeResults.set(at, deny);
          } else if (this.priority > old.policyPriority) state.accessTypeResults.set(at, allow!);
        } else if (this.priority >= old.policyPriority && allow && state.isAnyAccess) {
          state.accessTypeResults.set(at, allow);
        } else if (this.priority > old.policyPriority) {
          state.accessTypeResults.set(at, (allow ?? deny)!);
        }
        if (state.isAnyAccess) {
          if (req.ignoreDescendantDeny && allow) break;
          if (!req.ignoreDescendantDeny && deny) break;
        }
      }
      const composite = compositeResult(state, req.ignoreDescendantDeny || !state.isAnyAccess);
      if (composite) result.copyAccessFrom(composite);
      return;
    }
    let item: PolicyItemEvaluator | undefined;
    if (this.policy.policyType === POLICY_TYPE_DATAMASK) item = matchingItem(this.#dataMask, [], req, req.accessType);
    else if (this.policy.policyType === POLICY_TYPE_ROWFILTER) item = matchingItem(this.#rowFilter, [], req, req.accessType);
    else item = this.#matchingAccessItem(req, req.accessType, result);
    if (item) this.#update(result, req, matchType, item.kind !== 'deny', item);
    else if (this.policy.isDenyAllElse && isAccessPolicy) this.#update(result, req, matchType, false, undefined);
  }

  #matchingAccessItem(req: EvalRequest, accessType: string, result: ResultBuilder): PolicyItemEvaluator | undefined {
    const deny = matchingItem(this.#deny, this.#denyExceptions, req, accessType);
    if (deny || result.isAccessDetermined) return deny;
    return matchingItem(this.#allow, this.#allowExceptions, req, accessType);
  }

  /** RangerDefaultPolicyEvaluator.updateAccessResult (and the mask/row-filter item variants). */
  #update(result: ResultBuilder, req: EvalRequest, matchType: MatchType, isAllowed: boolean, item: PolicyItemEvaluator | undefined): void {
    if (item?.kind === 'dataMask') {
      const info = item.item.dataMaskInfo;
      if (!info) return;
      result.maskType = info.dataMaskType;
      result.maskCondition = info.conditionExpr === null ? null : resolveRequestExpressions(info.conditionExpr, req.env);
      result.maskedValue = info.valueExpr === null ? null : resolveRequestExpressions(info.valueExpr, req.env);
    } else if (item?.kind === 'rowFilter') {
      const info = item.item.rowFilterInfo;
      if (!info) return;
      result.filterExpr = info.filterExpr === null ? null : resolveRequestExpressions(info.filterExpr, req.env);
    }
    if (!isAllowed) {
      if (matchType !== 'DESCENDANT' || !req.ignoreDescendantDeny) {
        result.setAllowed(false);
        this.#stamp(result, item ? 'matched deny item' : 'matched deny-all-else policy');
      }
    } else if (!result.isAllowed) {
      result.setAllowed(true);
      this.#stamp(result, undefined);
    } else if ((item?.kind === 'dataMask' || item?.kind === 'rowFilter') && result.policyPriority < this.priority) {
      // a mask or row filter of a higher-priority policy replaces one a lower-priority (tag) policy
      // chose, and the result names the policy that chose it (test_policyengine_tag_hive_mask)
      this.#stamp(result, undefined);
    }
  }

  #stamp(result: ResultBuilder, reason: string | undefined): void {
    result.policyPriority = this.priority;
    result.policyId = this.id;
    result.reason = reason;
    result.policyVersion = this.policy.version;
  }

  /** Users/groups the policy allows or denies an access type on a matched resource (getResourceAccessInfo). */
  accessInfo(req: EvalRequest, accessType: string, matchType: MatchType, out: { allowedUsers: Set<string>; allowedGroups: Set<string>; deniedUsers: Set<string>; deniedGroups: Set<string> }): void {
    const collect = (items: readonly PolicyItemEvaluator[], users: Set<string>, groups: Set<string>): void => {
      for (const i of items) {
        if (i.matchAccessType(accessType) && i.matchConditions(req)) {
          i.item.users.forEach((u) => users.add(u));
          i.item.groups.forEach((g) => groups.add(g));
        }
      }
    };
    if (this.#allow.length) {
      const u = new Set<string>(), g = new Set<string>(), eu = new Set<string>(), eg = new Set<string>();
      collect(this.#allow, u, g);
      collect(this.#allowExceptions, eu, eg);
      u.forEach((x) => !eu.has(x) && out.allowedUsers.add(x));
      g.forEach((x) => !eg.has(x) && out.allowedGroups.add(x));
    }
    if (matchType !== 'DESCENDANT' && this.#deny.length) {
      const u = new Set<string>(), g = new Set<string>(), eu = new Set<string>(), eg = new Set<string>();
      collect(this.#deny, u, g);
      collect(this.#denyExceptions, eu, eg);
      u.forEach((x) => !eu.has(x) && out.deniedUsers.add(x));
      g.forEach((x) => !eg.has(x) && out.deniedGroups.add(x));
    }
  }
}

/** RangerDefaultPolicyEvaluator.getCompositeAccessResult. */
function compositeResult(state: EvalState, noGroups: boolean): ResultBuilder | undefined {
  const types = state.accessTypes ?? [];
  if (noGroups) {
    let denied: ResultBuilder | undefined;
    let determined = true;
    for (const at of types) {
      const r = state.accessTypeResults.get(at);
      if (!r) determined = false;
      else if (r.isAllowed) return r;
      else denied ??= r;
    }
    return determined ? denied : undefined;
  }
  let allow: ResultBuilder | undefined;
  let determined = true;
  for (const at of types) {
    const r = state.accessTypeResults.get(at);
    if (!r) determined = false;
    else if (!r.isAllowed) return r;
    else allow ??= r;
  }
  return determined ? allow : undefined;
}

/** Ranger's evaluation order: priority first, then policies with deny, then download order. */
export function compareEvalOrder(a: PolicyEvaluator, b: PolicyEvaluator): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.hasDeny !== b.hasDeny) return a.hasDeny ? -1 : 1;
  return a.order - b.order;
}
