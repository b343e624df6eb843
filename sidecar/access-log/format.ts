/**
 * Envoy's access log format strings (substitution formatters): text formats
 * with %COMMAND%, %REQ(X?Y):N%, %RESP(X)%, %START_TIME%, and json_format
 * objects whose string values are formats. Compiled once per config into an
 * array of parts; formatting a line allocates only the line.
 */
import { hostname } from 'node:os';
import { ConfigError } from '../contracts/errors.ts';
import type { HeaderMap } from '../contracts/http-filter.ts';
import type { AccessLogEntry } from '../contracts/access-log.ts';

/** A compiled format: entry -> line (without the trailing newline handling). */
export type Formatter = (e: AccessLogEntry) => string;

/** Envoy's default text format (`%START_TIME%` ... `"%UPSTREAM_HOST%"`). */
export const DEFAULT_FORMAT = '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

type Value = string | number | undefined;
type Getter = (e: AccessLogEntry) => Value;

const HOST = hostname();

function addr(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Commands without arguments. Recognised-but-unknown facts print '-'. */
const SIMPLE: Record<string, Getter> = {
  PROTOCOL: (e) => e.protocol,
  RESPONSE_CODE: (e) => e.responseCode,
  RESPONSE_CODE_DETAILS: (e) => e.responseCodeDetails || undefined,
  RESPONSE_FLAGS: (e) => e.responseFlags || undefined,
  BYTES_RECEIVED: (e) => e.bytesReceived,
  BYTES_SENT: (e) => e.bytesSent,
  DURATION: (e) => Math.round(e.durationMs),
  REQUEST_DURATION: (e) => Math.round(e.durationMs),
  RESPONSE_DURATION: (e) => (e.responseDurationMs === undefined ? undefined : Math.round(e.responseDurationMs)),
  UPSTREAM_HOST: (e) => e.upstreamHost,
  UPSTREAM_CLUSTER: (e) => e.upstreamCluster,
  UPSTREAM_TRANSPORT_FAILURE_REASON: (e) => e.upstreamTransportFailureReason,
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (e) => e.attemptCount,
  ROUTE_NAME: (e) => e.routeName || undefined,
  DOWNSTREAM_REMOTE_ADDRESS: (e) => addr(e.connection.remoteAddress, e.connection.remotePort),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (e) => e.connection.remoteAddress,
  DOWNSTREAM_REMOTE_PORT: (e) => e.connection.remotePort,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (e) => addr(e.connection.remoteAddress, e.connection.remotePort),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (e) => e.connection.remoteAddress,
  DOWNSTREAM_LOCAL_ADDRESS: (e) => addr(e.connection.localAddress, e.connection.localPort),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (e) => e.connection.localAddress,
  DOWNSTREAM_LOCAL_PORT: (e) => e.connection.localPort,
  // The downstream TLS session (a comma-separated list where a certificate has several SANs, as Envoy prints).
  DOWNSTREAM_PEER_URI_SAN: (e) => e.connection.tls?.peer?.uriSans.join(',') || undefined,
  DOWNSTREAM_PEER_DNS_SAN: (e) => e.connection.tls?.peer?.dnsSans.join(',') || undefined,
  DOWNSTREAM_PEER_SUBJECT: (e) => e.connection.tls?.peer?.subject || undefined,
  DOWNSTREAM_PEER_ISSUER: (e) => e.connection.tls?.peer?.issuer || undefined,
  DOWNSTREAM_PEER_SERIAL: (e) => e.connection.tls?.peer?.serial,
  DOWNSTREAM_PEER_FINGERPRINT_256: (e) => e.connection.tls?.peer?.sha256,
  DOWNSTREAM_PEER_CERT_V_START: (e) => e.connection.tls?.peer?.validFrom.toISOString(),
  DOWNSTREAM_PEER_CERT_V_END: (e) => e.connection.tls?.peer?.validTo.toISOString(),
  DOWNSTREAM_LOCAL_URI_SAN: (e) => e.connection.tls?.local?.uriSans.join(',') || undefined,
  DOWNSTREAM_LOCAL_DNS_SAN: (e) => e.connection.tls?.local?.dnsSans.join(',') || undefined,
  DOWNSTREAM_LOCAL_SUBJECT: (e) => e.connection.tls?.local?.subject || undefined,
  DOWNSTREAM_TLS_VERSION: (e) => e.connection.tls?.version,
  DOWNSTREAM_TLS_CIPHER: (e) => e.connection.tls?.cipher,
  REQUESTED_SERVER_NAME: (e) => e.connection.tls?.sni,
  HOSTNAME: () => HOST,
  // Facts this sidecar does not have yet (upstream TLS, metadata, filter state): '-'.
  UPSTREAM_LOCAL_ADDRESS: () => undefined,
  UPSTREAM_TRANSPORT_FAILURE_REASON_DETAILS: () => undefined,
  CONNECTION_TERMINATION_DETAILS: () => undefined,
  UPSTREAM_PEER_URI_SAN: () => undefined,
  CONNECTION_ID: () => undefined,
};

/** Commands with an argument: DYNAMIC_METADATA, FILTER_STATE ... print '-'. */
const EMPTY_WITH_ARG = new Set(['DYNAMIC_METADATA', 'FILTER_STATE', 'CLUSTER_METADATA', 'UPSTREAM_METADATA', 'ENVIRONMENT']);

function header(map: HeaderMap | undefined, name: string): string | undefined {
  const v = map?.[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headerGetter(kind: 'REQ' | 'RESP' | 'TRAILER', arg: string, path: string): Getter {
  const [main, alt] = arg.split('?').map((s) => s.toLowerCase());
  if (!main) throw new ConfigError(path, `%${kind}()% needs a header name`);
  const pick = (m: HeaderMap | undefined): string | undefined => header(m, main) ?? (alt ? header(m, alt) : undefined);
  if (kind === 'REQ') return (e) => pick(e.requestHeaders);
  if (kind === 'RESP') return (e) => pick(e.responseHeaders);
  return (e) => pick(e.responseTrailers);
}

function startTime(fmt: string | undefined, path: string): Getter {
  if (fmt === undefined || fmt === '') return (e) => new Date(e.startTime).toISOString();
  if (fmt === '%s') return (e) => Math.floor(e.startTime / 1000);
  if (fmt === '%s.%3f') return (e) => (e.startTime / 1000).toFixed(3);
  throw new ConfigError(path, `START_TIME format '${fmt}' is not supported (default, %s and %s.%3f are)`);
}

/** Compiles one command (`REQ(:PATH):10`, `START_TIME`, ...) to a getter. */
function command(cmd: string, path: string): Getter {
  const m = /^([A-Z_0-9]+)(?:\(([^)]*)\))?(?::(\d+))?$/.exec(cmd);
  if (!m) throw new ConfigError(path, `invalid format command %${cmd}%`);
  const [, name, arg, max] = m as unknown as [string, string, string | undefined, string | undefined];
  let g: Getter;
  if (name === 'REQ' || name === 'RESP' || name === 'TRAILER') g = headerGetter(name, arg ?? '', path);
  else if (name === 'START_TIME') g = startTime(arg, path);
  else if (EMPTY_WITH_ARG.has(name)) g = () => undefined;
  else if (SIMPLE[name] && arg === undefined) g = SIMPLE[name];
  else throw new ConfigError(path, `unsupported access log command %${cmd}%`);
  if (max === undefined) return g;
  const n = Number(max);
  return (e) => {
    const v = g(e);
    return typeof v === 'string' ? v.slice(0, n) : v;
  };
}

/** Compiles a text format (`omitEmpty`: Envoy's omit_empty_values). */
export function compileText(format: string, path: string, omitEmpty = false): Formatter {
  const parts: Array<string | Getter> = [];
  const re = /%%|%([A-Z_0-9]+(?:\([^)]*\))?(?::\d+)?)%/g;
  let last = 0;
  for (let m = re.exec(format); m; m = re.exec(format)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    parts.push(m[0] === '%%' ? '%' : command(m[1]!, path));
    last = re.lastIndex;
  }
  if (last < format.length) parts.push(format.slice(last));
  return (e) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else {
        const v = p(e);
        out += v === undefined || v === '' ? (omitEmpty ? '' : '-') : String(v);
      }
    }
    return out;
  };
}

/** Compiles a json_format object: each string value is a format; numbers stay numbers. */
export function compileJson(obj: Record<string, unknown>, path: string, omitEmpty = false): Formatter {
  const fields: Array<[string, (e: AccessLogEntry) => unknown]> = [];
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'string') {
      const single = /^%([A-Z_0-9]+(?:\([^)]*\))?(?::\d+)?)%$/.exec(v);
      if (single) {
        const g = command(single[1]!, `${path}.${k}`);
        fields.push([k, (e) => g(e) ?? null]);
      } else {
        const f = compileText(v, `${path}.${k}`);
        fields.push([k, f]);
      }
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const nested = compileJson(v as Record<string, unknown>, `${path}.${k}`, omitEmpty);
      fields.push([k, (e) => JSON.parse(nested(e)) as unknown]);
    } else fields.push([k, () => v]);
  }
  return (e) => {
    const out: Record<string, unknown> = {};
    for (const [k, f] of fields) {
      const v = f(e);
      if (omitEmpty && (v === null || v === '')) continue;
      out[k] = v;
    }
    return JSON.stringify(out);
  };
}
