/**
 * The sandboxed script evaluator: the JavaScript subset Ranger policies use
 * works; anything outside it, or hostile, fails closed without a crash.
 */
import { compileScript, evaluateScript } from '../../../../policies/ranger/engine/conditions/script-condition.ts';
import type { EvalRequest } from '../../../../policies/ranger/engine/request.ts';
import { runScript, ScriptObject, ScriptRuntimeError } from '../../../../policies/ranger/engine/script-interpreter.ts';
import { parseScript, ScriptSyntaxError } from '../../../../policies/ranger/engine/script-parser.ts';

function req(over: Partial<EvalRequest> = {}): EvalRequest {
  return {
    resource: { database: 'db1' }, owner: undefined, accessType: 'select', isAccessTypeAny: false, user: 'alice',
    userGroups: new Set(['eng']), userRoles: new Set(['analyst']), clientIPAddress: '10.0.0.1', accessTime: new Date('2024-06-01T00:00:00Z'),
    original: { resource: {}, accessType: 'select', user: 'alice', userGroups: ['eng'], userAttributes: { dept: 'r&d' } },
    context: { country: 'US' }, scope: 'SELF', elementScopes: undefined, ignoreDescendantDeny: true,
    tags: [{ type: 'PII', attributes: { level: 'high', expiry: '2030/01/01', score: '1' } }],
    tag: { type: 'PII', attributes: { level: 'high', expiry: '2030/01/01', score: '1' } },
    env: { token: () => undefined },
    ...over,
  };
}

function check(src: string, r = req()): boolean {
  const warnings: string[] = [];
  const body = compileScript(src, 'test', (w) => warnings.push(w));
  return body !== undefined && evaluateScript(body, r);
}

test.each([
  ["IS_IN_GROUP('eng') && USER.dept == 'r&d'", true],
  ["IS_IN_GROUP('ops') || IS_IN_ROLE('analyst')", true],
  ["_ctx.request.user === 'alice'", true],
  ["TAG.level == 'high'", true],
  ["tagAttr.get('score') < 2", true],
  ["if ( ctx.isAccessedBefore('expiry') ) ctx.result = true;", true],
  ["ctx.isAccessedAfter('expiry')", false],
  ["var c = ctx.getRequestContextAttribute('country'); ctx.result = !!c;", true],
  ["var c = ctx.getRequestContextAttribute('nothing'); ctx.result = !!c;", false],
  ["USER.dept.startsWith('r') ? true : false", true],
  ["['eng', 'ops'].includes(UGNAMES[0])", true],
  ["'abc'.indexOf('c') === 2 && 'abc'.length == 3", true],
  ["HAS_TAG('PII') && !HAS_TAG('PCI')", true],
  ["IS_ACCESS_TIME_AFTER('2020/01/01') && IS_ACCESS_TIME_BEFORE('2030/01/01')", true],
  ['1 + 2 * 3 === 7', true],
  ["'1' == 1", true],
  ["'x'", false],
])('%s -> %s', (src, expected) => {
  expect(check(src as string)).toBe(expected);
});

test.each([
  "constructor",
  "''.constructor",
  "USER.constructor",
  "USER['__proto__']",
  "USER.__proto__.polluted = 1",
  "ctx.constructor.constructor('return process')()",
  "process.exit(1)",
  "require('fs')",
  "globalThis",
  "this.x",
  "new Function('x')",
  "eval('1')",
  "(function(){ return 1 })()",
  "while(true){}",
  "for(;;){}",
  "x = 1",
  "USER.dept = 'x'",
  "`template`",
  "/regex/.test('x')",
  "a => a",
  "'unterminated",
  "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
])('hostile or unsupported %s fails closed', (src) => {
  expect(check(src)).toBe(false);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

test('huge input is refused at parse time, not run', () => {
  const huge = "'a' + ".repeat(5000) + "'a'";
  expect(() => parseScript(huge)).toThrow(ScriptSyntaxError);
  expect(check(huge)).toBe(false);
});

test('string growth and step counts are bounded', () => {
  const body = parseScript("var s = 'aaaaaaaaaaaaaaaa'; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s.length");
  expect(() => runScript(body, new Map())).toThrow(ScriptRuntimeError);
});

test('unknown macros are a load warning and fail closed', () => {
  const warnings: string[] = [];
  expect(compileScript("SEND_EMAIL('x')", 'policies[0].conditions[0]', (w) => warnings.push(w))).toBeUndefined();
  expect(warnings[0]).toMatch(/policies\[0\]\.conditions\[0\].*SEND_EMAIL/);
});

test('only declared variables and writable properties can be assigned', () => {
  const ctx = new ScriptObject([['result', false]], ['result']);
  expect(runScript(parseScript('var a = 1; a = 2; ctx.result = a == 2; ctx.result'), new Map([['ctx', ctx]]))).toBe(true);
  expect(() => runScript(parseScript('ctx.other = 1'), new Map([['ctx', ctx]]))).toThrow(ScriptRuntimeError);
});
