/**
 * Hive's RangerHiveResourcesAccessedTogetherCondition and
 * RangerHiveResourcesNotAccessedTogetherCondition: the condition's values are
 * `db.table.column` patterns; resources are "accessed together" when, among
 * the resources one statement requests (RangerRequestedResources), the
 * patterns match more than once. Without requested resources the first
 * matches nothing and the second everything.
 */
import { PolicyResourceMatcher } from '../policy-resource-matcher.ts';
import type { EvalRequest } from '../request.ts';
import type { ServiceDefHelper } from '../service-def.ts';

const LEVELS = ['database', 'table', 'column'];

/** An accessed-together (or not-accessed-together) condition. */
export class AccessedTogetherCondition {
  readonly #matchers: readonly PolicyResourceMatcher[];
  readonly #negate: boolean;
  constructor(helper: ServiceDefHelper, values: readonly string[], negate: boolean) {
    this.#negate = negate;
    this.#matchers = values.filter((v) => v.trim()).map((v) => {
      const parts = v.trim().split('.');
      const res: Record<string, { values: string[]; isExcludes: boolean; isRecursive: boolean }> = {};
      parts.slice(0, LEVELS.length).forEach((p, i) => (res[LEVELS[i]] = { values: [p], isExcludes: false, isRecursive: false }));
      return new PolicyResourceMatcher(helper, 0, res);
    });
  }
  /** True when the requested resources are (not) accessed together. */
  isMatched(req: EvalRequest): boolean {
    const requested = req.original.requestedResources ?? [];
    let mutuallyExcluded = true;
    if (this.#matchers.length > 0 && requested.length > 1) {
      let count = 0;
      outer: for (const r of requested) {
        for (const m of this.#matchers) {
          const t = m.getMatchType(r, undefined, req.env);
          if ((t === 'SELF' || t === 'SELF_AND_ALL_DESCENDANTS') && count++ > 0) {
            mutuallyExcluded = false;
            break outer;
          }
        }
      }
    }
    if (this.#matchers.length === 0) return true;
    return this.#negate ? mutuallyExcluded : !mutuallyExcluded;
  }
}
