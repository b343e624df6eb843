/**
 * Runs the real `themis-sidecar` command (bin/themis-sidecar.js on the Node
 * that runs the tests, which ./dev makes Node 24) as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRepo } from '../../sidecar/paths.ts';

/** The CLI entry point. */
export const BIN = fromRepo('bin', 'themis-sidecar.js');

/**
 * A free TCP port on 127.0.0.1 (bound, then released) for a server a test
 * starts later. It is taken below Linux's ephemeral range (32768-60999),
 * where nothing that binds port 0 (every other test's servers and clients)
 * can be handed it in the meantime; each jest worker draws from its own
 * slice so two workers never race for the same port.
 */
export async function freePort(): Promise<number> {
  const worker = Number(process.env['JEST_WORKER_ID'] ?? 1);
  const base = 20_000 + ((worker - 1) % 8) * 1_500;
  for (let i = 0; i < 200; i++) {
    const p = base + Math.floor(Math.random() * 1_500);
    if (usedPorts.has(p)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) {
      usedPorts.add(p);
      return p;
    }
  }
  throw new Error('no free port found below the ephemeral range');
}

/** Ports handed out by this worker (never handed out twice). */
const usedPorts = new Set<number>();

/** Writes text to a file in a fresh temporary directory. */
export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'themis-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The result of a command that ran to completion. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
export function runCli(args: string[], timeoutMs = 20000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A sidecar process being served. */
export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly adminPort: number;
  stderr(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/** Starts `themis-sidecar -c FILE args...` and waits (up to `readyTimeoutMs`) until /ready answers 200. */
export async function startProcess(configPath: string, adminPort: number, args: string[] = [], readyTimeoutMs = 20000): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [BIN, '-c', configPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c));
  child.stdout!.on('data', () => undefined);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${err}`);
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/ready`);
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sidecar not ready: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, adminPort, stderr: () => err, exited };
}

/** VmRSS of a process in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** A bootstrap with fixed ports: admin, one HCM listener routing `/` to cluster `up`. */
export function proxyBootstrap(o: { listenPort: number; adminPort: number; upstreamPort: number; routeExtra?: string }): string {
  return `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${o.adminPort} } } }
static_resources:
  listeners:
  - name: main
    address: { socket_address: { address: 127.0.0.1, port_value: ${o.listenPort} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up${o.routeExtra ? `, ${o.routeExtra}` : ''} } }] }] }
          http_filters: [{ name: envoy.filters.http.router }]
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${o.upstreamPort} } } } }] }] }
`;
}
