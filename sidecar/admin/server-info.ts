/**
 * Admin read-only server endpoints, as Envoy's ServerInfoHandler:
 * `/ready` (200 `LIVE\n`, else 503 with the state name; a failed health check
 * turns LIVE into DRAINING), `/server_info` (envoy.admin.v3.ServerInfo),
 * `/memory` (envoy.admin.v3.Memory from `process.memoryUsage()`), `/certs`
 * and `/hot_restart_version`.
 */

import { jsonResponse, textResponse } from './admin-request.ts';
import type { AdminContext, AdminResponse } from './admin-request.ts';
import type { ServerState, ServerView } from './server-view.ts';

/** Envoy's `Utility::serverState`: an initialized server failing health checks reports DRAINING. */
export function effectiveState(view: ServerView): ServerState {
  return view.state === 'LIVE' && view.healthCheckFailed ? 'DRAINING' : view.state;
}

/** Handles GET /ready. */
export function handleReady(_req: unknown, ctx: AdminContext): AdminResponse {
  const state = effectiveState(ctx.view);
  return textResponse(`${state}\n`, state === 'LIVE' ? 200 : 503);
}

/** Handles GET /server_info (fields in envoy.admin.v3.ServerInfo field order). */
export function handleServerInfo(_req: unknown, ctx: AdminContext): AdminResponse {
  const { view } = ctx;
  const uptime = Math.max(0, Math.floor((ctx.now() - view.startedAt.getTime()) / 1000));
  const bootstrapNode = view.bootstrap['node'];
  const node = {
    ...(typeof bootstrapNode === 'object' && bootstrapNode !== null ? bootstrapNode : {}),
    id: view.node.id,
    cluster: view.node.cluster,
  };
  return jsonResponse({
    version: view.version,
    state: effectiveState(view),
    uptime_current_epoch: `${uptime}s`,
    uptime_all_epochs: `${uptime}s`,
    hot_restart_version: 'disabled',
    command_line_options: view.commandLineOptions,
    node,
  });
}

/** Handles GET /memory: uint64 fields as strings, as protobuf JSON prints them. */
export function handleMemory(): AdminResponse {
  const m = process.memoryUsage();
  return jsonResponse({
    allocated: String(m.heapUsed + m.external),
    heap_size: String(m.heapTotal),
    pageheap_unmapped: '0',
    pageheap_free: String(Math.max(0, m.heapTotal - m.heapUsed)),
    total_thread_cache: '0',
    total_physical_bytes: String(m.rss),
  });
}

/** Handles GET /certs: TLS contexts are not reported yet. */
export function handleCerts(): AdminResponse {
  return jsonResponse({ certificates: [] });
}

/** Handles GET /hot_restart_version: hot restart is not supported. */
export function handleHotRestartVersion(): AdminResponse {
  return textResponse('disabled');
}
