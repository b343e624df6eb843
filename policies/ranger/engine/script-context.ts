/**
 * The sandbox a policy script sees, as Ranger's RangerRequestScriptEvaluator
 * and RangerScriptExecutionContext define it: `ctx` (getRequestContextAttribute,
 * isAccessedAfter/Before on the current tag's date attributes, `ctx.result`),
 * `tagAttr`, `TAG`, `TAGS`, `TAGNAMES`, `USER`, `UG`, `UGNAMES`, `UR`/`URNAMES`,
 * `REQ`, `RES`, `_ctx`, and the macros IS_IN_GROUP, IS_IN_ROLE, HAS_TAG,
 * IS_ACCESS_TIME_AFTER/BEFORE/BETWEEN ... Built from plain data only.
 */
import type { EvalRequest, RangerTag } from './request.ts';
import { HostFunction, ScriptObject, type ScriptValue } from './script-interpreter.ts';

/** Names a script may call as free functions. */
export const SCRIPT_FUNCTIONS: ReadonlySet<string> = new Set([
  'IS_IN_GROUP', 'IS_IN_ROLE', 'IS_IN_ANY_GROUP', 'IS_IN_ANY_ROLE', 'IS_NOT_IN_ANY_GROUP', 'IS_NOT_IN_ANY_ROLE',
  'HAS_TAG', 'HAS_ANY_TAG', 'HAS_NO_TAG', 'IS_ACCESS_TIME_AFTER', 'IS_ACCESS_TIME_BEFORE', 'IS_ACCESS_TIME_BETWEEN',
]);

function toValue(v: unknown, depth = 0): ScriptValue {
  if (v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v as ScriptValue;
  if (depth > 8) return undefined;
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return Object.freeze(v.map((x) => toValue(x, depth + 1)));
  if (v instanceof Set) return Object.freeze([...v].map((x) => toValue(x, depth + 1)));
  if (typeof v === 'object') return new ScriptObject(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toValue(x, depth + 1)] as const));
  return undefined;
}

/** Parses a tag date attribute as Ranger does (yyyy/MM/dd, ISO-8601 and a few more); UTC. */
export function parseTagDate(s: string): number | undefined {
  let m = /^(\d{4})\/(\d{1,2})\/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?Z?$/.exec(s.trim());
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), +(m[7] ?? 0));
  m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?Z?$/.exec(s.trim());
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), +(m[7] ?? 0));
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s.trim());
  if (m) return Date.UTC(+m[3], +m[1] - 1, +m[2]);
  return undefined;
}

function tagObject(tag: RangerTag): ScriptObject {
  const attrs = Object.entries(tag.attributes ?? {});
  return new ScriptObject([['_type', tag.type], ['_matchType', tag.matchType ?? 'SELF'], ...attrs.map(([k, v]) => [k, v] as const)]);
}

/** The global names of a script run for `req` (with `ctx.result` writable). */
export function scriptGlobals(req: EvalRequest): Map<string, ScriptValue> {
  const access = req.accessTime.getTime();
  const tag = req.tag;
  const tagAttrs = tag?.attributes ?? {};
  const dateAttr = (name: ScriptValue): number | undefined => {
    const v = typeof name === 'string' && Object.hasOwn(tagAttrs, name) ? tagAttrs[name] : undefined;
    return v === undefined ? undefined : parseTagDate(v);
  };
  const ctx = new ScriptObject([
    ['result', false],
    ['getRequestContextAttribute', new HostFunction('getRequestContextAttribute', (a) => {
      const k = String(a[0]);
      return Object.hasOwn(req.context, k) ? toValue(req.context[k]) : undefined;
    })],
    ['isAccessedAfter', new HostFunction('isAccessedAfter', (a) => {
      const d = dateAttr(a[0]);
      return d === undefined || access >= d;
    })],
    ['isAccessedBefore', new HostFunction('isAccessedBefore', (a) => {
      const d = dateAttr(a[0]);
      return d !== undefined && access <= d;
    })],
    ['getUser', new HostFunction('getUser', () => req.user)],
    ['getUserGroups', new HostFunction('getUserGroups', () => Object.freeze([...req.userGroups]))],
    ['getUserRoles', new HostFunction('getUserRoles', () => Object.freeze([...req.userRoles]))],
    ['getAccessType', new HostFunction('getAccessType', () => req.accessType)],
    ['getClientIPAddress', new HostFunction('getClientIPAddress', () => req.clientIPAddress)],
    ['getAction', new HostFunction('getAction', () => req.original.action)],
    ['getRequestData', new HostFunction('getRequestData', () => req.original.requestData)],
  ], ['result']);
  const tagAttrObj = new ScriptObject([
    ...Object.entries(tagAttrs).map(([k, v]) => [k, v] as const),
    ['get', new HostFunction('get', (a) => (typeof a[0] === 'string' && Object.hasOwn(tagAttrs, a[0]) ? tagAttrs[a[0]] : undefined))],
  ]);
  const tags = new ScriptObject(req.tags.map((t) => [t.type, tagObject(t)] as const));
  const tagNames = Object.freeze(req.tags.map((t) => t.type));
  const userAttrs = req.original.userAttributes ?? {};
  const user = new ScriptObject([['_name', req.user], ...Object.entries(userAttrs).map(([k, v]) => [k, v] as const)]);
  const groupAttrs = req.original.groupAttributes ?? {};
  const ug = new ScriptObject([...req.userGroups].map((g) => [g, toValue(groupAttrs[g] ?? {})] as const));
  const groups = Object.freeze([...req.userGroups]);
  const roles = Object.freeze([...req.userRoles]);
  const res = toValue(req.resource);
  const reqObj = new ScriptObject([
    ['user', req.user], ['userGroups', groups], ['userRoles', roles], ['accessType', req.accessType],
    ['action', req.original.action], ['clientIPAddress', req.clientIPAddress], ['requestData', req.original.requestData],
    ['accessTime', access], ['resource', res],
  ]);
  const arg = (a: readonly ScriptValue[]): string => String(a[0]);
  const time = (a: ScriptValue): number | undefined => (typeof a === 'string' ? parseTagDate(a) : typeof a === 'number' ? a : undefined);
  const g = new Map<string, ScriptValue>([
    ['ctx', ctx],
    ['tagAttr', tagAttrObj],
    ['tag', tag ? tagObject(tag) : undefined],
    ['TAG', tag ? tagObject(tag) : undefined],
    ['TAGS', tags],
    ['TAGNAMES', tagNames],
    ['USER', user],
    ['UG', ug],
    ['UGROUPS', groups],
    ['UGNAMES', groups],
    ['UR', roles],
    ['UROLES', roles],
    ['URNAMES', roles],
    ['REQ', reqObj],
    ['RES', res],
    ['_ctx', new ScriptObject([['request', reqObj], ['tag', tag ? tagObject(tag) : undefined], ['tags', tags]])],
    ['IS_IN_GROUP', new HostFunction('IS_IN_GROUP', (a) => req.userGroups.has(arg(a)))],
    ['IS_IN_ROLE', new HostFunction('IS_IN_ROLE', (a) => req.userRoles.has(arg(a)))],
    ['IS_IN_ANY_GROUP', new HostFunction('IS_IN_ANY_GROUP', () => req.userGroups.size > 0)],
    ['IS_IN_ANY_ROLE', new HostFunction('IS_IN_ANY_ROLE', () => req.userRoles.size > 0)],
    ['IS_NOT_IN_ANY_GROUP', new HostFunction('IS_NOT_IN_ANY_GROUP', () => req.userGroups.size === 0)],
    ['IS_NOT_IN_ANY_ROLE', new HostFunction('IS_NOT_IN_ANY_ROLE', () => req.userRoles.size === 0)],
    ['HAS_TAG', new HostFunction('HAS_TAG', (a) => req.tags.some((t) => t.type === arg(a)))],
    ['HAS_ANY_TAG', new HostFunction('HAS_ANY_TAG', () => req.tags.length > 0)],
    ['HAS_NO_TAG', new HostFunction('HAS_NO_TAG', () => req.tags.length === 0)],
    ['IS_ACCESS_TIME_AFTER', new HostFunction('IS_ACCESS_TIME_AFTER', (a) => { const t = time(a[0]); return t !== undefined && access > t; })],
    ['IS_ACCESS_TIME_BEFORE', new HostFunction('IS_ACCESS_TIME_BEFORE', (a) => { const t = time(a[0]); return t !== undefined && access < t; })],
    ['IS_ACCESS_TIME_BETWEEN', new HostFunction('IS_ACCESS_TIME_BETWEEN', (a) => { const s = time(a[0]), e = time(a[1]); return s !== undefined && e !== undefined && access >= s && access < e; })],
  ]);
  return g;
}
