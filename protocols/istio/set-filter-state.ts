/**
 * `envoy.filters.network.set_filter_state`
 * (envoy.extensions.filters.network.set_filter_state.v3.Config), which Istio
 * uses to carry connection facts (the original destination, the CONNECT
 * authority) to the filters after it. On each new connection, each
 * `on_new_connection` entry formats its value and stores it in the
 * connection's filter state under `object_key`, as a string.
 *
 * Format strings support the connection-level commands
 * %DOWNSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT]%, %DOWNSTREAM_REMOTE_PORT%,
 * %DOWNSTREAM_LOCAL_ADDRESS[_WITHOUT_PORT]%, %DOWNSTREAM_LOCAL_PORT%,
 * %REQUESTED_SERVER_NAME%, %DOWNSTREAM_PEER_URI_SAN%,
 * %DOWNSTREAM_TLS_VERSION%, %FILTER_STATE(key[:PLAIN])% and %HOSTNAME%;
 * a missing value prints `-` (Envoy's placeholder). Any other command is
 * refused. `shared_with_upstream` is accepted with a warning: filter state
 * does not travel to upstream connections here.
 */
import { hostname } from 'node:os';
import { ConfigError, type ParseResult } from '../../sidecar/contracts/errors.ts';
import type { ConnectionFilterExtension, ExtensionRegistry, NetworkFilterConnection, ParseContext } from '../../sidecar/contracts/extension.ts';

/** Type name of the filter config. */
export const SET_FILTER_STATE_TYPE = 'envoy.extensions.filters.network.set_filter_state.v3.Config';

type Part = string | ((c: NetworkFilterConnection) => string | undefined);

/** One on_new_connection entry. */
export interface FilterStateEntry {
  readonly key: string;
  readonly parts: readonly Part[];
  readonly readOnly: boolean;
  readonly skipIfEmpty: boolean;
}

/** The validated config. */
export interface SetFilterStateConfig {
  readonly entries: readonly FilterStateEntry[];
}

const addr = (a: string, port: number): string => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);

const COMMANDS: Record<string, (c: NetworkFilterConnection) => string | undefined> = {
  DOWNSTREAM_REMOTE_ADDRESS: (c) => addr(c.remoteAddress, c.remotePort),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.remoteAddress,
  DOWNSTREAM_REMOTE_PORT: (c) => String(c.remotePort),
  DOWNSTREAM_LOCAL_ADDRESS: (c) => addr(c.localAddress, c.localPort),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (c) => c.localAddress,
  DOWNSTREAM_LOCAL_PORT: (c) => String(c.localPort),
  REQUESTED_SERVER_NAME: (c) => c.serverName || undefined,
  DOWNSTREAM_PEER_URI_SAN: (c) => c.tls?.peer?.uriSans.join(',') || undefined,
  DOWNSTREAM_TLS_VERSION: (c) => c.tls?.version,
  HOSTNAME: () => hostname(),
};

/** Compiles a format string of connection-level commands. */
export function compileConnectionFormat(format: string, path: string): Part[] {
  const parts: Part[] = [];
  const re = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%|%%/g;
  let last = 0;
  for (let m = re.exec(format); m; m = re.exec(format)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0] === '%%') { parts.push('%'); continue; }
    const [, cmd, arg] = m;
    if (cmd === 'FILTER_STATE') {
      const [key, mode] = (arg ?? '').split(':');
      if (!key) throw new ConfigError(path, '%FILTER_STATE()% needs a key');
      if (mode !== undefined && mode !== 'PLAIN' && mode !== 'TYPED') throw new ConfigError(path, `%FILTER_STATE(${arg})%: unknown serialization '${mode}'`);
      parts.push((c) => {
        const v = c.filterState.get(key);
        return v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v);
      });
      continue;
    }
    const f = COMMANDS[cmd!];
    if (!f || arg !== undefined) throw new ConfigError(path, `unsupported command %${cmd}${arg !== undefined ? `(${arg})` : ''}% in a connection format string (supported: ${[...Object.keys(COMMANDS), 'FILTER_STATE(key)'].join(', ')})`);
    parts.push(f);
  }
  if (last < format.length) parts.push(format.slice(last));
  return parts;
}

function formatString(v: unknown, path: string): string {
  const f = (v ?? {}) as Record<string, unknown>;
  if (typeof f['text_format'] === 'string') return f['text_format'];
  const src = f['text_format_source'] as Record<string, unknown> | undefined;
  if (src && typeof src['inline_string'] === 'string') return src['inline_string'];
  if (src) throw new ConfigError(`${path}.text_format_source`, 'only inline_string is supported');
  if (f['json_format'] !== undefined) throw new ConfigError(`${path}.json_format`, 'JSON values are not supported; use text_format');
  throw new ConfigError(path, 'text_format or text_format_source is required');
}

/** Parses a set_filter_state Config. */
export function parseSetFilterState(cfg: Record<string, unknown>, ctx: ParseContext): SetFilterStateConfig {
  const list = Array.isArray(cfg['on_new_connection']) ? (cfg['on_new_connection'] as Record<string, unknown>[]) : [];
  const entries = list.map((e, i) => {
    const p = `${ctx.path}.on_new_connection[${i}]`;
    const key = typeof e['object_key'] === 'string' ? e['object_key'] : '';
    if (!key) throw new ConfigError(`${p}.object_key`, 'object_key is required');
    if (e['format_string'] === undefined) throw new ConfigError(`${p}.format_string`, 'format_string is required');
    const parts = compileConnectionFormat(formatString(e['format_string'], `${p}.format_string`), `${p}.format_string`);
    const shared = e['shared_with_upstream'];
    if (shared !== undefined && shared !== 'NONE') ctx.warn(new ConfigError(`${p}.shared_with_upstream`, `${String(shared)}: filter state is not shared with upstream connections (it stays on the downstream connection)`));
    return Object.freeze({ key, parts: Object.freeze(parts), readOnly: e['read_only'] === true, skipIfEmpty: e['skip_if_empty'] === true });
  });
  return Object.freeze({ entries: Object.freeze(entries) });
}

/** Keys marked read_only, per connection filter state. */
const readOnlyKeys = new WeakMap<Map<string, unknown>, Set<string>>();

/** Applies the entries to a connection's filter state (a read-only value already there is kept, as in Envoy). */
export function applyFilterState(config: SetFilterStateConfig, conn: NetworkFilterConnection): void {
  for (const e of config.entries) {
    let value = '';
    for (const p of e.parts) value += typeof p === 'string' ? p : p(conn) ?? '-';
    if (value === '' && e.skipIfEmpty) continue;
    const locked = readOnlyKeys.get(conn.filterState);
    if (locked?.has(e.key)) continue;
    conn.filterState.set(e.key, value);
    if (e.readOnly) {
      if (locked) locked.add(e.key);
      else readOnlyKeys.set(conn.filterState, new Set([e.key]));
    }
  }
}

/** Registers envoy.filters.network.set_filter_state. */
export function setup(registry: ExtensionRegistry): void {
  const ext: ConnectionFilterExtension<SetFilterStateConfig> = {
    category: 'envoy.filters.network',
    names: ['envoy.filters.network.set_filter_state'],
    typeNames: [SET_FILTER_STATE_TYPE],
    parse(cfg, ctx): ParseResult<SetFilterStateConfig> {
      try {
        return { ok: true, config: parseSetFilterState(cfg, ctx) };
      } catch (e) {
        if (e instanceof ConfigError) return { ok: false, errors: [e] };
        throw e;
      }
    },
    createConnectionFilter(config) {
      return {
        onNewConnection(_socket, conn) {
          applyFilterState(config, conn);
          return 'continue';
        },
      };
    },
  };
  registry.register(ext);
}
