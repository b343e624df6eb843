/**
 * The one table that maps a policy verdict to each protocol's wire error
 * (ARCHITECTURE.md, idea 3). Protocol adapters look their code up here
 * instead of choosing their own, so a deny is a deny everywhere:
 *
 * | verdict     | HTTP | gRPC                   | PostgreSQL SQLSTATE                 | MQTT 5 reason code            |
 * |-------------|------|------------------------|-------------------------------------|-------------------------------|
 * | denied      | 403  | 7  PERMISSION_DENIED   | 42501 insufficient_privilege        | 0x87 Not authorized           |
 * | exhausted   | 429  | 8  RESOURCE_EXHAUSTED  | 53300 too_many_connections          | 0x97 Quota exceeded           |
 * | unavailable | 503  | 14 UNAVAILABLE         | 53400 configuration_limit_exceeded  | 0x89 Server busy              |
 *
 * HTTP 403 is what Envoy's RBAC and ext_authz send; 429 is Envoy's local and
 * global rate limit status; 503 is Envoy's overload and unavailable status.
 * SQLSTATEs are PostgreSQL's (Appendix A, "PostgreSQL Error Codes"); MQTT
 * reason codes are MQTT 5.0 section 2.4 (MQTT 3.1.1 CONNACK has only
 * 5 "not authorized" and 3 "server unavailable", given as `mqtt311`).
 */

/** What a policy decided against a request. */
export type Verdict = 'denied' | 'exhausted' | 'unavailable';

/** The wire errors of one verdict. */
export interface Rejection {
  readonly verdict: Verdict;
  /** HTTP status. */
  readonly http: number;
  /** gRPC status code. */
  readonly grpc: number;
  /** gRPC status name. */
  readonly grpcName: string;
  /** PostgreSQL SQLSTATE. */
  readonly sqlstate: string;
  /** PostgreSQL condition name. */
  readonly sqlCondition: string;
  /** MQTT 5 reason code. */
  readonly mqtt: number;
  /** MQTT 3.1.1 CONNACK return code. */
  readonly mqtt311: number;
}

const TABLE: Readonly<Record<Verdict, Rejection>> = Object.freeze({
  denied: Object.freeze({ verdict: 'denied', http: 403, grpc: 7, grpcName: 'PERMISSION_DENIED', sqlstate: '42501', sqlCondition: 'insufficient_privilege', mqtt: 0x87, mqtt311: 5 }),
  exhausted: Object.freeze({ verdict: 'exhausted', http: 429, grpc: 8, grpcName: 'RESOURCE_EXHAUSTED', sqlstate: '53300', sqlCondition: 'too_many_connections', mqtt: 0x97, mqtt311: 3 }),
  unavailable: Object.freeze({ verdict: 'unavailable', http: 503, grpc: 14, grpcName: 'UNAVAILABLE', sqlstate: '53400', sqlCondition: 'configuration_limit_exceeded', mqtt: 0x89, mqtt311: 3 }),
});

/** The wire errors of a verdict. */
export function rejection(verdict: Verdict): Rejection {
  return TABLE[verdict];
}
