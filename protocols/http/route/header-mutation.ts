/**
 * Envoy's request/response header add/remove (HeaderValueOption with
 * append_action) at route, virtual host and route-configuration level, and
 * the few %COMMAND% substitutions Envoy allows in header values.
 */
import { hostname } from 'node:os';
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { ConnectionInfo, HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { list, msg, str, type Json } from '../../../xds/translate/proto-values.ts';

/** How an added header combines with an existing one. */
export type AppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

/** Per-request values that header formatters may use. */
export interface HeaderFormatContext {
  readonly connection: ConnectionInfo;
  readonly protocol: string;
  readonly upstreamAddress?: string;
}

/** One header to add. */
export interface HeaderToAdd {
  readonly key: string;
  /** The literal value, or a function when it has %COMMAND% substitutions. */
  readonly value: string | ((ctx: HeaderFormatContext) => string);
  readonly action: AppendAction;
  readonly keepEmpty: boolean;
}

/** A list of additions and removals, applied in Envoy's order (remove, then add). */
export interface HeaderMutation {
  readonly add: readonly HeaderToAdd[];
  readonly remove: readonly string[];
}

/** No mutation. */
export const EMPTY_MUTATION: HeaderMutation = Object.freeze({ add: [], remove: [] });

const HOST = hostname();

const COMMANDS: Record<string, (c: HeaderFormatContext) => string> = {
  DOWNSTREAM_REMOTE_ADDRESS: (c) => `${c.connection.remoteAddress}:${c.connection.remotePort}`,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.connection.remoteAddress,
  DOWNSTREAM_LOCAL_ADDRESS: (c) => `${c.connection.localAddress}:${c.connection.localPort}`,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (c) => c.connection.localAddress,
  DOWNSTREAM_LOCAL_PORT: (c) => String(c.connection.localPort),
  DOWNSTREAM_PEER_URI_SAN: (c) => c.connection.tls?.peer?.uriSans.join(',') ?? '',
  UPSTREAM_REMOTE_ADDRESS: (c) => c.upstreamAddress ?? '',
  PROTOCOL: (c) => c.protocol,
  HOSTNAME: () => HOST,
};

function compileValue(v: string, path: string): HeaderToAdd['value'] {
  if (!v.includes('%')) return v;
  const parts: Array<string | ((c: HeaderFormatContext) => string)> = [];
  const re = /%%|%([A-Z_0-9]+)(\([^)]*\))?(:\d+)?%/g;
  let last = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    parts.push(v.slice(last, m.index));
    if (m[0] === '%%') parts.push('%');
    else {
      if (m[2] !== undefined || m[3] !== undefined) throw new ConfigError(path, `unsupported header formatter ${m[0]} (commands with arguments are not implemented; supported: ${Object.keys(COMMANDS).join(', ')})`);
      const fn = COMMANDS[m[1]!];
      if (!fn) throw new ConfigError(path, `unsupported header formatter %${m[1]}% (supported: ${Object.keys(COMMANDS).join(', ')})`);
      parts.push(fn);
    }
    last = re.lastIndex;
  }
  parts.push(v.slice(last));
  return (c) => parts.map((p) => (typeof p === 'string' ? p : p(c))).join('');
}

/** Parses `<x>_headers_to_add` and `<x>_headers_to_remove` of a route/vhost/route config. */
export function parseHeaderMutation(cfg: Json, kind: 'request' | 'response', path: string): HeaderMutation {
  const add: HeaderToAdd[] = [];
  list(cfg[`${kind}_headers_to_add`]).forEach((o, i) => {
    const p = `${path}.${kind}_headers_to_add[${i}]`;
    const h = msg(o['header']);
    if (!h || !str(h['key'])) throw new ConfigError(`${p}.header.key`, 'header key is required');
    const key = str(h['key']).toLowerCase();
    let action: AppendAction = (o['append_action'] as AppendAction | undefined) ?? 'APPEND_IF_EXISTS_OR_ADD';
    if (typeof o['append'] === 'boolean') {
      if (o['append_action'] !== undefined) throw new ConfigError(p, 'append and append_action are mutually exclusive');
      action = o['append'] ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
    }
    const raw = typeof h['value'] === 'string' ? h['value'] : typeof h['raw_value'] === 'string' ? Buffer.from(h['raw_value'], 'base64').toString('latin1') : '';
    add.push(Object.freeze({ key, value: compileValue(raw, `${p}.header.value`), action, keepEmpty: o['keep_empty_value'] === true }));
  });
  const remove = (Array.isArray(cfg[`${kind}_headers_to_remove`]) ? (cfg[`${kind}_headers_to_remove`] as string[]) : []).map((h) => h.toLowerCase());
  if (add.length === 0 && remove.length === 0) return EMPTY_MUTATION;
  return Object.freeze({ add: Object.freeze(add), remove: Object.freeze(remove) });
}

/** Applies one mutation to a header map in place. */
export function applyHeaderMutation(headers: HeaderMap, m: HeaderMutation, ctx: HeaderFormatContext): void {
  for (const r of m.remove) delete headers[r];
  for (const a of m.add) {
    const value = typeof a.value === 'string' ? a.value : a.value(ctx);
    if (value === '' && !a.keepEmpty) continue;
    const cur = headers[a.key];
    switch (a.action) {
      case 'APPEND_IF_EXISTS_OR_ADD':
        headers[a.key] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
        break;
      case 'ADD_IF_ABSENT':
        if (cur === undefined) headers[a.key] = value;
        break;
      case 'OVERWRITE_IF_EXISTS_OR_ADD':
        headers[a.key] = value;
        break;
      case 'OVERWRITE_IF_EXISTS':
        if (cur !== undefined) headers[a.key] = value;
        break;
    }
  }
}
