/**
 * Admin `/listeners` (`name::address` lines, or envoy.admin.v3.Listeners
 * with `?format=json`) and `/drain_listeners` (POST; `?inboundonly`,
 * `?graceful`), as Envoy's ListenersHandler.
 */

import { listenerAddress } from './admin-address.ts';
import { jsonResponse, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';

/** Handles GET /listeners. */
export function handleListeners(req: AdminRequest, ctx: AdminContext): AdminResponse {
  const listeners = ctx.view.listeners();
  if (req.query.nonEmpty('format') === 'json') {
    return jsonResponse({
      listener_statuses: listeners.map((l) => ({
        name: l.name,
        local_address: listenerAddress(l.address, l.boundPort).json,
      })),
    });
  }
  let out = '';
  for (const l of listeners) out += `${l.name}::${listenerAddress(l.address, l.boundPort).text}\n`;
  return textResponse(out);
}

/** Handles POST /drain_listeners. */
export function handleDrainListeners(req: AdminRequest, ctx: AdminContext): AdminResponse {
  ctx.view.drainListeners({ inboundOnly: req.query.has('inboundonly'), graceful: req.query.has('graceful') });
  return textResponse('OK\n');
}
