/**
 * A parser for the small JavaScript subset Ranger policy scripts use
 * (RangerScriptConditionEvaluator, `${{...}}` request expressions):
 * `var`/`let`/`const` declarations, `if`/`else`, blocks, expression
 * statements, assignment, `? :`, `|| && ??`, equality and relational
 * operators, `+ - * / %`, `! - + typeof`, member access (`a.b`, `a['b']`),
 * calls, array literals and string/number/boolean/null literals. Anything
 * else (functions, loops, `new`, regex literals, templates, `this` ...) is a
 * ScriptSyntaxError. The AST is evaluated by script-interpreter.ts; nothing
 * here ever reaches eval, Function or vm.
 */

/** An expression node. */
export type Expr =
  | { readonly t: 'lit'; readonly v: string | number | boolean | null | undefined }
  | { readonly t: 'id'; readonly name: string }
  | { readonly t: 'arr'; readonly items: readonly Expr[] }
  | { readonly t: 'member'; readonly obj: Expr; readonly prop: Expr; readonly computed: boolean }
  | { readonly t: 'call'; readonly callee: Expr; readonly args: readonly Expr[] }
  | { readonly t: 'unary'; readonly op: string; readonly arg: Expr }
  | { readonly t: 'bin'; readonly op: string; readonly l: Expr; readonly r: Expr }
  | { readonly t: 'cond'; readonly test: Expr; readonly then: Expr; readonly else: Expr }
  | { readonly t: 'assign'; readonly target: Expr; readonly value: Expr };

/** A statement node. */
export type Stmt =
  | { readonly t: 'expr'; readonly e: Expr }
  | { readonly t: 'var'; readonly decls: readonly { readonly name: string; readonly init: Expr | undefined }[] }
  | { readonly t: 'if'; readonly test: Expr; readonly then: Stmt; readonly else: Stmt | undefined }
  | { readonly t: 'block'; readonly body: readonly Stmt[] }
  | { readonly t: 'empty' };

/** A script outside the supported subset. */
export class ScriptSyntaxError extends Error {
  override readonly name = 'ScriptSyntaxError';
}

/** Longest script accepted (characters). */
export const MAX_SCRIPT_LENGTH = 16384;
const MAX_DEPTH = 64;

type Tok = { k: 'num' | 'str' | 'id' | 'op' | 'eof'; v: string; n?: number; pos: number };

const OPS = ['===', '!==', '==', '!=', '<=', '>=', '&&', '||', '??', '<', '>', '+', '-', '*', '/', '%', '!', '=', '?', ':', '(', ')', '[', ']', '{', '}', ',', ';', '.'];
const KEYWORDS_REFUSED = new Set(['function', 'new', 'this', 'class', 'for', 'while', 'do', 'return', 'throw', 'try', 'catch', 'delete', 'import', 'export', 'yield', 'await', 'async', 'with', 'switch', 'void', 'in', 'instanceof', 'eval', 'arguments', 'debugger', 'super']);

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '/' && (src[i + 1] === '/' || src[i + 1] === '*')) {
      if (src[i + 1] === '/') {
        while (i < src.length && src[i] !== '\n') i++;
      } else {
        const e = src.indexOf('*/', i + 2);
        if (e === -1) throw new ScriptSyntaxError('unterminated comment');
        i = e + 2;
      }
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:0[xX][0-9a-fA-F]+|\d*\.?\d+(?:[eE][+-]?\d+)?)/.exec(src.slice(i, i + 64));
      if (!m) throw new ScriptSyntaxError(`bad number at ${i}`);
      out.push({ k: 'num', v: m[0], n: Number(m[0]), pos: i });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new ScriptSyntaxError(`unterminated string at ${i}`);
        const d = src[j];
        if (d === c) break;
        if (d === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f', v: '\v' };
          if (e === undefined) throw new ScriptSyntaxError('bad escape');
          s += map[e] ?? e;
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ k: 'str', v: s, pos: i });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_$]/.test(src[j])) j++;
      out.push({ k: 'id', v: src.slice(i, j), pos: i });
      i = j;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ScriptSyntaxError(`unexpected character '${c}' at ${i}`);
    out.push({ k: 'op', v: op, pos: i });
    i += op.length;
  }
  out.push({ k: 'eof', v: '', pos: src.length });
  return out;
}

const BINARY: readonly (readonly string[])[] = [['??'], ['||'], ['&&'], ['==', '!=', '===', '!=='], ['<', '>', '<=', '>='], ['+', '-'], ['*', '/', '%']];

class Parser {
  #toks: Tok[];
  #i = 0;
  #depth = 0;
  constructor(toks: Tok[]) {
    this.#toks = toks;
  }
  get #peek(): Tok {
    return this.#toks[this.#i];
  }
  #next(): Tok {
    return this.#toks[this.#i++];
  }
  #isOp(v: string): boolean {
    const t = this.#peek;
    return t.k === 'op' && t.v === v;
  }
  #expect(v: string): void {
    const t = this.#next();
    if (t.k !== 'op' || t.v !== v) throw new ScriptSyntaxError(`expected '${v}' at ${t.pos}, found '${t.v || 'end'}'`);
  }
  #enter(): void {
    if (++this.#depth > MAX_DEPTH) throw new ScriptSyntaxError('script nests too deeply');
  }

  program(): Stmt[] {
    const body: Stmt[] = [];
    while (this.#peek.k !== 'eof') body.push(this.statement());
    return body;
  }

  statement(): Stmt {
    this.#enter();
    try {
      const t = this.#peek;
      if (t.k === 'op' && t.v === ';') {
        this.#next();
        return { t: 'empty' };
      }
      if (t.k === 'op' && t.v === '{') {
        this.#next();
        const body: Stmt[] = [];
        while (!this.#isOp('}')) {
          if (this.#peek.k === 'eof') throw new ScriptSyntaxError('unterminated block');
          body.push(this.statement());
        }
        this.#next();
        return { t: 'block', body };
      }
      if (t.k === 'id' && (t.v === 'var' || t.v === 'let' || t.v === 'const')) {
        this.#next();
        const decls: { name: string; init: Expr | undefined }[] = [];
        do {
          const n = this.#next();
          if (n.k !== 'id' || KEYWORDS_REFUSED.has(n.v)) throw new ScriptSyntaxError(`expected a variable name at ${n.pos}`);
          let init: Expr | undefined;
          if (this.#isOp('=')) {
            this.#next();
            init = this.expression();
          }
          decls.push({ name: n.v, init });
        } while (this.#isOp(',') && this.#next());
        this.#semicolon();
        return { t: 'var', decls };
      }
      if (t.k === 'id' && t.v === 'if') {
        this.#next();
        this.#expect('(');
        const test = this.expression();
        this.#expect(')');
        const then = this.statement();
        let els: Stmt | undefined;
        if (this.#peek.k === 'id' && this.#peek.v === 'else') {
          this.#next();
          els = this.statement();
        }
        return { t: 'if', test, then, else: els };
      }
      const e = this.expression();
      this.#semicolon();
      return { t: 'expr', e };
    } finally {
      this.#depth--;
    }
  }

  #semicolon(): void {
    if (this.#isOp(';')) this.#next();
    else if (!(this.#peek.k === 'eof' || this.#isOp('}'))) throw new ScriptSyntaxError(`expected ';' at ${this.#peek.pos}, found '${this.#peek.v}'`);
  }

  expression(): Expr {
    this.#enter();
    try {
      const left = this.#conditional();
      if (this.#isOp('=')) {
        this.#next();
        if (left.t !== 'id' && left.t !== 'member') throw new ScriptSyntaxError('invalid assignment target');
        return { t: 'assign', target: left, value: this.expression() };
      }
      return left;
    } finally {
      this.#depth--;
    }
  }

  #conditional(): Expr {
    const test = this.#binary(0);
    if (!this.#isOp('?')) return test;
    this.#next();
    const then = this.expression();
    this.#expect(':');
    return { t: 'cond', test, then, else: this.expression() };
  }

  #binary(level: number): Expr {
    if (level >= BINARY.length) return this.#unary();
    let l = this.#binary(level + 1);
    while (this.#peek.k === 'op' && BINARY[level].includes(this.#peek.v)) {
      const op = this.#next().v;
      l = { t: 'bin', op, l, r: this.#binary(level + 1) };
    }
    return l;
  }

  #unary(): Expr {
    const t = this.#peek;
    if ((t.k === 'op' && (t.v === '!' || t.v === '-' || t.v === '+')) || (t.k === 'id' && t.v === 'typeof')) {
      this.#next();
      this.#enter();
      try {
        return { t: 'unary', op: t.v, arg: this.#unary() };
      } finally {
        this.#depth--;
      }
    }
    return this.#postfix();
  }

  #postfix(): Expr {
    let e = this.#primary();
    for (;;) {
      if (this.#isOp('.')) {
        this.#next();
        const n = this.#next();
        if (n.k !== 'id') throw new ScriptSyntaxError(`expected a property name at ${n.pos}`);
        e = { t: 'member', obj: e, prop: { t: 'lit', v: n.v }, computed: false };
      } else if (this.#isOp('[')) {
        this.#next();
        const prop = this.expression();
        this.#expect(']');
        e = { t: 'member', obj: e, prop, computed: true };
      } else if (this.#isOp('(')) {
        this.#next();
        const args: Expr[] = [];
        while (!this.#isOp(')')) {
          args.push(this.expression());
          if (!this.#isOp(')')) this.#expect(',');
        }
        this.#next();
        e = { t: 'call', callee: e, args };
      } else {
        return e;
      }
    }
  }

  #primary(): Expr {
    const t = this.#next();
    if (t.k === 'num') return { t: 'lit', v: t.n! };
    if (t.k === 'str') return { t: 'lit', v: t.v };
    if (t.k === 'id') {
      if (t.v === 'true' || t.v === 'false') return { t: 'lit', v: t.v === 'true' };
      if (t.v === 'null') return { t: 'lit', v: null };
      if (t.v === 'undefined') return { t: 'lit', v: undefined };
      if (KEYWORDS_REFUSED.has(t.v) || t.v === 'var' || t.v === 'let' || t.v === 'const' || t.v === 'if' || t.v === 'else') throw new ScriptSyntaxError(`'${t.v}' is not supported in policy scripts`);
      return { t: 'id', name: t.v };
    }
    if (t.k === 'op' && t.v === '(') {
      const e = this.expression();
      this.#expect(')');
      return e;
    }
    if (t.k === 'op' && t.v === '[') {
      const items: Expr[] = [];
      while (!this.#isOp(']')) {
        items.push(this.expression());
        if (!this.#isOp(']')) this.#expect(',');
      }
      this.#next();
      return { t: 'arr', items };
    }
    throw new ScriptSyntaxError(t.k === 'eof' ? 'unexpected end of script' : `unexpected '${t.v}' at ${t.pos}`);
  }
}

/** Parses a script (statements). Throws ScriptSyntaxError outside the subset. */
export function parseScript(src: string): Stmt[] {
  if (src.length > MAX_SCRIPT_LENGTH) throw new ScriptSyntaxError(`script longer than ${MAX_SCRIPT_LENGTH} characters`);
  return new Parser(lex(src)).program();
}

/** Every free function name called in a script (for load-time checks). */
export function calledNames(body: readonly Stmt[]): Set<string> {
  const out = new Set<string>();
  const e = (x: Expr | undefined): void => {
    if (!x) return;
    switch (x.t) {
      case 'call': if (x.callee.t === 'id') out.add(x.callee.name); e(x.callee); x.args.forEach(e); break;
      case 'arr': x.items.forEach(e); break;
      case 'member': e(x.obj); e(x.prop); break;
      case 'unary': e(x.arg); break;
      case 'bin': e(x.l); e(x.r); break;
      case 'cond': e(x.test); e(x.then); e(x.else); break;
      case 'assign': e(x.target); e(x.value); break;
      default: break;
    }
  };
  const s = (x: Stmt | undefined): void => {
    if (!x) return;
    switch (x.t) {
      case 'expr': e(x.e); break;
      case 'var': x.decls.forEach((d) => e(d.init)); break;
      case 'if': e(x.test); s(x.then); s(x.else); break;
      case 'block': x.body.forEach(s); break;
      default: break;
    }
  };
  body.forEach(s);
  return out;
}
