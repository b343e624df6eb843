/**
 * Ranger roles (the /service/roles/download payload, RangerRoles): which
 * roles a user holds, directly, through one of their groups (the `public`
 * group included), or through a role that is a member of another role
 * (nested, to any depth; cycles are harmless). As RangerRolesUtil.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { JsonReader } from './model.ts';

/** A resolved role membership table. */
export class RoleTable {
  readonly #userRoles = new Map<string, Set<string>>();
  readonly #groupRoles = new Map<string, Set<string>>();
  readonly #roleRoles = new Map<string, Set<string>>();
  /** The roles download's roleVersion, if any. */
  readonly roleVersion: number | undefined;

  constructor(roleVersion?: number) {
    this.roleVersion = roleVersion;
  }

  /** Reads a RangerRoles JSON ({ rangerRoles: [{ name, users, groups, roles }] }). */
  static read(json: unknown, errors: ConfigError[]): RoleTable {
    const r = new JsonReader();
    const o = r.obj(json, 'roles', true);
    const table = new RoleTable(o && o.roleVersion !== undefined ? r.num(o.roleVersion, 'roles.roleVersion', 0) : undefined);
    if (o) {
      r.arr(o.rangerRoles, 'roles.rangerRoles').forEach((x, i) => {
        const p = `roles.rangerRoles[${i}]`;
        const ro = r.obj(x, p, true);
        if (!ro) return;
        const name = r.str(ro.name, `${p}.name`);
        if (!name) r.fail(`${p}.name`, 'is required');
        const members = (key: string): string[] => r.arr(ro[key], `${p}.${key}`).flatMap((m, j) => {
          const mo = r.obj(m, `${p}.${key}[${j}]`, true);
          return mo ? [r.str(mo.name, `${p}.${key}[${j}].name`)] : [];
        });
        for (const u of members('users')) table.addUser(u, name);
        for (const g of members('groups')) table.addGroup(g, name);
        for (const m of members('roles')) table.addRole(m, name);
      });
    }
    errors.push(...r.errors);
    return table;
  }

  /** User `user` is a member of `role`. */
  addUser(user: string, role: string): void {
    add(this.#userRoles, user, role);
  }
  /** Group `group` is a member of `role`. */
  addGroup(group: string, role: string): void {
    add(this.#groupRoles, group, role);
  }
  /** Role `member` is a member of `role`. */
  addRole(member: string, role: string): void {
    add(this.#roleRoles, member, role);
  }

  /** True when no role is known. */
  get isEmpty(): boolean {
    return this.#userRoles.size === 0 && this.#groupRoles.size === 0;
  }

  /** Every role of a user with these groups, nested roles included. */
  rolesFor(user: string, groups: Iterable<string>, extra?: Iterable<string>): Set<string> {
    const out = new Set<string>(extra ?? []);
    for (const r of this.#userRoles.get(user) ?? []) out.add(r);
    for (const g of groups) for (const r of this.#groupRoles.get(g) ?? []) out.add(r);
    for (const r of this.#groupRoles.get('public') ?? []) out.add(r);
    const stack = [...out];
    while (stack.length) {
      for (const parent of this.#roleRoles.get(stack.pop()!) ?? []) {
        if (!out.has(parent)) {
          out.add(parent);
          stack.push(parent);
        }
      }
    }
    return out;
  }
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}
