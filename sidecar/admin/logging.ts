/**
 * Admin `/logging` (POST, as in Envoy): without parameters it lists the
 * active loggers; `?level=<l>` sets every logger, `?<name>=<l>` one,
 * `?paths=a:debug,b:info` several (all validated before any is changed).
 * Errors answer 400 with Envoy's usage text, followed by the list.
 */

import { textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import type { ServerView } from './server-view.ts';

/** spdlog's level names, as Envoy accepts them. */
export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'];

/** Applies the query; returns the error message or undefined. */
function changeLogLevel(req: AdminRequest, view: ServerView): string | undefined {
  if (req.query.size() !== 1) return 'invalid number of parameters';
  const [key, value] = [...req.query.map()][0]!;
  if (key === 'level') {
    if (!LOG_LEVELS.includes(value)) return 'unknown logger level';
    view.setLogLevel(undefined, value);
    return undefined;
  }
  const changes = new Map<string, string>();
  if (key === 'paths') {
    for (const pair of value.split(',')) {
      if (pair.trim() === '') continue;
      const colon = pair.indexOf(':');
      const name = (colon < 0 ? pair : pair.slice(0, colon)).trim();
      const level = (colon < 0 ? '' : pair.slice(colon + 1)).trim();
      if (name === '' || level === '') return 'empty logger name or empty logger level';
      if (!LOG_LEVELS.includes(level)) return 'unknown logger level';
      changes.set(name, level);
    }
  } else {
    if (!LOG_LEVELS.includes(value)) return 'unknown logger level';
    changes.set(key, value);
  }
  const known = view.logLevels();
  for (const name of changes.keys()) if (!(name in known)) return 'unknown logger name';
  for (const [name, level] of changes) if (!view.setLogLevel(name, level)) return 'unknown logger name';
  return undefined;
}

/** Handles POST /logging. */
export function handleLogging(req: AdminRequest, ctx: AdminContext): AdminResponse {
  let out = '';
  let status = 200;
  if (req.query.size() > 0) {
    const error = changeLogLevel(req, ctx.view);
    if (error !== undefined) {
      status = 400;
      out += `error: ${error}\n\n`;
      out += 'usage: /logging?<name>=<level> (change single level)\n';
      out += 'usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n';
      out += 'usage: /logging?level=<level> (change all levels)\n';
      out += `levels: ${LOG_LEVELS.map((l) => `${l} `).join('')}\n`;
    }
  }
  out += 'active loggers:\n';
  for (const [name, level] of Object.entries(ctx.view.logLevels())) out += `  ${name}: ${level}\n`;
  out += '\n';
  return textResponse(out, status);
}
