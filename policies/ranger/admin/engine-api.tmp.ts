/**
 * TEMPORARY: the announced API of policies/ranger/engine/engine.ts, until
 * that module lands (then this file is deleted and imports point there).
 */
export interface RangerAccessRequest { resource: Readonly<Record<string, string | readonly string[]>>; accessType: string; user: string; userGroups: readonly string[]; userRoles?: readonly string[]; clientIPAddress?: string; accessTime?: Date; action?: string; context?: Readonly<Record<string, unknown>> }
export interface RangerAccessResult { isAllowed: boolean; isAccessDetermined: boolean; isAudited: boolean; isAuditedDetermined: boolean; policyId: number; policyVersion?: number; zoneName?: string; reason?: string }
export declare class RangerPolicyEngine {
  static create(servicePolicies: unknown, opts?: { roles?: unknown; superUsers?: readonly string[]; superGroups?: readonly string[] }): { engine: RangerPolicyEngine; warnings: string[] };
  readonly serviceName: string;
  readonly policyVersion: number | undefined;
  isAccessAllowed(req: RangerAccessRequest): RangerAccessResult;
}
