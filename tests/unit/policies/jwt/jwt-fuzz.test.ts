/**
 * Fuzz: random and mutated tokens, JWKS documents and filter configs never
 * throw out of the parsers (a token gets a status, a JWKS a parse result, a
 * config a ConfigError with a path). Seeded, so a failure reproduces.
 */
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import { parseJwks } from '../../../../policies/jwt/jwks.ts';
import { parseJwtAuthn } from '../../../../policies/jwt/jwt-config.ts';
import { JWT_STATUS } from '../../../../policies/jwt/jwt-status.ts';
import { parseJwt } from '../../../../policies/jwt/jwt-token.ts';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
const rnd = prng(7);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const junk = (): unknown => pick([undefined, null, 0, -1, 1.5, 'x', '', true, [], {}, [1], { a: 1 }, 2 ** 60, '💥']);

test('5000 random and mutated tokens get a status or parse', () => {
  const base = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ iss: 'i', exp: 2, aud: ['a'] })}.c2lnbmF0dXJl`;
  for (let i = 0; i < 5000; i++) {
    let t: string;
    const r = rnd();
    if (r < 0.3) t = Array.from({ length: Math.floor(rnd() * 40) }, () => String.fromCharCode(Math.floor(rnd() * 128))).join('');
    else if (r < 0.6) t = `${b64({ alg: junk(), kid: junk(), crit: junk() })}.${b64({ iss: junk(), sub: junk(), aud: junk(), exp: junk(), nbf: junk(), iat: junk(), jti: junk() })}.${pick(['', 'c2ln', '!!', 'a'])}`;
    else {
      const chars = base.split('');
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) chars[Math.floor(rnd() * chars.length)] = pick(['.', '=', '!', 'A', '', '_']);
      t = chars.join('');
    }
    const out = parseJwt(t);
    if (typeof out === 'string') expect(JWT_STATUS[out]).toBeDefined();
    else expect(typeof out.alg).toBe('string');
  }
});

test('2000 random JWKS documents parse to keys or a status', () => {
  for (let i = 0; i < 2000; i++) {
    const doc = rnd() < 0.1 ? String(junk()) : JSON.stringify(rnd() < 0.1 ? junk() : { keys: rnd() < 0.1 ? junk() : Array.from({ length: Math.floor(rnd() * 3) }, () => ({ kty: pick(['RSA', 'EC', 'oct', 'OKP', 'x', junk()]), kid: junk(), alg: pick(['RS256', 'ES256', 'HS256', 'EdDSA', junk()]), n: pick(['AQAB', junk()]), e: pick(['AQAB', junk()]), crv: pick(['P-256', 'Ed25519', junk()]), x: pick(['AQAB', junk()]), y: junk(), k: pick(['c2Vj', junk()]), use: pick([undefined, 'sig', 'enc']) })) });
    const r = parseJwks(doc);
    expect(typeof r.ok).toBe('boolean');
  }
});

test('2000 random filter configs: accepted or a ConfigError with a path', () => {
  const jwks = JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }] });
  for (let i = 0; i < 2000; i++) {
    const provider = () => ({ issuer: junk(), audiences: pick([['a'], junk()]), local_jwks: pick([{ inline_string: jwks }, junk(), { inline_string: junk() }]), remote_jwks: rnd() < 0.3 ? { http_uri: { uri: pick(['http://a/b', 'x', junk()]), cluster: 'c', timeout: pick(['1s', 'x', junk()]) }, cache_duration: pick(['5s', junk()]), retry_policy: pick([undefined, {}, { num_retries: junk() }]) } : undefined, from_headers: pick([[{ name: 'x' }], [{}], junk()]), from_params: pick([['p'], junk()]), claim_to_headers: pick([[{ header_name: 'h', claim_name: 'c' }], [{}], junk()]), max_lifetime: pick([undefined, '5s', junk()]) });
    const requirement = (d: number): unknown => d > 2 ? { provider_name: 'p' } : pick([{ provider_name: pick(['p', 'q', junk()]) }, { requires_any: { requirements: [requirement(d + 1), requirement(d + 1)] } }, { requires_all: { requirements: pick([[], [requirement(d + 1)]]) } }, { allow_missing: {} }, { allow_missing_or_failed: {} }, junk(), {}]);
    const cfg = { providers: rnd() < 0.1 ? junk() : { p: provider() }, rules: rnd() < 0.1 ? junk() : [{ match: pick([{ prefix: '/' }, { path: junk() }, { safe_regex: { regex: pick(['a', '(']) } }, {}, junk(), { prefix: '/', headers: [{ name: junk() }] }]), requires: requirement(0) }] };
    try {
      parseJwtAuthn(cfg as Record<string, unknown>, 'jwt');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(cfg)}: ${String(e)}`);
      expect(e.path.startsWith('jwt')).toBe(true);
    }
  }
});
