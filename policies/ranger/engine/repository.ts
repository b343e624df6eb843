/**
 * A set of compiled policies of one service (or one security zone, or the
 * tag service): Ranger's RangerPolicyRepository. Policies are split by type
 * and kept in evaluation order; a small index over literal values of the
 * first resource level skips policies that cannot match, so a decision does
 * not walk every policy.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { POLICY_TYPE_ACCESS, POLICY_TYPE_DATAMASK, POLICY_TYPE_ROWFILTER, type Policy } from './model.ts';
import { compareEvalOrder, PolicyEvaluator } from './policy-evaluator.ts';
import type { RequestedResource } from './policy-resource-matcher.ts';
import type { ServiceDefHelper } from './service-def.ts';

/** Index of one policy type's evaluators by the literal values of one resource element. */
class LiteralIndex {
  readonly #key: string | undefined;
  readonly #byValue = new Map<string, PolicyEvaluator[]>();
  readonly #rest: PolicyEvaluator[] = [];
  readonly #all: readonly PolicyEvaluator[];
  readonly #ignoreCase: boolean;

  constructor(evaluators: readonly PolicyEvaluator[], key: string | undefined, ignoreCase: boolean) {
    this.#all = evaluators;
    this.#key = key;
    this.#ignoreCase = ignoreCase;
    for (const e of evaluators) {
      const lits = key !== undefined && e.resourceMatchers.length === 1 ? literalsOf(e, key) : undefined;
      if (!lits) {
        this.#rest.push(e);
        continue;
      }
      for (const l of lits) {
        const list = this.#byValue.get(l) ?? [];
        list.push(e);
        this.#byValue.set(l, list);
      }
    }
  }

  /** Evaluators that may match, in evaluation order. */
  candidates(resource: RequestedResource): readonly PolicyEvaluator[] {
    const key = this.#key;
    if (key === undefined || this.#byValue.size === 0) return this.#all;
    const v = resource[key];
    if (typeof v !== 'string' || v === '' || v === '*') return this.#all;
    const hit = this.#byValue.get(this.#ignoreCase ? v.toLowerCase() : v);
    if (!hit) return this.#rest;
    if (this.#rest.length === 0) return hit;
    return [...hit, ...this.#rest].sort(compareEvalOrder);
  }
}

function literalsOf(e: PolicyEvaluator, key: string): string[] | undefined {
  const m = e.resourceMatchers[0].matchers?.get(key);
  if (!m || m.isExcludes || m.isMatchAny) return undefined;
  const out: string[] = [];
  for (const vm of m.matchers) {
    const l = vm.literal;
    if (l === undefined) return undefined;
    out.push(l);
  }
  return out;
}

/** The compiled policies of one service, zone or tag service. */
export class PolicyRepository {
  readonly helper: ServiceDefHelper;
  readonly #byType = new Map<number, LiteralIndex>();
  readonly #lists = new Map<number, PolicyEvaluator[]>();
  readonly policyCount: number;

  constructor(helper: ServiceDefHelper, policies: readonly Policy[], where: (i: number) => string, errors: ConfigError[], warn: (msg: string) => void, defaultZone: string) {
    this.helper = helper;
    const lists = new Map<number, PolicyEvaluator[]>([[POLICY_TYPE_ACCESS, []], [POLICY_TYPE_DATAMASK, []], [POLICY_TYPE_ROWFILTER, []]]);
    let count = 0;
    policies.forEach((p, i) => {
      if (!p.isEnabled) return;
      const ev = new PolicyEvaluator(helper, p, where(i), i, warn, defaultZone);
      ev.resourceMatchers.forEach((m, j) => {
        if (m.error) errors.push(new ConfigError(j === 0 ? `${where(i)}.resources` : `${where(i)}.additionalResources[${j - 1}]`, m.error));
      });
      const list = lists.get(p.policyType);
      if (!list) {
        warn(`${where(i)}.policyType: ${p.policyType} is not an access, data-mask or row-filter policy; ignored`);
        return;
      }
      list.push(ev);
      count++;
    });
    this.policyCount = count;
    const first = helper.serviceDef.resources.find((r) => !r.parent);
    for (const [type, list] of lists) {
      list.sort(compareEvalOrder);
      this.#lists.set(type, list);
      const ignoreCase = first?.matcherOptions.ignoreCase === undefined || first.matcherOptions.ignoreCase.toLowerCase() !== 'false';
      this.#byType.set(type, new LiteralIndex(list, first?.name, ignoreCase));
    }
  }

  /** Evaluators of a policy type that may match the resource, in evaluation order. */
  likelyMatches(policyType: number, resource: RequestedResource): readonly PolicyEvaluator[] {
    return this.#byType.get(policyType)?.candidates(resource) ?? [];
  }

  /** Every evaluator of a policy type, in evaluation order. */
  all(policyType: number): readonly PolicyEvaluator[] {
    return this.#lists.get(policyType) ?? [];
  }
}
