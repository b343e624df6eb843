/**
 * Envoy's AccessLogFilter (envoy.config.accesslog.v3), used by access logs
 * and by local_reply_config mappers: status_code, duration, header,
 * response_flag, not_health_check, traceable, and/or. Filters that need
 * facts we do not keep (runtime, metadata, gRPC status, log type,
 * extensions) are refused at load rather than evaluated wrongly.
 */
import { ConfigError } from '../../sidecar/contracts/errors.ts';
import type { HeaderMap } from '../../sidecar/contracts/http-filter.ts';
import { compileHeaderMatcher, matchesHeaders } from '../../xds/translate/header-matcher.ts';
import { int, list, msg, str, type Json } from '../../xds/translate/proto-values.ts';

/** What a filter is evaluated on. */
export interface LogFilterInput {
  readonly responseCode: number;
  readonly requestHeaders: HeaderMap;
  readonly responseFlags: string;
  readonly durationMs: number;
}

/** A compiled filter. */
export type LogFilter = (x: LogFilterInput) => boolean;

function comparison(c: Json | undefined, p: string): (n: number) => boolean {
  const cmp = msg(c?.['comparison']);
  if (!cmp) throw new ConfigError(`${p}.comparison`, 'comparison is required');
  const rv = msg(cmp['value']);
  if (rv?.['runtime_key']) throw new ConfigError(`${p}.comparison.value.runtime_key`, 'runtime keys are not supported; the default_value is used only without one');
  const v = int(rv?.['default_value'], 0, `${p}.comparison.value.default_value`);
  const op = str(cmp['op']) || 'EQ';
  if (op === 'GE') return (n) => n >= v;
  if (op === 'LE') return (n) => n <= v;
  return (n) => n === v;
}

/** Compiles an AccessLogFilter. */
export function parseLogFilter(f: Json, p: string): LogFilter {
  if (f['status_code_filter'] !== undefined) {
    const c = comparison(msg(f['status_code_filter']), `${p}.status_code_filter`);
    return (x) => c(x.responseCode);
  }
  if (f['duration_filter'] !== undefined) {
    const c = comparison(msg(f['duration_filter']), `${p}.duration_filter`);
    return (x) => c(Math.round(x.durationMs));
  }
  if (f['header_filter'] !== undefined) {
    const hm = compileHeaderMatcher(msg(msg(f['header_filter'])?.['header']) ?? {}, `${p}.header_filter.header`);
    return (x) => matchesHeaders(hm, x.requestHeaders);
  }
  if (f['response_flag_filter'] !== undefined) {
    const flags = (msg(f['response_flag_filter'])!['flags'] as string[] | undefined) ?? [];
    return (x) => {
      if (!x.responseFlags) return false;
      if (flags.length === 0) return true;
      return x.responseFlags.split(',').some((fl) => flags.includes(fl));
    };
  }
  // No request is marked as a health check by a health_check filter here.
  if (f['not_health_check_filter'] !== undefined) return () => true;
  // Nothing is traced yet, so nothing is traceable.
  if (f['traceable_filter'] !== undefined) return () => false;
  if (f['and_filter'] !== undefined || f['or_filter'] !== undefined) {
    const isAnd = f['and_filter'] !== undefined;
    const key = isAnd ? 'and_filter' : 'or_filter';
    const subs = list(msg(f[key])!['filters']).map((s, i) => parseLogFilter(s, `${p}.${key}.filters[${i}]`));
    return isAnd ? (x) => subs.every((m) => m(x)) : (x) => subs.some((m) => m(x));
  }
  throw new ConfigError(p, `access log filter ${Object.keys(f).join(',')} is not supported`);
}
