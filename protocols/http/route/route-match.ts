/**
 * Route selection as Envoy does it: the virtual host by the Host/:authority
 * (exact, then longest `*.suffix`, then longest `prefix*`, then `*`), then
 * the first route whose path, header, query and gRPC matchers all match.
 * The table is built once per RouteConfig; lookups allocate nothing but the
 * split of the query string when a route needs it.
 */
import type { HeaderMap } from '../../../sidecar/contracts/http-filter.ts';
import type { PathMatch, Route, RouteConfig, VirtualHost } from './route-config.ts';

/** How the Host header's port is treated before matching (HCM options). */
export type PortStripping = 'none' | 'matching' | 'any';

/** A lookup table over one RouteConfig. */
export class RouteTable {
  readonly config: RouteConfig;
  private readonly exact = new Map<string, VirtualHost>();
  /** `*.foo.com` style, stored as (suffix, vhost), longest suffix first. */
  private readonly suffixes: Array<[string, VirtualHost]> = [];
  /** `foo.*` style, stored as (prefix, vhost), longest prefix first. */
  private readonly prefixes: Array<[string, VirtualHost]> = [];
  private readonly fallback: VirtualHost | undefined;

  constructor(config: RouteConfig) {
    this.config = config;
    let fallback: VirtualHost | undefined;
    for (const vh of config.virtualHosts) {
      for (const d of vh.domains) {
        if (d === '*') fallback = vh;
        else if (d.startsWith('*')) this.suffixes.push([d.slice(1), vh]);
        else if (d.endsWith('*')) this.prefixes.push([d.slice(0, -1), vh]);
        else this.exact.set(d, vh);
      }
    }
    this.suffixes.sort((a, b) => b[0].length - a[0].length);
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
    this.fallback = fallback;
  }

  /** The virtual host for a Host/:authority value (lower-cased here). */
  virtualHost(authority: string, strip: PortStripping, listenerPort: number): VirtualHost | undefined {
    let host = authority.toLowerCase();
    if (strip !== 'none') {
      const colon = host.lastIndexOf(':');
      if (colon > 0 && host.indexOf(']') < colon) {
        const port = host.slice(colon + 1);
        // Only a numeric port is stripped (Envoy's stripPortFromHost).
        if (/^\d+$/.test(port) && (strip === 'any' || Number(port) === listenerPort)) host = host.slice(0, colon);
      }
    }
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const [suffix, vh] of this.suffixes) if (host.length > suffix.length && host.endsWith(suffix)) return vh;
    for (const [prefix, vh] of this.prefixes) if (host.length > prefix.length && host.startsWith(prefix)) return vh;
    return this.fallback;
  }

  /** The first matching route of a virtual host, or undefined (NR). */
  route(vh: VirtualHost, headers: HeaderMap, path: string): Route | undefined {
    const q = path.indexOf('?');
    const pathOnly = q < 0 ? path : path.slice(0, q);
    let query: Map<string, string> | undefined;
    for (const r of vh.routes) {
      if (!pathMatches(r.path, pathOnly)) continue;
      if (r.grpc && !String(headers['content-type'] ?? '').startsWith('application/grpc')) continue;
      let ok = true;
      for (const h of r.headers) {
        const v = headers[h.name];
        if (!h.test(Array.isArray(v) ? v.join(',') : v)) { ok = false; break; }
      }
      if (!ok) continue;
      if (r.query.length) {
        query ??= parseQuery(q < 0 ? '' : path.slice(q + 1));
        for (const m of r.query) if (!m.test(query.get(m.name))) { ok = false; break; }
        if (!ok) continue;
      }
      return r;
    }
    return undefined;
  }
}

function pathMatches(m: PathMatch, path: string): boolean {
  switch (m.kind) {
    case 'prefix':
      return (m.ignoreCase ? path.toLowerCase() : path).startsWith(m.value);
    case 'path':
      return (m.ignoreCase ? path.toLowerCase() : path) === m.value;
    case 'regex':
      return m.re.test(path);
    case 'separated': {
      const p = m.ignoreCase ? path.toLowerCase() : path;
      if (!p.startsWith(m.value)) return false;
      return p.length === m.value.length || p[m.value.length] === '/';
    }
  }
}

/** First value of each query parameter (Envoy matches the first occurrence). */
export function parseQuery(qs: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!qs) return out;
  for (const part of qs.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    let key = k, val = v;
    try { key = decodeURIComponent(k); val = decodeURIComponent(v.replace(/\+/g, ' ')); } catch { /* keep raw */ }
    if (!out.has(key)) out.set(key, val);
  }
  return out;
}
