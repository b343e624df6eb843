/**
 * The admin endpoint table (Envoy's `AdminImpl::handlers_`, same prefixes,
 * help texts and POST flags), the `/help` text and the `/` home page built
 * from it. Routing is an exact match on the path, as Envoy's `makeRequest`.
 */

import { HTML, textResponse } from './admin-request.ts';
import type { AdminEndpoint, AdminResponse } from './admin-request.ts';
import { handleClusters } from './clusters.ts';
import { handleConfigDump } from './config-dump.ts';
import { handleDrainListeners, handleListeners } from './listeners.ts';
import { handleLogging, LOG_LEVELS } from './logging.ts';
import { handleRuntime, handleRuntimeModify } from './runtime.ts';
import { handleHealthcheckFail, handleHealthcheckOk, handleQuitQuitQuit, handleReopenLogs } from './server-commands.ts';
import { handleCerts, handleHotRestartVersion, handleMemory, handleReady, handleServerInfo } from './server-info.ts';
import {
  handleRecentLookups,
  handleRecentLookupsCommand,
  handleResetCounters,
  handleStats,
  handleStatsPrometheus,
} from './stats-endpoints.ts';

const STATS_PARAMS = [
  { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
  { id: 'filter', help: 'Regular expression (Google re2) for filtering stats' },
  { id: 'format', help: 'Format to use', choices: ['text', 'json', 'prometheus'] },
  { id: 'type', help: 'Stat types to include.', choices: ['All', 'Counters', 'Histograms', 'Gauges', 'TextReadouts'] },
  { id: 'histogram_buckets', help: 'Histogram bucket display mode', choices: ['cumulative', 'disjoint', 'none'] },
];

/** Every admin endpoint, in Envoy's registration order. */
export const ADMIN_ENDPOINTS: readonly AdminEndpoint[] = [
  { prefix: '/', help: 'Admin home page', mutatesState: false, handler: () => homePage() },
  { prefix: '/certs', help: 'print certs on machine', mutatesState: false, handler: handleCerts },
  {
    prefix: '/clusters',
    help: 'upstream cluster status',
    mutatesState: false,
    params: [{ id: 'format', help: 'File format to use', choices: ['text', 'json'] }],
    handler: handleClusters,
  },
  {
    prefix: '/config_dump',
    help: 'dump current Envoy configs (experimental)',
    mutatesState: false,
    params: [
      { id: 'resource', help: 'The resource to dump' },
      {
        id: 'mask',
        help:
          'The mask to apply. When both resource and mask are specified, the mask is applied to every element in ' +
          'the desired repeated field so that only a subset of fields are returned. The mask is parsed as a ' +
          'ProtobufWkt::FieldMask',
      },
      {
        id: 'name_regex',
        help:
          'Dump only the currently loaded configurations whose names match the specified regex. Can be used with ' +
          'both resource and mask query parameters.',
      },
      { id: 'include_eds', help: 'Dump currently loaded configuration including EDS. See the response definition for more information' },
    ],
    handler: handleConfigDump,
  },
  { prefix: '/healthcheck/fail', help: 'cause the server to fail health checks', mutatesState: true, handler: handleHealthcheckFail },
  { prefix: '/healthcheck/ok', help: 'cause the server to pass health checks', mutatesState: true, handler: handleHealthcheckOk },
  { prefix: '/help', help: 'print out list of admin commands', mutatesState: false, handler: () => textResponse(helpText()) },
  {
    prefix: '/hot_restart_version',
    help: 'print the hot restart compatibility version',
    mutatesState: false,
    handler: handleHotRestartVersion,
  },
  {
    prefix: '/logging',
    help: 'query/change logging levels',
    mutatesState: true,
    params: [
      {
        id: 'paths',
        help: 'Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>.',
      },
      { id: 'level', help: "desired logging level, this will change all loggers's level", choices: ['', ...LOG_LEVELS] },
    ],
    handler: handleLogging,
  },
  { prefix: '/memory', help: 'print current allocation/heap usage', mutatesState: false, handler: handleMemory },
  { prefix: '/quitquitquit', help: 'exit the server', mutatesState: true, handler: handleQuitQuitQuit },
  { prefix: '/reset_counters', help: 'reset all counters to zero', mutatesState: true, handler: handleResetCounters },
  {
    prefix: '/drain_listeners',
    help: 'drain listeners',
    mutatesState: true,
    params: [
      {
        id: 'graceful',
        help: 'When draining listeners, enter a graceful drain period prior to closing listeners. This behaviour and duration is configurable via server options or CLI',
      },
      {
        id: 'inboundonly',
        help: 'Drains all inbound listeners. traffic_direction field in envoy_v3_api_msg_config.listener.v3.Listener is used to determine whether a listener is inbound or outbound.',
      },
    ],
    handler: handleDrainListeners,
  },
  { prefix: '/server_info', help: 'print server version/status information', mutatesState: false, handler: handleServerInfo },
  {
    prefix: '/ready',
    help: 'print server state, return 200 if LIVE, otherwise return 503',
    mutatesState: false,
    handler: handleReady,
  },
  { prefix: '/stats', help: 'print server stats', mutatesState: false, params: STATS_PARAMS, handler: handleStats },
  {
    prefix: '/stats/prometheus',
    help: 'print server stats in prometheus format',
    mutatesState: false,
    params: [
      { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
      { id: 'filter', help: 'Regular expression (Google re2) for filtering stats' },
    ],
    handler: handleStatsPrometheus,
  },
  { prefix: '/stats/recentlookups', help: 'Show recent stat-name lookups', mutatesState: false, handler: handleRecentLookups },
  {
    prefix: '/stats/recentlookups/clear',
    help: 'clear list of stat-name lookups and counter',
    mutatesState: true,
    handler: handleRecentLookupsCommand,
  },
  {
    prefix: '/stats/recentlookups/disable',
    help: 'disable recording of reset stat-name lookup names',
    mutatesState: true,
    handler: handleRecentLookupsCommand,
  },
  {
    prefix: '/stats/recentlookups/enable',
    help: 'enable recording of reset stat-name lookup names',
    mutatesState: true,
    handler: handleRecentLookupsCommand,
  },
  {
    prefix: '/listeners',
    help: 'print listener info',
    mutatesState: false,
    params: [{ id: 'format', help: 'File format to use', choices: ['text', 'json'] }],
    handler: handleListeners,
  },
  { prefix: '/runtime', help: 'print runtime values', mutatesState: false, handler: handleRuntime },
  {
    prefix: '/runtime_modify',
    help:
      'Adds or modifies runtime values as passed in query parameters. To delete a previously added key, use an ' +
      'empty string as the value. Note that deletion only applies to overrides added via this endpoint; values ' +
      'loaded from disk can be modified via override but not deleted. E.g. ?key1=value1&key2=value2...',
    mutatesState: true,
    handler: handleRuntimeModify,
  },
  { prefix: '/reopen_logs', help: 'reopen access logs', mutatesState: true, handler: handleReopenLogs },
];

const BY_PREFIX: ReadonlyMap<string, AdminEndpoint> = new Map(ADMIN_ENDPOINTS.map((e) => [e.prefix, e]));

/** The endpoint for exactly this path, if any. */
export function findEndpoint(path: string): AdminEndpoint | undefined {
  return BY_PREFIX.get(path);
}

function sortedEndpoints(): AdminEndpoint[] {
  return [...ADMIN_ENDPOINTS].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

/** Envoy's `getHelp`: `admin commands are:` then one line per endpoint in path order, params indented. */
export function helpText(): string {
  let out = 'admin commands are:\n';
  for (const e of sortedEndpoints()) {
    out += `  ${e.prefix}${e.mutatesState ? ' (POST)' : ''}: ${e.help}\n`;
    for (const p of e.params ?? []) {
      out += `      ${p.id}: ${p.help}${p.choices !== undefined ? `; One of (${p.choices.join(', ')})` : ''}\n`;
    }
  }
  return out;
}

/** The 404 answer for an unknown path. */
export function invalidPath(): AdminResponse {
  return textResponse(`invalid path. ${helpText()}`, 404);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The `/` home page: GET endpoints as links, POST endpoints as forms with a button. */
function homePage(): AdminResponse {
  let rows = '';
  for (const e of sortedEndpoints()) {
    if (e.prefix === '/') continue;
    const path = escapeHtml(e.prefix);
    const cell = e.mutatesState
      ? `<form action="${path}" method="post"><button class="button-as-link">${path.slice(1)}</button></form>`
      : `<a href="${path}">${path.slice(1)}</a>`;
    rows += `<tr class="home-row"><td class="home-data">${cell}</td><td class="home-data">${escapeHtml(e.help)}</td></tr>\n`;
  }
  const body =
    '<!DOCTYPE html>\n<html lang="en">\n<head><title>Envoy Admin</title></head>\n<body>\n' +
    '<table class="home-table">\n<thead><th class="home-data">Command</th><th class="home-data">Description</th></thead>\n' +
    `<tbody>\n${rows}</tbody>\n</table>\n</body>\n</html>\n`;
  return { status: 200, contentType: HTML, body };
}
