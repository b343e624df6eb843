/**
 * Security zones (ServicePolicies.securityZones): each zone names resources
 * (lists of `{ element: [values] }`) and carries its own policies. A request
 * belongs to the zones whose resources match it (recursively where the
 * resource supports recursion); its resource policies then come from that
 * zone instead of the service's default policies. Tag policies apply in a
 * zone only when the zone is associated with the tag service.
 */
import { JsonReader, readPolicy, type Policy } from './model.ts';
import { PolicyResourceMatcher } from './policy-resource-matcher.ts';
import type { EvalRequest } from './request.ts';
import type { ServiceDefHelper } from './service-def.ts';

/** One security zone. */
export interface SecurityZone {
  readonly name: string;
  readonly policies: readonly Policy[];
  readonly containsAssociatedTagService: boolean;
  matches(req: EvalRequest): boolean;
}

/** Reads ServicePolicies.securityZones. */
export function readZones(r: JsonReader, v: unknown, helper: ServiceDefHelper): SecurityZone[] {
  const o = r.obj(v, 'securityZones');
  if (!o) return [];
  return Object.entries(o).flatMap(([name, zv]) => {
    const p = `securityZones.${name}`;
    const z = r.obj(zv, p, true);
    if (!z) return [];
    const policies = r.arr(z.policies, `${p}.policies`).map((x, i) => readPolicy(r, x, `${p}.policies[${i}]`)).filter((x): x is Policy => x !== undefined);
    const matchers = r.arr(z.resources, `${p}.resources`).flatMap((x, i) => {
      const ro = r.obj(x, `${p}.resources[${i}]`, true);
      if (!ro) return [];
      const res: Record<string, { values: string[]; isExcludes: boolean; isRecursive: boolean }> = {};
      for (const [k, vals] of Object.entries(ro)) {
        res[k] = { values: r.strs(vals, `${p}.resources[${i}].${k}`), isExcludes: false, isRecursive: helper.resourceDef(k)?.recursiveSupported ?? helper.resourceDef(k)?.type === 'path' };
      }
      return [new PolicyResourceMatcher(helper, 0, res)];
    });
    return [{
      name,
      policies,
      containsAssociatedTagService: r.bool(z.containsAssociatedTagService, `${p}.containsAssociatedTagService`, false),
      matches(req: EvalRequest): boolean {
        return matchers.some((m) => {
          const t = m.getMatchType(req.resource, undefined, req.env);
          return t === 'SELF' || t === 'SELF_AND_ALL_DESCENDANTS';
        });
      },
    }];
  });
}
