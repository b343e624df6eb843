/**
 * Admin server commands (all POST), as Envoy's ServerCmdHandler:
 * `/healthcheck/fail`, `/healthcheck/ok`, `/quitquitquit` (answers `OK\n`,
 * then shuts the server down once the answer is on the wire) and
 * `/reopen_logs`.
 */

import { textResponse } from './admin-request.ts';
import type { AdminContext, AdminResponse } from './admin-request.ts';

/** Handles POST /healthcheck/fail. */
export function handleHealthcheckFail(_req: unknown, ctx: AdminContext): AdminResponse {
  ctx.view.healthCheckFailed = true;
  return textResponse('OK\n');
}

/** Handles POST /healthcheck/ok. */
export function handleHealthcheckOk(_req: unknown, ctx: AdminContext): AdminResponse {
  ctx.view.healthCheckFailed = false;
  return textResponse('OK\n');
}

/** Handles POST /quitquitquit. */
export function handleQuitQuitQuit(_req: unknown, ctx: AdminContext): AdminResponse {
  return { ...textResponse('OK\n'), afterSend: () => ctx.view.shutdown('admin /quitquitquit') };
}

/** Handles POST /reopen_logs. */
export function handleReopenLogs(_req: unknown, ctx: AdminContext): AdminResponse {
  ctx.view.reopenLogs?.();
  return textResponse('OK\n');
}
