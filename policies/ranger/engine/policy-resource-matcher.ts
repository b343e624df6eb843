/**
 * Matching a whole requested resource (every element) against a policy's
 * resources: Ranger's RangerDefaultPolicyResourceMatcher. The result is a
 * match type, not a boolean: SELF (this resource), SELF_AND_ALL_DESCENDANTS
 * (this and, through `*` levels, everything below), DESCENDANT (the policy
 * covers something below the request, e.g. a table of a requested database),
 * ANCESTOR (the policy covers something above it) or NONE. The levels are
 * walked along the one hierarchy of the service definition that holds both
 * the policy's and the request's resources; a gap in either is no match.
 */
import type { PolicyResource, ResourceDef } from './model.ts';
import { createElementMatcher } from './path-matcher.ts';
import type { ElementMatchingScope, RequestedValue, ResourceElementMatcher } from './resource-matcher.ts';
import { isHierarchyValidForResources, type ServiceDefHelper } from './service-def.ts';
import type { MatchEnv } from './token-replacer.ts';

/** RangerPolicyResourceMatcher.MatchType. */
export type MatchType = 'NONE' | 'SELF' | 'SELF_AND_ALL_DESCENDANTS' | 'DESCENDANT' | 'ANCESTOR';

/** A requested resource: element name -> value(s). */
export type RequestedResource = Readonly<Record<string, RequestedValue>>;

/** Element scopes of a request (resourceElementMatchingScopes). */
export type ElementScopes = Readonly<Record<string, ElementMatchingScope>>;

const NO_SCOPES: ElementScopes = Object.freeze({});

/** The compiled resources of one policy (or one of its additionalResources). */
export class PolicyResourceMatcher {
  readonly #helper: ServiceDefHelper;
  readonly #policyType: number;
  readonly resources: Readonly<Record<string, PolicyResource>>;
  readonly #keys: ReadonlySet<string>;
  /** Element matchers by resource name; undefined when the resources fit no hierarchy. */
  readonly matchers: ReadonlyMap<string, ResourceElementMatcher> | undefined;
  readonly #validHierarchy: readonly ResourceDef[] | undefined;
  /** Why the resources cannot match anything (init failure), if they cannot. */
  readonly error: string | undefined;
  /** True when some value depends on the request (tokens, request expressions). */
  readonly needsDynamicEval: boolean;

  constructor(helper: ServiceDefHelper, policyType: number, resources: Readonly<Record<string, PolicyResource>>) {
    this.#helper = helper;
    this.#policyType = policyType;
    this.resources = resources;
    this.#keys = new Set(Object.keys(resources));
    let error: string | undefined;
    let matchers: Map<string, ResourceElementMatcher> | undefined;
    let valid: readonly ResourceDef[] | undefined;
    if (this.#keys.size > 0) {
      const hierarchies = helper.hierarchiesWith(policyType, this.#keys);
      let validCount = 0;
      for (const h of hierarchies) {
        if (isHierarchyValidForResources(h, this.#keys)) {
          validCount++;
          valid = validCount === 1 ? h : undefined;
        }
      }
      if (validCount > 0) {
        matchers = new Map();
        for (const h of hierarchies) {
          for (const d of h) {
            const r = resources[d.name];
            if (r && !matchers.has(d.name)) matchers.set(d.name, createElementMatcher(d, r));
          }
        }
      } else {
        const unknown = [...this.#keys].filter((k) => !helper.resourceDef(k));
        error = unknown.length
          ? `resource ${unknown.map((k) => `'${k}'`).join(', ')} is not defined by service definition '${helper.serviceDef.name}'`
          : `resources [${[...this.#keys].join(', ')}] leave a gap in every resource hierarchy of '${helper.serviceDef.name}'${hierarchies.length ? '' : ' (no hierarchy holds them all)'}`;
      }
    } else {
      matchers = new Map();
    }
    this.matchers = matchers;
    this.#validHierarchy = valid;
    this.error = error;
    this.needsDynamicEval = matchers !== undefined && [...matchers.values()].some((m) => m.needsDynamicEval);
  }

  /** Number of resource elements the policy names. */
  get size(): number {
    return this.#keys.size;
  }

  #shortestHierarchy(keys: Iterable<string>): readonly ResourceDef[] | undefined {
    let ret: readonly ResourceDef[] | undefined;
    for (const h of this.#helper.hierarchiesWith(this.#policyType, keys)) if (!ret || h.length < ret.length) ret = h;
    return ret;
  }

  #matchingHierarchy(resource: RequestedResource, resourceKeys: readonly string[]): readonly ResourceDef[] | undefined {
    if (resourceKeys.length === 0) return this.#validHierarchy ?? this.#shortestHierarchy(this.#keys);
    let h: readonly ResourceDef[] | undefined;
    if (this.#validHierarchy) {
      if (resourceKeys.every((k) => this.#validHierarchy!.some((d) => d.name === k))) h = this.#validHierarchy;
    } else if (resourceKeys.every((k) => this.#keys.has(k))) {
      h = this.#shortestHierarchy(this.#keys);
    } else if ([...this.#keys].every((k) => resource[k] !== undefined)) {
      h = this.#shortestHierarchy(resourceKeys);
    }
    const present = { has: (k: string): boolean => resource[k] !== undefined };
    return isHierarchyValidForResources(h, present) ? h : undefined;
  }

  /** RangerDefaultPolicyResourceMatcher.getMatchType. */
  getMatchType(resource: RequestedResource, scopes: ElementScopes | undefined, env: MatchEnv): MatchType {
    if (!this.matchers) return 'NONE';
    const resourceKeys = Object.keys(resource).filter((k) => resource[k] !== undefined);
    if (this.#keys.size === 0) return resourceKeys.length === 0 ? 'SELF' : 'NONE';
    const hierarchy = this.#matchingHierarchy(resource, resourceKeys);
    if (!hierarchy) return 'NONE';
    const sc = scopes ?? NO_SCOPES;
    let lastNonAny = -1, count = 0;
    for (const d of hierarchy) {
      const m = this.matchers.get(d.name);
      if (!m) break;
      if (!m.isMatchAny) lastNonAny = count;
      count++;
    }
    let ret: MatchType = resourceKeys.length === 0 ? 'SELF' : 'NONE';
    for (const d of hierarchy) {
      const m = this.matchers.get(d.name);
      const value = resource[d.name];
      if (m) {
        if (value !== undefined || m.isMatchAny) {
          if (m.isMatch(value, sc[d.name] ?? 'SELF', env)) ret = 'SELF';
          else return 'NONE';
        }
      } else {
        if (value !== undefined) ret = 'ANCESTOR';
        break;
      }
    }
    if (ret === 'SELF' && resourceKeys.length < this.#keys.size) ret = resourceKeys.length > lastNonAny ? 'SELF_AND_ALL_DESCENDANTS' : 'DESCENDANT';
    return ret;
  }

  /** RangerDefaultPolicyResourceMatcher.isCompleteMatch: the policy names exactly this resource. */
  isCompleteMatch(resource: Readonly<Record<string, string | undefined>>): boolean {
    const keys = Object.keys(resource).filter((k) => resource[k] !== undefined);
    if (!this.matchers || keys.length !== this.#keys.size || !keys.every((k) => this.#keys.has(k))) return false;
    for (const d of this.#helper.serviceDef.resources) {
      const value = resource[d.name];
      const m = this.matchers.get(d.name);
      const ok = value === undefined || value === '' ? (!m || m.isCompleteMatch(value)) : (m !== undefined && m.isCompleteMatch(value));
      if (!ok) return false;
    }
    return true;
  }
}
