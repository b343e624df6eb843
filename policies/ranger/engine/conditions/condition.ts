/**
 * Policy and policy-item conditions, created from the service definition's
 * policyConditions by evaluator class name (Ranger's RangerCustomConditionEvaluator).
 * A condition whose type the service does not define, or whose evaluator we
 * do not implement, fails CLOSED (never matches) and is reported as a load
 * warning: an allow item with it grants nothing, a deny item with it denies
 * nothing more.
 */
import type { ConditionDef, ItemCondition } from '../model.ts';
import type { EvalRequest } from '../request.ts';
import type { ServiceDefHelper } from '../service-def.ts';
import { AccessedTogetherCondition } from './accessed-together.ts';
import { IpMatcherCondition } from './ip-matcher.ts';
import { ScriptCondition, ScriptTemplateCondition } from './script-condition.ts';
import { SimpleMatcherCondition } from './simple-matcher.ts';

/** One condition of a policy or policy item. */
export interface ConditionEvaluator {
  isMatched(req: EvalRequest): boolean;
}

/** A condition that never matches (fail closed). */
export const FAIL_CLOSED: ConditionEvaluator = { isMatched: () => false };

const PKG = 'org.apache.ranger.plugin.conditionevaluator.';

/** Builds the evaluator of `cond`; unknown types and evaluators fail closed with a warning. */
export function createCondition(helper: ServiceDefHelper, cond: ItemCondition, where: string, warn: (msg: string) => void): ConditionEvaluator {
  const def: ConditionDef | undefined = helper.serviceDef.policyConditions.find((d) => d.name === cond.type);
  if (!def) {
    warn(`${where}: condition type '${cond.type}' is not defined by service definition '${helper.serviceDef.name}'; the condition never matches`);
    return FAIL_CLOSED;
  }
  const cls = def.evaluator.startsWith(PKG) ? def.evaluator.slice(PKG.length) : def.evaluator;
  switch (cls) {
    case 'RangerScriptConditionEvaluator':
      return ScriptCondition.create(cond.values, where, warn);
    case 'RangerScriptTemplateConditionEvaluator':
      return ScriptTemplateCondition.create(def.evaluatorOptions.scriptTemplate ?? '', cond.values, where, warn);
    case 'RangerSimpleMatcher':
      return new SimpleMatcherCondition(def.evaluatorOptions.CONTEXT_NAME ?? '', cond.values);
    case 'RangerIpMatcher':
      return new IpMatcherCondition(cond.values);
    case 'RangerHiveResourcesAccessedTogetherCondition':
      return new AccessedTogetherCondition(helper, cond.values, false);
    case 'RangerHiveResourcesNotAccessedTogetherCondition':
      return new AccessedTogetherCondition(helper, cond.values, true);
    default:
      warn(`${where}: condition '${cond.type}' uses evaluator '${def.evaluator}', which is not supported; the condition never matches`);
      return FAIL_CLOSED;
  }
}
