/**
 * The protocol-neutral authorization check (ARCHITECTURE.md, idea 3):
 * `(principal, resource, access type, context) -> decision`. HTTP, gRPC,
 * PostgreSQL, MQTT and MCP map their traffic to an AuthzRequest and the
 * decision back to their own wire error (policies/rejection.ts). Backends
 * (Apache Ranger today; RBAC later) implement Authorizer.
 */

/** Who is asking. Every field is what an authenticator established, never a raw header. */
export interface AuthzPrincipal {
  /** The user name policies match (Ranger's `user`). */
  readonly user: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** The peer's SPIFFE id (mTLS URI SAN), when there is one. */
  readonly spiffeId?: string;
  /** Verified JWT claims, when the principal came from a JWT. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * What is accessed: a resource map in the policy engine's vocabulary, e.g.
 * `{ database: 'db', table: 't', column: 'c' }` or `{ path: '/a/b' }`.
 */
export type AuthzResource = Readonly<Record<string, string | readonly string[]>>;

/** Facts around the request that conditions may look at. */
export interface AuthzContext {
  readonly clientIp?: string;
  /** When the access happens (defaults to now in the backend). */
  readonly time?: Date;
  /** `http`, `grpc`, `postgres`, `mqtt`, `mcp` ... */
  readonly protocol?: string;
  /** The protocol's own verb (`GET`, `SELECT`, `PUBLISH`), audited as Ranger's `action`. */
  readonly action?: string;
  /** Protocol attributes (method, path, SNI ...), free-form. */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** The request text for audit (`reqData`), e.g. the SQL statement or the URL. */
  readonly requestData?: string;
  /** A session id for audit (`sess`). */
  readonly sessionId?: string;
}

/** One authorization question. */
export interface AuthzRequest {
  readonly principal: AuthzPrincipal;
  readonly resource: AuthzResource;
  /** Access type in the backend's vocabulary (`read`, `write`, `select` ...). */
  readonly accessType: string;
  readonly context: AuthzContext;
}

/** The answer. */
export interface AuthzDecision {
  readonly allowed: boolean;
  /** False when no policy decided (the caller denies: default deny). */
  readonly determined: boolean;
  /** True when the backend says this access is audited. */
  readonly audited: boolean;
  /** The deciding policy's id, -1 when none. */
  readonly policyId: number;
  /** Version of the policy set that decided, when known. */
  readonly policyVersion?: number;
  readonly reason?: string;
  /** The security zone that decided (Ranger), when any. */
  readonly zone?: string;
  /** True when the backend had no policies at all yet (never loaded): callers answer "unavailable". */
  readonly unavailable?: boolean;
}

/** A backend that decides synchronously from in-memory policies. */
export interface Authorizer {
  /** Decides one request; never throws (an internal failure is a deny). */
  authorize(req: AuthzRequest): AuthzDecision;
  /** True once policies (possibly an empty set) are loaded. */
  ready(): boolean;
}

/** A deny for when nothing could decide. */
export const DENY_UNDETERMINED: AuthzDecision = Object.freeze({ allowed: false, determined: false, audited: true, policyId: -1, reason: 'no policy decided' });
