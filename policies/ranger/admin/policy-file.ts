/**
 * Policies from a local ServicePolicies JSON file (no Admin): read once,
 * asynchronously, when the source starts. A file that cannot be read or
 * built leaves the source unloaded (requests are answered "unavailable"),
 * never allowed.
 */
import type { StatsScope } from '../../../sidecar/contracts/stats.ts';
import { readJsonObject, rolesCachePath } from './cache-file.ts';
import { NOT_LOADED, type EngineBuilder, type PolicySnapshot, type PolicySource, type SourceLog } from './policy-source.ts';

/** A policy file and how to build its engine. */
export interface FilePolicySourceOptions<E> {
  readonly path: string;
  /** A RangerRoles JSON file beside it (default: `<path>_roles.json` if present). */
  readonly rolesPath?: string;
  readonly build: EngineBuilder<E>;
  /** `ranger.<service>.` */
  readonly stats: StatsScope;
  readonly log?: SourceLog;
}

/** Policies from a file, loaded once. */
export class FilePolicySource<E> implements PolicySource<E> {
  private readonly opts: FilePolicySourceOptions<E>;
  private current: PolicySnapshot<E> = NOT_LOADED;
  private started: Promise<void> | undefined;

  constructor(opts: FilePolicySourceOptions<E>) {
    this.opts = opts;
  }

  snapshot(): PolicySnapshot<E> {
    return this.current;
  }

  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  stop(): void {}

  private async load(): Promise<void> {
    const s = this.opts.stats;
    const policies = await readJsonObject(this.opts.path);
    if (!policies) {
      s.counter('policy_file_failures').inc();
      this.opts.log?.warn({ path: this.opts.path }, 'ranger: policy file missing or not a JSON object');
      return;
    }
    const roles = await readJsonObject(this.opts.rolesPath ?? rolesCachePath(this.opts.path));
    try {
      const { engine } = this.opts.build(policies, roles);
      const version = typeof policies['policyVersion'] === 'number' ? policies['policyVersion'] : undefined;
      this.current = Object.freeze({ engine, loaded: true, generation: this.current.generation + 1, policyVersion: version });
      s.gauge('policy_version').set(version ?? -1);
      s.counter('policy_file_loaded').inc();
    } catch (e) {
      s.counter('policy_file_failures').inc();
      this.opts.log?.warn({ path: this.opts.path, error: (e as Error).message }, 'ranger: policy file rejected');
    }
  }
}
