/**
 * What a Ranger authorizer reads policies from: a snapshot holding one
 * built engine, replaced whole (ARCHITECTURE.md, idea 2). A new engine is
 * built completely from the downloaded policies before one reference is
 * swapped, so a request being decided sees either the old or the new set,
 * never a mix. Every swap bumps `generation`, which invalidates decision
 * caches.
 */

/** The policies in force. */
export interface PolicySnapshot<E> {
  /**
   * The engine; undefined when no policies are in force: before the first
   * load (`loaded` false: callers answer "unavailable") or after the Admin
   * said the service does not exist (`loaded` true: everything is denied).
   */
  readonly engine: E | undefined;
  readonly loaded: boolean;
  /** Bumped on every swap. */
  readonly generation: number;
  /** ServicePolicies.policyVersion of the set in force. */
  readonly policyVersion: number | undefined;
}

/** Builds an engine from a ServicePolicies JSON (and RangerRoles); throws on malformed input. */
export type EngineBuilder<E> = (servicePolicies: Record<string, unknown>, roles: Record<string, unknown> | undefined) => { engine: E; warnings: readonly string[] };

/** A source of policy snapshots. */
export interface PolicySource<E> {
  /** The snapshot in force now (one property read: cheap on the data path). */
  snapshot(): PolicySnapshot<E>;
  /** Loads the first policies and starts refreshing; resolves after the first attempt. */
  start(): Promise<void>;
  /** Stops refreshing (the snapshot stays). */
  stop(): void;
}

/** Where sources log (optional: the filter runtime has no logger yet). */
export interface SourceLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

/** The snapshot before anything is loaded. */
export const NOT_LOADED: PolicySnapshot<never> = Object.freeze({ engine: undefined, loaded: false, generation: 0, policyVersion: undefined });
