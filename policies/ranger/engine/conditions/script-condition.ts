/**
 * RangerScriptConditionEvaluator and RangerScriptTemplateConditionEvaluator:
 * a JavaScript expression (or small script) that must evaluate to true,
 * either as its completion value or through `ctx.result`. Scripts are parsed
 * once at load; a script outside the supported subset, or calling an
 * unknown macro, fails closed and is reported. Evaluation errors at request
 * time (an unknown name, a forbidden property, a step limit) fail closed.
 */
import type { EvalRequest } from '../request.ts';
import { scriptGlobals, SCRIPT_FUNCTIONS } from '../script-context.ts';
import { runScript, ScriptObject, type ScriptValue } from '../script-interpreter.ts';
import { calledNames, parseScript, ScriptSyntaxError, type Stmt } from '../script-parser.ts';

const FAIL = { isMatched: (): boolean => false };

/** Parses a script for a condition; undefined (with a warning) when unsupported. */
export function compileScript(src: string, where: string, warn: (msg: string) => void): Stmt[] | undefined {
  try {
    const body = parseScript(src);
    for (const name of calledNames(body)) {
      if (!SCRIPT_FUNCTIONS.has(name)) {
        warn(`${where}: script calls '${name}', which policy scripts do not offer; the condition never matches`);
        return undefined;
      }
    }
    return body;
  } catch (e) {
    if (e instanceof ScriptSyntaxError) {
      warn(`${where}: script is outside the supported JavaScript subset (${e.message}); the condition never matches`);
      return undefined;
    }
    throw e;
  }
}

/** Runs a compiled script for a request; true only for a boolean true result. */
export function evaluateScript(body: readonly Stmt[], req: EvalRequest): boolean {
  try {
    const globals = scriptGlobals(req);
    const v: ScriptValue = runScript(body, globals);
    const ctx = globals.get('ctx');
    if (v === true) return true;
    if (v === undefined && ctx instanceof ScriptObject) return ctx.get('result') === true;
    return false;
  } catch {
    return false;
  }
}

/** Evaluates a `${{...}}` request expression; undefined when it fails. */
export function evaluateExpression(body: readonly Stmt[], req: EvalRequest): ScriptValue {
  try {
    return runScript(body, scriptGlobals(req));
  } catch {
    return undefined;
  }
}

/** A script condition: every value is a script and all must be true. */
export class ScriptCondition {
  readonly #scripts: readonly (readonly Stmt[])[];
  private constructor(scripts: readonly (readonly Stmt[])[]) {
    this.#scripts = scripts;
  }
  /** Compiles the scripts; fails closed if any is unsupported. */
  static create(values: readonly string[], where: string, warn: (msg: string) => void): { isMatched(req: EvalRequest): boolean } {
    const scripts: Stmt[][] = [];
    for (const v of values) {
      if (!v.trim()) continue;
      const b = compileScript(v, where, warn);
      if (!b) return FAIL;
      scripts.push(b);
    }
    return new ScriptCondition(scripts);
  }
  /** True when every script is true. */
  isMatched(req: EvalRequest): boolean {
    return this.#scripts.every((s) => evaluateScript(s, req));
  }
}

/** A script template (evaluatorOptions.scriptTemplate) switched on by a yes/no value. */
export class ScriptTemplateCondition {
  readonly #script: readonly Stmt[];
  readonly #reverse: boolean;
  private constructor(script: readonly Stmt[], reverse: boolean) {
    this.#script = script;
    this.#reverse = reverse;
  }
  /** Compiles the template; value "no"/"false" reverses it. */
  static create(template: string, values: readonly string[], where: string, warn: (msg: string) => void): { isMatched(req: EvalRequest): boolean } {
    const body = compileScript(template, where, warn);
    if (!body) return FAIL;
    const v = (values[0] ?? 'yes').trim().toLowerCase();
    return new ScriptTemplateCondition(body, v === 'no' || v === 'false' || v === 'n');
  }
  /** The template's result (reversed for "no"). */
  isMatched(req: EvalRequest): boolean {
    const r = evaluateScript(this.#script, req);
    return this.#reverse ? !r : r;
  }
}
