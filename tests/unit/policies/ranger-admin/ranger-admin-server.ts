/**
 * A local Ranger Admin for tests: a real node:http server answering the
 * plugin download endpoints as Ranger Admin does (200 with the payload when
 * the plugin's lastKnownVersion differs, 304 when it is current, 404 for an
 * unknown service), plus switches for 204, malformed bodies and a server
 * that never answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fromFixtures } from '../../../../sidecar/paths.ts';

/** The real ServicePolicies payloads (../shared/fixtures/ranger/policyengine). */
export function rangerFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(fromFixtures('ranger', 'policyengine', name), 'utf8')) as Record<string, unknown>;
}

/** One request the Admin saw. */
export interface AdminRequest {
  readonly path: string;
  readonly query: URLSearchParams;
}

/** A running test Admin. */
export interface TestRangerAdmin {
  readonly url: string;
  readonly port: number;
  readonly requests: AdminRequest[];
  /** ServicePolicies by service name (a string is sent as the raw body: malformed JSON). */
  policies: Map<string, Record<string, unknown> | string>;
  roles: Map<string, Record<string, unknown>>;
  /** When set, every policy download answers this status with an empty body. */
  forceStatus: number | undefined;
  /** When true, requests are accepted and never answered. */
  hang: boolean;
  close(): Promise<void>;
}

/** Starts a test Admin on 127.0.0.1, port 0. */
export async function startRangerAdmin(): Promise<TestRangerAdmin> {
  const held: http.ServerResponse[] = [];
  const admin = {
    requests: [] as AdminRequest[],
    policies: new Map<string, Record<string, unknown> | string>(),
    roles: new Map<string, Record<string, unknown>>(),
    forceStatus: undefined as number | undefined,
    hang: false,
  };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    admin.requests.push({ path: u.pathname, query: u.searchParams });
    if (admin.hang) {
      held.push(res);
      return;
    }
    const send = (status: number, body?: string): void => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body);
    };
    let m = /^\/service\/plugins\/(?:secure\/)?policies\/download\/([^/]+)$/.exec(u.pathname);
    if (m) {
      if (admin.forceStatus !== undefined) return send(admin.forceStatus);
      const p = admin.policies.get(decodeURIComponent(m[1]!));
      if (p === undefined) return send(404, JSON.stringify({ statusCode: 1, msgDesc: `RANGER_ERROR_SERVICE_NOT_FOUND: ServiceName=${m[1]}` }));
      if (typeof p === 'string') return send(200, p);
      if (String(p['policyVersion']) === u.searchParams.get('lastKnownVersion')) return send(304);
      return send(200, JSON.stringify(p));
    }
    m = /^\/service\/roles\/(?:secure\/)?download\/([^/]+)$/.exec(u.pathname);
    if (m) {
      const r = admin.roles.get(decodeURIComponent(m[1]!));
      if (r === undefined) return send(admin.policies.has(decodeURIComponent(m[1]!)) ? 304 : 404);
      if (String(r['roleVersion']) === u.searchParams.get('lastKnownRoleVersion')) return send(304);
      return send(200, JSON.stringify(r));
    }
    send(404);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(admin, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}
