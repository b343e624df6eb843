/**
 * Envoy's well-known stat tag names and their default extraction rules, in
 * Envoy's order (source/common/config/well_known_names.{h,cc},
 * `TagNameValues`). Two kinds of rule exist, as in Envoy:
 *  - a regex: group 1 is cut out of the name, group 2 (or group 1 when 2 is
 *    empty) is the tag value; `substr` is a cheap pre-check, `negativeMatch`
 *    a value that does not count as a match (`listener.admin.*`);
 *  - a token pattern split on '.': `$` is the captured token, `*` any one
 *    token, `**` any run of tokens (Envoy's TagExtractorTokensImpl).
 * Regexes are Envoy's RE2 text with its placeholders expanded the same way,
 * rewritten only where JavaScript's syntax differs (`[\w-.]` -> `[\w\-.]`).
 */

/** Envoy's tag names (`Config::TagNames`), keyed by Envoy's constant names. */
export const TAG_NAMES = Object.freeze({
  CLUSTER_NAME: 'envoy.cluster_name',
  LISTENER_ADDRESS: 'envoy.listener_address',
  HTTP_CONN_MANAGER_PREFIX: 'envoy.http_conn_manager_prefix',
  HTTP_USER_AGENT: 'envoy.http_user_agent',
  SSL_CIPHER: 'envoy.ssl_cipher',
  SSL_CURVE: 'envoy.ssl_curve',
  SSL_SIGALG: 'envoy.ssl_sigalg',
  SSL_VERSION: 'envoy.ssl_version',
  SSL_CIPHER_SUITE: 'cipher_suite',
  CLIENTSSL_PREFIX: 'envoy.clientssl_prefix',
  MONGO_PREFIX: 'envoy.mongo_prefix',
  MONGO_CMD: 'envoy.mongo_cmd',
  MONGO_COLLECTION: 'envoy.mongo_collection',
  MONGO_CALLSITE: 'envoy.mongo_callsite',
  RATELIMIT_PREFIX: 'envoy.ratelimit_prefix',
  LOCAL_HTTP_RATELIMIT_PREFIX: 'envoy.local_http_ratelimit_prefix',
  LOCAL_NETWORK_RATELIMIT_PREFIX: 'envoy.local_network_ratelimit_prefix',
  LOCAL_LISTENER_RATELIMIT_PREFIX: 'envoy.local_listener_ratelimit_prefix',
  DNS_FILTER_PREFIX: 'envoy.dns_filter_prefix',
  CONNECTION_LIMIT_PREFIX: 'envoy.connection_limit_prefix',
  RBAC_PREFIX: 'envoy.rbac_prefix',
  RBAC_HTTP_PREFIX: 'envoy.rbac_http_prefix',
  RBAC_POLICY_NAME: 'envoy.rbac_policy_name',
  TCP_PREFIX: 'envoy.tcp_prefix',
  UDP_PREFIX: 'envoy.udp_prefix',
  FAULT_DOWNSTREAM_CLUSTER: 'envoy.fault_downstream_cluster',
  DYNAMO_OPERATION: 'envoy.dynamo_operation',
  DYNAMO_TABLE: 'envoy.dynamo_table',
  DYNAMO_PARTITION_ID: 'envoy.dynamo_partition_id',
  GRPC_BRIDGE_SERVICE: 'envoy.grpc_bridge_service',
  GRPC_BRIDGE_METHOD: 'envoy.grpc_bridge_method',
  VIRTUAL_HOST: 'envoy.virtual_host',
  VIRTUAL_CLUSTER: 'envoy.virtual_cluster',
  RESPONSE_CODE: 'envoy.response_code',
  RESPONSE_CODE_CLASS: 'envoy.response_code_class',
  RDS_ROUTE_CONFIG: 'envoy.rds_route_config',
  SCOPED_RDS_CONFIG: 'envoy.scoped_rds_config',
  ROUTE: 'envoy.route',
  EXT_AUTHZ_PREFIX: 'envoy.ext_authz_prefix',
  WORKER_ID: 'envoy.worker_id',
  THRIFT_PREFIX: 'envoy.thrift_prefix',
  REDIS_PREFIX: 'envoy.redis_prefix',
  PROXY_PROTOCOL_VERSION: 'envoy.proxy_protocol_version',
  PROXY_PROTOCOL_PREFIX: 'envoy.proxy_protocol_prefix',
  GOOGLE_GRPC_CLIENT_PREFIX: 'envoy.google_grpc_client_prefix',
  TLS_CERTIFICATE: 'envoy.tls_certificate',
  XDS_RESOURCE_NAME: 'envoy.xds_resource_name',
} as const);

/** A default rule given as a regex (Envoy's `addRe2`). */
export interface RegexTagDescriptor {
  readonly kind: 'regex';
  readonly name: string;
  /** JavaScript regex source, placeholders already expanded. */
  readonly regex: string;
  /** The rule is skipped when the stat name does not contain this ('' = always try). */
  readonly substr: string;
  /** A tag value that does not count as a match ('' = none). */
  readonly negativeMatch: string;
}

/** A default rule given as a token pattern (Envoy's `addTokenized`). */
export interface TokenTagDescriptor {
  readonly kind: 'tokens';
  readonly name: string;
  /** Dot-separated tokens: literal, `*`, `**` or the one `$`. */
  readonly pattern: string;
}

/** Envoy's `expandRegex` placeholders, in JavaScript syntax. */
const PLACEHOLDERS: ReadonlyArray<readonly [string, string]> = [
  // IPv4 or bracketed IPv6 (with '_' for ':'), then '_' and the port.
  ['<ADDRESS>', String.raw`(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)`],
  ['<CIPHER>', String.raw`[\w\-]+`],
  ['<TLS_VERSION>', String.raw`TLSv\d\.\d`],
  ['<TAG_VALUE>', String.raw`[^\.]+`],
  ['<ROUTE_CONFIG_NAME>', String.raw`[\w\-\.\/]+`],
  ['<SCOPED_ROUTE_CONFIG_NAME>', String.raw`[\w\-\.]+`],
  ['<LISTENER_OR_CLUSTER_WITH_NAME>', String.raw`(?:listener|cluster)\..*?`],
  ['<PROXY_PROTOCOL_VERSION>', String.raw`\d`],
];

/** Replaces Envoy's `<NAME>` placeholders in a default regex. */
export function expandTagRegex(regex: string): string {
  let out = regex;
  for (const [key, value] of PLACEHOLDERS) out = out.split(key).join(value);
  return out;
}

const T = TAG_NAMES;

function re2(name: string, regex: string, substr = '', negativeMatch = ''): RegexTagDescriptor {
  return Object.freeze({ kind: 'regex', name, regex: expandTagRegex(regex), substr, negativeMatch });
}

function tokens(name: string, pattern: string): TokenTagDescriptor {
  return Object.freeze({ kind: 'tokens', name, pattern });
}

/** Envoy's default regex rules, in `TagNameValues()` order. */
export const DEFAULT_REGEX_TAGS: readonly RegexTagDescriptor[] = Object.freeze([
  // *_rq(_<response_code>)
  re2(T.RESPONSE_CODE, String.raw`_rq(_(\d{3}))$`, '_rq_'),
  // *_rq_(<response_code_class>)xx
  re2(T.RESPONSE_CODE_CLASS, String.raw`_rq_((\d))xx$`, '_rq_'),
  // http.[<stat_prefix>.]dynamodb.table.[<table_name>.]capacity.[<operation_name>.](__partition_id=<id>)
  re2(
    T.DYNAMO_PARTITION_ID,
    String.raw`^http\.<TAG_VALUE>\.dynamodb\.table\.<TAG_VALUE>\.capacity\.<TAG_VALUE>(\.__partition_id=(\w{7}))$`,
    '.dynamodb.table.',
  ),
  // http.[<stat_prefix>.]dynamodb.operation.(<operation_name>.)* or ...table.[<t>.]capacity.(<op>.)[<pid>]
  re2(
    T.DYNAMO_OPERATION,
    String.raw`^http\.<TAG_VALUE>\.dynamodb.(?:operation|table\.<TAG_VALUE>\.capacity)(\.(<TAG_VALUE>))(?:\.|$)`,
    '.dynamodb.',
  ),
  // http.[<stat_prefix>.]dynamodb.table.(<table_name>.)* or http.[<stat_prefix>.]dynamodb.error.(<table_name>.)*
  re2(T.DYNAMO_TABLE, String.raw`^http\.<TAG_VALUE>\.dynamodb.(?:table|error)\.((<TAG_VALUE>)\.)`, '.dynamodb.'),
  // listener.[<address>.]ssl.ciphers.(<cipher>)
  re2(T.SSL_CIPHER, String.raw`^listener\..*?\.ssl\.ciphers(\.(<CIPHER>))$`, '.ssl.ciphers.'),
  // listener.[<address>.]ssl.curves.(<curve>)
  re2(T.SSL_CURVE, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.curves(\.(<CIPHER>))$`, '.ssl.curves.'),
  // listener.[<address>.]ssl.sigalgs.(<algorithm>)
  re2(T.SSL_SIGALG, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.sigalgs(\.(<CIPHER>))$`, '.ssl.sigalgs.'),
  // listener.[<address>.]ssl.versions.(<version>)
  re2(T.SSL_VERSION, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.versions(\.(<TLS_VERSION>))$`, '.ssl.versions.'),
  // cluster.[<cluster_name>.]ssl.ciphers.(<cipher>)
  re2(T.SSL_CIPHER_SUITE, String.raw`^cluster\.<TAG_VALUE>\.ssl\.ciphers(\.(<CIPHER>))$`, '.ssl.ciphers.'),
  // listener.[<address>.]http.(<stat_prefix>.)*
  re2(T.HTTP_CONN_MANAGER_PREFIX, String.raw`^listener\..*?\.http\.((<TAG_VALUE>)\.)`, '.http.'),
  // listener.<address|stat_prefix>.(worker_<id>.)*, listener_manager.(worker_<id>.)*, server.(worker_<id>.)*,
  // thread_local_cluster_manager.(worker_<id>.)*
  re2(
    T.WORKER_ID,
    String.raw`^(?:listener\.(?:<ADDRESS>|<TAG_VALUE>)|server|listener_manager|thread_local_cluster_manager)\.worker_((\d+)\.)`,
  ),
  // listener.(<address|stat_prefix>.)*, but not "admin"
  re2(T.LISTENER_ADDRESS, String.raw`^listener\.((<ADDRESS>|<TAG_VALUE>)\.)`, '', 'admin'),
  // http.[<stat_prefix>.]rds.(<route_config_name>.)<base_stat>; the name may hold dots.
  re2(T.RDS_ROUTE_CONFIG, String.raw`^http\.<TAG_VALUE>\.rds\.((<ROUTE_CONFIG_NAME>)\.)\w+?$`, '.rds.'),
  // http.[<stat_prefix>.]scoped_rds.(<scoped_route_config_name>.)<base_stat>
  re2(
    T.SCOPED_RDS_CONFIG,
    String.raw`^http\.<TAG_VALUE>\.scoped_rds\.((<SCOPED_ROUTE_CONFIG_NAME>)\.)\w+?$`,
    '.scoped_rds.',
  ),
  // http.[<stat_prefix>.]rbac.[<rules_prefix>.]policy.(<policy_name>.)(allowed|shadow_allowed|denied|shadow_denied)
  re2(
    T.RBAC_POLICY_NAME,
    String.raw`^http\.<TAG_VALUE>\.rbac\.(?:<TAG_VALUE>\.)?policy\.((<TAG_VALUE>)\.)(allowed|shadow_allowed|denied|shadow_denied)$`,
  ),
  // http.<stat_prefix>.rbac.(<rules_stat_prefix>.)* but not "policy"
  re2(T.RBAC_HTTP_PREFIX, String.raw`^http\.<TAG_VALUE>\.rbac\.((<TAG_VALUE>)\.).*?`, '', 'policy'),
  // proxy_proto.(<stat_prefix>.)** but not "versions"
  re2(T.PROXY_PROTOCOL_PREFIX, String.raw`^proxy_proto\.((<TAG_VALUE>)\.).+$`, '', 'versions'),
  // proxy_proto.([<stat_prefix>.]versions.v(<version_number>).)(found|disallowed|error)
  re2(
    T.PROXY_PROTOCOL_VERSION,
    String.raw`^proxy_proto\.((?:<TAG_VALUE>\.)?versions\.v(<PROXY_PROTOCOL_VERSION>)\.)\w+$`,
  ),
  // listener.[<address>.]ssl.certificate.(<cert_name>).<metric> or cluster.[<name>.]ssl.certificate.(<cert_name>).<metric>
  re2(
    T.TLS_CERTIFICATE,
    String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.certificate\.((<TAG_VALUE>)\.).*$`,
    '.ssl.certificate',
  ),
  // sds.(<resource_name>.)**
  re2(T.XDS_RESOURCE_NAME, String.raw`^sds\.((<TAG_VALUE>)\.).+`),
]);

/** Envoy's default token rules, in `TagNameValues()` order (added after every regex rule). */
export const DEFAULT_TOKEN_TAGS: readonly TokenTagDescriptor[] = Object.freeze([
  tokens(T.MONGO_CALLSITE, 'mongo.*.collection.*.callsite.$.query.**'),
  tokens(T.MONGO_COLLECTION, 'mongo.*.collection.$.**.query.*'),
  tokens(T.MONGO_CMD, 'mongo.*.cmd.$.**'),
  tokens(T.GRPC_BRIDGE_METHOD, 'cluster.*.grpc.*.$.**'),
  tokens(T.HTTP_USER_AGENT, 'http.*.user_agent.$.**'),
  tokens(T.VIRTUAL_CLUSTER, 'vhost.*.vcluster.$.**'),
  tokens(T.FAULT_DOWNSTREAM_CLUSTER, 'http.*.fault.$.**'),
  tokens(T.GRPC_BRIDGE_SERVICE, 'cluster.*.grpc.$.**'),
  tokens(T.TCP_PREFIX, 'tcp.$.**'),
  tokens(T.UDP_PREFIX, 'udp.$.**'),
  tokens(T.CLIENTSSL_PREFIX, 'auth.clientssl.$.**'),
  tokens(T.RATELIMIT_PREFIX, 'ratelimit.$.**'),
  tokens(T.CLUSTER_NAME, 'cluster.$.**'),
  tokens(T.EXT_AUTHZ_PREFIX, 'cluster.*.ext_authz.$.**'),
  tokens(T.EXT_AUTHZ_PREFIX, 'http.*.ext_authz.$.**'),
  tokens(T.HTTP_CONN_MANAGER_PREFIX, 'http.$.**'),
  tokens(T.VIRTUAL_HOST, 'vhost.$.**'),
  tokens(T.MONGO_PREFIX, 'mongo.$.**'),
  tokens(T.ROUTE, 'vhost.*.route.$.**'),
  tokens(T.THRIFT_PREFIX, 'thrift.$.**'),
  tokens(T.REDIS_PREFIX, 'redis.$.**'),
  tokens(T.LOCAL_HTTP_RATELIMIT_PREFIX, '$.http_local_rate_limit.**'),
  tokens(T.LOCAL_NETWORK_RATELIMIT_PREFIX, 'local_rate_limit.$.**'),
  tokens(T.LOCAL_LISTENER_RATELIMIT_PREFIX, 'listener_local_ratelimit.$.**'),
  tokens(T.DNS_FILTER_PREFIX, 'dns_filter.$.**'),
  tokens(T.CONNECTION_LIMIT_PREFIX, 'connection_limit.$.**'),
  tokens(T.RBAC_PREFIX, '$.rbac.**'),
  tokens(T.GOOGLE_GRPC_CLIENT_PREFIX, 'grpc.$.**'),
]);
