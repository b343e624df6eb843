/**
 * RangerSimpleMatcher: the request context value named by the evaluator
 * option CONTEXT_NAME must match one of the condition's values (wildcards
 * `*` and `?`, case-insensitive); no values or `*` matches anything.
 */
import type { EvalRequest } from '../request.ts';
import { wildcardMatch } from '../wildcard.ts';

/** A context-value condition. */
export class SimpleMatcherCondition {
  readonly #name: string;
  readonly #values: readonly string[];
  readonly #any: boolean;
  constructor(contextName: string, values: readonly string[]) {
    this.#name = contextName;
    this.#values = values.map((v) => v.toLowerCase());
    this.#any = values.length === 0 || values.includes('*');
  }
  /** True when the context value matches. */
  isMatched(req: EvalRequest): boolean {
    if (this.#any) return true;
    const v = Object.hasOwn(req.context, this.#name) ? req.context[this.#name] : undefined;
    if (typeof v !== 'string' || !v.trim()) return false;
    const lv = v.toLowerCase();
    return this.#values.some((p) => wildcardMatch(lv, p));
  }
}
