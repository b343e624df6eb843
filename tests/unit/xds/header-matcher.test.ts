/**
 * Envoy's HeaderMatcher (xds/translate/header-matcher.ts), the one implementation routes, RBAC,
 * jwt_authn rules, the fault filter and access-log header filters share. The expectations are
 * Envoy's HeaderUtility::matchHeaders: every specifier against a present header, a missing
 * header, invert_match and treat_missing_header_as_empty.
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { compileHeaderMatcher, headerValue, matchesHeaders, type HeaderValues } from '../../../xds/translate/header-matcher.ts';
import { evaluateRbac, parseRbac } from '../../../policies/rbac/rbac-engine.ts';
import { NO_ENTRIES, type RbacAttributes } from '../../../policies/rbac/rbac-attributes.ts';

type Json = Record<string, unknown>;

const m = (h: Json): ((headers: HeaderValues) => boolean) => {
  const c = compileHeaderMatcher({ name: 'X-H', ...h }, 'h');
  return (headers) => matchesHeaders(c, headers);
};

/** [specifier, a value it matches, a value it does not]. */
const SPECIFIERS: ReadonlyArray<readonly [string, Json, string, string]> = [
  ['exact_match', { exact_match: 'v1' }, 'v1', 'v2'],
  ['safe_regex_match', { safe_regex_match: { regex: 'v[0-9]' } }, 'v1', 'v12'],
  ['range_match', { range_match: { start: '-10', end: '10' } }, '-10', '10'],
  ['prefix_match', { prefix_match: 'ab' }, 'abc', 'xab'],
  ['suffix_match', { suffix_match: 'bc' }, 'abc', 'bcx'],
  ['contains_match', { contains_match: 'b' }, 'abc', 'xyz'],
  ['string_match', { string_match: { exact: 'V1', ignore_case: true } }, 'v1', 'v2'],
];

describe.each(SPECIFIERS)('%s', (_name, spec, yes, no) => {
  test('matches on the value; invert_match inverts it', () => {
    expect(m(spec)({ 'x-h': yes })).toBe(true);
    expect(m(spec)({ 'x-h': no })).toBe(false);
    expect(m({ ...spec, invert_match: true })({ 'x-h': yes })).toBe(false);
    expect(m({ ...spec, invert_match: true })({ 'x-h': no })).toBe(true);
  });

  test('a missing header matches neither way, unless treated as empty', () => {
    expect(m(spec)({})).toBe(false);
    expect(m({ ...spec, invert_match: true })({})).toBe(false);
    const emptyMatches = m(spec)({ 'x-h': '' });
    expect(m({ ...spec, treat_missing_header_as_empty: true })({})).toBe(emptyMatches);
    expect(m({ ...spec, treat_missing_header_as_empty: true, invert_match: true })({})).toBe(!emptyMatches);
  });
});

describe('present_match and no specifier', () => {
  test('present_match: presence equals the flag; invert_match flips it', () => {
    for (const present of [true, false]) {
      for (const invert of [false, true]) {
        const t = m({ present_match: present, invert_match: invert });
        expect(t({ 'x-h': '' })).toBe(present !== invert);
        expect(t({})).toBe(present === invert);
      }
    }
  });

  test('treat_missing_header_as_empty makes a missing header present', () => {
    expect(m({ present_match: true, treat_missing_header_as_empty: true })({})).toBe(true);
    expect(m({ present_match: false, treat_missing_header_as_empty: true })({})).toBe(false);
  });

  test('no specifier is present_match: true', () => {
    expect(m({})({ 'x-h': 'any' })).toBe(true);
    expect(m({})({})).toBe(false);
    expect(m({ invert_match: true })({})).toBe(true);
  });
});

describe('values', () => {
  test('a repeated header is matched on its values joined with \',\'', () => {
    expect(headerValue({ 'x-h': ['a', 'b'] }, 'x-h')).toBe('a,b');
    expect(m({ exact_match: 'a,b' })({ 'x-h': ['a', 'b'] })).toBe(true);
    expect(m({ suffix_match: ',b' })({ 'x-h': ['a', 'b'] })).toBe(true);
  });

  test('an empty exact_match matches any value (Envoy\'s `value_.empty() ||`)', () => {
    expect(m({ exact_match: '' })({ 'x-h': 'anything' })).toBe(true);
    expect(m({ exact_match: '' })({})).toBe(false);
    expect(m({ exact_match: '', invert_match: true })({ 'x-h': 'anything' })).toBe(false);
    // string_match.exact "" is a StringMatcher: only "".
    expect(m({ string_match: { exact: '' } })({ 'x-h': 'anything' })).toBe(false);
  });

  test('range_match reads an int64 as absl::SimpleAtoi: whitespace around, a sign, no overflow', () => {
    const t = m({ range_match: { start: '0', end: '10' } });
    for (const v of ['0', '9', '+9', ' 9', '9 ', '\t9\r\n', '-0', '007']) expect([v, t({ 'x-h': v })]).toEqual([v, true]);
    for (const v of ['10', '-1', '', ' ', '+', '-', '9a', '9.0', '0x9', '9 9', '- 9', '1,2', '99999999999999999999']) expect([v, t({ 'x-h': v })]).toEqual([v, false]);
    const edge = m({ range_match: { start: '-9223372036854775808', end: '9223372036854775807' } });
    expect(edge({ 'x-h': '-9223372036854775808' })).toBe(true);
    expect(edge({ 'x-h': '9223372036854775806' })).toBe(true);
    expect(edge({ 'x-h': '9223372036854775807' })).toBe(false);
    expect(edge({ 'x-h': '-9223372036854775809' })).toBe(false);
  });

  test('header names are lower-cased', () => {
    expect(compileHeaderMatcher({ name: 'X-Mixed', present_match: true }, 'h').name).toBe('x-mixed');
  });
});

describe('config', () => {
  const err = (h: Json): string => {
    try {
      compileHeaderMatcher(h, 'm');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  test('refuses what Envoy refuses, with the field path', () => {
    expect(err({ exact_match: 'a' })).toMatch(/^m\.name: header name is required/);
    expect(err({ name: 'x', range_match: { start: 'one', end: '2' } })).toMatch(/^m\.range_match\.start: must be an int64/);
    expect(err({ name: 'x', range_match: { start: '0', end: '9223372036854775808' } })).toMatch(/^m\.range_match\.end: must be an int64/);
    expect(err({ name: 'x', safe_regex_match: { regex: '(' } })).toMatch(/^m\.safe_regex_match\.regex: invalid regex/);
    expect(err({ name: 'x', string_match: {} })).toMatch(/^m\.string_match/);
  });

  test('fuzz: random matchers compile or throw a ConfigError; compiled ones never throw', () => {
    let s = 20261128;
    const rnd = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const junk = [undefined, null, 0, 1.5, -1, '', 'a', '10', true, false, [], {}, { regex: 'a+' }, { regex: '(' }, { start: '1', end: 5 }, { start: 'x' }, { exact: 'a' }];
    const keys = ['exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match', 'contains_match', 'string_match', 'invert_match', 'treat_missing_header_as_empty'];
    const values: HeaderValues[] = [{}, { x: '' }, { x: '5' }, { x: ['a', 'b'] }, { x: ' -3 ' }, { x: '18446744073709551616' }];
    for (let i = 0; i < 1000; i++) {
      const h: Json = { name: pick(['x', 'X', '', 3]) };
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) h[pick(keys)] = pick(junk);
      let c;
      try {
        c = compileHeaderMatcher(h, 'h');
      } catch (e) {
        if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(h)}: ${String(e)}`);
        continue;
      }
      for (const v of values) expect(typeof matchesHeaders(c, v)).toBe('boolean');
    }
  });
});

test('RBAC header principals use the same matcher', () => {
  const engine = parseRbac({
    action: 'ALLOW',
    policies: { p: { permissions: [{ any: true }], principals: [{ header: { name: 'x-h', exact_match: '' } }] } },
  }, 'rbac');
  const attrs = (headers: HeaderValues): RbacAttributes => ({
    headers, destinationIp: '10.0.0.1', destinationPort: 80, directRemoteIp: '127.0.0.1', remoteIp: '127.0.0.1', sourceIp: '127.0.0.1',
    peer: undefined, requestedServerName: '', metadata: NO_ENTRIES, filterState: NO_ENTRIES,
  });
  expect(evaluateRbac(engine, attrs({ 'x-h': 'anything' })).allowed).toBe(true);
  expect(evaluateRbac(engine, attrs({})).allowed).toBe(false);
});
