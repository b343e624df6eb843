/**
 * What the admin API may see and do of the running server. The admin
 * handlers depend on this interface only, so they can be tested against a
 * real server and stay independent of how the server is composed.
 */
import type { StatsStore } from '../stats/store.ts';

/** Envoy's server states (server.state gauge values). */
export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

/** One host as /clusters shows it. */
export interface ClusterHostView {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
  readonly failedActiveHealthCheck: boolean;
  readonly activeRequests: number;
  /** Per-host counters (cx_active, rq_total ...); may be empty. */
  readonly stats: Readonly<Record<string, number>>;
}

/** One cluster as /clusters and /config_dump show it. */
export interface ClusterView {
  readonly name: string;
  /** Set for clusters from CDS: the version_info they arrived with. */
  readonly versionInfo?: string;
  readonly raw: Readonly<Record<string, unknown>>;
  readonly addedAt: Date;
  readonly hosts: readonly ClusterHostView[];
}

/** One listener as /listeners and /config_dump show it. */
export interface ListenerView {
  readonly name: string;
  /** Set for listeners from LDS: the version_info they arrived with. */
  readonly versionInfo?: string;
  /** `127.0.0.1:10000` or the pipe path. */
  readonly address: string;
  /** The actually bound port (differs when configured with port 0). */
  readonly boundPort: number;
  readonly raw: Readonly<Record<string, unknown>>;
  readonly addedAt: Date;
  /** Route configurations inline in its HCMs (for RoutesConfigDump static_route_configs). */
  readonly routeConfigs: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly inbound: boolean;
}

/** One runtime layer as /runtime lists it (static layers, then the admin layer). */
export interface RuntimeLayerView {
  readonly name: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** A route configuration from RDS, for /config_dump. */
export interface DynamicRouteView {
  readonly name: string;
  readonly versionInfo: string;
  readonly lastUpdated: Date;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Secrets for /config_dump's SecretsConfigDump (raw Secrets, not yet redacted). */
export interface SecretsView {
  readonly static: ReadonlyArray<{ readonly name: string; readonly lastUpdated: Date; readonly raw: Readonly<Record<string, unknown>> }>;
  readonly dynamicActive: ReadonlyArray<{ readonly name: string; readonly versionInfo: string; readonly lastUpdated: Date; readonly raw: Readonly<Record<string, unknown>> }>;
  /** Subscribed, not arrived yet (version_info `uninitialized`). */
  readonly dynamicWarming: ReadonlyArray<{ readonly name: string; readonly versionInfo: string; readonly lastUpdated: Date }>;
}

/** The server as the admin API sees it. */
/** A dynamic resource that is not active: a warming listener or cluster, or an ECDS config. */
export interface DynamicResourceView {
  readonly name: string;
  readonly versionInfo: string;
  readonly lastUpdated: Date;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface ServerView {
  /** Listeners of an LDS update still warming (DynamicListener.warming_state). */
  warmingListeners?(): readonly DynamicResourceView[];
  /** Clusters still warming (ClustersConfigDump.dynamic_warming_clusters). */
  warmingClusters?(): readonly DynamicResourceView[];
  /** Accepted ECDS configs (EcdsConfigDump, TypedExtensionConfig). */
  ecdsConfigs?(): readonly DynamicResourceView[];
  /** Static and SDS secrets (none without TLS). */
  secretsDump?(): SecretsView;
  /** RDS route configurations (none without xDS). */
  dynamicRouteConfigs?(): readonly DynamicRouteView[];
  /** Accepted CDS and LDS version_info (undefined without xDS). */
  xdsVersions?(): { readonly cds?: string; readonly lds?: string };
  readonly state: ServerState;
  readonly startedAt: Date;
  readonly version: string;
  /** The bootstrap as loaded (canonical JSON). */
  readonly bootstrap: Readonly<Record<string, unknown>>;
  /** Command-line options for /server_info. */
  readonly commandLineOptions: Readonly<Record<string, unknown>>;
  readonly node: { readonly id: string; readonly cluster: string };
  readonly stats: StatsStore;
  clusters(): readonly ClusterView[];
  listeners(): readonly ListenerView[];
  /** /healthcheck/fail and /healthcheck/ok: when failed, /ready answers 503. */
  healthCheckFailed: boolean;
  /** Stops listeners (all, or inbound only); graceful drains first. */
  drainListeners(opts: { inboundOnly: boolean; graceful: boolean }): void;
  /** /quitquitquit: drain and exit. */
  shutdown(reason: string): void;
  /** Current log levels by component, and setters (for /logging). */
  logLevels(): Readonly<Record<string, string>>;
  setLogLevel(component: string | undefined, level: string): boolean;
  /** Runtime values (layered_runtime static layers plus admin overrides). */
  runtime(): Readonly<Record<string, unknown>>;
  setRuntime(values: Readonly<Record<string, string>>): void;
  /** Runtime by layer for /runtime; without it, runtime() is shown as one layer `static_layer_0`. */
  runtimeLayers?(): readonly RuntimeLayerView[];
  /** /reopen_logs: reopen access log files. */
  reopenLogs?(): void;
}
