/**
 * The Ranger adapter of the neutral Authorizer (policies/authz): decides
 * with the RangerPolicyEngine in force in a PolicySource (Admin polling or
 * a file), caches decisions per (principal, resource, access) for the
 * policy generation they were made under, and writes Ranger audit events
 * for the results the engine marks audited (cache hits included: every
 * access is an event, as in Ranger).
 *
 * Outcomes:
 *  - no policies loaded yet (Admin down, no cache file): `unavailable`;
 *  - the Admin said the service does not exist: denied, not determined;
 *  - the engine allows (isAllowed and isAccessDetermined): allowed;
 *  - anything else, including an exception in the engine: denied.
 *
 * Stats under `ranger.<service>.`: allowed, denied, not_determined,
 * unavailable, engine_errors; the cache's under `decision_cache.`.
 */
import type { AuthzDecision, AuthzRequest, Authorizer } from '../authz/authorizer.ts';
import { DecisionCache, decisionKey } from '../authz/decision-cache.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { PolicySource } from './admin/policy-source.ts';
import { auditEvent, type AuditIdentity } from './audit/audit-event.ts';
import type { AuditSink } from './audit/audit-sink.ts';
import type { RangerAccessRequest, RangerAccessResult } from './engine/engine.ts';

/** The part of RangerPolicyEngine the authorizer calls (a test may pass a fake). */
export interface RangerEngineLike {
  readonly serviceName: string;
  readonly policyVersion: number | undefined;
  isAccessAllowed(req: RangerAccessRequest): RangerAccessResult;
}

/** What a RangerAuthorizer is built from. */
export interface RangerAuthorizerOptions {
  readonly source: PolicySource<RangerEngineLike>;
  /** `ranger.<service>.` */
  readonly stats: StatsScope;
  /** Decision cache bounds; maxEntries 0 disables it. */
  readonly cache: { readonly maxEntries: number; readonly ttlMs: number };
  readonly audit?: AuditSink;
  readonly identity: AuditIdentity;
  readonly now?: () => number;
}

const UNAVAILABLE: AuthzDecision = Object.freeze({ allowed: false, determined: false, audited: false, policyId: -1, reason: 'Ranger policies not loaded', unavailable: true });
const NO_SERVICE: AuthzDecision = Object.freeze({ allowed: false, determined: false, audited: false, policyId: -1, reason: 'service not found in Ranger Admin: no policies' });
const ENGINE_ERROR: AuthzDecision = Object.freeze({ allowed: false, determined: false, audited: true, policyId: -1, reason: 'policy engine error' });

/** The neutral request in the engine's terms. */
export function toRangerRequest(req: AuthzRequest): RangerAccessRequest {
  const c = req.context;
  const context: Record<string, unknown> = { ...c.attributes };
  if (c.protocol) context['protocol'] = c.protocol;
  if (req.principal.spiffeId) context['spiffeId'] = req.principal.spiffeId;
  if (req.principal.claims) context['claims'] = req.principal.claims;
  return {
    resource: req.resource,
    accessType: req.accessType,
    user: req.principal.user,
    userGroups: req.principal.groups,
    userRoles: req.principal.roles,
    clientIPAddress: c.clientIp,
    accessTime: c.time,
    action: c.action,
    requestData: c.requestData,
    clientType: c.protocol,
    context,
  };
}

/** Authorizer over a Ranger policy source. */
export class RangerAuthorizer implements Authorizer {
  private readonly opts: RangerAuthorizerOptions;
  private readonly cache: DecisionCache;
  private readonly allowedC: Counter;
  private readonly deniedC: Counter;
  private readonly notDetermined: Counter;
  private readonly unavailable: Counter;
  private readonly engineErrors: Counter;

  constructor(opts: RangerAuthorizerOptions) {
    this.opts = opts;
    const s = opts.stats;
    this.cache = new DecisionCache({ ...opts.cache, now: opts.now, stats: s.scope('decision_cache') });
    this.allowedC = s.counter('allowed');
    this.deniedC = s.counter('denied');
    this.notDetermined = s.counter('not_determined');
    this.unavailable = s.counter('unavailable');
    this.engineErrors = s.counter('engine_errors');
  }

  ready(): boolean {
    return this.opts.source.snapshot().loaded;
  }

  authorize(req: AuthzRequest): AuthzDecision {
    const snap = this.opts.source.snapshot();
    if (!snap.loaded) {
      this.unavailable.inc();
      return UNAVAILABLE;
    }
    const engine = snap.engine;
    if (engine === undefined) {
      this.deniedC.inc();
      this.notDetermined.inc();
      return NO_SERVICE;
    }
    const key = decisionKey(req);
    let d = this.cache.get(key, snap.generation);
    if (d === undefined) {
      d = this.decide(engine, req);
      if (d !== ENGINE_ERROR) this.cache.set(key, snap.generation, d);
    }
    if (d.allowed) this.allowedC.inc();
    else {
      this.deniedC.inc();
      if (!d.determined) this.notDetermined.inc();
    }
    if (d.audited && this.opts.audit) this.opts.audit.log(auditEvent(this.opts.identity, req, d, d.zone));
    return d;
  }

  private decide(engine: RangerEngineLike, req: AuthzRequest): AuthzDecision {
    let r: RangerAccessResult;
    try {
      r = engine.isAccessAllowed(toRangerRequest(req));
    } catch {
      this.engineErrors.inc();
      return ENGINE_ERROR;
    }
    const d: AuthzDecision = {
      allowed: r.isAllowed === true && r.isAccessDetermined === true,
      determined: r.isAccessDetermined === true,
      audited: r.isAudited === true,
      policyId: typeof r.policyId === 'number' ? r.policyId : -1,
      policyVersion: r.policyVersion ?? engine.policyVersion,
      reason: r.reason,
      zone: r.zoneName,
    };
    return Object.freeze(d);
  }
}
