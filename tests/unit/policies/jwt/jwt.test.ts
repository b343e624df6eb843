/**
 * JWT authentication (policies/jwt): config validation and refusals, token
 * parsing, every algorithm Envoy verifies (RS/PS/ES/EdDSA/HS), `alg: none`
 * and malformed tokens, the time window with clock skew, issuer and
 * audience checks, token locations, requirement trees, what a good token
 * does to the request, and the remote key cache (cache duration, one fetch
 * in flight, kid-triggered refetch with its rate limit, garbage answers).
 * The remote source runs on an injected clock and fetch here; the
 * integration test fetches from a real HTTP server.
 */
import { exportJWK, generateKeyPair, generateSecret, SignJWT, type JWK } from 'jose';
import { ConfigError } from '../../../../sidecar/contracts/errors.ts';
import type { Counter } from '../../../../sidecar/contracts/stats.ts';
import { JwtAuthenticator, type JwtHeaders } from '../../../../policies/jwt/jwt-authenticator.ts';
import { parseJwtAuthn } from '../../../../policies/jwt/jwt-config.ts';
import { KID_REFETCH_INTERVAL_MS, parseJwks } from '../../../../policies/jwt/jwks.ts';
import { jwtDeniedDetails, type JwtStatus } from '../../../../policies/jwt/jwt-status.ts';
import { parseJwt } from '../../../../policies/jwt/jwt-token.ts';

const ISS = 'https://issuer.example';
const NOW = 1_800_000_000; // seconds

interface Signer {
  alg: string;
  kid: string;
  jwk: JWK;
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

async function signer(alg: string, kid: string): Promise<Signer> {
  if (alg === 'HS256') {
    const secret = (await generateSecret('HS256', { extractable: true })) as CryptoKey;
    const jwk = { ...(await exportJWK(secret)), kid, alg };
    return { alg, kid, jwk, sign: (c, h = {}) => new SignJWT(c).setProtectedHeader({ alg, kid, ...h }).sign(secret) };
  }
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg };
  return { alg, kid, jwk, sign: (c, h = {}) => new SignJWT(c).setProtectedHeader({ alg, kid, ...h }).sign(privateKey) };
}

const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ iss: ISS, sub: 'alice', aud: 'api.example', iat: NOW - 10, exp: NOW + 600, ...over });

class Count implements Counter {
  n = 0;
  inc(by = 1): void { this.n += by; }
  value(): number { return this.n; }
}

function runtime(extra: { fetchText?: (uri: string, t: number) => Promise<string>; now?: () => number } = {}) {
  return { now: extra.now ?? (() => NOW * 1000), fetchSuccess: new Count(), fetchFailed: new Count(), fetchText: extra.fetchText };
}

let rs: Signer, other: Signer;
const signers: Signer[] = [];

beforeAll(async () => {
  for (const [alg, kid] of [['RS256', 'rs256'], ['RS384', 'rs384'], ['RS512', 'rs512'], ['PS256', 'ps256'], ['ES256', 'es256'], ['ES384', 'es384'], ['EdDSA', 'ed'], ['HS256', 'hs']] as const) signers.push(await signer(alg, kid));
  rs = signers[0]!;
  other = await signer('RS256', 'rs256'); // same kid, different key
});

function authn(provider: Record<string, unknown> = {}, rules?: unknown[], rt = runtime()): { auth: JwtAuthenticator; rt: ReturnType<typeof runtime> } {
  const cfg = parseJwtAuthn({
    providers: { p: { issuer: ISS, audiences: ['api.example'], local_jwks: { inline_string: JSON.stringify({ keys: signers.map((s) => s.jwk) }) }, ...provider } },
    rules: rules ?? [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }],
  }, 'jwt');
  return { auth: new JwtAuthenticator(cfg, rt), rt };
}

async function run(auth: JwtAuthenticator, h: JwtHeaders, md = new Map<string, unknown>()): Promise<JwtStatus> {
  const req = auth.requirementFor(h);
  if (!req) return 'Ok';
  const sync = auth.decideWithoutTokens(h, req);
  if (sync !== undefined) return sync;
  return auth.verify(h, req, { setMetadata: (k, v) => md.set(k, v) });
}

const bearer = (t: string): JwtHeaders => ({ ':path': '/api', authorization: `Bearer ${t}` });

describe('algorithms and signatures', () => {
  test('RS256/384/512, PS256, ES256/384, EdDSA and HS256 tokens verify with the local JWKS', async () => {
    const { auth } = authn();
    for (const s of signers) expect([s.alg, await run(auth, bearer(await s.sign(claims())))]).toEqual([s.alg, 'Ok']);
  });

  test('a token signed by another key with the same kid fails verification; an unknown kid has no key', async () => {
    const { auth } = authn();
    expect(await run(auth, bearer(await other.sign(claims())))).toBe('JwtVerificationFail');
    expect(await run(auth, bearer(await rs.sign(claims(), { kid: 'nope' })))).toBe('JwksKidAlgMismatch');
  });

  test('alg none, unknown algs and malformed tokens are refused before any key is used', async () => {
    const { auth } = authn();
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    expect(await run(auth, bearer(none))).toBe('JwtHeaderNotImplementedAlg');
    expect(await run(auth, bearer(`${b64({ alg: 'none' })}.${b64(claims())}.c2ln`))).toBe('JwtHeaderNotImplementedAlg');
    expect(await run(auth, bearer(`${b64({ alg: 'RS1' })}.${b64(claims())}.c2ln`))).toBe('JwtHeaderNotImplementedAlg');
    expect(await run(auth, bearer(`${b64({ typ: 'JWT' })}.${b64(claims())}.c2ln`))).toBe('JwtHeaderBadAlg');
    expect(await run(auth, bearer('abc.def'))).toBe('JwtBadFormat');
    expect(await run(auth, bearer('a.b.c.d'))).toBe('JwtBadFormat');
    expect(await run(auth, bearer(`${b64({ alg: 'RS256' }).slice(0, 6)}.${b64(claims())}.c2ln`))).toBe('JwtHeaderParseErrorBadJson');
    expect(await run(auth, bearer(`${b64({ alg: 'RS256' }).slice(0, 5)}.${b64(claims())}.c2ln`))).toBe('JwtHeaderParseErrorBadBase64');
    expect(await run(auth, { ':path': '/', authorization: 'Bearer e30.e30.c2ln' })).toBe('JwtHeaderBadAlg');
    expect(parseJwt(`${b64({ alg: 'RS256' })}.${b64({ exp: 'soon' })}.c2ln`)).toBe('JwtPayloadParseErrorExpNotInteger');
    expect(parseJwt(`${b64({ alg: 'RS256' })}.${b64({ aud: [1] })}.c2ln`)).toBe('JwtPayloadParseErrorAudNotString');
    expect(parseJwt(`${b64({ alg: 'RS256', kid: 7 })}.${b64({})}.c2ln`)).toBe('JwtHeaderBadKid');
    expect(parseJwt(`${b64({ alg: 'RS256' })}.${b64([1])}.c2ln`)).toBe('JwtPayloadParseErrorBadJson');
    expect(parseJwt(`${b64({ alg: 'RS256' })}.${b64({})}.`)).toBe('JwtSignatureParseErrorBadBase64');
    const good = await rs.sign(claims());
    const [h, p] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims({ sub: 'mallory' }))).toString('base64url')}.${good.split('.')[2]}`;
    expect(await run(auth, bearer(tampered))).toBe('JwtVerificationFail');
    expect(p).toBeDefined();
  });
});

describe('claims', () => {
  test('exp and nbf with the 60 s default clock skew; clock_skew_seconds; require_expiration; max_lifetime', async () => {
    const { auth } = authn();
    expect(await run(auth, bearer(await rs.sign(claims({ exp: NOW - 30 }))))).toBe('Ok'); // within skew
    expect(await run(auth, bearer(await rs.sign(claims({ exp: NOW - 61 }))))).toBe('JwtExpired');
    expect(await run(auth, bearer(await rs.sign(claims({ nbf: NOW + 30 }))))).toBe('Ok');
    expect(await run(auth, bearer(await rs.sign(claims({ nbf: NOW + 61 }))))).toBe('JwtNotYetValid');
    expect(await run(auth, bearer(await rs.sign(claims({ exp: undefined }))))).toBe('Ok');
    const strict = authn({ clock_skew_seconds: 5, require_expiration: true, max_lifetime: '3600s' }).auth;
    expect(await run(strict, bearer(await rs.sign(claims({ exp: NOW - 6 }))))).toBe('JwtExpired');
    expect(await run(strict, bearer(await rs.sign(claims({ exp: undefined }))))).toBe('JwtExpired');
    expect(await run(strict, bearer(await rs.sign(claims({ iat: NOW, exp: NOW + 7200 }))))).toBe('JwtExpired');
    expect(await run(strict, bearer(await rs.sign(claims())))).toBe('Ok');
  });

  test('issuer and audiences (scheme prefix and trailing slash ignored); provider_and_audiences overrides', async () => {
    const { auth } = authn();
    expect(await run(auth, bearer(await rs.sign(claims({ iss: 'https://evil.example' }))))).toBe('JwtUnknownIssuer');
    expect(await run(auth, bearer(await rs.sign(claims({ aud: 'other' }))))).toBe('JwtAudienceNotAllowed');
    expect(await run(auth, bearer(await rs.sign(claims({ aud: ['x', 'https://api.example/'] }))))).toBe('Ok');
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }))))).toBe('JwtAudienceNotAllowed');
    const override = authn({}, [{ match: { prefix: '/' }, requires: { provider_and_audiences: { provider_name: 'p', audiences: ['special'] } } }]).auth;
    expect(await run(override, bearer(await rs.sign(claims())))).toBe('JwtAudienceNotAllowed');
    expect(await run(override, bearer(await rs.sign(claims({ aud: 'special' }))))).toBe('Ok');
    const anyIssuer = authn({ issuer: undefined, audiences: undefined }).auth;
    expect(await run(anyIssuer, bearer(await rs.sign(claims({ iss: 'whoever', aud: 'x' }))))).toBe('Ok');
  });
});

describe('locations and what a good token does', () => {
  test('default: Authorization Bearer and ?access_token; from_headers with value_prefix, from_params, from_cookies', async () => {
    const t = await rs.sign(claims());
    const { auth } = authn();
    expect(await run(auth, { ':path': `/a?access_token=${t}` })).toBe('Ok');
    expect(await run(auth, { ':path': '/a', authorization: `bearer ${t}` })).toBe('Ok');
    expect(await run(auth, { ':path': '/a', 'x-token': t })).toBe('JwtMissed');
    const custom = authn({ from_headers: [{ name: 'X-Token', value_prefix: 'Tok ' }], from_params: ['jwt'], from_cookies: ['session'] }).auth;
    expect(await run(custom, { ':path': '/a', 'x-token': `Tok ${t}` })).toBe('Ok');
    expect(await run(custom, { ':path': '/a', 'x-token': t })).toBe('JwtMissed'); // prefix absent
    expect(await run(custom, { ':path': `/a?x=1&jwt=${t}` })).toBe('Ok');
    expect(await run(custom, { ':path': '/a', cookie: `a=b; session=${t}; c=d` })).toBe('Ok');
    expect(await run(custom, { ':path': '/a', authorization: `Bearer ${t}` })).toBe('JwtMissed');
  });

  test('every token must verify: a good token does not carry a bad one', async () => {
    const custom = authn({ from_headers: [{ name: 'authorization', value_prefix: 'Bearer ' }, { name: 'x-token' }] }).auth;
    const good = await rs.sign(claims());
    const bad = await rs.sign(claims({ exp: NOW - 1000 }));
    expect(await run(custom, { ':path': '/', authorization: `Bearer ${good}`, 'x-token': good })).toBe('Ok');
    expect(await run(custom, { ':path': '/', authorization: `Bearer ${good}`, 'x-token': bad })).toBe('JwtExpired');
  });

  test('forward false removes the token; forward_payload_header, claim_to_headers, payload/header in metadata', async () => {
    const { auth } = authn({ forward_payload_header: 'x-jwt-payload', pad_forward_payload_header: true, payload_in_metadata: 'my_payload', header_in_metadata: 'my_header', claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }, { header_name: 'x-tier', claim_name: 'plan.tier' }, { header_name: 'x-n', claim_name: 'n' }] });
    const t = await rs.sign(claims({ plan: { tier: 'gold' }, n: 42 }));
    const h: JwtHeaders = { ':path': '/', authorization: `Bearer ${t}`, 'x-sub': 'spoofed' };
    const md = new Map<string, unknown>();
    expect(await run(auth, h, md)).toBe('Ok');
    expect(h['authorization']).toBeUndefined();
    expect(h['x-sub']).toBe('alice');
    expect(h['x-tier']).toBe('gold');
    expect(h['x-n']).toBe('42');
    expect(JSON.parse(Buffer.from(String(h['x-jwt-payload']), 'base64').toString())).toMatchObject({ sub: 'alice' });
    expect(String(h['x-jwt-payload']).length % 4).toBe(0);
    expect(md.get('my_payload')).toMatchObject({ sub: 'alice', iss: ISS });
    expect(md.get('my_header')).toMatchObject({ alg: 'RS256', kid: 'rs256' });
    const fwd = authn({ forward: true }).auth;
    const h2: JwtHeaders = { ':path': '/', authorization: `Bearer ${t}` };
    expect(await run(fwd, h2)).toBe('Ok');
    expect(h2['authorization']).toBe(`Bearer ${t}`);
  });
});

describe('requirements and rules', () => {
  const two = async (requires: unknown, rules?: unknown[]): Promise<JwtAuthenticator> => {
    signersB ??= await signer('ES256', 'b');
    const b = signersB;
    return new JwtAuthenticator(parseJwtAuthn({
      providers: {
        a: { issuer: 'iss-a', local_jwks: { inline_string: JSON.stringify({ keys: [rs.jwk] }) } },
        b: { issuer: 'iss-b', from_headers: [{ name: 'x-b' }], local_jwks: { inline_string: JSON.stringify({ keys: [b.jwk] }) } },
      },
      rules: rules ?? [{ match: { prefix: '/' }, requires }],
    }, 'jwt'), runtime());
  };
  let signersB: Signer | undefined;

  test('requires_any, requires_all, allow_missing, allow_missing_or_failed', async () => {
    const any = await two({ requires_any: { requirements: [{ provider_name: 'a' }, { provider_name: 'b' }] } });
    const a = await rs.sign(claims({ iss: 'iss-a' }));
    const b = await signersB!.sign(claims({ iss: 'iss-b' }));
    expect(await run(any, { ':path': '/', 'x-b': b })).toBe('Ok');
    expect(await run(any, { ':path': '/' })).toBe('JwtMissed');
    // Envoy: an issuer the location's provider does not have counts as missing in requires_any.
    expect(await run(any, { ':path': '/', 'x-b': a })).toBe('JwtMissed');
    expect(await run(any, { ':path': '/', 'x-b': await signersB!.sign(claims({ iss: 'iss-b', exp: 1 })) })).toBe('JwtExpired');
    const all = await two({ requires_all: { requirements: [{ provider_name: 'a' }, { provider_name: 'b' }] } });
    expect(await run(all, { ':path': '/', authorization: `Bearer ${a}`, 'x-b': b })).toBe('Ok');
    expect(await run(all, { ':path': '/', authorization: `Bearer ${a}` })).toBe('JwtMissed');
    const missing = await two({ allow_missing: {} });
    expect(await run(missing, { ':path': '/' })).toBe('Ok');
    expect(await run(missing, { ':path': '/', 'x-b': b })).toBe('Ok');
    expect(await run(missing, { ':path': '/', 'x-b': 'garbage' })).toBe('JwtBadFormat');
    const failed = await two({ allow_missing_or_failed: {} });
    expect(await run(failed, { ':path': '/', 'x-b': 'garbage' })).toBe('Ok');
    // Istio's RequestAuthentication shape: a provider or nothing.
    const istio = await two({ requires_any: { requirements: [{ provider_name: 'a' }, { allow_missing: {} }] } });
    expect(await run(istio, { ':path': '/' })).toBe('Ok');
    expect(await run(istio, { ':path': '/', authorization: `Bearer ${a}` })).toBe('Ok');
    expect(await run(istio, { ':path': '/', authorization: 'Bearer x.y.z' })).not.toBe('Ok');
  });

  test('rules: the first match wins; no requires means no verification; path, headers, query parameters; requirement_map', async () => {
    const cfg = parseJwtAuthn({
      providers: { a: { issuer: 'iss-a', local_jwks: { inline_string: JSON.stringify({ keys: [rs.jwk] }) } } },
      requirement_map: { 'need-a': { provider_name: 'a' } },
      rules: [
        { match: { prefix: '/public' } },
        { match: { path: '/h', headers: [{ name: 'x-mode', string_match: { exact: 'open' } }] } },
        { match: { safe_regex: { regex: '/q/.*' }, query_parameters: [{ name: 'open', present_match: true }] } },
        { match: { prefix: '/' }, requirement_name: 'need-a' },
      ],
    }, 'jwt');
    const r = new JwtAuthenticator(cfg, runtime());
    expect(r.requirementFor({ ':path': '/public/x' })).toBeUndefined();
    expect(r.requirementFor({ ':path': '/h', 'x-mode': 'open' })).toBeUndefined();
    expect(r.requirementFor({ ':path': '/h' })).toEqual({ kind: 'provider', provider: 'a', audiences: undefined });
    expect(r.requirementFor({ ':path': '/q/1?open' })).toBeUndefined();
    expect(r.requirementFor({ ':path': '/q/1?closed' })).toBeDefined();
    expect(r.requirementFor({ ':path': '/other' })).toBeDefined();
  });

  test('rule header matchers are Envoy\'s HeaderMatcher: range_match, repeated values joined with \',\'', () => {
    const cfg = parseJwtAuthn({
      providers: { a: { issuer: 'iss-a', local_jwks: { inline_string: JSON.stringify({ keys: [rs.jwk] }) } } },
      rules: [
        { match: { prefix: '/', headers: [{ name: 'x-version', range_match: { start: '1', end: '3' } }] } },
        { match: { prefix: '/', headers: [{ name: 'x-pair', exact_match: 'a,b' }] } },
        { match: { prefix: '/' }, requires: { provider_name: 'a' } },
      ],
    }, 'jwt');
    const r = new JwtAuthenticator(cfg, runtime());
    expect(r.requirementFor({ ':path': '/', 'x-version': '2' })).toBeUndefined();
    expect(r.requirementFor({ ':path': '/', 'x-version': '3' })).toBeDefined();
    expect(r.requirementFor({ ':path': '/', 'x-pair': ['a', 'b'] })).toBeUndefined();
    expect(r.requirementFor({ ':path': '/', 'x-pair': 'a' })).toBeDefined();
  });
});

describe('config', () => {
  const err = (cfg: unknown): string => {
    try {
      parseJwtAuthn(cfg as Record<string, unknown>, 'jwt');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  const jwks = { inline_string: '{"keys":[]}' };

  test.each([
    [{ providers: { p: {} } }, 'jwt.providers["p"]: one of local_jwks, remote_jwks is required'],
    [{ providers: { p: { local_jwks: jwks } } }, `jwt.providers["p"].local_jwks: invalid JWKS: Jwks doesn't have any valid public key`],
    [{ providers: { p: { local_jwks: { inline_string: '-----BEGIN PUBLIC KEY-----' } } } }, 'invalid JWKS: Jwks is an invalid JSON (PEM keys are not supported)'],
    [{ providers: { p: { remote_jwks: { http_uri: { uri: 'http://x/jwks', cluster: 'c' } } } } }, 'jwt.providers["p"].remote_jwks.http_uri.timeout: timeout is required'],
    [{ providers: { p: { remote_jwks: { http_uri: { uri: 'ftp://x', cluster: 'c', timeout: '1s' } } } } }, 'remote_jwks.http_uri.uri: must be an http or https URI'],
    [{ providers: { p: { subjects: { exact: 'x' }, local_jwks: jwks } } }, 'jwt.providers["p"].subjects: subjects is not supported'],
    [{ filter_state_rules: { name: 'x' } }, 'jwt.filter_state_rules: filter_state_rules is not supported'],
    [{ rules: [{ match: { prefix: '/' }, requires: { provider_name: 'nope' } }] }, "jwt.rules[0].requires.provider_name: unknown provider 'nope'"],
    [{ rules: [{ match: { prefix: '/' }, requirement_name: 'r' }] }, "jwt.rules[0].requirement_name: no requirement 'r' in requirement_map"],
    [{ rules: [{ match: { prefix: '/', grpc: {} } }] }, 'jwt.rules[0].match.grpc: rule matches on grpc are not supported'],
    [{ rules: [{ match: {} }] }, 'jwt.rules[0].match: rule match needs one of prefix, path, safe_regex, path_separated_prefix'],
    [{ rules: [{ match: { prefix: '/' }, requires: {} }] }, 'jwt.rules[0].requires: requirement needs one of'],
  ])('%j', (cfg, message) => {
    expect(err(cfg)).toContain(message);
  });

  test('details as Envoy writes them', () => {
    expect(jwtDeniedDetails('JwtMissed')).toBe('jwt_authn_access_denied{Jwt_is_missing}');
    expect(jwtDeniedDetails('JwksFetchFail')).toBe('jwt_authn_access_denied{Jwks_remote_fetch_is_failed}');
  });

  test('JWKS parsing skips broken keys, keys for encryption and private members', () => {
    expect(parseJwks('nope')).toEqual({ ok: false, status: 'JwksParseError' });
    expect(parseJwks('{}')).toEqual({ ok: false, status: 'JwksNoKeys' });
    expect(parseJwks('{"keys":{}}')).toEqual({ ok: false, status: 'JwksBadKeys' });
    const r = parseJwks(JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: '!!' }, { ...rs.jwk, use: 'enc' }, { kty: 'XYZ' }, { ...rs.jwk, d: 'secret' }, { ...rs.jwk, alg: 'ES256' }] }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.keys.length).toBe(1);
      expect((r.keys[0]!.jwk as Record<string, unknown>)['d']).toBeUndefined();
    }
  });
});

describe('verified-token cache (Envoy jwt_cache_config)', () => {
  test('a token verified before is decided without a Promise; its claims are checked again; size 0 disables it', async () => {
    const clock = { t: NOW * 1000 };
    const rt = { ...runtime({ now: () => clock.t }), jwtCacheHit: new Count(), jwtCacheMiss: new Count() };
    const { auth } = authn({}, undefined, rt);
    const t = await rs.sign(claims({ exp: NOW + 100 }));
    const req = auth.requirementFor(bearer(t))!;
    const first = auth.verify(bearer(t), req, { setMetadata: () => undefined });
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe('Ok');
    const h = bearer(t);
    expect(auth.verify(h, req, { setMetadata: () => undefined })).toBe('Ok');
    expect(h['authorization']).toBeUndefined(); // a cache hit still removes the token
    expect([rt.jwtCacheHit.n, rt.jwtCacheMiss.n]).toEqual([1, 1]);
    clock.t += 200_000;
    expect(auth.verify(bearer(t), req, { setMetadata: () => undefined })).toBe('JwtExpired');
    const none = authn({ jwt_cache_config: { jwt_cache_size: 0 } }).auth;
    expect(await run(none, bearer(t))).toBe('Ok');
    expect(none.verify(bearer(t), req, { setMetadata: () => undefined })).toBeInstanceOf(Promise);
  });
});

describe('remote JWKS cache', () => {
  function remote(fetchText: (uri: string, t: number) => Promise<string>, clock: { t: number }, extra: Record<string, unknown> = {}) {
    const rt = runtime({ fetchText, now: () => clock.t });
    const cfg = parseJwtAuthn({
      providers: { p: { issuer: ISS, remote_jwks: { http_uri: { uri: 'http://jwks.test/keys', cluster: 'jwks', timeout: '1s' }, cache_duration: '60s', ...extra } } },
      rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }],
    }, 'jwt');
    return { auth: new JwtAuthenticator(cfg, rt), rt };
  }

  test('fetched once for concurrent requests, cached for cache_duration, refetched after', async () => {
    const clock = { t: NOW * 1000 };
    let fetches = 0;
    const { auth, rt } = remote(async () => { fetches++; await new Promise((r) => setTimeout(r, 20)); return JSON.stringify({ keys: [rs.jwk] }); }, clock);
    const t = await rs.sign(claims({ aud: undefined }));
    expect(await Promise.all([run(auth, bearer(t)), run(auth, bearer(t)), run(auth, bearer(t))])).toEqual(['Ok', 'Ok', 'Ok']);
    expect(fetches).toBe(1);
    clock.t += 59_000;
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined, jti: 'second' }))))).toBe('Ok');
    expect(fetches).toBe(1);
    clock.t += 2000;
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined, jti: 'third' }))))).toBe('Ok');
    expect(fetches).toBe(2);
    expect(rt.fetchSuccess.n).toBe(2);
  });

  test('an unknown kid refetches (key rotation), at most once per interval', async () => {
    const clock = { t: NOW * 1000 };
    let keys = [rs.jwk];
    let fetches = 0;
    const { auth } = remote(async () => { fetches++; return JSON.stringify({ keys }); }, clock);
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }))))).toBe('Ok');
    const rotated = await signer('ES256', 'new-key');
    keys = [rotated.jwk];
    expect(await run(auth, bearer(await rotated.sign(claims({ aud: undefined }))))).toBe('Ok');
    expect(fetches).toBe(2);
    // Random kids right after: the rotation refetch was the one allowed in this interval.
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }), { kid: 'random-1' })))).toBe('JwksKidAlgMismatch');
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }), { kid: 'random-2' })))).toBe('JwksKidAlgMismatch');
    expect(fetches).toBe(2);
    clock.t += KID_REFETCH_INTERVAL_MS;
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }), { kid: 'random-3' })))).toBe('JwksKidAlgMismatch');
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined }), { kid: 'random-4' })))).toBe('JwksKidAlgMismatch');
    expect(fetches).toBe(3);
  });

  test('a failed or garbage fetch is `Jwks remote fetch is failed` and counted; retry_policy retries', async () => {
    const clock = { t: NOW * 1000 };
    const t = await rs.sign(claims({ aud: undefined }));
    const down = remote(() => Promise.reject(new Error('ECONNREFUSED')), clock);
    expect(await run(down.auth, bearer(t))).toBe('JwksFetchFail');
    expect(down.rt.fetchFailed.n).toBe(1);
    const garbage = remote(async () => '<html>not json</html>', clock);
    expect(await run(garbage.auth, bearer(t))).toBe('JwksFetchFail');
    expect(garbage.rt.fetchFailed.n).toBe(1);
    let n = 0;
    const flaky = remote(async () => (++n === 1 ? Promise.reject(new Error('503')) : JSON.stringify({ keys: [rs.jwk] })), clock, { retry_policy: { num_retries: 2, retry_back_off: { base_interval: '0.01s', max_interval: '0.02s' } } });
    expect(await run(flaky.auth, bearer(t))).toBe('Ok');
    expect([flaky.rt.fetchFailed.n, flaky.rt.fetchSuccess.n]).toEqual([1, 1]);
  });

  test('async_fetch: fetched at load; stale keys serve while a refresh runs', async () => {
    const clock = { t: NOW * 1000 };
    let fetches = 0;
    const { auth } = remote(async () => { fetches++; return JSON.stringify({ keys: [rs.jwk] }); }, clock, { async_fetch: {} });
    await new Promise((r) => setImmediate(r));
    expect(fetches).toBe(1);
    const t = await rs.sign(claims({ aud: undefined }));
    expect(await run(auth, bearer(t))).toBe('Ok');
    clock.t += 120_000;
    expect(await run(auth, bearer(await rs.sign(claims({ aud: undefined, jti: 'later' }))))).toBe('Ok');
    await new Promise((r) => setImmediate(r));
    expect(fetches).toBe(2);
  });
});
