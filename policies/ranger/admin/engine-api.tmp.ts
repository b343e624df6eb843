/**
 * TEMPORARY: the announced API of policies/ranger/engine/engine.ts, until
 * that module lands (then this file is deleted and imports point there).
 */
export interface RangerAccessRequest { resource: Readonly<Record<string, string | readonly string[]>>; accessType: string; user: string; userGroups: readonly string[]; userRoles?: readonly string[]; clientIPAddress?: string; accessTime?: Date; action?: string; requestData?: string; clientType?: string; context?: Readonly<Record<string, unknown>> }
export interface RangerAccessResult { isAllowed: boolean; isAccessDetermined: boolean; isAudited: boolean; isAuditedDetermined: boolean; policyId: number; policyVersion?: number; zoneName?: string; reason?: string }
export class RangerPolicyEngine {
  static create(servicePolicies: unknown, opts?: { roles?: unknown; superUsers?: readonly string[]; superGroups?: readonly string[] }): { engine: RangerPolicyEngine; warnings: string[] } {
    void servicePolicies;
    void opts;
    throw new Error('the Ranger policy engine has not landed yet');
  }
  readonly serviceName: string = '';
  readonly policyVersion: number | undefined;
  isAccessAllowed(req: RangerAccessRequest): RangerAccessResult {
    void req;
    return { isAllowed: false, isAccessDetermined: false, isAudited: true, isAuditedDetermined: true, policyId: -1 };
  }
}
