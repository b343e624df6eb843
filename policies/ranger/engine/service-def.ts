/**
 * What Ranger's RangerServiceDefHelper and ServiceDefUtil derive from a
 * service definition: the resource hierarchies per policy type (every path
 * from a root resource to a leaf, or to a resource marked isValidLeaf), the
 * implied grants of access types and marker access types (`_READ`, `_ALL`),
 * and the normalisation of a tag service definition for one component
 * (`hive:select` -> `select`).
 */
import { POLICY_TYPE_DATAMASK, POLICY_TYPE_ROWFILTER, type AccessTypeDef, type ResourceDef, type ServiceDef } from './model.ts';

/** Derived facts about one service definition, computed once. */
export class ServiceDefHelper {
  readonly serviceDef: ServiceDef;
  readonly #hierarchies = new Map<number, readonly (readonly ResourceDef[])[]>();
  readonly #resourceByName = new Map<string, ResourceDef>();
  /** accessType -> every access type it grants (itself included), transitively. */
  readonly impliedGrants: ReadonlyMap<string, ReadonlySet<string>>;
  /** Names of the service's own access types (no markers), in definition order. */
  readonly accessTypeNames: readonly string[];
  /** Access types plus marker access types, lower-cased. */
  readonly knownAccessTypes: ReadonlySet<string>;

  constructor(serviceDef: ServiceDef) {
    this.serviceDef = serviceDef;
    for (const r of serviceDef.resources) this.#resourceByName.set(r.name, r);
    this.#hierarchies.set(0, computeHierarchies(serviceDef.resources));
    this.#hierarchies.set(POLICY_TYPE_DATAMASK, computeHierarchies(this.#restricted(serviceDef.dataMaskDef.resources)));
    this.#hierarchies.set(POLICY_TYPE_ROWFILTER, computeHierarchies(this.#restricted(serviceDef.rowFilterDef.resources)));
    this.accessTypeNames = serviceDef.accessTypes.map((a) => a.name);
    this.impliedGrants = computeImpliedGrants([...serviceDef.accessTypes, ...serviceDef.markerAccessTypes]);
    const known = new Set<string>(['_any', '_admin']);
    for (const a of [...serviceDef.accessTypes, ...serviceDef.markerAccessTypes, ...serviceDef.dataMaskDef.accessTypes, ...serviceDef.rowFilterDef.accessTypes]) known.add(a.name.toLowerCase());
    this.knownAccessTypes = known;
  }

  /** dataMaskDef/rowFilterDef resources name service resources; take the full definitions. */
  #restricted(defs: readonly ResourceDef[]): ResourceDef[] {
    return defs.map((d) => {
      const full = this.#resourceByName.get(d.name);
      return full ? { ...full, parent: d.parent || (defs.some((x) => x.name === full.parent) ? full.parent : ''), isValidLeaf: d.isValidLeaf ?? full.isValidLeaf } : d;
    });
  }

  /** The resource definition named `name`. */
  resourceDef(name: string): ResourceDef | undefined {
    return this.#resourceByName.get(name);
  }

  /** Every hierarchy of a policy type (0 = access, also used for audit). */
  hierarchies(policyType: number): readonly (readonly ResourceDef[])[] {
    return this.#hierarchies.get(policyType === POLICY_TYPE_DATAMASK || policyType === POLICY_TYPE_ROWFILTER ? policyType : 0)!;
  }

  /** Hierarchies that contain every one of `keys` (RangerServiceDefHelper.getResourceHierarchies). */
  hierarchiesWith(policyType: number, keys: Iterable<string>): (readonly ResourceDef[])[] {
    const ks = [...keys];
    return this.hierarchies(policyType).filter((h) => ks.every((k) => h.some((d) => d.name === k)));
  }

  /** True when `keys` are exactly (requireExact) or a gap-free prefix of one hierarchy. */
  isValidHierarchy(policyType: number, keys: ReadonlySet<string>, requireExact: boolean): boolean {
    if (keys.size === 0) return true;
    for (const h of this.hierarchiesWith(policyType, keys)) {
      if (requireExact ? h.length === keys.size : isHierarchyValidForResources(h, keys)) return true;
    }
    return false;
  }
}

/** No gap: once a level is absent, no deeper level is present (isHierarchyValidForResources). */
export function isHierarchyValidForResources(hierarchy: readonly ResourceDef[] | undefined, keys: ReadonlySet<string> | { has(k: string): boolean }): boolean {
  if (!hierarchy) return false;
  let skipped = false;
  for (const d of hierarchy) {
    if (!keys.has(d.name)) skipped = true;
    else if (skipped) return false;
  }
  return true;
}

function computeHierarchies(defs: readonly ResourceDef[]): (readonly ResourceDef[])[] {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const children = new Map<string, ResourceDef[]>();
  for (const d of defs) {
    if (d.parent && byName.has(d.parent)) {
      const list = children.get(d.parent) ?? [];
      list.push(d);
      children.set(d.parent, list);
    }
  }
  const out: (readonly ResourceDef[])[] = [];
  const walk = (d: ResourceDef, path: ResourceDef[]): void => {
    const p = [...path, d];
    const kids = children.get(d.name) ?? [];
    if (kids.length === 0 || d.isValidLeaf === true) out.push(p);
    for (const k of kids) walk(k, p);
  };
  for (const d of defs) if (!d.parent || !byName.has(d.parent)) walk(d, []);
  return out;
}

function computeImpliedGrants(defs: readonly AccessTypeDef[]): Map<string, Set<string>> {
  const direct = new Map<string, string[]>();
  for (const d of defs) direct.set(d.name.toLowerCase(), d.impliedGrants.map((g) => g.toLowerCase()));
  const out = new Map<string, Set<string>>();
  for (const name of direct.keys()) {
    const seen = new Set<string>([name]);
    const stack = [name];
    while (stack.length) {
      for (const g of direct.get(stack.pop()!) ?? []) {
        if (!seen.has(g)) {
          seen.add(g);
          stack.push(g);
        }
      }
    }
    out.set(name, seen);
  }
  return out;
}

/**
 * A tag service definition seen by one component (ServiceDefUtil.normalizeAccessTypeDefs):
 * access types named `component:x` become `x`; other components' types are dropped.
 */
export function normalizeTagServiceDef(tagDef: ServiceDef, componentType: string): ServiceDef {
  const prefix = `${componentType}:`;
  const strip = (list: readonly AccessTypeDef[]): AccessTypeDef[] => list.flatMap((a) => {
    const name = stripComponent(a.name, prefix);
    if (name === undefined) return [];
    return [{ name, impliedGrants: a.impliedGrants.flatMap((g) => stripComponent(g, prefix) ?? []) }];
  });
  return { ...tagDef, accessTypes: strip(tagDef.accessTypes), markerAccessTypes: strip(tagDef.markerAccessTypes) };
}

/** `hive:select` -> `select` for component hive; undefined for another component; unprefixed names unchanged. */
export function stripComponent(type: string, prefix: string): string | undefined {
  const idx = type.indexOf(':');
  if (idx === -1) return type;
  return type.startsWith(prefix) ? type.slice(prefix.length) : undefined;
}
