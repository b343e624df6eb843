/**
 * The long-lived state behind Ranger filter factories: one policy source
 * (Admin refresher or policy file) and authorizer per distinct source
 * config and stats scope, and one audit sink per path, shared by every
 * factory (HCM instance, listener update) that names them. A listener
 * update with the same Ranger config keeps polling the same Admin with the
 * same policies in force; nothing is rebuilt or reloaded.
 *
 * The filter contract has no hook that tells a factory it is gone, so a
 * source whose config disappeared keeps polling (its timer is unref'd and
 * never holds the process open); `closeAll()` stops everything.
 */
import type { StatsScope } from '../../../../sidecar/contracts/stats.ts';
import { hostname } from 'node:os';
import { RangerAdminClient } from '../../../../policies/ranger/admin/admin-client.ts';
import { PolicyRefresher } from '../../../../policies/ranger/admin/policy-refresher.ts';
import { FilePolicySource } from '../../../../policies/ranger/admin/policy-file.ts';
import type { EngineBuilder, PolicySource } from '../../../../policies/ranger/admin/policy-source.ts';
import { AuditSink } from '../../../../policies/ranger/audit/audit-sink.ts';
import { RangerAuthorizer, type RangerEngineLike } from '../../../../policies/ranger/authorizer.ts';
import { RangerPolicyEngine } from '../../../../policies/ranger/engine/engine.ts';
import type { RangerFilterConfig } from './config.ts';

/** Builds the engine with the filter's super users and groups. */
function engineBuilder(cfg: RangerFilterConfig): EngineBuilder<RangerEngineLike> {
  return (policies, roles) => RangerPolicyEngine.create(policies, { roles, superUsers: cfg.superUsers, superGroups: cfg.superGroups });
}

/** Sources, authorizers and sinks of one registry (one process). */
export class RangerPolicySources {
  private readonly authorizers = new Map<string, { authorizer: RangerAuthorizer; source: PolicySource<RangerEngineLike>; refs: number; audit: AuditSink | undefined; auditPath: string | undefined }>();
  private readonly sinks = new Map<string, AuditSink>();

  /**
   * The authorizer for a filter config under an HCM stats scope
   * (`http.<prefix>.`), started on first use and shared by every filter
   * factory with the same config; `release()` stops it when the last one goes.
   */
  authorizer(cfg: RangerFilterConfig, hcmStats: StatsScope): { authorizer: RangerAuthorizer; release: () => void } {
    const key = JSON.stringify([hcmStats.prefix, cfg.serviceName, cfg.admin, cfg.policyFile, cfg.superUsers, cfg.superGroups, cfg.audit, cfg.cache]);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.release(key);
    };
    const found = this.authorizers.get(key);
    if (found) {
      found.refs++;
      return { authorizer: found.authorizer, release };
    }
    const stats = hcmStats.scope(`ranger.${cfg.serviceName}`);
    const build = engineBuilder(cfg);
    const source: PolicySource<RangerEngineLike> = cfg.admin
      ? new PolicyRefresher({
          client: new RangerAdminClient({ adminUrl: cfg.admin.url, serviceName: cfg.serviceName, secure: cfg.admin.secure, pluginId: cfg.admin.pluginId, clusterName: cfg.admin.clusterName, timeoutMs: cfg.admin.timeoutMs }),
          serviceName: cfg.serviceName,
          build,
          pollIntervalMs: cfg.admin.pollIntervalMs,
          cacheFile: cfg.admin.cacheFile,
          roles: cfg.admin.downloadRoles,
          stats,
        })
      : new FilePolicySource({ path: cfg.policyFile!, build, stats });
    let audit: AuditSink | undefined;
    if (cfg.audit) {
      audit = this.sinks.get(cfg.audit.path);
      if (!audit) this.sinks.set(cfg.audit.path, (audit = new AuditSink({ path: cfg.audit.path, stats: hcmStats.scope('ranger.audit') })));
    }
    const authorizer = new RangerAuthorizer({
      source,
      stats,
      cache: cfg.cache,
      audit,
      identity: { serviceName: cfg.serviceName, repoType: cfg.audit?.repoType ?? 0, agentId: cfg.audit?.agentId ?? 'themis-sidecar', agentHost: hostname(), clusterName: cfg.audit?.clusterName ?? '' },
    });
    this.authorizers.set(key, { authorizer, source, refs: 1, audit, auditPath: cfg.audit?.path });
    void source.start();
    return { authorizer, release };
  }

  /** One user of an authorizer is gone; the last one stops its poller and closes an audit sink nobody else writes to. */
  private release(key: string): void {
    const a = this.authorizers.get(key);
    if (!a || --a.refs > 0) return;
    this.authorizers.delete(key);
    a.source.stop();
    const path = a.auditPath;
    if (path && ![...this.authorizers.values()].some((x) => x.auditPath === path)) {
      const sink = this.sinks.get(path);
      this.sinks.delete(path);
      void sink?.close();
    }
  }

  /** Stops every source and flushes every sink. */
  async closeAll(): Promise<void> {
    for (const { source } of this.authorizers.values()) source.stop();
    this.authorizers.clear();
    await Promise.all([...this.sinks.values()].map((s) => s.close()));
    this.sinks.clear();
  }
}
