/**
 * Ranger's AuthzAuditEvent as one JSON object (the field names of its
 * @SerializedName annotations, what Ranger's audit destinations write and
 * Solr indexes): repoType, repo, reqUser, evtTime, access, resource,
 * resType, action, result (1 allowed, 0 denied), agent, policy, reason,
 * enforcer (`ranger-acl`), sess, cliType, cliIP, reqData, agentHost,
 * logType (`RangerAudit`), id, seq_num, event_count, event_dur_ms, tags,
 * additional_info, cluster_name, zone_name, policy_version. evtTime uses
 * Ranger's Gson date format `yyyy-MM-dd HH:mm:ss.SSS` (UTC here).
 */
import { randomUUID } from 'node:crypto';
import type { AuthzDecision, AuthzRequest } from '../../authz/authorizer.ts';

/** What the plugin says about itself in every event. */
export interface AuditIdentity {
  /** The service (Ranger `repo`). */
  readonly serviceName: string;
  /** The service-def id (Ranger `repoType`); 0 when unknown. */
  readonly repoType: number;
  /** Ranger's agent id (the appId, e.g. `hbase`); ours is `themis-sidecar`. */
  readonly agentId: string;
  readonly agentHost: string;
  readonly clusterName: string;
}

/** One AuthzAuditEvent. */
export interface AuthzAuditEvent {
  repoType: number;
  repo: string;
  reqUser: string;
  evtTime: string;
  access: string;
  resource: string;
  resType: string;
  action: string;
  result: 0 | 1;
  agent: string;
  policy: number;
  reason?: string;
  enforcer: string;
  sess?: string;
  cliType?: string;
  cliIP?: string;
  reqData?: string;
  agentHost: string;
  logType: 'RangerAudit';
  id: string;
  seq_num: number;
  event_count: number;
  event_dur_ms: number;
  tags: string[];
  additional_info?: string;
  cluster_name: string;
  zone_name?: string;
  policy_version?: number;
}

/** Ranger's Gson date format, `2024-05-01 12:34:56.789`, in UTC. */
export function rangerEventTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * Ranger's RangerAccessResource.getAsString(): the values of the resource's
 * levels joined with `/` (a path resource is its path); resType is the
 * leaf level's name.
 */
export function resourceAsString(resource: AuthzRequest['resource']): { resource: string; resType: string } {
  const names = Object.keys(resource);
  const parts = names.map((n) => {
    const v = resource[n]!;
    return typeof v === 'string' ? v : v.join(',');
  });
  return { resource: parts.join('/'), resType: names[names.length - 1] ?? '' };
}

const ID_PREFIX = randomUUID();
let seq = 0;

/** The audit event of one decision (`zoneName` from the engine's result). */
export function auditEvent(id: AuditIdentity, req: AuthzRequest, d: AuthzDecision, zoneName?: string): AuthzAuditEvent {
  const { resource, resType } = resourceAsString(req.resource);
  const n = ++seq;
  const ev: AuthzAuditEvent = {
    repoType: id.repoType,
    repo: id.serviceName,
    reqUser: req.principal.user,
    evtTime: rangerEventTime(req.context.time ?? new Date()),
    access: req.accessType,
    resource,
    resType,
    action: req.context.action ?? req.accessType,
    result: d.allowed ? 1 : 0,
    agent: id.agentId,
    policy: d.policyId,
    enforcer: 'ranger-acl',
    agentHost: id.agentHost,
    logType: 'RangerAudit',
    id: `${ID_PREFIX}-${n}`,
    seq_num: n,
    event_count: 1,
    event_dur_ms: 0,
    tags: [],
    cluster_name: id.clusterName,
  };
  if (d.reason) ev.reason = d.reason;
  if (req.context.sessionId) ev.sess = req.context.sessionId;
  if (req.context.protocol) ev.cliType = req.context.protocol;
  if (req.context.clientIp) ev.cliIP = req.context.clientIp;
  if (req.context.requestData) ev.reqData = req.context.requestData.slice(0, 1800); // Ranger's MAX_REQUEST_DATA_FIELD_SIZE
  if (req.principal.spiffeId) ev.additional_info = JSON.stringify({ 'spiffe-id': req.principal.spiffeId });
  if (zoneName) ev.zone_name = zoneName;
  if (d.policyVersion !== undefined) ev.policy_version = d.policyVersion;
  return ev;
}
