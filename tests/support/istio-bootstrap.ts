/**
 * Istio's generated bootstraps (../shared/fixtures/istio/bootstrap/*.json)
 * made runnable in a test, as pilot-agent would run them on a pod: the
 * `xds-grpc` and `sds-grpc` pipes point at the test's Unix sockets (standing
 * in for pilot-agent's XDS proxy and its SDS server), the ports Envoy binds
 * or that point back at the pod (admin 15000/15005, the agent 15020, the
 * 15021 health, 15090 stats and 15091/15092 secure-stats listeners) become
 * free loopback ports, and file paths (the profile path, the certificate
 * files named by `file-root:`/`file-cert:` SDS secrets) move into a
 * temporary directory. Everything else (node, stats tags, tracing, sinks,
 * upstream DNS names) is left as Istio wrote it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromFixtures } from '../../sidecar/paths.ts';

/** The folder holding Istio's bootstrap goldens. */
export const ISTIO_BOOTSTRAP_DIR = fromFixtures('istio', 'bootstrap');

/** The golden file names, sorted. */
export function istioGoldens(): string[] {
  return readdirSync(ISTIO_BOOTSTRAP_DIR).filter((f) => f.endsWith('.json')).sort();
}

/** pilot-agent's command-line flags for Envoy (besides `-c`). */
export const PILOT_AGENT_FLAGS: readonly string[] = [
  '--drain-time-s', '2', '--drain-strategy', 'immediate', '--local-address-ip-version', 'v4', '--file-flush-interval-msec', '1000',
  '--disable-hot-restart', '--allow-unknown-static-fields', '--log-format', '%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t',
  '-l', 'warning', '--component-log-level', 'misc:error',
];

/** pilot-agent's readiness query on the admin API (Envoy is ready when server.state is 0 and workers started). */
export const PILOT_AGENT_READINESS_PATH = `/stats?usedonly&filter=${encodeURIComponent('^(server\\.state|listener_manager\\.workers_started)')}`;

/** Where the rewritten bootstrap points. */
export interface IstioRewrite {
  /** The xds-grpc pipe (Istio: /tmp/XDS, pilot-agent's XDS proxy). */
  xdsPath: string;
  /** The sds-grpc pipe (Istio: ./var/run/secrets/workload-spiffe-uds/socket). */
  sdsPath: string;
  /** Replaces a file path prefix (`/etc/istio/ms/` -> `<dir>/ms/`), applied to every string. */
  files: Record<string, string>;
  /** Old port -> new port, for loopback/any-address socket addresses only. */
  ports: Record<number, number>;
}

/** The result of a rewrite. */
export interface RewrittenBootstrap {
  /** The bootstrap JSON text. */
  text: string;
  /** SDS secret names the bootstrap references (after the file rewrite). */
  secrets: string[];
  /** Listener name -> bound port, for the static listeners. */
  listeners: Record<string, number>;
  /** The admin port. */
  adminPort: number;
}

const LOCAL = new Set(['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost']);

/** Rewrites one golden (by file name) for a test run. */
export function rewriteIstioBootstrap(name: string, o: IstioRewrite): RewrittenBootstrap {
  const doc = JSON.parse(readFileSync(join(ISTIO_BOOTSTRAP_DIR, name), 'utf8')) as unknown;
  const secrets = new Set<string>();
  const fixString = (s: string): string => {
    let out = s;
    for (const [from, to] of Object.entries(o.files)) out = out.replaceAll(from, to);
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return fixString(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const obj = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(obj)) out[k] = walk(val);
    const pipe = out['pipe'] as Record<string, unknown> | undefined;
    if (pipe && typeof pipe['path'] === 'string') {
      if (pipe['path'] === '/tmp/XDS') out['pipe'] = { ...pipe, path: o.xdsPath };
      else if (pipe['path'].includes('workload-spiffe-uds')) out['pipe'] = { ...pipe, path: o.sdsPath };
    }
    const sa = out['socket_address'] as Record<string, unknown> | undefined;
    if (sa && typeof sa['address'] === 'string' && LOCAL.has(sa['address']) && typeof sa['port_value'] === 'number' && o.ports[sa['port_value']] !== undefined) {
      out['socket_address'] = { ...sa, address: '127.0.0.1', port_value: o.ports[sa['port_value']] };
    }
    if (typeof out['name'] === 'string' && out['sds_config'] !== undefined) secrets.add(out['name']);
    return out;
  };
  const rewritten = walk(doc) as Record<string, unknown>;
  const admin = ((rewritten['admin'] as Record<string, unknown>)['address'] as Record<string, Record<string, unknown>>)['socket_address']!;
  const listeners: Record<string, number> = {};
  const statics = (rewritten['static_resources'] as Record<string, unknown> | undefined)?.['listeners'] as Record<string, unknown>[] | undefined;
  for (const l of statics ?? []) {
    const port = ((l['address'] as Record<string, Record<string, unknown>>)['socket_address']!)['port_value'];
    listeners[String(l['name'])] = Number(port);
  }
  return { text: JSON.stringify(rewritten, null, 2), secrets: [...secrets].sort(), listeners, adminPort: Number(admin['port_value']) };
}
