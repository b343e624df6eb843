/**
 * Envoy's default tag extraction (well_known_names.cc) and stats_tags:
 * extracted names, tag values and the order Envoy prints labels in.
 */

import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import { TagProducer, defaultTagProducer } from '../../../sidecar/stats/tag-extraction.ts';
import { DEFAULT_REGEX_TAGS, TAG_NAMES } from '../../../sidecar/stats/tag-names.ts';

function tags(name: string, producer = defaultTagProducer()): [string, Record<string, string>, string[]] {
  const t = producer.produceTags(name);
  return [t.extractedName, Object.fromEntries(t.tags.map((x) => [x.name, x.value])), t.tags.map((x) => x.name)];
}

describe('default tag extraction', () => {
  test.each([
    ['cluster.foo.upstream_rq_200', 'cluster.upstream_rq', { 'envoy.response_code': '200', 'envoy.cluster_name': 'foo' }],
    ['cluster.foo.upstream_rq_5xx', 'cluster.upstream_rq_xx', { 'envoy.response_code_class': '5', 'envoy.cluster_name': 'foo' }],
    ['cluster.foo.upstream_cx_total', 'cluster.upstream_cx_total', { 'envoy.cluster_name': 'foo' }],
    ['http.ingress_http.downstream_rq_2xx', 'http.downstream_rq_xx', { 'envoy.response_code_class': '2', 'envoy.http_conn_manager_prefix': 'ingress_http' }],
    ['http.admin.downstream_cx_total', 'http.downstream_cx_total', { 'envoy.http_conn_manager_prefix': 'admin' }],
    ['listener.127.0.0.1_10000.downstream_cx_total', 'listener.downstream_cx_total', { 'envoy.listener_address': '127.0.0.1_10000' }],
    ['listener.[__1]_443.downstream_cx_total', 'listener.downstream_cx_total', { 'envoy.listener_address': '[__1]_443' }],
    ['listener.my_prefix.downstream_cx_total', 'listener.downstream_cx_total', { 'envoy.listener_address': 'my_prefix' }],
    ['listener.admin.downstream_cx_total', 'listener.admin.downstream_cx_total', {}],
    ['listener.0.0.0.0_80.http.ingress.downstream_rq_2xx', 'listener.http.downstream_rq_xx', { 'envoy.response_code_class': '2', 'envoy.listener_address': '0.0.0.0_80', 'envoy.http_conn_manager_prefix': 'ingress' }],
    ['listener.0.0.0.0_80.worker_1.downstream_cx_active', 'listener.worker_downstream_cx_active', { 'envoy.worker_id': '1', 'envoy.listener_address': '0.0.0.0_80' }],
    ['server.worker_3.watchdog_miss', 'server.worker_watchdog_miss', { 'envoy.worker_id': '3' }],
    ['server.state', 'server.state', {}],
    ['tcp.postgres.downstream_cx_total', 'tcp.downstream_cx_total', { 'envoy.tcp_prefix': 'postgres' }],
    ['http.ingress.rds.local_route.config_reload', 'http.rds.config_reload', { 'envoy.rds_route_config': 'local_route', 'envoy.http_conn_manager_prefix': 'ingress' }],
    ['http.ingress.rds.a.b/c.update_success', 'http.rds.update_success', { 'envoy.rds_route_config': 'a.b/c', 'envoy.http_conn_manager_prefix': 'ingress' }],
    ['vhost.vh.vcluster.vc.upstream_rq_503', 'vhost.vcluster.upstream_rq', { 'envoy.response_code': '503', 'envoy.virtual_cluster': 'vc', 'envoy.virtual_host': 'vh' }],
    ['vhost.vh.route.r1.upstream_rq_total', 'vhost.route.upstream_rq_total', { 'envoy.virtual_host': 'vh', 'envoy.route': 'r1' }],
    ['cluster.grpc_upstream.grpc.Greeter.SayHello.success', 'cluster.grpc.success', { 'envoy.grpc_bridge_method': 'SayHello', 'envoy.grpc_bridge_service': 'Greeter', 'envoy.cluster_name': 'grpc_upstream' }],
    ['http.hcm.fault.downstream_a.aborts_injected', 'http.fault.aborts_injected', { 'envoy.fault_downstream_cluster': 'downstream_a', 'envoy.http_conn_manager_prefix': 'hcm' }],
    ['http.hcm.user_agent.ios.downstream_cx_total', 'http.user_agent.downstream_cx_total', { 'envoy.http_user_agent': 'ios', 'envoy.http_conn_manager_prefix': 'hcm' }],
    ['http.hcm.rbac.allowed', 'http.rbac.allowed', { 'envoy.http_conn_manager_prefix': 'hcm' }],
    ['http.hcm.rbac.policy.deny-all.denied', 'http.rbac.policy.denied', { 'envoy.rbac_policy_name': 'deny-all', 'envoy.http_conn_manager_prefix': 'hcm' }],
    ['http.hcm.rbac.rules.allowed', 'http.rbac.allowed', { 'envoy.rbac_http_prefix': 'rules', 'envoy.http_conn_manager_prefix': 'hcm' }],
    ['db_rbac.rbac.denied', 'rbac.denied', { 'envoy.rbac_prefix': 'db_rbac' }],
    ['ingress.http_local_rate_limit.rate_limited', 'http_local_rate_limit.rate_limited', { 'envoy.local_http_ratelimit_prefix': 'ingress' }],
    ['local_rate_limit.pg.rate_limited', 'local_rate_limit.rate_limited', { 'envoy.local_network_ratelimit_prefix': 'pg' }],
    ['ratelimit.rl.over_limit', 'ratelimit.over_limit', { 'envoy.ratelimit_prefix': 'rl' }],
    ['cluster.c.ext_authz.ea.ok', 'cluster.ext_authz.ok', { 'envoy.cluster_name': 'c', 'envoy.ext_authz_prefix': 'ea' }],
    ['listener.0.0.0.0_443.ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256', 'listener.ssl.ciphers', { 'envoy.ssl_cipher': 'ECDHE-RSA-AES128-GCM-SHA256', 'envoy.listener_address': '0.0.0.0_443' }],
    ['listener.0.0.0.0_443.ssl.versions.TLSv1.3', 'listener.ssl.versions', { 'envoy.ssl_version': 'TLSv1.3', 'envoy.listener_address': '0.0.0.0_443' }],
    ['cluster.c.ssl.curves.X25519', 'cluster.ssl.curves', { 'envoy.ssl_curve': 'X25519', 'envoy.cluster_name': 'c' }],
    ['cluster.c.ssl.ciphers.AES128-SHA', 'cluster.ssl.ciphers', { cipher_suite: 'AES128-SHA', 'envoy.cluster_name': 'c' }],
    ['listener.0.0.0.0_443.ssl.certificate.server_cert.expiration_unix_time_seconds', 'listener.ssl.certificate.expiration_unix_time_seconds', { 'envoy.tls_certificate': 'server_cert', 'envoy.listener_address': '0.0.0.0_443' }],
    ['sds.default.update_success', 'sds.update_success', { 'envoy.xds_resource_name': 'default' }],
    ['proxy_proto.versions.v2.found', 'proxy_proto.found', { 'envoy.proxy_protocol_version': '2' }],
    ['proxy_proto.pp.not_found_allowed', 'proxy_proto.not_found_allowed', { 'envoy.proxy_protocol_prefix': 'pp' }],
    ['mongo.m.collection.c.callsite.s.query.total', 'mongo.collection.callsite.query.total', { 'envoy.mongo_callsite': 's', 'envoy.mongo_collection': 'c', 'envoy.mongo_prefix': 'm' }],
    ['mongo.m.cmd.isMaster.total', 'mongo.cmd.total', { 'envoy.mongo_cmd': 'isMaster', 'envoy.mongo_prefix': 'm' }],
    ['redis.r.command.get.total', 'redis.command.get.total', { 'envoy.redis_prefix': 'r' }],
    ['grpc.xds_cluster.streams_total', 'grpc.streams_total', { 'envoy.google_grpc_client_prefix': 'xds_cluster' }],
    ['listener_manager.lds.update_success', 'listener_manager.lds.update_success', {}],
  ])('%s', (name, extracted, expected) => {
    const [got, values] = tags(name);
    expect(got).toBe(extracted);
    expect(values).toEqual(expected);
  });

  test('labels come in Envoy order: rules without a first-token prefix first', () => {
    expect(tags('cluster.foo.upstream_rq_200')[2]).toEqual(['envoy.response_code', 'envoy.cluster_name']);
    expect(tags('listener.0.0.0.0_80.http.ingress.downstream_rq_2xx')[2]).toEqual([
      'envoy.response_code_class',
      'envoy.http_conn_manager_prefix',
      'envoy.listener_address',
    ]);
  });

  test('a tag name with two rules is extracted once (first match wins)', () => {
    // HTTP_CONN_MANAGER_PREFIX has a listener.*.http rule and an http.$ rule.
    const t = defaultTagProducer().produceTags('listener.0.0.0.0_80.http.ingress.downstream_cx_total');
    expect(t.tags.filter((x) => x.name === TAG_NAMES.HTTP_CONN_MANAGER_PREFIX)).toHaveLength(1);
  });

  test('every default regex compiles and keeps Envoy tag names', () => {
    expect(DEFAULT_REGEX_TAGS.length).toBeGreaterThan(15);
    for (const d of DEFAULT_REGEX_TAGS) expect(() => new RegExp(d.regex, 'd')).not.toThrow();
    expect(TAG_NAMES.CLUSTER_NAME).toBe('envoy.cluster_name');
  });

  test('a name without dots or matches is unchanged', () => {
    expect(tags('uptime')).toEqual(['uptime', {}, []]);
  });
});

describe('stats_tags', () => {
  test("Istio's cluster_name regex keeps FQDN cluster names whole", () => {
    const producer = new TagProducer({
      useAllDefaultTags: false,
      statsTags: [
        { tagName: 'cluster_name', regex: String.raw`^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)` },
        { tagName: 'response_code', regex: String.raw`_rq(_(\d{3}))$` },
      ],
    });
    const [name, values, order] = tags('cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_200', producer);
    expect(name).toBe('cluster.upstream_rq');
    expect(values).toEqual({ cluster_name: 'outbound|9080||reviews.default.svc.cluster.local', response_code: '200' });
    // Custom regexes starting with ^cluster\. are grouped under the "cluster" prefix, so run after prefix-less ones.
    expect(order).toEqual(['response_code', 'cluster_name']);
  });

  test('without defaults, a bare tag name picks the default rule(s) of that name', () => {
    const producer = new TagProducer({ useAllDefaultTags: false, statsTags: [{ tagName: 'envoy.cluster_name' }] });
    expect(tags('cluster.foo.upstream_rq_200', producer)).toEqual([
      'cluster.upstream_rq_200',
      { 'envoy.cluster_name': 'foo' },
      ['envoy.cluster_name'],
    ]);
  });

  test('fixed values are added to every stat', () => {
    const producer = new TagProducer({ statsTags: [{ tagName: 'mesh_id', fixedValue: 'm1' }] });
    expect(tags('server.state', producer)).toEqual(['server.state', { mesh_id: 'm1' }, ['mesh_id']]);
  });

  test('RE2 named groups are accepted', () => {
    const producer = new TagProducer({ useAllDefaultTags: false, statsTags: [{ tagName: 'db', regex: String.raw`^pg\.((?P<db>[^.]+)\.)` }] });
    expect(tags('pg.orders.queries', producer)[0]).toBe('pg.queries');
  });

  test('bad specifiers are ConfigErrors with the field path', () => {
    expect(() => new TagProducer({ statsTags: [{ tagName: '' }] })).toThrow(ConfigError);
    try {
      new TagProducer({ statsTags: [{ tagName: 'ok', fixedValue: 'x' }, { tagName: 'x', regex: '(' }] });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).path).toBe('stats_tags[1].regex');
    }
    expect(() => new TagProducer({ useAllDefaultTags: false, statsTags: [{ tagName: 'no_such_tag' }] })).toThrow(
      /no default regex for name: 'no_such_tag'/,
    );
  });
});
