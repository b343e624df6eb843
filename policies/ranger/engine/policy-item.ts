/**
 * One policy item (allow, deny, allow-exception, deny-exception, data-mask
 * or row-filter): Ranger's RangerDefaultPolicyItemEvaluator. An item matches
 * a request when the user is listed (or `{USER}`, or `{OWNER}` and owns the
 * resource), a group is (or `public`), or a role is; when it allows the
 * access type (with implied grants: `all` -> every type, marker types like
 * `_READ`); `_admin` needs delegateAdmin; and when all its conditions hold.
 */
import { createCondition, type ConditionEvaluator } from './conditions/condition.ts';
import type { PolicyItem } from './model.ts';
import type { EvalRequest } from './request.ts';
import type { ServiceDefHelper } from './service-def.ts';

/** Which list of a policy an item comes from. */
export type ItemKind = 'allow' | 'deny' | 'allowException' | 'denyException' | 'dataMask' | 'rowFilter';

/** Ranger's special user and group names. */
export const USER_CURRENT = '{USER}';
/** The resource owner. */
export const RESOURCE_OWNER = '{OWNER}';
/** Every user's group. */
export const GROUP_PUBLIC = 'public';

/** A compiled policy item. */
export class PolicyItemEvaluator {
  readonly kind: ItemKind;
  readonly item: PolicyItem;
  readonly #users: ReadonlySet<string>;
  readonly #groups: ReadonlySet<string>;
  readonly #roles: ReadonlySet<string>;
  readonly #hasPublic: boolean;
  readonly #hasCurrentUser: boolean;
  readonly #hasOwner: boolean;
  /** Allowed access types, lower-cased, implied grants included. */
  readonly accesses: ReadonlySet<string>;
  readonly #conditions: readonly ConditionEvaluator[];

  constructor(helper: ServiceDefHelper, kind: ItemKind, item: PolicyItem, where: string, warn: (msg: string) => void) {
    this.kind = kind;
    this.item = item;
    this.#users = new Set(item.users);
    this.#groups = new Set(item.groups);
    this.#roles = new Set(item.roles);
    this.#hasPublic = this.#groups.has(GROUP_PUBLIC);
    this.#hasCurrentUser = this.#users.has(USER_CURRENT);
    this.#hasOwner = this.#users.has(RESOURCE_OWNER);
    const acc = new Set<string>();
    for (const a of item.accesses) {
      if (!a.isAllowed) continue;
      const t = a.type.toLowerCase();
      for (const g of helper.impliedGrants.get(t) ?? [t]) acc.add(g);
    }
    this.accesses = acc;
    this.#conditions = item.conditions.map((c, i) => createCondition(helper, c, `${where}.conditions[${i}]`, warn));
  }

  /** Does the item name this user, one of their groups or roles, or the owner? */
  matchUserGroupAndOwner(req: EvalRequest): boolean {
    if (this.#hasCurrentUser || this.#users.has(req.user)) return true;
    if (this.#hasPublic) return true;
    for (const g of this.#groups) if (req.userGroups.has(g)) return true;
    if (this.#roles.size > 0) for (const r of this.#roles) if (req.userRoles.has(r)) return true;
    return this.#hasOwner && req.owner !== undefined && req.user === req.owner;
  }

  /** Does the item allow `accessType` (`_admin`: delegateAdmin; `_any`: any access)? */
  matchAccessType(accessType: string): boolean {
    if (accessType === '_admin') return this.item.delegateAdmin;
    if (accessType === '_any') return this.accesses.size > 0;
    if (this.accesses.size === 0) return accessType === '';
    return this.accesses.has(accessType.toLowerCase());
  }

  /** Do all the item's conditions hold? */
  matchConditions(req: EvalRequest): boolean {
    for (const c of this.#conditions) if (!c.isMatched(req)) return false;
    return true;
  }

  /** RangerDefaultPolicyItemEvaluator.isMatch for one access type. */
  isMatch(req: EvalRequest, accessType: string): boolean {
    if (!this.matchUserGroupAndOwner(req)) return false;
    if (accessType === '_admin') {
      if (!this.item.delegateAdmin) return false;
    } else if (!this.accesses.has(accessType.toLowerCase()) && !(accessType === '_any' && this.accesses.size > 0)) {
      return false;
    }
    return this.matchConditions(req);
  }
}

/** The first item of `items` that matches, unless an exception item also matches. */
export function matchingItem(items: readonly PolicyItemEvaluator[], exceptions: readonly PolicyItemEvaluator[], req: EvalRequest, accessType: string): PolicyItemEvaluator | undefined {
  let ret: PolicyItemEvaluator | undefined;
  for (const i of items) {
    if (i.isMatch(req, accessType)) {
      ret = i;
      break;
    }
  }
  if (ret) for (const e of exceptions) if (e.isMatch(req, accessType)) return undefined;
  return ret;
}
