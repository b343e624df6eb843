/**
 * Error classes shared by every room. Each has a stable code and a fixed
 * outcome (ARCHITECTURE.md, "The filter contract"):
 *  - ConfigError    -> NACK / refuse the bootstrap, keep the last good config;
 *  - ProtocolError  -> a 4xx or a reset of that one stream/connection;
 *  - UpstreamError  -> a 5xx with a response flag and a counter;
 *  - InvariantError -> a bug: crash loudly.
 */

/** A configuration value that is wrong, with the field path that names it. */
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  /** Field path in Envoy's snake_case, e.g. `static_resources.clusters[0].connect_timeout`. */
  readonly path: string;
  /** The reason alone, without the path. */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(path ? `${path}: ${reason}` : reason);
    this.name = 'ConfigError';
    this.path = path;
    this.reason = reason;
  }
  /** The same error, seen from one level up (`prefix.path`). */
  under(prefix: string): ConfigError {
    if (!prefix) return this;
    const p = this.path ? (this.path.startsWith('[') ? `${prefix}${this.path}` : `${prefix}.${this.path}`) : prefix;
    return new ConfigError(p, this.reason);
  }
}

/** Several configuration errors found in one pass (a NACK carries them all). */
export class ConfigErrors extends Error {
  readonly code = 'CONFIG';
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'ConfigErrors';
    this.errors = errors;
  }
}

/** Bad bytes or semantics from a peer; answered on that stream/connection only. */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL';
  /** The protocol's own wire code (HTTP status, h2 error code, SQLSTATE ...). */
  readonly wireCode: number | string;
  constructor(wireCode: number | string, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.wireCode = wireCode;
  }
}

/** The upstream could not be reached or failed; carries Envoy's response flag. */
export class UpstreamError extends Error {
  readonly code = 'UPSTREAM';
  /** Envoy's %RESPONSE_FLAGS% short name: UF, UH, UT, UC, URX, UR, UO ... */
  readonly flag: string;
  constructor(flag: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.flag = flag;
  }
}

/** A broken internal assumption. Never caught on purpose. */
export class InvariantError extends Error {
  readonly code = 'INVARIANT';
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

/** Result of validating a config: every reason at once, or the frozen config. */
export type ParseResult<T> = { ok: true; config: T } | { ok: false; errors: ConfigError[] };
