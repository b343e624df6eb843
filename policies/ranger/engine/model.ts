/**
 * The Ranger data model (RangerServiceDef, RangerPolicy, RangerPolicyItem ...)
 * read from the JSON that Ranger Admin serves (ServicePolicies download) into
 * frozen, fully defaulted objects. Reading never throws: every problem is
 * pushed to a ConfigError list with the JSON path that names it, so a caller
 * can refuse a download with every reason at once.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';

/** RangerPolicy.policyType values. */
export const POLICY_TYPE_ACCESS = 0;
/** Data-mask policy. */
export const POLICY_TYPE_DATAMASK = 1;
/** Row-filter policy. */
export const POLICY_TYPE_ROWFILTER = 2;
/** Audit policy (built from the `ranger.plugin.audit.filters` service config). */
export const POLICY_TYPE_AUDIT = 3;

/** RangerServiceDef.RangerResourceDef. */
export interface ResourceDef {
  readonly name: string;
  readonly type: string;
  readonly level: number;
  readonly parent: string;
  readonly mandatory: boolean;
  readonly matcher: string;
  readonly matcherOptions: Readonly<Record<string, string>>;
  readonly recursiveSupported: boolean;
  readonly excludesSupported: boolean;
  /** Ranger's isValidLeaf: a hierarchy may end here even though children exist. */
  readonly isValidLeaf: boolean | undefined;
}

/** RangerServiceDef.RangerAccessTypeDef (also used for marker access types). */
export interface AccessTypeDef {
  readonly name: string;
  readonly impliedGrants: readonly string[];
}

/** RangerServiceDef.RangerPolicyConditionDef. */
export interface ConditionDef {
  readonly name: string;
  readonly evaluator: string;
  readonly evaluatorOptions: Readonly<Record<string, string>>;
}

/** RangerServiceDef.RangerContextEnricherDef. */
export interface EnricherDef {
  readonly name: string;
  readonly enricher: string;
  readonly enricherOptions: Readonly<Record<string, string>>;
}

/** dataMaskDef / rowFilterDef: the resources and access types those policies may use. */
export interface RestrictedDef {
  readonly resources: readonly ResourceDef[];
  readonly accessTypes: readonly AccessTypeDef[];
}

/** RangerServiceDef. */
export interface ServiceDef {
  readonly name: string;
  readonly resources: readonly ResourceDef[];
  readonly accessTypes: readonly AccessTypeDef[];
  readonly markerAccessTypes: readonly AccessTypeDef[];
  readonly policyConditions: readonly ConditionDef[];
  readonly contextEnrichers: readonly EnricherDef[];
  readonly dataMaskDef: RestrictedDef;
  readonly rowFilterDef: RestrictedDef;
  readonly options: Readonly<Record<string, string>>;
}

/** RangerPolicy.RangerPolicyResource. */
export interface PolicyResource {
  readonly values: readonly string[];
  readonly isExcludes: boolean;
  readonly isRecursive: boolean;
}

/** RangerPolicyItemCondition. */
export interface ItemCondition {
  readonly type: string;
  readonly values: readonly string[];
}

/** RangerPolicyItem (and its data-mask / row-filter variants). */
export interface PolicyItem {
  readonly accesses: readonly { readonly type: string; readonly isAllowed: boolean }[];
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly conditions: readonly ItemCondition[];
  readonly delegateAdmin: boolean;
  readonly dataMaskInfo?: { readonly dataMaskType: string; readonly conditionExpr: string | null; readonly valueExpr: string | null };
  readonly rowFilterInfo?: { readonly filterExpr: string | null };
}

/** RangerValiditySchedule (times as Ranger's "yyyy/MM/dd HH:mm:ss" strings). */
export interface ValiditySchedule {
  readonly startTime: string;
  readonly endTime: string;
  readonly timeZone: string;
  readonly recurrences: readonly ValidityRecurrence[];
}

/** RangerValidityRecurrence. */
export interface ValidityRecurrence {
  readonly schedule: Readonly<Record<'minute' | 'hour' | 'dayOfMonth' | 'dayOfWeek' | 'month' | 'year', string>>;
  readonly interval: { readonly days: number; readonly hours: number; readonly minutes: number };
}

/** RangerPolicy. */
export interface Policy {
  readonly id: number;
  readonly name: string;
  readonly version: number | undefined;
  readonly isEnabled: boolean;
  readonly isAuditEnabled: boolean;
  readonly policyType: number;
  readonly policyPriority: number;
  readonly resources: Readonly<Record<string, PolicyResource>>;
  readonly additionalResources: readonly Readonly<Record<string, PolicyResource>>[];
  readonly conditions: readonly ItemCondition[];
  readonly policyItems: readonly PolicyItem[];
  readonly denyPolicyItems: readonly PolicyItem[];
  readonly allowExceptions: readonly PolicyItem[];
  readonly denyExceptions: readonly PolicyItem[];
  readonly dataMaskPolicyItems: readonly PolicyItem[];
  readonly rowFilterPolicyItems: readonly PolicyItem[];
  readonly validitySchedules: readonly ValiditySchedule[];
  readonly isDenyAllElse: boolean;
  readonly zoneName: string | undefined;
}

type Json = Record<string, unknown>;

/** A reader that records problems at JSON paths instead of throwing. */
export class JsonReader {
  readonly errors: ConfigError[] = [];
  fail(path: string, reason: string): void {
    this.errors.push(new ConfigError(path, reason));
  }
  obj(v: unknown, path: string, required = false): Json | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.fail(path, `must be an object, not ${kind(v)}`);
      return undefined;
    }
    return v as Json;
  }
  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.fail(path, `must be an array, not ${kind(v)}`);
      return [];
    }
    return v;
  }
  str(v: unknown, path: string, dflt = ''): string {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.fail(path, `must be a string, not ${kind(v)}`);
    return dflt;
  }
  strs(v: unknown, path: string): string[] {
    return this.arr(v, path).map((x, i) => this.str(x, `${path}[${i}]`));
  }
  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    this.fail(path, `must be a boolean, not ${kind(v)}`);
    return dflt;
  }
  num(v: unknown, path: string, dflt: number): number {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    this.fail(path, `must be a number, not ${kind(v)}`);
    return dflt;
  }
  /** A string map whose values may be JSON booleans/numbers (matcherOptions are written both ways). */
  options(v: unknown, path: string): Record<string, string> {
    const o = this.obj(v, path);
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    if (!o) return out;
    for (const [k, x] of Object.entries(o)) out[k] = this.str(x, `${path}.${k}`);
    return out;
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function readResourceDef(r: JsonReader, v: unknown, path: string): ResourceDef | undefined {
  const o = r.obj(v, path, true);
  if (!o) return undefined;
  const name = r.str(o.name, `${path}.name`);
  if (!name) r.fail(`${path}.name`, 'is required');
  return Object.freeze({
    name,
    type: r.str(o.type, `${path}.type`, 'string'),
    level: r.num(o.level, `${path}.level`, 1),
    parent: r.str(o.parent, `${path}.parent`),
    mandatory: r.bool(o.mandatory, `${path}.mandatory`, false),
    matcher: r.str(o.matcher, `${path}.matcher`, 'org.apache.ranger.plugin.resourcematcher.RangerDefaultResourceMatcher'),
    matcherOptions: Object.freeze(r.options(o.matcherOptions, `${path}.matcherOptions`)),
    recursiveSupported: r.bool(o.recursiveSupported, `${path}.recursiveSupported`, false),
    excludesSupported: r.bool(o.excludesSupported, `${path}.excludesSupported`, false),
    isValidLeaf: o.isValidLeaf === undefined || o.isValidLeaf === null ? undefined : r.bool(o.isValidLeaf, `${path}.isValidLeaf`, false),
  });
}

function readAccessTypes(r: JsonReader, v: unknown, path: string): AccessTypeDef[] {
  return r.arr(v, path).flatMap((x, i) => {
    const o = r.obj(x, `${path}[${i}]`, true);
    if (!o) return [];
    const name = r.str(o.name, `${path}[${i}].name`);
    if (!name) r.fail(`${path}[${i}].name`, 'is required');
    return [Object.freeze({ name, impliedGrants: Object.freeze(r.strs(o.impliedGrants, `${path}[${i}].impliedGrants`)) })];
  });
}

function readRestricted(r: JsonReader, v: unknown, path: string): RestrictedDef {
  const o = r.obj(v, path);
  if (!o) return { resources: [], accessTypes: [] };
  return Object.freeze({
    resources: r.arr(o.resources, `${path}.resources`).flatMap((x, i) => readResourceDef(r, x, `${path}.resources[${i}]`) ?? []),
    accessTypes: readAccessTypes(r, o.accessTypes, `${path}.accessTypes`),
  });
}

/** Reads a RangerServiceDef. */
export function readServiceDef(r: JsonReader, v: unknown, path: string): ServiceDef | undefined {
  const o = r.obj(v, path, true);
  if (!o) return undefined;
  const resources = r.arr(o.resources, `${path}.resources`).flatMap((x, i) => readResourceDef(r, x, `${path}.resources[${i}]`) ?? []);
  const names = new Set(resources.map((d) => d.name));
  resources.forEach((d, i) => {
    if (d.parent && !names.has(d.parent)) r.fail(`${path}.resources[${i}].parent`, `names '${d.parent}', which is not a resource of this service definition`);
  });
  const dataMaskDef = readRestricted(r, o.dataMaskDef, `${path}.dataMaskDef`);
  const rowFilterDef = readRestricted(r, o.rowFilterDef, `${path}.rowFilterDef`);
  return Object.freeze({
    name: r.str(o.name, `${path}.name`),
    resources,
    accessTypes: readAccessTypes(r, o.accessTypes, `${path}.accessTypes`),
    markerAccessTypes: readAccessTypes(r, o.markerAccessTypes, `${path}.markerAccessTypes`),
    policyConditions: r.arr(o.policyConditions, `${path}.policyConditions`).flatMap((x, i) => {
      const c = r.obj(x, `${path}.policyConditions[${i}]`, true);
      if (!c) return [];
      return [{ name: r.str(c.name, `${path}.policyConditions[${i}].name`), evaluator: r.str(c.evaluator, `${path}.policyConditions[${i}].evaluator`), evaluatorOptions: r.options(c.evaluatorOptions, `${path}.policyConditions[${i}].evaluatorOptions`) }];
    }),
    contextEnrichers: r.arr(o.contextEnrichers, `${path}.contextEnrichers`).flatMap((x, i) => {
      const c = r.obj(x, `${path}.contextEnrichers[${i}]`, true);
      if (!c) return [];
      return [{ name: r.str(c.name, `${path}.contextEnrichers[${i}].name`), enricher: r.str(c.enricher, `${path}.contextEnrichers[${i}].enricher`), enricherOptions: r.options(c.enricherOptions, `${path}.contextEnrichers[${i}].enricherOptions`) }];
    }),
    dataMaskDef,
    rowFilterDef,
    options: Object.freeze(r.options(o.options, `${path}.options`)),
  });
}

function readConditions(r: JsonReader, v: unknown, path: string): ItemCondition[] {
  return r.arr(v, path).flatMap((x, i) => {
    const o = r.obj(x, `${path}[${i}]`, true);
    if (!o) return [];
    return [Object.freeze({ type: r.str(o.type, `${path}[${i}].type`), values: Object.freeze(r.strs(o.values, `${path}[${i}].values`)) })];
  });
}

function readItems(r: JsonReader, v: unknown, path: string): PolicyItem[] {
  return r.arr(v, path).flatMap((x, i) => {
    const p = `${path}[${i}]`;
    const o = r.obj(x, p, true);
    if (!o) return [];
    const item: {
      -readonly [K in keyof PolicyItem]: PolicyItem[K];
    } = {
      accesses: r.arr(o.accesses, `${p}.accesses`).flatMap((a, j) => {
        const ao = r.obj(a, `${p}.accesses[${j}]`, true);
        if (!ao) return [];
        const type = r.str(ao.type, `${p}.accesses[${j}].type`);
        if (!type) r.fail(`${p}.accesses[${j}].type`, 'is required');
        return [{ type, isAllowed: r.bool(ao.isAllowed, `${p}.accesses[${j}].isAllowed`, true) }];
      }),
      users: r.strs(o.users, `${p}.users`),
      groups: r.strs(o.groups, `${p}.groups`),
      roles: r.strs(o.roles, `${p}.roles`),
      conditions: readConditions(r, o.conditions, `${p}.conditions`),
      delegateAdmin: r.bool(o.delegateAdmin, `${p}.delegateAdmin`, false),
    };
    const dm = r.obj(o.dataMaskInfo, `${p}.dataMaskInfo`);
    if (dm) {
      item.dataMaskInfo = {
        dataMaskType: r.str(dm.dataMaskType, `${p}.dataMaskInfo.dataMaskType`),
        conditionExpr: dm.conditionExpr == null ? null : r.str(dm.conditionExpr, `${p}.dataMaskInfo.conditionExpr`),
        valueExpr: dm.valueExpr == null ? null : r.str(dm.valueExpr, `${p}.dataMaskInfo.valueExpr`),
      };
    }
    const rf = r.obj(o.rowFilterInfo, `${p}.rowFilterInfo`);
    if (rf) item.rowFilterInfo = { filterExpr: rf.filterExpr == null ? null : r.str(rf.filterExpr, `${p}.rowFilterInfo.filterExpr`) };
    return [Object.freeze(item)];
  });
}

/** Reads a map of RangerPolicyResource. */
export function readPolicyResources(r: JsonReader, v: unknown, path: string): Record<string, PolicyResource> {
  const o = r.obj(v, path);
  const out: Record<string, PolicyResource> = Object.create(null) as Record<string, PolicyResource>;
  if (!o) return out;
  for (const [k, x] of Object.entries(o)) {
    const ro = r.obj(x, `${path}.${k}`, true);
    if (!ro) continue;
    out[k] = Object.freeze({
      values: Object.freeze(r.strs(ro.values, `${path}.${k}.values`)),
      isExcludes: r.bool(ro.isExcludes, `${path}.${k}.isExcludes`, false),
      isRecursive: r.bool(ro.isRecursive, `${path}.${k}.isRecursive`, false),
    });
  }
  return out;
}

/** Reads a RangerValiditySchedule. */
export function readValiditySchedule(r: JsonReader, v: unknown, path: string): ValiditySchedule | undefined {
  const o = r.obj(v, path, true);
  if (!o) return undefined;
  return Object.freeze({
    startTime: r.str(o.startTime, `${path}.startTime`),
    endTime: r.str(o.endTime, `${path}.endTime`),
    timeZone: r.str(o.timeZone, `${path}.timeZone`),
    recurrences: r.arr(o.recurrences, `${path}.recurrences`).flatMap((x, i) => {
      const ro = r.obj(x, `${path}.recurrences[${i}]`, true);
      if (!ro) return [];
      const s = r.obj(ro.schedule, `${path}.recurrences[${i}].schedule`) ?? {};
      const iv = r.obj(ro.interval, `${path}.recurrences[${i}].interval`) ?? {};
      const sp = `${path}.recurrences[${i}].schedule`;
      return [{
        schedule: {
          minute: r.str(s.minute, `${sp}.minute`), hour: r.str(s.hour, `${sp}.hour`), dayOfMonth: r.str(s.dayOfMonth, `${sp}.dayOfMonth`),
          dayOfWeek: r.str(s.dayOfWeek, `${sp}.dayOfWeek`), month: r.str(s.month, `${sp}.month`), year: r.str(s.year, `${sp}.year`),
        },
        interval: {
          days: r.num(iv.days, `${path}.recurrences[${i}].interval.days`, 0),
          hours: r.num(iv.hours, `${path}.recurrences[${i}].interval.hours`, 0),
          minutes: r.num(iv.minutes, `${path}.recurrences[${i}].interval.minutes`, 0),
        },
      }];
    }),
  });
}

/** Reads a RangerPolicy. */
export function readPolicy(r: JsonReader, v: unknown, path: string): Policy | undefined {
  const o = r.obj(v, path, true);
  if (!o) return undefined;
  if (o.id === undefined || o.id === null) r.fail(`${path}.id`, 'is required');
  return Object.freeze({
    id: r.num(o.id, `${path}.id`, -1),
    name: r.str(o.name, `${path}.name`),
    version: o.version === undefined || o.version === null ? undefined : r.num(o.version, `${path}.version`, 0),
    isEnabled: r.bool(o.isEnabled, `${path}.isEnabled`, true),
    isAuditEnabled: r.bool(o.isAuditEnabled, `${path}.isAuditEnabled`, true),
    policyType: r.num(o.policyType, `${path}.policyType`, POLICY_TYPE_ACCESS),
    policyPriority: r.num(o.policyPriority, `${path}.policyPriority`, 0),
    resources: Object.freeze(readPolicyResources(r, o.resources, `${path}.resources`)),
    additionalResources: r.arr(o.additionalResources, `${path}.additionalResources`).map((x, i) => Object.freeze(readPolicyResources(r, x, `${path}.additionalResources[${i}]`))),
    conditions: readConditions(r, o.conditions, `${path}.conditions`),
    policyItems: readItems(r, o.policyItems, `${path}.policyItems`),
    denyPolicyItems: readItems(r, o.denyPolicyItems, `${path}.denyPolicyItems`),
    allowExceptions: readItems(r, o.allowExceptions, `${path}.allowExceptions`),
    denyExceptions: readItems(r, o.denyExceptions, `${path}.denyExceptions`),
    dataMaskPolicyItems: readItems(r, o.dataMaskPolicyItems, `${path}.dataMaskPolicyItems`),
    rowFilterPolicyItems: readItems(r, o.rowFilterPolicyItems, `${path}.rowFilterPolicyItems`),
    validitySchedules: r.arr(o.validitySchedules, `${path}.validitySchedules`).flatMap((x, i) => readValiditySchedule(r, x, `${path}.validitySchedules[${i}]`) ?? []),
    isDenyAllElse: r.bool(o.isDenyAllElse, `${path}.isDenyAllElse`, false),
    zoneName: o.zoneName === undefined || o.zoneName === null || o.zoneName === '' ? undefined : r.str(o.zoneName, `${path}.zoneName`),
  });
}
