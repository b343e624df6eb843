/**
 * Evaluates the AST of script-parser.ts over a sandbox: the only values are
 * primitives, arrays, ScriptObject records (own properties from a Map, never
 * a prototype chain) and HostFunction values supplied by the caller. Strings
 * and arrays offer a fixed list of read-only methods. `constructor`,
 * `__proto__`, `prototype` and every name not in the sandbox are errors, as
 * are assignments to anything but a declared variable or a writable
 * ScriptObject property (`ctx.result`). Evaluation is bounded in steps and
 * in string length, so a hostile script fails instead of hanging.
 */
import type { Expr, Stmt } from './script-parser.ts';

/** A value a script can see. */
export type ScriptValue = string | number | boolean | null | undefined | readonly ScriptValue[] | ScriptObject | HostFunction;

/** A record with own properties only. */
export class ScriptObject {
  readonly #props: Map<string, ScriptValue>;
  readonly #writable: ReadonlySet<string>;
  constructor(props: Iterable<readonly [string, ScriptValue]>, writable: Iterable<string> = []) {
    this.#props = new Map(props);
    this.#writable = new Set(writable);
  }
  /** The property `name`, or undefined. */
  get(name: string): ScriptValue {
    return this.#props.get(name);
  }
  /** True when the record has property `name`. */
  has(name: string): boolean {
    return this.#props.has(name);
  }
  /** Sets a writable property; false if it is not writable. */
  set(name: string, v: ScriptValue): boolean {
    if (!this.#writable.has(name)) return false;
    this.#props.set(name, v);
    return true;
  }
  /** The property names. */
  keys(): string[] {
    return [...this.#props.keys()];
  }
}

/** A function the sandbox exposes. */
export class HostFunction {
  readonly fnName: string;
  readonly #fn: (args: readonly ScriptValue[]) => ScriptValue;
  constructor(name: string, fn: (args: readonly ScriptValue[]) => ScriptValue) {
    this.fnName = name;
    this.#fn = fn;
  }
  /** Calls the function. */
  call(args: readonly ScriptValue[]): ScriptValue {
    return this.#fn(args);
  }
}

/** A script that failed while running (unknown name, forbidden property, limits ...). */
export class ScriptRuntimeError extends Error {
  override readonly name = 'ScriptRuntimeError';
}

const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
/** Limits of one evaluation. */
export const MAX_STEPS = 20000;
const MAX_STRING = 1 << 20;

function str(v: ScriptValue): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return v.map((x) => (x === null || x === undefined ? '' : str(x))).join(',');
  if (v instanceof ScriptObject) return '[object Object]';
  if (v instanceof HostFunction) return `function ${v.fnName}`;
  return String(v);
}

function num(v: ScriptValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return 0;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v);
  if (Array.isArray(v)) return v.length === 0 ? 0 : v.length === 1 ? num(v[0]) : NaN;
  return NaN;
}

/** JavaScript truthiness. */
export function truthy(v: ScriptValue): boolean {
  if (typeof v === 'string') return v.length > 0;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return v !== null && v !== undefined && v !== false;
}

function looseEquals(a: ScriptValue, b: ScriptValue): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a === typeof b && (typeof a !== 'object' || a === b)) return a === b;
  const prim = (x: ScriptValue): ScriptValue => (typeof x === 'object' || typeof x === 'function' ? str(x) : x);
  const pa = prim(a), pb = prim(b);
  if (typeof pa === 'string' && typeof pb === 'string') return pa === pb;
  return num(pa) === num(pb);
}

function compare(op: string, a: ScriptValue, b: ScriptValue): boolean {
  const sa = typeof a === 'string' || Array.isArray(a) || a instanceof ScriptObject;
  const sb = typeof b === 'string' || Array.isArray(b) || b instanceof ScriptObject;
  if (sa && sb) {
    const x = str(a), y = str(b);
    return op === '<' ? x < y : op === '>' ? x > y : op === '<=' ? x <= y : x >= y;
  }
  const x = num(a), y = num(b);
  return op === '<' ? x < y : op === '>' ? x > y : op === '<=' ? x <= y : x >= y;
}

function typeOf(v: ScriptValue): string {
  if (v === null) return 'object';
  if (v instanceof HostFunction) return 'function';
  if (Array.isArray(v) || v instanceof ScriptObject) return 'object';
  return typeof v;
}

function checkLen(s: string): string {
  if (s.length > MAX_STRING) throw new ScriptRuntimeError('string too long');
  return s;
}

function stringMethod(s: string, name: string): HostFunction | undefined {
  const a0 = (args: readonly ScriptValue[]): string => str(args[0]);
  switch (name) {
    case 'includes': return new HostFunction(name, (a) => s.includes(a0(a)));
    case 'indexOf': return new HostFunction(name, (a) => s.indexOf(a0(a)));
    case 'lastIndexOf': return new HostFunction(name, (a) => s.lastIndexOf(a0(a)));
    case 'startsWith': return new HostFunction(name, (a) => s.startsWith(a0(a)));
    case 'endsWith': return new HostFunction(name, (a) => s.endsWith(a0(a)));
    case 'toLowerCase': return new HostFunction(name, () => s.toLowerCase());
    case 'toUpperCase': return new HostFunction(name, () => s.toUpperCase());
    case 'trim': return new HostFunction(name, () => s.trim());
    case 'equals': return new HostFunction(name, (a) => s === a0(a));
    case 'equalsIgnoreCase': return new HostFunction(name, (a) => s.toLowerCase() === a0(a).toLowerCase());
    case 'substring': return new HostFunction(name, (a) => s.substring(num(a[0]), a[1] === undefined ? undefined : num(a[1])));
    case 'split': return new HostFunction(name, (a) => Object.freeze(s.split(a0(a)).slice(0, 10000)));
    case 'toString': return new HostFunction(name, () => s);
    default: return undefined;
  }
}

function arrayMethod(arr: readonly ScriptValue[], name: string): HostFunction | undefined {
  switch (name) {
    case 'includes':
    case 'contains': return new HostFunction(name, (a) => arr.some((x) => x === a[0] || (typeof x === 'string' && typeof a[0] === 'string' && x === a[0])));
    case 'indexOf': return new HostFunction(name, (a) => arr.indexOf(a[0]));
    case 'join': return new HostFunction(name, (a) => checkLen(arr.map(str).join(a[0] === undefined ? ',' : str(a[0]))));
    case 'isEmpty': return new HostFunction(name, () => arr.length === 0);
    case 'size': return new HostFunction(name, () => arr.length);
    default: return undefined;
  }
}

/** Runs a script; returns its completion value (the value of the last expression statement run). */
export function runScript(body: readonly Stmt[], globals: ReadonlyMap<string, ScriptValue>): ScriptValue {
  const locals = new Map<string, ScriptValue>();
  let steps = 0;
  let completion: ScriptValue;

  const step = (): void => {
    if (++steps > MAX_STEPS) throw new ScriptRuntimeError('script ran too long');
  };

  const lookup = (name: string): ScriptValue => {
    if (locals.has(name)) return locals.get(name);
    if (globals.has(name)) return globals.get(name);
    throw new ScriptRuntimeError(`'${name}' is not defined`);
  };

  const member = (obj: ScriptValue, prop: ScriptValue): ScriptValue => {
    const name = str(prop);
    if (FORBIDDEN.has(name)) throw new ScriptRuntimeError(`property '${name}' is not accessible`);
    if (obj === null || obj === undefined) throw new ScriptRuntimeError(`cannot read '${name}' of ${str(obj)}`);
    if (obj instanceof ScriptObject) return obj.get(name);
    if (typeof obj === 'string') {
      if (name === 'length') return obj.length;
      if (/^\d+$/.test(name)) return obj[Number(name)];
      return stringMethod(obj, name);
    }
    if (Array.isArray(obj)) {
      if (name === 'length') return obj.length;
      if (/^\d+$/.test(name)) return (obj as readonly ScriptValue[])[Number(name)];
      return arrayMethod(obj as readonly ScriptValue[], name);
    }
    return undefined;
  };

  const ev = (e: Expr): ScriptValue => {
    step();
    switch (e.t) {
      case 'lit': return e.v;
      case 'id': return lookup(e.name);
      case 'arr': return Object.freeze(e.items.map(ev));
      case 'member': return member(ev(e.obj), e.computed ? ev(e.prop) : (e.prop as { v: string }).v);
      case 'call': {
        const f = ev(e.callee);
        if (!(f instanceof HostFunction)) throw new ScriptRuntimeError(`${e.callee.t === 'id' ? e.callee.name : 'value'} is not a function`);
        return f.call(e.args.map(ev));
      }
      case 'unary': {
        const v = ev(e.arg);
        if (e.op === '!') return !truthy(v);
        if (e.op === '-') return -num(v);
        if (e.op === '+') return num(v);
        return typeOf(v);
      }
      case 'bin': {
        if (e.op === '&&') {
          const l = ev(e.l);
          return truthy(l) ? ev(e.r) : l;
        }
        if (e.op === '||') {
          const l = ev(e.l);
          return truthy(l) ? l : ev(e.r);
        }
        if (e.op === '??') {
          const l = ev(e.l);
          return l === null || l === undefined ? ev(e.r) : l;
        }
        const l = ev(e.l), r = ev(e.r);
        switch (e.op) {
          case '==': return looseEquals(l, r);
          case '!=': return !looseEquals(l, r);
          case '===': return l === r;
          case '!==': return l !== r;
          case '<': case '>': case '<=': case '>=': return compare(e.op, l, r);
          case '+': {
            const ls = typeof l === 'string' || Array.isArray(l) || l instanceof ScriptObject;
            const rs = typeof r === 'string' || Array.isArray(r) || r instanceof ScriptObject;
            return ls || rs ? checkLen(str(l) + str(r)) : num(l) + num(r);
          }
          case '-': return num(l) - num(r);
          case '*': return num(l) * num(r);
          case '/': return num(l) / num(r);
          case '%': return num(l) % num(r);
          default: throw new ScriptRuntimeError(`operator ${e.op}`);
        }
      }
      case 'cond': return truthy(ev(e.test)) ? ev(e.then) : ev(e.else);
      case 'assign': {
        const v = ev(e.value);
        if (e.target.t === 'id') {
          if (!locals.has(e.target.name)) throw new ScriptRuntimeError(`cannot assign to '${e.target.name}'`);
          locals.set(e.target.name, v);
          return v;
        }
        if (e.target.t === 'member') {
          const obj = ev(e.target.obj);
          const name = e.target.computed ? str(ev(e.target.prop)) : (e.target.prop as { v: string }).v;
          if (obj instanceof ScriptObject && !FORBIDDEN.has(name) && obj.set(name, v)) return v;
          throw new ScriptRuntimeError(`cannot assign to property '${name}'`);
        }
        throw new ScriptRuntimeError('invalid assignment');
      }
    }
  };

  const run = (s: Stmt): void => {
    step();
    switch (s.t) {
      case 'expr': completion = ev(s.e); break;
      case 'var': for (const d of s.decls) locals.set(d.name, d.init ? ev(d.init) : undefined); break;
      case 'if': if (truthy(ev(s.test))) run(s.then); else if (s.else) run(s.else); break;
      case 'block': for (const x of s.body) run(x); break;
      case 'empty': break;
    }
  };

  for (const s of body) run(s);
  return completion;
}
