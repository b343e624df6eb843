/**
 * Envoy's local replies: the responses the sidecar makes itself (no route,
 * no healthy upstream, timeouts, direct responses), with Envoy's bodies and
 * headers, and the subset of `local_reply_config` mappers we implement
 * (status_code_filter, header_filter; status_code, body and
 * body_format_override with text_format_source/content_type).
 */
import { ConfigError } from '../../../sidecar/contracts/errors.ts';
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import { int, list, msg, str } from '../../../xds/translate/proto-values.ts';
import { parseLogFilter, type LogFilter } from '../access-log-filter.ts';

/** One mapper of local_reply_config. */
interface Mapper {
  readonly matches: LogFilter;
  readonly status?: number;
  readonly body?: string;
  readonly contentType?: string;
}

/** A validated local_reply_config. */
export interface LocalReplyConfig {
  readonly mappers: readonly Mapper[];
}

/** A local reply after mapping. */
export interface LocalReply {
  status: number;
  body: string;
  contentType: string;
}

/** Parses HttpConnectionManager.local_reply_config. */
export function parseLocalReplyConfig(v: unknown, path: string): LocalReplyConfig {
  const c = msg(v);
  if (!c) return { mappers: [] };
  if (c['body_format'] !== undefined) throw new ConfigError(`${path}.body_format`, 'a global body_format is not supported yet');
  const mappers = list(c['mappers']).map((m, i): Mapper => {
    const p = `${path}.mappers[${i}]`;
    const f = msg(m['filter']);
    if (!f) throw new ConfigError(`${p}.filter`, 'filter is required');
    const bfo = msg(m['body_format_override']);
    let body: string | undefined, contentType: string | undefined;
    if (m['body'] !== undefined) body = str(msg(m['body'])!['inline_string']);
    if (bfo) {
      const tfs = msg(bfo['text_format_source']);
      if (!tfs || typeof tfs['inline_string'] !== 'string') throw new ConfigError(`${p}.body_format_override`, 'only text_format_source.inline_string is supported');
      if (/%[A-Z_]+(\(|%)/.test(tfs['inline_string'])) throw new ConfigError(`${p}.body_format_override`, 'format commands in local reply bodies are not supported yet');
      body = tfs['inline_string'];
      contentType = typeof bfo['content_type'] === 'string' ? bfo['content_type'] : 'text/plain';
    }
    return { matches: parseLogFilter(f, `${p}.filter`), status: m['status_code'] !== undefined ? int(m['status_code'], 0, `${p}.status_code`) : undefined, body, contentType };
  });
  return { mappers };
}

/** Applies the first matching mapper to a local reply. */
export function mapLocalReply(cfg: LocalReplyConfig, reply: LocalReply, requestHeaders: HeaderMap, responseFlags: string, durationMs: number): LocalReply {
  for (const m of cfg.mappers) {
    if (!m.matches({ responseCode: reply.status, requestHeaders, responseFlags, durationMs })) continue;
    return {
      status: m.status ?? reply.status,
      body: m.body ?? reply.body,
      contentType: m.contentType ?? reply.contentType,
    };
  }
  return reply;
}

/** True for gRPC requests (content-type application/grpc, +proto, +json ...). */
export function isGrpcRequest(h: HeaderMap): boolean {
  const ct = h['content-type'];
  const v = Array.isArray(ct) ? ct[0] : ct;
  return v !== undefined && v.startsWith('application/grpc') && !v.startsWith('application/grpc-web');
}

/**
 * Envoy's Grpc::Utility::httpToGrpcStatus, for local replies to gRPC
 * requests: 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
 */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}
