/**
 * RangerIpMatcher: the client IP address must match one of the condition's
 * values, each an address or an address with trailing `*` parts
 * (`10.1.*`, `1.2.3.*`); `*` alone matches any address. IPv6 values compare
 * the same way on `:`-separated parts.
 */
import type { EvalRequest } from '../request.ts';

/** An IP-address condition. */
export class IpMatcherCondition {
  readonly #exact: ReadonlySet<string>;
  readonly #prefixes: readonly string[];
  readonly #any: boolean;
  constructor(values: readonly string[]) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    let any = values.length === 0;
    for (const raw of values) {
      const v = raw.trim().toLowerCase();
      if (v === '*') any = true;
      else if (v.endsWith('*')) prefixes.push(v.replace(/\*+$/, ''));
      else if (v) exact.add(v);
    }
    this.#exact = exact;
    this.#prefixes = prefixes;
    this.#any = any;
  }
  /** True when the request's client address matches. */
  isMatched(req: EvalRequest): boolean {
    if (this.#any) return true;
    const ip = req.clientIPAddress?.trim().toLowerCase();
    if (!ip) return false;
    return this.#exact.has(ip) || this.#prefixes.some((p) => ip.startsWith(p));
  }
}
