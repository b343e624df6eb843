/**
 * The request/response model every admin handler works on: a decoded query
 * (Envoy's `parseAndDecodeQueryString`: percent-decoding only, '+' stays '+',
 * the first value of a repeated key wins), the body, and a response with the
 * content types Envoy's admin uses. Handlers are synchronous functions from
 * one to the other; admin-server.ts does the socket work.
 */

import type { ServerView } from './server-view.ts';

/** Envoy's `ContentTypeValues.TextUtf8`, the admin default. */
export const TEXT_UTF8 = 'text/plain; charset=UTF-8';
/** Envoy's `ContentTypeValues.Text` (config_dump errors, tcmalloc stats). */
export const TEXT = 'text/plain';
/** Envoy's `ContentTypeValues.Json`. */
export const JSON_TYPE = 'application/json';
/** Envoy's `ContentTypeValues.Html`. */
export const HTML = 'text/html; charset=UTF-8';

/** The query string as Envoy's admin sees it. */
export class AdminQuery {
  /** Every key=value pair in order (a key without '=' has value ''). */
  readonly entries: ReadonlyArray<readonly [string, string]>;
  private readonly firsts = new Map<string, string>();

  constructor(raw: string) {
    const entries: Array<readonly [string, string]> = [];
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const key = percentDecode(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? '' : percentDecode(part.slice(eq + 1));
      entries.push([key, value]);
      if (!this.firsts.has(key)) this.firsts.set(key, value);
    }
    this.entries = entries;
  }

  /** Whether the key is present at all (`?usedonly`). */
  has(key: string): boolean {
    return this.firsts.has(key);
  }

  /** The first value of the key, '' when given without a value, undefined when absent. */
  get(key: string): string | undefined {
    return this.firsts.get(key);
  }

  /** Envoy's `Utility::queryParam`: the first value, undefined when absent or empty. */
  nonEmpty(key: string): string | undefined {
    const v = this.firsts.get(key);
    return v === undefined || v === '' ? undefined : v;
  }

  /** Distinct keys (Envoy's QueryParams is a map). */
  size(): number {
    return this.firsts.size;
  }

  /** The distinct keys with their first values, in first-seen order. */
  map(): ReadonlyMap<string, string> {
    return this.firsts;
  }
}

/** Percent-decoding that leaves malformed escapes as they are (Envoy's PercentEncoding::decode). */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** One admin request, body already read. */
export interface AdminRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: AdminQuery;
  readonly body: string;
  /** The request's content-type header, '' when absent. */
  readonly contentType: string;
}

/** One admin response; `afterSend` runs once the body was handed to the socket. */
export interface AdminResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly afterSend?: () => void;
}

/** What a handler is given besides the request. */
export interface AdminContext {
  readonly view: ServerView;
  /** Wall clock in ms since the epoch (injected for /server_info uptimes). */
  readonly now: () => number;
}

/** An admin endpoint's handler. */
export type AdminHandler = (req: AdminRequest, ctx: AdminContext) => AdminResponse;

/** A query parameter as Envoy's help lists it. */
export interface AdminParam {
  readonly id: string;
  readonly help: string;
  /** Choices of an enum parameter. */
  readonly choices?: readonly string[];
}

/** An admin endpoint: Envoy's `UrlHandler`. */
export interface AdminEndpoint {
  readonly prefix: string;
  readonly help: string;
  /** Mutating endpoints answer 405 to anything but POST. */
  readonly mutatesState: boolean;
  readonly params?: readonly AdminParam[];
  readonly handler: AdminHandler;
}

/** A text/plain; charset=UTF-8 response. */
export function textResponse(body: string, status = 200, contentType = TEXT_UTF8): AdminResponse {
  return { status, contentType, body };
}

/** An application/json response, pretty-printed as Envoy's protobuf printer does (one-space indent). */
export function jsonResponse(value: unknown, status = 200): AdminResponse {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value, null, 1) };
}
