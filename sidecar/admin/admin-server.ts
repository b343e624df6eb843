/**
 * The admin listener: a node:http server on a TCP host/port or a unix
 * socket path (`@name` for the abstract namespace), dispatching to the
 * endpoint table in admin-endpoints.ts the way Envoy's AdminImpl does:
 * exact path match, 405 `Method GET not allowed, POST required.` for a
 * mutating endpoint asked with anything but POST, 404 `invalid path.` plus
 * the help text for an unknown path, and the fallback headers of
 * `Utility::populateFallbackResponseHeaders` (text/plain default,
 * `cache-control: no-cache, max-age=0`, `x-content-type-options: nosniff`).
 */

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { findEndpoint, invalidPath } from './admin-endpoints.ts';
import { AdminQuery, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import type { ServerView } from './server-view.ts';

/** Where the admin server listens (bootstrap `admin.address`). */
export type AdminAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'pipe'; readonly path: string };

/** Logger the admin server reports to (pino-compatible). */
export interface AdminLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/** Run-time handles beside the view. */
export interface AdminOptions {
  /** Wall clock in ms (default `Date.now`), for /server_info uptimes. */
  readonly now?: () => number;
  /** Largest request body read (default 1 MiB); larger answers 413. */
  readonly maxBodyBytes?: number;
}

/** A running admin server. */
export interface AdminHandle {
  /** The bound TCP port (0 for a pipe). */
  readonly port: number;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** Runs one request through the endpoint table (no I/O; exported for in-process callers). */
export function dispatchAdmin(req: AdminRequest, ctx: AdminContext, log: AdminLog): AdminResponse {
  const endpoint = findEndpoint(req.path);
  if (endpoint === undefined) return invalidPath();
  if (endpoint.mutatesState && req.method !== 'POST') {
    log.warn({ path: endpoint.prefix, method: req.method }, 'admin path mutates state, method is not POST');
    return textResponse(`Method ${req.method} not allowed, POST required.`, 405);
  }
  return endpoint.handler(req, ctx);
}

function send(res: ServerResponse, r: AdminResponse): void {
  res.statusCode = r.status;
  res.setHeader('content-type', r.contentType);
  res.setHeader('cache-control', 'no-cache, max-age=0');
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('content-length', Buffer.byteLength(r.body));
  if (r.afterSend !== undefined) res.once('finish', r.afterSend);
  res.end(r.body);
}

/** Starts the admin server; resolves once it listens. */
export function startAdmin(view: ServerView, address: AdminAddress, log: AdminLog, options: AdminOptions = {}): Promise<AdminHandle> {
  const ctx: AdminContext = { view, now: options.now ?? Date.now };
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        send(res, textResponse('Payload Too Large', 413));
        return;
      }
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const request: AdminRequest = {
        method: req.method ?? 'GET',
        path: q < 0 ? url : url.slice(0, q),
        query: new AdminQuery(q < 0 ? '' : url.slice(q + 1)),
        body: Buffer.concat(chunks).toString('utf8'),
        contentType: req.headers['content-type'] ?? '',
      };
      let response: AdminResponse;
      try {
        response = dispatchAdmin(request, ctx, log);
      } catch (e) {
        log.warn({ path: request.path, err: e instanceof Error ? e.message : String(e) }, 'admin handler failed');
        response = textResponse(`${e instanceof Error ? e.message : String(e)}\n`, 500);
      }
      send(res, response);
    });
    req.on('error', () => res.destroy());
  };

  const server = createServer(onRequest);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = (): void => {
      server.off('error', reject);
      server.on('error', (err) => log.warn({ err: err.message }, 'admin server error'));
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
      log.info({ address: address.kind === 'tcp' ? `${address.host}:${port}` : address.path }, 'admin address');
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    };
    if (address.kind === 'tcp') server.listen(address.port, address.host, onListening);
    else server.listen(address.path.startsWith('@') ? `\0${address.path.slice(1)}` : address.path, onListening);
  });
}
