/**
 * The access request and results of the engine's public API (Ranger's
 * RangerAccessRequest, RangerAccessResult, data-mask and row-filter results),
 * and the normalised request the evaluators work on: access type `""`
 * becomes `_any`, roles are resolved, and the token environment (`{USER}`,
 * `{OWNER}`, `${{...}}`) is prepared once per request.
 */
import type { ElementMatchingScope } from './resource-matcher.ts';
import type { MatchType, RequestedResource } from './policy-resource-matcher.ts';
import type { MatchEnv } from './token-replacer.ts';

/** A tag associated with the requested resource (RangerTagForEval). */
export interface RangerTag {
  readonly type: string;
  readonly attributes?: Readonly<Record<string, string>>;
  /** How the tagged resource relates to the requested one (default SELF). */
  readonly matchType?: 'SELF' | 'DESCENDANT' | 'ANCESTOR' | 'SELF_AND_ALL_DESCENDANTS';
  readonly validityPeriods?: readonly unknown[];
}

/** An authorization request. */
export interface RangerAccessRequest {
  readonly resource: Readonly<Record<string, string | readonly string[]>>;
  /** Owner of the resource, for `{OWNER}` users in policy items. */
  readonly resourceOwner?: string;
  /** Access type; `""` or `_any` asks whether any access is allowed. */
  readonly accessType: string;
  readonly user: string;
  readonly userGroups: readonly string[];
  /** Roles already known for the user (added to those the roles download gives). */
  readonly userRoles?: readonly string[];
  readonly clientIPAddress?: string;
  readonly remoteIPAddress?: string;
  readonly forwardedAddresses?: readonly string[];
  readonly accessTime?: Date;
  readonly action?: string;
  readonly requestData?: string;
  readonly clientType?: string;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly resourceMatchingScope?: 'SELF' | 'SELF_OR_DESCENDANTS';
  readonly resourceElementMatchingScopes?: Readonly<Record<string, ElementMatchingScope>>;
  /** Ranger's ignoreDescendantDeny (default true). */
  readonly ignoreDescendantDeny?: boolean;
  /** Tags of the resource (what Ranger's tag enricher would put in the context). */
  readonly tags?: readonly RangerTag[];
  /** Attributes of the user and of groups (Ranger's user store), for USER.x / UG.x. */
  readonly userAttributes?: Readonly<Record<string, string>>;
  readonly groupAttributes?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Several access types at once (Ranger's ACCESSTYPES context); all must be allowed unless anyOfAccessTypes. */
  readonly accessTypes?: readonly string[];
  readonly anyOfAccessTypes?: boolean;
  /** Other resources the same statement touches (hive accessed-together conditions). */
  readonly requestedResources?: readonly Readonly<Record<string, string>>[];
}

/** An authorization decision. */
export interface RangerAccessResult {
  readonly isAllowed: boolean;
  readonly isAccessDetermined: boolean;
  readonly isAudited: boolean;
  readonly isAuditedDetermined: boolean;
  /** Id of the deciding policy; -1 when none decided. */
  readonly policyId: number;
  readonly policyVersion?: number;
  readonly policyPriority?: number;
  readonly zoneName?: string;
  readonly reason?: string;
}

/** A data-mask decision: how to mask the requested column. */
export interface RangerDataMaskResult extends RangerAccessResult {
  readonly maskType: string | null;
  readonly maskCondition: string | null;
  readonly maskedValue: string | null;
}

/** A row-filter decision. */
export interface RangerRowFilterResult extends RangerAccessResult {
  readonly filterExpr: string | null;
}

/** The request as the evaluators see it. */
export interface EvalRequest {
  readonly resource: RequestedResource;
  readonly owner: string | undefined;
  readonly accessType: string;
  readonly isAccessTypeAny: boolean;
  readonly user: string;
  readonly userGroups: ReadonlySet<string>;
  readonly userRoles: ReadonlySet<string>;
  readonly clientIPAddress: string | undefined;
  readonly accessTime: Date;
  readonly original: RangerAccessRequest;
  readonly context: Readonly<Record<string, unknown>>;
  readonly scope: 'SELF' | 'SELF_OR_DESCENDANTS';
  readonly elementScopes: Readonly<Record<string, ElementMatchingScope>> | undefined;
  readonly ignoreDescendantDeny: boolean;
  readonly tags: readonly RangerTag[];
  readonly env: MatchEnv;
  /** Set on the request a tag policy sees: the tag being evaluated. */
  readonly tag?: RangerTag;
  readonly tagMatchType?: MatchType;
}

/** A mutable result while policies are evaluated (RangerAccessResult). */
export class ResultBuilder {
  isAllowed = false;
  isAccessDetermined = false;
  isAudited = false;
  isAuditedDetermined = false;
  policyId = -1;
  policyPriority = 0;
  policyVersion: number | undefined;
  auditPolicyId = -1;
  zoneName: string | undefined;
  reason: string | undefined;
  maskType: string | null = null;
  maskCondition: string | null = null;
  maskedValue: string | null = null;
  filterExpr: string | null = null;

  /** setIsAllowed: a deny is always determined. */
  setAllowed(v: boolean): void {
    if (!v) this.isAccessDetermined = true;
    this.isAllowed = v;
  }
  /** setIsAudited: determines the audit decision. */
  setAudited(v: boolean): void {
    this.isAuditedDetermined = true;
    this.isAudited = v;
  }
  /** setAccessResultFrom. */
  copyAccessFrom(o: ResultBuilder): void {
    this.isAllowed = o.isAllowed;
    this.isAccessDetermined = o.isAccessDetermined;
    this.policyId = o.policyId;
    this.policyPriority = o.policyPriority;
    this.policyVersion = o.policyVersion;
    this.reason = o.reason;
    this.maskType = o.maskType;
    this.maskCondition = o.maskCondition;
    this.maskedValue = o.maskedValue;
    this.filterExpr = o.filterExpr;
  }
  /** setAuditResultFrom. */
  copyAuditFrom(o: ResultBuilder): void {
    this.isAudited = o.isAudited;
    this.isAuditedDetermined = o.isAuditedDetermined;
    this.auditPolicyId = o.auditPolicyId;
  }
  /** A copy. */
  clone(): ResultBuilder {
    const r = new ResultBuilder();
    r.copyAccessFrom(this);
    r.copyAuditFrom(this);
    r.zoneName = this.zoneName;
    return r;
  }
}
