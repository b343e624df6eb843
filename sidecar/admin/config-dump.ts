/**
 * Admin `/config_dump`: envoy.admin.v3.ConfigDump of the static config, in
 * Envoy's config-tracker order (bootstrap, clusters, [endpoint], listeners,
 * routes), each config an Any with its `@type`.
 *
 * Query parameters, as ConfigDumpHandler:
 *  - `resource=<repeated field>`: the items of that field of whichever dump
 *    has it, each packed as an Any (`...ClustersConfigDump.StaticCluster`);
 *    a non-repeated field is 400, an unknown one 404;
 *  - `mask=<FieldMask>`: trims each config (without `resource`; configs the
 *    mask does not fit are left out, 400 if none is left) or each item (with
 *    `resource`; the mask reaches into the embedded resource, 400 if invalid);
 *  - `name_regex=<RE2>`: full match on resource names (400 if invalid);
 *  - `include_eds`: adds EndpointsConfigDump built from the clusters' hosts.
 * Secrets (private keys, passwords) are redacted as `MessageUtil::redact`.
 * SecretsConfigDump (static_secrets, dynamic_active_secrets,
 * dynamic_warming_secrets) comes last, as Envoy's `secrets` tracker, when
 * there is any secret; its Secrets are redacted by protocols/tls's
 * redactSensitive (a redacted `inline_bytes` reads `W3JlZGFjdGVkXQ==`).
 * Warming: ClustersConfigDump.dynamic_warming_clusters (clusters waiting for
 * their TLS secrets) and DynamicListener.warming_state (listeners of an LDS
 * update waiting for secrets or extension configs; beside active_state when
 * the listener replaces an active one). EcdsConfigDump (`ecds_filter_http`,
 * after clusters as in Envoy's order) lists the ECDS configs received.
 */

import { socketAddressJson } from './admin-address.ts';
import { jsonResponse, TEXT, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import {
  fieldMaskDebugString,
  fieldMaskTree,
  isJsonObject,
  parseFieldMask,
  pathsCrossNoArray,
  trimJson,
} from './field-mask.ts';
import type { FieldMaskTree, JsonObject } from './field-mask.ts';
import { compileRe2 } from './re2-pattern.ts';
import type { ServerView } from './server-view.ts';
import { redactSensitive } from '../../protocols/tls/secrets.ts';

const TYPE_PREFIX = 'type.googleapis.com/';

/** A repeated field of a dump message: what its items are packed as. */
interface RepeatedField {
  readonly itemType: string;
  /** The item's Any field holding the resource (only one supported, as in Envoy). */
  readonly anyField: string;
}

/** What of a dump message's schema the mask and resource lookups need. */
interface DumpSchema {
  readonly typeName: string;
  readonly singular: readonly string[];
  readonly messages: readonly string[];
  readonly repeated: Readonly<Record<string, RepeatedField>>;
}

const SCHEMAS = {
  bootstrap: {
    typeName: 'envoy.admin.v3.BootstrapConfigDump',
    singular: ['last_updated'],
    messages: ['bootstrap'],
    repeated: {},
  },
  clusters: {
    typeName: 'envoy.admin.v3.ClustersConfigDump',
    singular: ['version_info'],
    messages: [],
    repeated: {
      static_clusters: { itemType: 'envoy.admin.v3.ClustersConfigDump.StaticCluster', anyField: 'cluster' },
      dynamic_active_clusters: { itemType: 'envoy.admin.v3.ClustersConfigDump.DynamicCluster', anyField: 'cluster' },
      dynamic_warming_clusters: { itemType: 'envoy.admin.v3.ClustersConfigDump.DynamicCluster', anyField: 'cluster' },
    },
  },
  ecds: {
    typeName: 'envoy.admin.v3.EcdsConfigDump',
    singular: [],
    messages: [],
    repeated: {
      ecds_filters: { itemType: 'envoy.admin.v3.EcdsConfigDump.EcdsFilterConfig', anyField: 'ecds_filter' },
    },
  },
  endpoint: {
    typeName: 'envoy.admin.v3.EndpointsConfigDump',
    singular: [],
    messages: [],
    repeated: {
      static_endpoint_configs: {
        itemType: 'envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig',
        anyField: 'endpoint_config',
      },
      dynamic_endpoint_configs: {
        itemType: 'envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig',
        anyField: 'endpoint_config',
      },
    },
  },
  listeners: {
    typeName: 'envoy.admin.v3.ListenersConfigDump',
    singular: ['version_info'],
    messages: [],
    repeated: {
      static_listeners: { itemType: 'envoy.admin.v3.ListenersConfigDump.StaticListener', anyField: 'listener' },
      dynamic_listeners: { itemType: 'envoy.admin.v3.ListenersConfigDump.DynamicListener', anyField: 'active_state' },
    },
  },
  routes: {
    typeName: 'envoy.admin.v3.RoutesConfigDump',
    singular: [],
    messages: [],
    repeated: {
      static_route_configs: { itemType: 'envoy.admin.v3.RoutesConfigDump.StaticRouteConfig', anyField: 'route_config' },
      dynamic_route_configs: {
        itemType: 'envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig',
        anyField: 'route_config',
      },
    },
  },
  secrets: {
    typeName: 'envoy.admin.v3.SecretsConfigDump',
    singular: [],
    messages: [],
    repeated: {
      static_secrets: { itemType: 'envoy.admin.v3.SecretsConfigDump.StaticSecret', anyField: 'secret' },
      dynamic_active_secrets: { itemType: 'envoy.admin.v3.SecretsConfigDump.DynamicSecret', anyField: 'secret' },
      dynamic_warming_secrets: { itemType: 'envoy.admin.v3.SecretsConfigDump.DynamicSecret', anyField: 'secret' },
    },
  },
} as const satisfies Record<string, DumpSchema>;

/** One dump message before packing: its schema and fields (repeated fields may be empty). */
interface DumpSection {
  readonly schema: DumpSchema;
  readonly fields: JsonObject;
}

/** A Timestamp as protobuf JSON prints it: RFC 3339, fraction only when non-zero. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

const SENSITIVE = new Set(['private_key', 'password', 'session_ticket_keys', 'secret', 'hmac_secret', 'oauth_token']);

/** A copy with sensitive DataSource contents replaced by `[redacted]`. */
function redact(value: unknown, sensitive = false): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, sensitive));
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (sensitive && (k === 'inline_string' || k === 'inline_bytes')) out[k] = '[redacted]';
      else out[k] = redact(v, sensitive || SENSITIVE.has(k));
    }
    return out;
  }
  return sensitive && typeof value === 'string' ? '[redacted]' : value;
}

/** The resource embedded as an Any. */
function any(typeName: string, raw: Readonly<Record<string, unknown>>): JsonObject {
  return { '@type': TYPE_PREFIX + typeName, ...(redact(raw) as JsonObject) };
}

function buildSections(view: ServerView, match: (name: string) => boolean, includeEds: boolean): Map<string, DumpSection> {
  const clusters = view.clusters();
  const listeners = view.listeners();
  const sections = new Map<string, DumpSection>();
  sections.set('bootstrap', {
    schema: SCHEMAS.bootstrap,
    fields: { bootstrap: redact(view.bootstrap), last_updated: rfc3339(view.startedAt) },
  });
  const versions = view.xdsVersions?.() ?? {};
  const clusterFields: JsonObject = {
    static_clusters: clusters
      .filter((c) => c.versionInfo === undefined && match(c.name))
      .map((c) => ({ cluster: any('envoy.config.cluster.v3.Cluster', c.raw), last_updated: rfc3339(c.addedAt) })),
    dynamic_active_clusters: clusters
      .filter((c) => c.versionInfo !== undefined && match(c.name))
      .map((c) => ({ version_info: c.versionInfo!, cluster: any('envoy.config.cluster.v3.Cluster', c.raw), last_updated: rfc3339(c.addedAt) })),
    dynamic_warming_clusters: (view.warmingClusters?.() ?? [])
      .filter((c) => match(c.name))
      .map((c) => ({ version_info: c.versionInfo, cluster: any('envoy.config.cluster.v3.Cluster', c.raw), last_updated: rfc3339(c.lastUpdated) })),
  };
  if (versions.cds !== undefined) clusterFields['version_info'] = versions.cds;
  sections.set('clusters', { schema: SCHEMAS.clusters, fields: clusterFields });
  const ecds = view.ecdsConfigs?.() ?? [];
  if (ecds.length > 0) {
    sections.set('ecds', {
      schema: SCHEMAS.ecds,
      fields: {
        ecds_filters: ecds.filter((e) => match(e.name)).map((e) => ({
          ...(e.versionInfo ? { version_info: e.versionInfo } : {}),
          ecds_filter: any('envoy.config.core.v3.TypedExtensionConfig', e.raw),
          last_updated: rfc3339(e.lastUpdated),
        })),
      },
    });
  }
  if (includeEds && clusters.length > 0) {
    const endpoints: JsonObject[] = [];
    for (const c of clusters) {
      const eds = isJsonObject(c.raw['eds_cluster_config']) ? c.raw['eds_cluster_config']['service_name'] : undefined;
      const clusterName = typeof eds === 'string' && eds !== '' ? eds : c.name;
      if (!match(clusterName)) continue;
      const assignment: JsonObject = { cluster_name: clusterName };
      if (c.hosts.length > 0) {
        assignment['endpoints'] = c.hosts.map((h) => ({
          locality: {},
          lb_endpoints: [
            {
              endpoint: { address: socketAddressJson(h.address, h.port), health_check_config: {} },
              health_status: h.healthy ? 'HEALTHY' : 'UNHEALTHY',
              load_balancing_weight: h.weight,
            },
          ],
        }));
      }
      assignment['policy'] = { overprovisioning_factor: 140 };
      endpoints.push({ endpoint_config: any('envoy.config.endpoint.v3.ClusterLoadAssignment', assignment) });
    }
    sections.set('endpoint', { schema: SCHEMAS.endpoint, fields: { static_endpoint_configs: endpoints } });
  }
  const listenerFields: JsonObject = {
    static_listeners: listeners
      .filter((l) => l.versionInfo === undefined && match(l.name))
      .map((l) => ({ listener: any('envoy.config.listener.v3.Listener', l.raw), last_updated: rfc3339(l.addedAt) })),
    dynamic_listeners: dynamicListeners(view, listeners, match),
  };
  if (versions.lds !== undefined) listenerFields['version_info'] = versions.lds;
  sections.set('listeners', { schema: SCHEMAS.listeners, fields: listenerFields });
  const routes: JsonObject[] = [];
  for (const l of listeners) {
    for (const rc of l.routeConfigs) {
      const name = typeof rc['name'] === 'string' ? rc['name'] : '';
      if (!match(name)) continue;
      routes.push({ route_config: any('envoy.config.route.v3.RouteConfiguration', rc), last_updated: rfc3339(l.addedAt) });
    }
  }
  const dynamicRoutes = (view.dynamicRouteConfigs?.() ?? [])
    .filter((r) => match(r.name))
    .map((r) => ({ version_info: r.versionInfo, route_config: any('envoy.config.route.v3.RouteConfiguration', r.raw), last_updated: rfc3339(r.lastUpdated) }));
  sections.set('routes', { schema: SCHEMAS.routes, fields: { static_route_configs: routes, dynamic_route_configs: dynamicRoutes } });
  const secrets = view.secretsDump?.();
  if (secrets && secrets.static.length + secrets.dynamicActive.length + secrets.dynamicWarming.length > 0) {
    const secret = (raw: Readonly<Record<string, unknown>>): JsonObject => {
      const { '@type': _type, ...rest } = raw as JsonObject;
      return { '@type': `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`, ...redactSensitive(rest) };
    };
    // DynamicSecret: version_info omitted when empty (proto3 JSON).
    const dynamic = (s: { name: string; versionInfo: string; lastUpdated: Date }, raw: Readonly<Record<string, unknown>>): JsonObject => ({
      name: s.name,
      ...(s.versionInfo ? { version_info: s.versionInfo } : {}),
      last_updated: rfc3339(s.lastUpdated),
      secret: secret(raw),
    });
    sections.set('secrets', {
      schema: SCHEMAS.secrets,
      fields: {
        static_secrets: secrets.static.filter((s) => match(s.name)).map((s) => ({ name: s.name, last_updated: rfc3339(s.lastUpdated), secret: secret(s.raw) })),
        dynamic_active_secrets: secrets.dynamicActive.filter((s) => match(s.name)).map((s) => dynamic(s, s.raw)),
        // Envoy dumps a warming secret with its name only.
        dynamic_warming_secrets: secrets.dynamicWarming.filter((s) => match(s.name)).map((s) => dynamic(s, { name: s.name })),
      },
    });
  }
  return sections;
}

/** DynamicListener entries: active ones (with warming_state when an update of them warms), then listeners only warming. */
function dynamicListeners(view: ServerView, listeners: ReturnType<ServerView['listeners']>, match: (name: string) => boolean): JsonObject[] {
  const warming = new Map((view.warmingListeners?.() ?? []).map((w) => [w.name, w]));
  const state = (w: { versionInfo: string; lastUpdated: Date; raw: Readonly<Record<string, unknown>> }): JsonObject => ({
    version_info: w.versionInfo,
    listener: any('envoy.config.listener.v3.Listener', w.raw),
    last_updated: rfc3339(w.lastUpdated),
  });
  const out: JsonObject[] = [];
  for (const l of listeners) {
    if (l.versionInfo === undefined || !match(l.name)) continue;
    const entry: JsonObject = { name: l.name, active_state: state({ versionInfo: l.versionInfo, lastUpdated: l.addedAt, raw: l.raw }) };
    const w = warming.get(l.name);
    if (w) entry['warming_state'] = state(w);
    warming.delete(l.name);
    out.push(entry);
  }
  for (const w of warming.values()) if (match(w.name)) out.push({ name: w.name, warming_state: state(w) });
  return out;
}

/** The section as an Any: `@type` first, empty repeated fields left out (proto3 JSON). */
function packSection(section: DumpSection): JsonObject {
  const out: JsonObject = { '@type': TYPE_PREFIX + section.schema.typeName };
  for (const [k, v] of Object.entries(section.fields)) {
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

/** Whether every path of the mask names a field of the dump message (no descent through repeated fields). */
function maskFitsSection(schema: DumpSchema, fields: JsonObject, tree: FieldMaskTree): boolean {
  for (const [key, sub] of tree) {
    if (schema.singular.includes(key) || key in schema.repeated) {
      if (sub !== null) return false;
    } else if (schema.messages.includes(key)) {
      if (sub !== null && isJsonObject(fields[key]) && !pathsCrossNoArray(fields[key], sub)) return false;
    } else {
      return false;
    }
  }
  return true;
}

/** Trims one item (`{cluster: Any, last_updated}`), reaching into its Any field; undefined if the mask is invalid. */
function trimItem(item: JsonObject, field: RepeatedField, tree: FieldMaskTree): JsonObject | undefined {
  const outer: FieldMaskTree = new Map();
  for (const [key, sub] of tree) {
    if (key === field.anyField) {
      outer.set(key, null);
    } else if (key === 'last_updated') {
      if (sub !== null) return undefined;
      outer.set(key, null);
    } else {
      return undefined;
    }
  }
  const trimmed = trimJson(item, outer);
  const inner = tree.get(field.anyField);
  const resource = trimmed[field.anyField];
  if (inner !== undefined && inner !== null && isJsonObject(resource)) {
    if (!pathsCrossNoArray(resource, inner)) return undefined;
    trimmed[field.anyField] = trimJson(resource, inner, ['@type']);
  }
  return trimmed;
}

/** Handles GET /config_dump. */
export function handleConfigDump(req: AdminRequest, ctx: AdminContext): AdminResponse {
  const resource = req.query.get('resource');
  const mask = req.query.get('mask');
  const includeEds = req.query.has('include_eds');
  const nameRegex = req.query.nonEmpty('name_regex');
  let match: (name: string) => boolean = () => true;
  if (nameRegex !== undefined) {
    const compiled = compileRe2(nameRegex, true);
    if (!compiled.ok) {
      return textResponse(
        `INVALID_ARGUMENT: Error while parsing name_regex from ${nameRegex}: ${compiled.reason}`,
        400,
        TEXT,
      );
    }
    const re = compiled.regex;
    match = (name) => re.test(name);
  }
  const sections = buildSections(ctx.view, match, includeEds);
  const paths = mask === undefined ? undefined : parseFieldMask(mask);
  const tree = paths === undefined ? undefined : fieldMaskTree(paths);

  if (resource !== undefined) {
    for (const section of sections.values()) {
      const { schema } = section;
      const field = (schema.repeated as Readonly<Record<string, RepeatedField>>)[resource];
      if (field === undefined) {
        if (schema.singular.includes(resource) || schema.messages.includes(resource)) {
          return textResponse(`${resource} is not a repeated field. Use ?mask=${resource} to get only this field`, 400, TEXT);
        }
        continue;
      }
      const items = (section.fields[resource] as JsonObject[] | undefined) ?? [];
      const configs: JsonObject[] = [];
      for (const item of items) {
        let out: JsonObject | undefined = item;
        if (tree !== undefined) {
          out = trimItem(item, field, tree);
          if (out === undefined) {
            return textResponse(`FieldMask ${fieldMaskDebugString(paths ?? [])} could not be successfully used.`, 400, TEXT);
          }
        }
        configs.push({ '@type': TYPE_PREFIX + field.itemType, ...out });
      }
      return jsonResponse(configs.length === 0 ? {} : { configs });
    }
    return textResponse(`${resource} not found in config dump`, 404, TEXT);
  }

  const configs: JsonObject[] = [];
  for (const section of sections.values()) {
    if (tree === undefined) {
      configs.push(packSection(section));
      continue;
    }
    if (!maskFitsSection(section.schema, section.fields, tree)) continue;
    configs.push(packSection({ schema: section.schema, fields: trimJson(section.fields, tree) }));
  }
  if (configs.length === 0 && mask !== undefined) {
    return textResponse(`FieldMask ${mask} could not be successfully applied to any configs.`, 400, TEXT);
  }
  return jsonResponse({ configs });
}
