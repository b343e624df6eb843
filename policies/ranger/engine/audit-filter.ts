/**
 * Audit filters (Ranger's RangerAuditPolicyEvaluator): the service config
 * `ranger.plugin.audit.filters` lists rules such as
 * `{'accessResult': 'DENIED', 'isAudited': true}` or
 * `{'users': ['x'], 'resources': {...}, 'isAudited': false}`. After a
 * decision, the first rule that matches (result, users/groups/roles, actions,
 * access types, resources) decides whether it is audited. The tag service's
 * filters (tagPolicies.serviceConfig) are tried first, once per tag of the
 * request, with the tag as their resource. The value is Java-lenient JSON
 * (single quotes), read by a small tolerant reader.
 */
import { JsonReader, readPolicyResources } from './model.ts';
import { PolicyResourceMatcher } from './policy-resource-matcher.ts';
import type { EvalRequest, RangerTag } from './request.ts';
import type { ServiceDefHelper } from './service-def.ts';

/** One audit filter rule. */
export class AuditFilter {
  readonly isAudited: boolean;
  readonly #accessResult: 'ALLOWED' | 'DENIED' | undefined;
  readonly #users: ReadonlySet<string>;
  readonly #groups: ReadonlySet<string>;
  readonly #roles: ReadonlySet<string>;
  readonly #actions: ReadonlySet<string>;
  readonly #accessTypes: ReadonlySet<string>;
  readonly #resources: PolicyResourceMatcher | undefined;

  constructor(helper: ServiceDefHelper, o: Record<string, unknown>, path: string, r: JsonReader) {
    this.isAudited = r.bool(o.isAudited, `${path}.isAudited`, true);
    const ar = r.str(o.accessResult, `${path}.accessResult`).toUpperCase();
    this.#accessResult = ar === 'ALLOWED' || ar === 'DENIED' ? ar : undefined;
    this.#users = new Set(r.strs(o.users, `${path}.users`));
    this.#groups = new Set(r.strs(o.groups, `${path}.groups`));
    this.#roles = new Set(r.strs(o.roles, `${path}.roles`));
    this.#actions = new Set(r.strs(o.actions, `${path}.actions`));
    this.#accessTypes = new Set(r.strs(o.accessTypes, `${path}.accessTypes`).map((s) => s.toLowerCase()));
    const res = readPolicyResources(r, o.resources, `${path}.resources`);
    this.#resources = Object.keys(res).length ? new PolicyResourceMatcher(helper, 0, res) : undefined;
  }

  /** Does the rule apply to this request and decision? */
  matches(req: EvalRequest, isAllowed: boolean): boolean {
    if (!this.#matchesItem(req, isAllowed)) return false;
    if (this.#resources) {
      const t = this.#resources.getMatchType(req.resource, req.elementScopes, req.env);
      // RangerAuditPolicyEvaluator.matchResource: any match for `_any` or SELF_OR_DESCENDANTS requests
      const anyMatch = req.isAccessTypeAny || req.scope === 'SELF_OR_DESCENDANTS';
      if (anyMatch ? t === 'NONE' : t !== 'SELF' && t !== 'SELF_AND_ALL_DESCENDANTS') return false;
    }
    return true;
  }

  /**
   * Does the rule, as an audit filter of the tag service, apply to this request for one of its
   * tags? As RangerAuditPolicyEvaluator with a RangerTagAccessRequest: the rule's resources
   * must match the tag type, and the tag must be on the resource itself (matchType SELF, or
   * ANCESTOR, which counts as SELF) unless any access or descendants are asked for.
   */
  matchesTag(req: EvalRequest, tag: RangerTag, isAllowed: boolean): boolean {
    if (!this.#matchesItem(req, isAllowed)) return false;
    if (this.#resources) {
      const t = this.#resources.getMatchType({ tag: tag.type }, undefined, req.env);
      if (t !== 'SELF' && t !== 'SELF_AND_ALL_DESCENDANTS') return false;
      const tagMatch = tag.matchType ?? 'SELF';
      const self = tagMatch === 'SELF' || tagMatch === 'ANCESTOR' || tagMatch === 'SELF_AND_ALL_DESCENDANTS';
      if (!self && !req.isAccessTypeAny && req.scope !== 'SELF_OR_DESCENDANTS') return false;
    }
    return true;
  }

  #matchesItem(req: EvalRequest, isAllowed: boolean): boolean {
    if (this.#accessResult && (this.#accessResult === 'ALLOWED') !== isAllowed) return false;
    if (this.#users.size || this.#groups.size || this.#roles.size) {
      const ok = this.#users.has(req.user) || [...req.userGroups].some((g) => this.#groups.has(g)) || [...req.userRoles].some((x) => this.#roles.has(x));
      if (!ok) return false;
    }
    // actions and accessTypes: either may match (RangerAuditPolicyEvaluator turns both into one item)
    const actionOk = this.#actions.size > 0 && this.#actions.has(req.original.action ?? '');
    const typeOk = this.#accessTypes.size > 0 && this.#accessTypes.has(req.accessType.toLowerCase());
    if ((this.#actions.size || this.#accessTypes.size) && !actionOk && !typeOk) return false;
    return true;
  }
}

/** Reads the audit filters of a service config value; problems become warnings. */
export function readAuditFilters(helper: ServiceDefHelper, text: string | undefined, warn: (msg: string) => void): AuditFilter[] {
  if (!text) return [];
  let json: unknown;
  try {
    json = parseLenientJson(text);
  } catch (e) {
    warn(`serviceConfig."ranger.plugin.audit.filters": not JSON (${(e as Error).message}); audit filters ignored`);
    return [];
  }
  const r = new JsonReader();
  const out = r.arr(json, 'auditFilters').flatMap((x, i) => {
    const o = r.obj(x, `auditFilters[${i}]`, true);
    return o ? [new AuditFilter(helper, o, `auditFilters[${i}]`, r)] : [];
  });
  for (const e of r.errors) warn(`serviceConfig."ranger.plugin.audit.filters": ${e.message}`);
  return out;
}

/** JSON that also accepts single-quoted strings (Gson's lenient mode, as Ranger writes these). */
export function parseLenientJson(text: string): unknown {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === "'") {
      let s = '';
      for (i++; i < text.length && text[i] !== "'"; i++) {
        if (text[i] === '\\') s += text[++i];
        else s += text[i];
      }
      out += JSON.stringify(s);
    } else {
      out += c;
    }
  }
  return JSON.parse(out);
}
