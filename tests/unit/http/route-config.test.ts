/**
 * RouteConfiguration validation (every refusal names its field path) and
 * Envoy's header add/remove semantics (append_action, legacy `append`,
 * %COMMAND% substitutions).
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { ConnectionInfo, HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { applyHeaderMutation, parseHeaderMutation, type HeaderFormatContext } from '../../../protocols/http/route/header-mutation.ts';
import { parseRetryOn, parseRouteConfig, type ForwardAction, type RouteConfig } from '../../../protocols/http/route/route-config.ts';

type Json = Record<string, unknown>;

const env = { readFile: (p: string): string => `contents of ${p}` };

function parse(rc: Json): RouteConfig {
  return parseRouteConfig(rc, 'route_config', env);
}

/** A route configuration with one virtual host holding `routes`. */
function withRoutes(...routes: Json[]): Json {
  return { name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes }] };
}

/** A route configuration with one route whose `route` action is `action`. */
function withAction(action: Json, match: Json = { prefix: '/' }): Json {
  return withRoutes({ match, route: action });
}

/** The ConfigError thrown by `fn`. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const R0 = 'route_config.virtual_hosts[0].routes[0]';

describe('parseRouteConfig accepts', () => {
  test('a typical configuration, collecting referenced clusters', () => {
    const c = parse({
      name: 'rc',
      virtual_hosts: [
        {
          name: 'a',
          domains: ['a.example.com', '*.example.com'],
          routes: [
            { match: { prefix: '/x' }, route: { cluster: 'x', timeout: '2s' } },
            { match: { path: '/y' }, route: { weighted_clusters: { clusters: [{ name: 'y1', weight: 30 }, { name: 'y2', weight: 70 }] } } },
            { match: { safe_regex: { regex: '/z/[0-9]+' } }, redirect: { host_redirect: 'b.example.com', response_code: 'FOUND' } },
            { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'nope' } } },
          ],
        },
      ],
    });
    expect(c.referencedClusters).toEqual(['x', 'y1', 'y2']);
    const routes = c.virtualHosts[0]!.routes;
    expect((routes[0]!.action as ForwardAction).timeoutMs).toBe(2000);
    expect((routes[1]!.action as ForwardAction).weighted?.total).toBe(100);
    expect(routes[2]!.action).toMatchObject({ kind: 'redirect', status: 302, host: 'b.example.com' });
    expect(routes[3]!.action).toEqual({ kind: 'direct', status: 404, body: 'nope' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('a direct_response body from a file is read at load', () => {
    const c = parse(withRoutes({ match: { prefix: '/' }, direct_response: { status: 200, body: { filename: '/etc/body' } } }));
    expect(c.virtualHosts[0]!.routes[0]!.action).toEqual({ kind: 'direct', status: 200, body: 'contents of /etc/body' });
  });

  test('weighted clusters whose weights agree with total_weight', () => {
    const c = parse(withAction({ weighted_clusters: { total_weight: 10, clusters: [{ name: 'a', weight: 4 }, { name: 'b', weight: 6 }] } }));
    expect((c.virtualHosts[0]!.routes[0]!.action as ForwardAction).weighted?.total).toBe(10);
  });

  test('retry_on conditions from Envoy\'s list', () => {
    expect(parseRetryOn('5xx, connect-failure,retriable-4xx', 'p')).toMatchObject({ on5xx: true, connectFailure: true, retriable4xx: true, reset: false });
    const c = parse(withAction({ cluster: 'a', retry_policy: { retry_on: 'gateway-error,reset', num_retries: 3 } }));
    expect((c.virtualHosts[0]!.routes[0]!.action as ForwardAction).retry).toMatchObject({ gatewayError: true, reset: true, numRetries: 3 });
  });

  test('an empty typed_per_filter_config is harmless', () => {
    expect(() => parse(withRoutes({ match: { prefix: '/' }, route: { cluster: 'a' }, typed_per_filter_config: {} }))).not.toThrow();
  });
});

describe('parseRouteConfig refuses, naming the field', () => {
  test('a bad regex', () => {
    const e = configError(() => parse(withAction({ cluster: 'a' }, { safe_regex: { regex: '/a(b' } })));
    expect(e.path).toBe(`${R0}.match.safe_regex.regex`);
    expect(e.reason).toMatch(/^invalid regex '\/a\(b'/);
  });

  test('a bad regex in a header matcher', () => {
    const e = configError(() => parse(withAction({ cluster: 'a' }, { prefix: '/', headers: [{ name: 'x', safe_regex_match: { regex: '[' } }] })));
    expect(e.path).toBe(`${R0}.match.headers[0].safe_regex_match.regex`);
  });

  test('a wildcard in the middle of a domain', () => {
    const e = configError(() => parse({ virtual_hosts: [{ name: 'v', domains: ['ok.com', 'a.*.com'], routes: [] }] }));
    expect(e.message).toBe("route_config.virtual_hosts[0].domains[1]: wildcard '*' only at the start or end of 'a.*.com'");
  });

  test('the same domain in two virtual hosts (case-insensitively)', () => {
    const e = configError(() => parse({
      virtual_hosts: [
        { name: 'one', domains: ['a.com', '*'], routes: [] },
        { name: 'two', domains: ['b.com', 'A.com'], routes: [] },
      ],
    }));
    expect(e.message).toBe("route_config.virtual_hosts[1].domains[1]: domain 'A.com' is already used by virtual host 'one'");
  });

  test('two "*" virtual hosts', () => {
    const e = configError(() => parse({ virtual_hosts: [{ name: 'one', domains: ['*'] }, { name: 'two', domains: ['*'] }] }));
    expect(e.path).toBe('route_config.virtual_hosts[1].domains[0]');
  });

  test('duplicate virtual host names and missing domains', () => {
    expect(configError(() => parse({ virtual_hosts: [{ name: 'v', domains: ['a'] }, { name: 'v', domains: ['b'] }] })).path).toBe('route_config.virtual_hosts[1].name');
    expect(configError(() => parse({ virtual_hosts: [{ name: 'v' }] })).path).toBe('route_config.virtual_hosts[0].domains');
  });

  test('weighted clusters whose weights sum to 0', () => {
    const e = configError(() => parse(withAction({ weighted_clusters: { clusters: [{ name: 'a', weight: 0 }, { name: 'b' }] } })));
    expect(e.message).toBe(`${R0}.route.weighted_clusters: the sum of weights must be greater than 0`);
  });

  test('weighted clusters whose weights disagree with total_weight', () => {
    const e = configError(() => parse(withAction({ weighted_clusters: { total_weight: 100, clusters: [{ name: 'a', weight: 30 }, { name: 'b', weight: 60 }] } })));
    expect(e.message).toBe(`${R0}.route.weighted_clusters.total_weight: weights sum to 90, total_weight is 100`);
  });

  test('an unknown retry_on condition', () => {
    const e = configError(() => parse(withAction({ cluster: 'a', retry_policy: { retry_on: '5xx,sometimes' } })));
    expect(e.message).toBe(`${R0}.route.retry_policy.retry_on: unknown retry_on condition 'sometimes'`);
    const vh = configError(() => parse({ virtual_hosts: [{ name: 'v', domains: ['*'], retry_policy: { retry_on: 'never' }, routes: [] }] }));
    expect(vh.path).toBe('route_config.virtual_hosts[0].retry_policy.retry_on');
  });

  test('typed_per_filter_config', () => {
    const e = configError(() => parse(withRoutes({
      match: { prefix: '/' },
      route: { cluster: 'a' },
      typed_per_filter_config: { 'envoy.filters.http.cors': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy' } },
    })));
    expect(e.path).toBe(`${R0}.typed_per_filter_config`);
  });

  test('virtual host fields that change what is allowed (per-vhost filter config such as RBAC overrides, CORS, require_tls)', () => {
    const vh = (extra: Json): Json => ({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }], ...extra }] });
    const rbac = configError(() => parse(vh({ typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute' } } })));
    expect(rbac.path).toBe('route_config.virtual_hosts[0].typed_per_filter_config');
    expect(configError(() => parse(vh({ cors: { allow_origin_string_match: [{ exact: 'x' }] } }))).path).toBe('route_config.virtual_hosts[0].cors');
    expect(configError(() => parse(vh({ require_tls: 'ALL' }))).reason).toBe('require_tls ALL is not enforced yet');
    expect(() => parse(vh({ require_tls: 'NONE', typed_per_filter_config: {}, cors: {} }))).not.toThrow();
    const warnings: string[] = [];
    parseRouteConfig(vh({ virtual_clusters: [{ name: 'v', headers: [] }] }), 'route_config', { ...env, warn: (w) => warnings.push(w.message) });
    expect(warnings).toEqual(['route_config.virtual_hosts[0].virtual_clusters: virtual cluster stats are not kept']);
  });

  test('route configuration fields that would change the request (internal_only_headers, mirroring, plugins)', () => {
    const base = withRoutes({ match: { prefix: '/' }, route: { cluster: 'a' } });
    expect(configError(() => parse({ ...base, internal_only_headers: ['x-internal'] })).path).toBe('route_config.internal_only_headers');
    expect(configError(() => parse({ ...base, request_mirror_policies: [{ cluster: 'm' }] })).path).toBe('route_config.request_mirror_policies');
  });

  test('runtime_fraction', () => {
    const e = configError(() => parse(withAction({ cluster: 'a' }, { prefix: '/', runtime_fraction: { default_value: { numerator: 50 }, runtime_key: 'k' } })));
    expect(e.path).toBe(`${R0}.match.runtime_fraction`);
    expect(e.reason).toMatch(/runtime_fraction is not supported/);
  });

  test('a direct_response status out of [200, 600)', () => {
    for (const status of [199, 600, 0]) {
      const e = configError(() => parse(withRoutes({ match: { prefix: '/' }, direct_response: { status } })));
      expect(e.message).toBe(`${R0}.direct_response.status: status ${status} must be in [200, 600)`);
    }
    expect(() => parse(withRoutes({ match: { prefix: '/' }, direct_response: { status: 599 } }))).not.toThrow();
  });

  test('prefix_rewrite together with regex_rewrite', () => {
    const e = configError(() => parse(withAction({ cluster: 'a', prefix_rewrite: '/b', regex_rewrite: { pattern: { regex: '^/a' }, substitution: '/b' } })));
    expect(e.message).toBe(`${R0}.route: prefix_rewrite and regex_rewrite are mutually exclusive`);
  });

  test('a cookie hash policy with a ttl (generated cookies)', () => {
    const e = configError(() => parse(withAction({ cluster: 'a', hash_policy: [{ header: { header_name: 'x' } }, { cookie: { name: 'sticky', ttl: '10s' } }] })));
    expect(e.path).toBe(`${R0}.route.hash_policy[1].cookie.ttl`);
    // without a ttl it is accepted
    const c = parse(withAction({ cluster: 'a', hash_policy: [{ cookie: { name: 'sticky' } }] }));
    expect((c.virtualHosts[0]!.routes[0]!.action as ForwardAction).hashPolicy).toEqual([{ kind: 'cookie', name: 'sticky', terminal: false }]);
  });

  test('a route without exactly one action, and a match without a path specifier', () => {
    expect(configError(() => parse(withRoutes({ match: { prefix: '/' } }))).message).toBe(`${R0}: exactly one of route, redirect, direct_response is required`);
    expect(configError(() => parse(withRoutes({ match: { prefix: '/' }, route: { cluster: 'a' }, direct_response: { status: 200 } }))).path).toBe(R0);
    expect(configError(() => parse(withAction({ cluster: 'a' }, { headers: [] }))).path).toBe(`${R0}.match`);
  });

  test('path_separated_prefix with a trailing slash', () => {
    expect(configError(() => parse(withAction({ cluster: 'a' }, { path_separated_prefix: '/api/' }))).path).toBe(`${R0}.match.path_separated_prefix`);
  });

  test('features that would route differently than configured', () => {
    expect(configError(() => parse(withAction({ cluster: 'a', request_mirror_policies: [{ cluster: 'm' }] }))).path).toBe(`${R0}.route.request_mirror_policies`);
    expect(configError(() => parse(withAction({ cluster: 'a', upgrade_configs: [{ upgrade_type: 'websocket' }] }))).path).toBe(`${R0}.route.upgrade_configs`);
    expect(configError(() => parse(withAction({ cluster: 'a' }, { connect_matcher: {} }))).path).toBe(`${R0}.match.connect_matcher`);
    expect(configError(() => parse({ virtual_hosts: [], vhds: {} })).path).toBe('route_config.vhds');
  });

  test('an unknown redirect response code', () => {
    expect(configError(() => parse(withRoutes({ match: { prefix: '/' }, redirect: { response_code: 'TEAPOT' } }))).path).toBe(`${R0}.redirect.response_code`);
  });
});

const conn: ConnectionInfo = { remoteAddress: '10.1.2.3', remotePort: 54321, localAddress: '10.0.0.1', localPort: 8080, scheme: 'http' };
const fmt: HeaderFormatContext = { connection: conn, protocol: 'HTTP/1.1', upstreamAddress: '10.9.9.9:80' };

/** Applies one request_headers_to_add entry to `headers`. */
function addOne(entry: Json, headers: HeaderMap): HeaderMap {
  const m = parseHeaderMutation({ request_headers_to_add: [entry] }, 'request', 'route');
  applyHeaderMutation(headers, m, fmt);
  return headers;
}

describe('header mutation: append_action', () => {
  const h = (action?: string, extra: Json = {}): Json => ({ header: { key: 'X-Tag', value: 'new' }, ...(action ? { append_action: action } : {}), ...extra });

  test('APPEND_IF_EXISTS_OR_ADD (the default) appends or adds', () => {
    expect(addOne(h(), { 'x-tag': 'old' })).toEqual({ 'x-tag': ['old', 'new'] });
    expect(addOne(h('APPEND_IF_EXISTS_OR_ADD'), { 'x-tag': ['a', 'b'] })).toEqual({ 'x-tag': ['a', 'b', 'new'] });
    expect(addOne(h('APPEND_IF_EXISTS_OR_ADD'), {})).toEqual({ 'x-tag': 'new' });
  });

  test('ADD_IF_ABSENT adds only when absent', () => {
    expect(addOne(h('ADD_IF_ABSENT'), { 'x-tag': 'old' })).toEqual({ 'x-tag': 'old' });
    expect(addOne(h('ADD_IF_ABSENT'), {})).toEqual({ 'x-tag': 'new' });
  });

  test('OVERWRITE_IF_EXISTS_OR_ADD replaces every value or adds', () => {
    expect(addOne(h('OVERWRITE_IF_EXISTS_OR_ADD'), { 'x-tag': ['a', 'b'] })).toEqual({ 'x-tag': 'new' });
    expect(addOne(h('OVERWRITE_IF_EXISTS_OR_ADD'), {})).toEqual({ 'x-tag': 'new' });
  });

  test('OVERWRITE_IF_EXISTS replaces only when present', () => {
    expect(addOne(h('OVERWRITE_IF_EXISTS'), { 'x-tag': 'old' })).toEqual({ 'x-tag': 'new' });
    expect(addOne(h('OVERWRITE_IF_EXISTS'), {})).toEqual({});
  });

  test('legacy append: false overwrites, append: true appends', () => {
    expect(addOne(h(undefined, { append: false }), { 'x-tag': 'old' })).toEqual({ 'x-tag': 'new' });
    expect(addOne(h(undefined, { append: true }), { 'x-tag': 'old' })).toEqual({ 'x-tag': ['old', 'new'] });
  });

  test('append together with append_action is refused', () => {
    const e = configError(() => parseHeaderMutation({ request_headers_to_add: [h('ADD_IF_ABSENT', { append: false })] }, 'request', 'route'));
    expect(e.path).toBe('route.request_headers_to_add[0]');
  });

  test('an empty value is skipped unless keep_empty_value', () => {
    expect(addOne({ header: { key: 'x-e', value: '' } }, {})).toEqual({});
    expect(addOne({ header: { key: 'x-e', value: '' }, keep_empty_value: true }, {})).toEqual({ 'x-e': '' });
  });

  test('removals happen before additions; names are lower-cased', () => {
    const m = parseHeaderMutation({ response_headers_to_remove: ['X-Old'], response_headers_to_add: [{ header: { key: 'X-Old', value: 'v2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }] }, 'response', 'vh');
    const headers: HeaderMap = { 'x-old': 'v1', keep: 'k' };
    applyHeaderMutation(headers, m, fmt);
    expect(headers).toEqual({ 'x-old': 'v2', keep: 'k' });
  });

  test('a header without a key is refused', () => {
    expect(configError(() => parseHeaderMutation({ request_headers_to_add: [{ header: { value: 'v' } }] }, 'request', 'route')).path).toBe('route.request_headers_to_add[0].header.key');
  });
});

describe('header mutation: %COMMAND% substitution', () => {
  test('%DOWNSTREAM_REMOTE_ADDRESS% and friends', () => {
    expect(addOne({ header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } }, {})).toEqual({ 'x-client': '10.1.2.3:54321' });
    expect(addOne({ header: { key: 'x-c', value: 'ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;port=%DOWNSTREAM_LOCAL_PORT%' } }, {})).toEqual({ 'x-c': 'ip=10.1.2.3;port=8080' });
    expect(addOne({ header: { key: 'x-p', value: '%PROTOCOL% via %UPSTREAM_REMOTE_ADDRESS%' } }, {})).toEqual({ 'x-p': 'HTTP/1.1 via 10.9.9.9:80' });
  });

  test('%% is a literal percent sign; text without % is kept as is', () => {
    expect(addOne({ header: { key: 'x-pct', value: '100%%' } }, {})).toEqual({ 'x-pct': '100%' });
    const m = parseHeaderMutation({ request_headers_to_add: [{ header: { key: 'x', value: 'plain' } }] }, 'request', 'r');
    expect(m.add[0]!.value).toBe('plain');
  });

  test('an unknown %FOO% is refused with the path of the value', () => {
    const e = configError(() => parseHeaderMutation({ request_headers_to_add: [{ header: { key: 'x', value: 'a %FOO% b' } }] }, 'request', 'route'));
    expect(e.path).toBe('route.request_headers_to_add[0].header.value');
    expect(e.reason).toMatch(/^unsupported header formatter %FOO%/);
  });

  test('substitutions in a route configuration are checked at parse', () => {
    const e = configError(() => parse({ virtual_hosts: [{ name: 'v', domains: ['*'], routes: [], request_headers_to_add: [{ header: { key: 'x', value: '%NOPE%' } }] }] }));
    expect(e.path).toBe('route_config.virtual_hosts[0].request_headers_to_add[0].header.value');
  });

  // Regression (found by this suite, fixed): protocols/http/route/header-mutation.ts compileValue only recognises
  // %[A-Z_]+%; a command with arguments such as %REQ(x-user)% (which Envoy
  // supports in headers_to_add) is neither implemented nor refused: it is
  // sent literally as the header value "%REQ(x-user)%".
  test('a command with arguments (%REQ(x-user)%) is refused, not sent literally', () => {
    expect(() => parseHeaderMutation({ request_headers_to_add: [{ header: { key: 'x', value: '%REQ(x-user)%' } }] }, 'request', 'route')).toThrow(ConfigError);
  });
});
