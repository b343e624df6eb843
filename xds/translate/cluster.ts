/**
 * envoy.config.cluster.v3.Cluster (canonical JSON) -> ClusterConfig.
 * Unsupported fields that would change behaviour are refused with their path
 * rather than silently ignored; harmless ones are warned about.
 */
import { checkLbOptions } from '../../sidecar/contracts/lb-options.ts';
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { ExtensionRegistry } from '../../sidecar/contracts/extension.ts';
import type { ClusterConfig, EndpointConfig, HealthCheckConfig, LbPolicyName, LoadAssignmentEndpoints, LoadAssignmentPolicy, OriginalDstConfig, TransportSocketMatchConfig, XdsStreamSourceRef } from '../../sidecar/contracts/snapshot.ts';
import { parseStreamSource } from './config-source.ts';
import { parseAddress } from './address.ts';
import { parseTransportSocket } from './listener.ts';
import { durationMs, int, list, msg, str, type Json } from './proto-values.ts';

const H1 = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** String values of a Struct (transport socket match criteria and endpoint metadata). */
function stringStruct(v: unknown, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(msg(v) ?? {})) {
    if (typeof x !== 'string') throw new ConfigError(`${path}.${k}`, 'transport socket match values must be strings');
    out[k] = x;
  }
  return out;
}

/** Parses one Cluster; `warn` receives accepted-but-not-enforced notes. */
export function parseCluster(c: Json, path: string, warn: (e: ConfigError) => void, registry: ExtensionRegistry): ClusterConfig {
  const name = str(c['name']);
  if (!name) throw new ConfigError(`${path}.name`, 'cluster name is required');
  const type = (c['type'] as string | undefined) ?? (c['cluster_type'] !== undefined ? 'CUSTOM' : 'STATIC');
  if (type !== 'STATIC' && type !== 'STRICT_DNS' && type !== 'LOGICAL_DNS' && type !== 'EDS' && type !== 'ORIGINAL_DST') {
    throw new ConfigError(`${path}.type`, `cluster type ${type} is not supported yet (STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST are)`);
  }
  const givenPolicy = (c['lb_policy'] as string | undefined) ?? 'ROUND_ROBIN';
  // Envoy: ORIGINAL_DST clusters take CLUSTER_PROVIDED (v3 has no ORIGINAL_DST_LB any more), and
  // CLUSTER_PROVIDED needs a cluster that provides a balancer.
  if (type === 'ORIGINAL_DST' && givenPolicy !== 'CLUSTER_PROVIDED') {
    throw new ConfigError(`${path}.lb_policy`, `LB policy ${givenPolicy} is not valid for cluster type ORIGINAL_DST: only CLUSTER_PROVIDED is allowed`);
  }
  if (type !== 'ORIGINAL_DST' && givenPolicy === 'CLUSTER_PROVIDED') {
    throw new ConfigError(`${path}.lb_policy`, `LB policy CLUSTER_PROVIDED is not valid for cluster type ${type}: only ORIGINAL_DST clusters provide their own`);
  }
  const lbPolicy = givenPolicy as LbPolicyName;
  if (!['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED'].includes(lbPolicy)) {
    throw new ConfigError(`${path}.lb_policy`, `lb_policy ${lbPolicy} is not supported`);
  }
  const lbOptions: Record<string, number> = {};
  const common = msg(c['common_lb_config']);
  const panic = msg(common?.['healthy_panic_threshold']);
  if (panic) {
    lbOptions['healthyPanicThreshold'] = Number(panic['value'] ?? 0); // checked below (checkLbOptions)
  }
  const localityWeightedLb = common?.['locality_weighted_lb_config'] !== undefined;
  if (localityWeightedLb && (lbPolicy === 'RING_HASH' || lbPolicy === 'MAGLEV')) {
    warn(new ConfigError(`${path}.common_lb_config.locality_weighted_lb_config`, `locality weights are not applied with ${lbPolicy} (hosts are hashed across all localities of the chosen priority)`));
  }
  const originalDst = type === 'ORIGINAL_DST' ? parseOriginalDst(c, path) : undefined;
  const lr = msg(c['least_request_lb_config']);
  if (lr) {
    lbOptions['choiceCount'] = int(lr['choice_count'], 2, `${path}.least_request_lb_config.choice_count`);
    const bias = msg(lr['active_request_bias']);
    if (bias) lbOptions['activeRequestBias'] = Number(bias['default_value'] ?? 1);
  }
  const rh = msg(c['ring_hash_lb_config']);
  if (rh) {
    if (rh['hash_function'] !== undefined && rh['hash_function'] !== 'XX_HASH') throw new ConfigError(`${path}.ring_hash_lb_config.hash_function`, 'only XX_HASH is supported');
    lbOptions['minimumRingSize'] = int(rh['minimum_ring_size'], 1024, `${path}.ring_hash_lb_config.minimum_ring_size`);
    lbOptions['maximumRingSize'] = int(rh['maximum_ring_size'], 8 * 1024 * 1024, `${path}.ring_hash_lb_config.maximum_ring_size`);
  }
  const mg = msg(c['maglev_lb_config']);
  if (mg) lbOptions['tableSize'] = int(mg['table_size'], 65537, `${path}.maglev_lb_config.table_size`);
  if (c['load_balancing_policy'] !== undefined) throw new ConfigError(`${path}.load_balancing_policy`, 'load_balancing_policy extensions are not supported; use lb_policy');
  // What the balancer would refuse when the cluster is built, refused here with the field's path.
  try {
    checkLbOptions(lbPolicy, lbOptions);
  } catch (e) {
    throw e instanceof ConfigError ? e.under(path) : e;
  }
  const ctx = { path, warn };
  const tsJson = msg(c['transport_socket']);
  const transportSocket = tsJson ? parseTransportSocket(tsJson, `${path}.transport_socket`, 'envoy.transport_sockets.upstream', registry, ctx) : undefined;
  const transportSocketMatches: TransportSocketMatchConfig[] = list(c['transport_socket_matches']).map((m, i) => {
    const p = `${path}.transport_socket_matches[${i}]`;
    const ts = msg(m['transport_socket']);
    return Object.freeze({
      name: str(m['name']),
      match: Object.freeze(stringStruct(m['match'], `${p}.match`)),
      transportSocket: ts ? parseTransportSocket(ts, `${p}.transport_socket`, 'envoy.transport_sockets.upstream', registry, ctx) : undefined,
    });
  });
  if (c['transport_socket_matcher'] !== undefined) throw new ConfigError(`${path}.transport_socket_matcher`, 'the matcher-API transport_socket_matcher is not supported; use transport_socket_matches');

  const connectTimeoutMs = durationMs(c['connect_timeout'], `${path}.connect_timeout`) ?? 5000;
  const la = msg(c['load_assignment']);
  let endpoints: LoadAssignmentEndpoints = [];
  let edsServiceName: string | undefined;
  let edsInitialFetchTimeoutMs: number | undefined;
  let edsSource: XdsStreamSourceRef | undefined;
  if (type === 'EDS') {
    const eds = msg(c['eds_cluster_config']);
    const source = msg(eds?.['eds_config']);
    edsSource = parseStreamSource(source, `${path}.eds_cluster_config.eds_config`, 'EDS');
    edsServiceName = str(eds?.['service_name']) || name;
    edsInitialFetchTimeoutMs = durationMs(source!['initial_fetch_timeout'], `${path}.eds_cluster_config.eds_config.initial_fetch_timeout`) ?? 15_000;
    if (la) throw new ConfigError(`${path}.load_assignment`, 'an EDS cluster takes its endpoints from EDS, not load_assignment');
  } else if (la && type === 'ORIGINAL_DST') {
    throw new ConfigError(`${path}.load_assignment`, 'ORIGINAL_DST clusters must have no load assignment configured');
  } else if (la) {
    endpoints = parseLoadAssignment(la, `${path}.load_assignment`, type !== 'STATIC', warn);
  } else if (Array.isArray(c['hosts'])) {
    throw new ConfigError(`${path}.hosts`, 'the deprecated hosts field is not supported; use load_assignment');
  }
  if (type === 'LOGICAL_DNS' && endpoints.length !== 1) throw new ConfigError(`${path}.load_assignment`, 'LOGICAL_DNS clusters must have exactly one endpoint');

  let protocol: ClusterConfig['protocol'] = 'http1';
  let idleTimeoutMs = 3600_000;
  let maxRequestsPerConnection = 0;
  if (c['http2_protocol_options'] !== undefined) protocol = 'http2';
  const tepo = msg(c['typed_extension_protocol_options']);
  if (tepo) {
    for (const [key, v] of Object.entries(tepo)) {
      const p = `${path}.typed_extension_protocol_options["${key}"]`;
      const o = msg(v)!;
      if (!str(o['@type']).endsWith(H1)) throw new ConfigError(p, `unsupported protocol options type ${str(o['@type'])}`);
      const explicit = msg(o['explicit_http_config']);
      if (explicit) {
        if (explicit['http2_protocol_options'] !== undefined) protocol = 'http2';
        else if (explicit['http3_protocol_options'] !== undefined) throw new ConfigError(`${p}.explicit_http_config.http3_protocol_options`, 'HTTP/3 upstreams are not supported yet');
        else protocol = 'http1';
      } else if (o['use_downstream_protocol_config'] !== undefined) {
        throw new ConfigError(`${p}.use_downstream_protocol_config`, 'use_downstream_protocol_config is not supported yet; set explicit_http_config');
      } else if (o['auto_config'] !== undefined) {
        throw new ConfigError(`${p}.auto_config`, 'auto_config (ALPN) needs upstream TLS, which is not supported yet');
      }
      const common = msg(o['common_http_protocol_options']);
      if (common) {
        idleTimeoutMs = durationMs(common['idle_timeout'], `${p}.common_http_protocol_options.idle_timeout`) ?? idleTimeoutMs;
        maxRequestsPerConnection = int(common['max_requests_per_connection'], 0, `${p}.common_http_protocol_options.max_requests_per_connection`);
      }
    }
  }
  const legacyCommon = msg(c['common_http_protocol_options']);
  if (legacyCommon) idleTimeoutMs = durationMs(legacyCommon['idle_timeout'], `${path}.common_http_protocol_options.idle_timeout`) ?? idleTimeoutMs;

  const healthChecks = list(c['health_checks']).map((h, i) => parseHealthCheck(h, `${path}.health_checks[${i}]`));
  if (c['circuit_breakers'] !== undefined) warn(new ConfigError(`${path}.circuit_breakers`, 'circuit breakers are not enforced yet (the circuit-breaking issue adds them)'));
  if (c['outlier_detection'] !== undefined) warn(new ConfigError(`${path}.outlier_detection`, 'outlier detection is not enforced yet'));

  const family = str(c['dns_lookup_family']) || 'AUTO';
  return Object.freeze({
    name,
    type,
    edsServiceName,
    ...(edsInitialFetchTimeoutMs !== undefined ? { edsInitialFetchTimeoutMs } : {}),
    ...(edsSource && edsSource.kind !== 'ads' ? { edsSource } : {}),
    lbPolicy,
    lbOptions: Object.freeze(lbOptions),
    ...(localityWeightedLb ? { localityWeightedLb } : {}),
    ...(originalDst ? { originalDst } : {}),
    connectTimeoutMs,
    endpoints: Object.freeze(endpoints),
    dnsRefreshRateMs: durationMs(c['dns_refresh_rate'], `${path}.dns_refresh_rate`) ?? 5000,
    dnsFamily: family === 'V4_ONLY' ? 4 : family === 'V6_ONLY' ? 6 : 0,
    protocol,
    idleTimeoutMs,
    maxRequestsPerConnection,
    perConnectionBufferLimitBytes: int(c['per_connection_buffer_limit_bytes'], 1024 * 1024, `${path}.per_connection_buffer_limit_bytes`),
    healthChecks: Object.freeze(healthChecks),
    transportSocket,
    transportSocketMatches: Object.freeze(transportSocketMatches),
    raw: Object.freeze(c),
  });
}

/**
 * Parses a ClusterLoadAssignment (a cluster's load_assignment, or an EDS
 * resource): endpoints with weights, health status, priority and locality
 * (with its load_balancing_weight), and the policy (overprovisioning_factor,
 * drop_overloads), which rides on the returned array (LoadAssignmentEndpoints).
 */
export function parseLoadAssignment(la: Json, path: string, allowNamedHost: boolean, warn: (e: ConfigError) => void): EndpointConfig[] & { readonly policy: LoadAssignmentPolicy } {
  const endpoints: EndpointConfig[] = [];
  list(la['endpoints']).forEach((lle, i) => {
    const lp = `${path}.endpoints[${i}]`;
    const priority = int(lle['priority'], 0, `${lp}.priority`);
    if (!Number.isInteger(priority) || priority < 0 || priority > 128) throw new ConfigError(`${lp}.priority`, `priority must be an integer within 0..128, got ${String(lle['priority'])}`);
    const loc = msg(lle['locality']);
    const locality = loc ? `${str(loc['region'])}/${str(loc['zone'])}/${str(loc['sub_zone'])}` : '';
    // 0 is taken as unset (no load under locality weighted LB): Envoy's proto wants >= 1, but
    // its own EndpointsConfigDump writes 0 for a locality without a weight (Istio's dumps have it).
    let localityWeight: number | undefined;
    if (lle['load_balancing_weight'] !== undefined) {
      const w = int(lle['load_balancing_weight'], 0, `${lp}.load_balancing_weight`);
      if (!Number.isInteger(w) || w < 0) throw new ConfigError(`${lp}.load_balancing_weight`, `locality load_balancing_weight must be an integer >= 1, got ${String(lle['load_balancing_weight'])}`);
      if (w > 0) localityWeight = w;
    }
    list(lle['lb_endpoints']).forEach((le, j) => {
      const p = `${lp}.lb_endpoints[${j}]`;
      const ep = msg(le['endpoint']);
      if (!ep) throw new ConfigError(`${p}.endpoint`, 'endpoint is required');
      const address = parseAddress(msg(ep['address']), `${p}.endpoint.address`, { allowNamedHost });
      const hs = str(le['health_status']) || 'UNKNOWN';
      const tsm = msg(msg(msg(le['metadata'])?.['filter_metadata'])?.['envoy.transport_socket_match']);
      const transportSocketMatch = tsm ? Object.freeze(Object.fromEntries(Object.entries(tsm).filter(([, v]) => typeof v === 'string')) as Record<string, string>) : undefined;
      endpoints.push(Object.freeze({
        address,
        weight: int(le['load_balancing_weight'], 1, `${p}.load_balancing_weight`),
        healthy: hs === 'UNKNOWN' || hs === 'HEALTHY' || hs === 'DEGRADED',
        priority,
        ...(transportSocketMatch ? { transportSocketMatch } : {}),
        ...(locality ? { locality } : {}),
        ...(localityWeight !== undefined ? { localityWeight } : {}),
      }));
    });
  });
  const policy = parsePolicy(msg(la['policy']), `${path}.policy`, warn);
  return Object.assign(endpoints, { policy });
}

/** FractionalPercent denominators. */
const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** ClusterLoadAssignment.Policy: overprovisioning_factor and (one) drop_overloads category. */
function parsePolicy(policy: Json | undefined, path: string, warn: (e: ConfigError) => void): LoadAssignmentPolicy {
  let overprovisioningFactor = 140;
  if (policy?.['overprovisioning_factor'] !== undefined) {
    overprovisioningFactor = int(policy['overprovisioning_factor'], 140, `${path}.overprovisioning_factor`);
    if (!Number.isInteger(overprovisioningFactor) || overprovisioningFactor <= 0) throw new ConfigError(`${path}.overprovisioning_factor`, `must be an integer > 0, got ${String(policy['overprovisioning_factor'])}`);
  }
  if (policy?.['weighted_priority_health'] === true) warn(new ConfigError(`${path}.weighted_priority_health`, 'weighted_priority_health is not applied: priority health counts hosts, not their weights'));
  const drops = list(policy?.['drop_overloads']);
  // Envoy supports a single category (ClusterImplBase::parseDropOverloadConfig).
  if (drops.length > 1) throw new ConfigError(`${path}.drop_overloads`, `drop_overloads has ${drops.length} categories; only one is supported (as Envoy)`);
  let dropOverload: LoadAssignmentPolicy['dropOverload'];
  if (drops.length === 1) {
    const d = drops[0]!;
    const pct = msg(d['drop_percentage']);
    const numerator = int(pct?.['numerator'], 0, `${path}.drop_overloads[0].drop_percentage.numerator`);
    const denomName = str(pct?.['denominator']) || 'HUNDRED';
    const denominator = DENOMINATORS[denomName];
    if (denominator === undefined) throw new ConfigError(`${path}.drop_overloads[0].drop_percentage.denominator`, `unknown denominator ${denomName}`);
    if (!Number.isInteger(numerator) || numerator < 0) throw new ConfigError(`${path}.drop_overloads[0].drop_percentage.numerator`, `must be an integer >= 0, got ${String(pct?.['numerator'])}`);
    const ratio = Math.min(1, numerator / denominator);
    if (ratio > 0) dropOverload = Object.freeze({ category: str(d['category']), ratio });
  }
  return Object.freeze({ overprovisioningFactor, ...(dropOverload ? { dropOverload } : {}) });
}

/** original_dst_lb_config and cleanup_interval of an ORIGINAL_DST cluster. */
function parseOriginalDst(c: Json, path: string): OriginalDstConfig {
  const o = msg(c['original_dst_lb_config']);
  const p = `${path}.original_dst_lb_config`;
  if (o?.['metadata_key'] !== undefined) throw new ConfigError(`${p}.metadata_key`, 'the destination from dynamic metadata is not supported (use_http_header is)');
  let portOverride: number | undefined;
  if (o?.['upstream_port_override'] !== undefined) {
    portOverride = int(o['upstream_port_override'], 0, `${p}.upstream_port_override`);
    if (!Number.isInteger(portOverride) || portOverride < 1 || portOverride > 65535) throw new ConfigError(`${p}.upstream_port_override`, `must be a port 1..65535, got ${String(o['upstream_port_override'])}`);
  }
  const cleanupIntervalMs = durationMs(c['cleanup_interval'], `${path}.cleanup_interval`) ?? 5000;
  if (cleanupIntervalMs <= 0) throw new ConfigError(`${path}.cleanup_interval`, 'must be > 0');
  return Object.freeze({
    useHttpHeader: o?.['use_http_header'] === true,
    headerName: (str(o?.['http_header_name']) || 'x-envoy-original-dst-host').toLowerCase(),
    ...(portOverride !== undefined ? { portOverride } : {}),
    cleanupIntervalMs,
  });
}

function hex(v: unknown, p: string): Buffer {
  const m = msg(v);
  if (!m) throw new ConfigError(p, 'payload is required');
  if (typeof m['text'] === 'string') {
    if (!/^([0-9a-fA-F]{2})*$/.test(m['text'])) throw new ConfigError(`${p}.text`, 'payload text must be hex');
    return Buffer.from(m['text'], 'hex');
  }
  if (typeof m['binary'] === 'string') return Buffer.from(m['binary'], 'base64');
  throw new ConfigError(p, 'payload needs text or binary');
}

function parseHealthCheck(h: Json, p: string): HealthCheckConfig {
  const timeoutMs = durationMs(h['timeout'], `${p}.timeout`);
  const intervalMs = durationMs(h['interval'], `${p}.interval`);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new ConfigError(`${p}.timeout`, 'timeout is required and must be > 0');
  if (intervalMs === undefined || intervalMs <= 0) throw new ConfigError(`${p}.interval`, 'interval is required and must be > 0');
  if (h['unhealthy_threshold'] === undefined) throw new ConfigError(`${p}.unhealthy_threshold`, 'unhealthy_threshold is required');
  if (h['healthy_threshold'] === undefined) throw new ConfigError(`${p}.healthy_threshold`, 'healthy_threshold is required');
  const base = {
    timeoutMs,
    intervalMs,
    intervalJitterMs: durationMs(h['interval_jitter'], `${p}.interval_jitter`) ?? 0,
    initialJitterMs: durationMs(h['initial_jitter'], `${p}.initial_jitter`) ?? 0,
    unhealthyThreshold: int(h['unhealthy_threshold'], 1, `${p}.unhealthy_threshold`),
    healthyThreshold: int(h['healthy_threshold'], 1, `${p}.healthy_threshold`),
  };
  const http = msg(h['http_health_check']);
  if (http) {
    const path = str(http['path']);
    if (!path) throw new ConfigError(`${p}.http_health_check.path`, 'path is required');
    if (http['codec_client_type'] !== undefined && http['codec_client_type'] !== 'HTTP1') throw new ConfigError(`${p}.http_health_check.codec_client_type`, 'only HTTP1 health checks are supported');
    const ranges = list(http['expected_statuses']).map((r, i) => {
      const rp = `${p}.http_health_check.expected_statuses[${i}]`;
      const start = int(r['start'], 0, `${rp}.start`), end = int(r['end'], 0, `${rp}.end`);
      if (start < 100 || end > 600 || start >= end) throw new ConfigError(`${p}.http_health_check.expected_statuses[${i}]`, `invalid range [${start}, ${end})`);
      return Object.freeze([start, end] as const);
    });
    const headers: Record<string, string> = {};
    for (const o of list(http['request_headers_to_add'])) {
      const hd = msg(o['header']);
      if (hd) headers[str(hd['key']).toLowerCase()] = str(hd['value']);
    }
    return Object.freeze({ ...base, http: Object.freeze({ host: str(http['host']), path, expectedStatuses: Object.freeze(ranges.length ? ranges : [Object.freeze([200, 201] as const)]), requestHeaders: Object.freeze(headers) }) });
  }
  const tcp = msg(h['tcp_health_check']);
  if (tcp) {
    return Object.freeze({
      ...base,
      tcp: Object.freeze({
        send: tcp['send'] !== undefined ? hex(tcp['send'], `${p}.tcp_health_check.send`) : undefined,
        receive: Object.freeze(list(tcp['receive']).map((r, i) => hex(r, `${p}.tcp_health_check.receive[${i}]`))),
      }),
    });
  }
  throw new ConfigError(p, 'health checker kind not supported (http_health_check and tcp_health_check are)');
}
