/**
 * Ranger's PolicyRefresher (and RangerRolesProvider) for one service: polls
 * the Admin every poll interval, builds a new engine from a changed
 * download and swaps it in whole, keeps a local cache file, and falls back
 * to that file when the Admin cannot be reached at start.
 *
 * Per cycle, as Ranger does: roles first (lastKnownRoleVersion), then
 * policies (lastKnownVersion, lastActivationTime). On
 *  - 200: build the engine from the new policies (and newest roles); if the
 *    build throws (malformed policies) the last good engine stays, the
 *    failure is counted and the known version is not advanced, so the next
 *    poll downloads again. A delta payload (policyDeltas without policies)
 *    is refused the same way: we never ask for deltas;
 *  - 304 / 204: nothing changes (a role change alone still rebuilds);
 *  - 404: the service is gone: policies are cleared (every request is
 *    denied), the cache file is moved aside, the version goes back to -1,
 *    and it is logged;
 *  - a network error, a timeout, another status or a body that is not JSON:
 *    counted; the engine stays; when nothing was ever loaded, the cache
 *    file is tried (Ranger: only if policies were never set in the plugin).
 *
 * Stats under `ranger.<service>.`: policy_version, role_version,
 * last_success_time (ms since the epoch of the last answer from the Admin)
 * (gauges); download_success, download_failures, download_not_modified,
 * malformed_policies, service_not_found, role_download_success,
 * role_download_failures, cache_file_loaded, cache_file_write_failures
 * (counters).
 */
import type { Counter, Gauge, StatsScope } from '../../../sidecar/contracts/stats.ts';
import type { AdminDownload, RangerAdminClient } from './admin-client.ts';
import { disableCacheFile, readJsonObject, rolesCachePath, writeJsonAtomic } from './cache-file.ts';
import { NOT_LOADED, type EngineBuilder, type PolicySnapshot, type PolicySource, type SourceLog } from './policy-source.ts';

/** A scheduled callback that can be cancelled. */
export interface TimerHandle {
  cancel(): void;
}

/** Run-time handles of a refresher. */
export interface PolicyRefresherOptions<E> {
  readonly client: Pick<RangerAdminClient, 'downloadPolicies' | 'downloadRoles'>;
  readonly serviceName: string;
  readonly build: EngineBuilder<E>;
  /** Milliseconds between the end of one poll and the start of the next (Ranger: pollIntervalMs, 30 s). */
  readonly pollIntervalMs: number;
  /** Local cache file of the last good ServicePolicies (roles beside it). */
  readonly cacheFile?: string;
  /** Also download roles (default true). */
  readonly roles?: boolean;
  /** `ranger.<service>.` */
  readonly stats: StatsScope;
  readonly log?: SourceLog;
  /** Milliseconds since the epoch (Date.now by default). */
  readonly now?: () => number;
  /** Schedules the next poll (an unref'd setTimeout by default). */
  readonly schedule?: (fn: () => void, ms: number) => TimerHandle;
}

interface RefresherStats {
  readonly policyVersion: Gauge;
  readonly roleVersion: Gauge;
  readonly lastSuccessTime: Gauge;
  readonly downloadSuccess: Counter;
  readonly downloadFailures: Counter;
  readonly notModified: Counter;
  readonly malformed: Counter;
  readonly serviceNotFound: Counter;
  readonly roleSuccess: Counter;
  readonly roleFailures: Counter;
  readonly cacheLoaded: Counter;
  readonly cacheWriteFailures: Counter;
}

function defaultSchedule(fn: () => void, ms: number): TimerHandle {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}

function version(body: Record<string, unknown> | undefined, field: string): number | undefined {
  const v = body?.[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Polls one Ranger Admin for one service's policies. */
export class PolicyRefresher<E> implements PolicySource<E> {
  private readonly opts: PolicyRefresherOptions<E>;
  private readonly stats: RefresherStats;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => TimerHandle;
  private current: PolicySnapshot<E> = NOT_LOADED;
  /** Versions the Admin is told we have (-1: none). */
  private lastKnownVersion = -1;
  private lastKnownRoleVersion = -1;
  private lastActivationTime = 0;
  /** The raw downloads behind the current engine (a role change rebuilds from them). */
  private policies: Record<string, unknown> | undefined;
  private roles: Record<string, unknown> | undefined;
  private running: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private started = false;
  private stopped = false;

  constructor(opts: PolicyRefresherOptions<E>) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.schedule = opts.schedule ?? defaultSchedule;
    const s = opts.stats;
    this.stats = {
      policyVersion: s.gauge('policy_version'),
      roleVersion: s.gauge('role_version'),
      lastSuccessTime: s.gauge('last_success_time'),
      downloadSuccess: s.counter('download_success'),
      downloadFailures: s.counter('download_failures'),
      notModified: s.counter('download_not_modified'),
      malformed: s.counter('malformed_policies'),
      serviceNotFound: s.counter('service_not_found'),
      roleSuccess: s.counter('role_download_success'),
      roleFailures: s.counter('role_download_failures'),
      cacheLoaded: s.counter('cache_file_loaded'),
      cacheWriteFailures: s.counter('cache_file_write_failures'),
    };
    this.stats.policyVersion.set(-1);
  }

  snapshot(): PolicySnapshot<E> {
    return this.current;
  }

  /** The first refresh (with the cache-file fallback), then a poll every interval. */
  async start(): Promise<void> {
    if (this.started) return this.running;
    this.started = true;
    await this.refresh();
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One poll now (a poll already running is joined, not doubled). */
  refresh(): Promise<void> {
    this.running ??= this.cycle().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.schedule(() => {
      void this.refresh().then(() => this.arm());
    }, this.opts.pollIntervalMs);
  }

  private async cycle(): Promise<void> {
    let newRoles: Record<string, unknown> | undefined;
    if (this.opts.roles !== false) {
      const r = await this.opts.client.downloadRoles(this.lastKnownRoleVersion, this.lastActivationTime);
      if (r.kind === 'updated') {
        newRoles = r.body;
        this.stats.roleSuccess.inc();
      } else if (r.kind === 'failed') {
        this.stats.roleFailures.inc();
        this.opts.log?.warn({ service: this.opts.serviceName, reason: r.reason }, 'ranger: role download failed');
      }
      // not_found is handled with the policies' answer, which says the same.
    }
    const p = await this.opts.client.downloadPolicies(this.lastKnownVersion, this.lastActivationTime);
    await this.apply(p, newRoles);
  }

  private async apply(p: AdminDownload, newRoles: Record<string, unknown> | undefined): Promise<void> {
    const s = this.stats;
    switch (p.kind) {
      case 'updated':
        s.lastSuccessTime.set(this.now());
        if (!Array.isArray(p.body['policies']) && p.body['policyDeltas'] != null) {
          // We ask with supportsPolicyDeltas=false; a delta payload is not a policy set.
          s.downloadFailures.inc();
          s.malformed.inc();
          this.opts.log?.warn({ service: this.opts.serviceName }, 'ranger: policy deltas received though not requested; keeping the policies in force');
          return;
        }
        if (this.install(p.body, newRoles ?? this.roles, 'admin')) await this.writeCache(p.body, newRoles);
        return;
      case 'unchanged':
        s.lastSuccessTime.set(this.now());
        s.notModified.inc();
        if (newRoles && this.policies && this.install(this.policies, newRoles, 'admin')) await this.writeCache(undefined, newRoles);
        return;
      case 'not_found':
        s.lastSuccessTime.set(this.now());
        s.serviceNotFound.inc();
        this.opts.log?.warn({ service: this.opts.serviceName, message: p.message }, 'ranger: service not found in Ranger Admin; policies cleared, every request is denied');
        this.current = Object.freeze({ engine: undefined, loaded: true, generation: this.current.generation + 1, policyVersion: undefined });
        this.policies = undefined;
        this.roles = undefined;
        this.lastKnownVersion = -1;
        this.lastKnownRoleVersion = -1;
        this.lastActivationTime = this.now();
        s.policyVersion.set(-1);
        s.roleVersion.set(-1);
        if (this.opts.cacheFile) {
          await disableCacheFile(this.opts.cacheFile, this.now());
          await disableCacheFile(rolesCachePath(this.opts.cacheFile), this.now());
        }
        return;
      case 'failed':
        s.downloadFailures.inc();
        this.opts.log?.warn({ service: this.opts.serviceName, reason: p.reason }, 'ranger: policy download failed; keeping the policies in force');
        if (!this.current.loaded) await this.loadCache();
        return;
    }
  }

  /** Builds and swaps; false (and counted) when the policies do not build. */
  private install(policies: Record<string, unknown>, roles: Record<string, unknown> | undefined, from: 'admin' | 'cache'): boolean {
    let engine: E;
    try {
      engine = this.opts.build(policies, roles).engine;
    } catch (e) {
      if (from === 'admin') {
        this.stats.downloadFailures.inc();
        this.stats.malformed.inc();
      }
      this.opts.log?.warn({ service: this.opts.serviceName, from, error: (e as Error).message }, 'ranger: policies rejected; keeping the policies in force');
      return false;
    }
    const pv = version(policies, 'policyVersion');
    this.current = Object.freeze({ engine, loaded: true, generation: this.current.generation + 1, policyVersion: pv });
    this.policies = policies;
    this.roles = roles;
    this.lastKnownVersion = pv ?? -1;
    this.lastKnownRoleVersion = version(roles, 'roleVersion') ?? -1;
    this.lastActivationTime = this.now();
    this.stats.policyVersion.set(pv ?? -1);
    this.stats.roleVersion.set(this.lastKnownRoleVersion);
    if (from === 'admin') this.stats.downloadSuccess.inc();
    else this.stats.cacheLoaded.inc();
    this.opts.log?.info({ service: this.opts.serviceName, policyVersion: pv, from }, 'ranger: policies updated');
    return true;
  }

  private async writeCache(policies: Record<string, unknown> | undefined, roles: Record<string, unknown> | undefined): Promise<void> {
    const file = this.opts.cacheFile;
    if (!file) return;
    try {
      if (policies) await writeJsonAtomic(file, policies);
      if (roles) await writeJsonAtomic(rolesCachePath(file), roles);
    } catch (e) {
      this.stats.cacheWriteFailures.inc();
      this.opts.log?.warn({ file, error: (e as Error).message }, 'ranger: cache file not written');
    }
  }

  private async loadCache(): Promise<void> {
    const file = this.opts.cacheFile;
    if (!file) return;
    const policies = await readJsonObject(file);
    if (!policies || this.current.loaded) return;
    const roles = await readJsonObject(rolesCachePath(file));
    this.install(policies, roles, 'cache');
  }
}
