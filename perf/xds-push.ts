/**
 * xDS push benchmark (issue 3): one delta-ADS push of 1,000 EDS clusters
 * (+1,000 ClusterLoadAssignments), 1,000 routes and 100 listeners into a
 * sidecar that is serving traffic.
 *
 *   node perf/xds-push.ts [--write]
 *
 * Three processes, so that the numbers are the sidecar's own:
 * - this one (pinned to core 0 when taskset exists): the sidecar, in process
 *   (tests/support/sidecar.ts startSidecar, the same Server the CLI runs), and
 *   nothing else on its event loop but the IPC to the other two;
 * - a control-plane child: the test ADS server (tests/support/xds-server.ts);
 * - a traffic child: a keep-alive node:http upstream and 8 concurrent
 *   keep-alive HTTP/1.1 clients hitting the unchanged route "/" of listener
 *   "ingress" (RDS "main" -> EDS cluster "svc" -> that upstream).
 * Both children are pinned to core 1.
 *
 * "1,000 routes" here means what `istioctl proxy-config routes` and Envoy's
 * route tables count: 1,000 virtual hosts with one route each (one per
 * service, domain `svc-N.example`, -> cluster `svc-N`), in 100
 * RouteConfigurations `routes-0`..`routes-99`, one per new listener (RDS is
 * not wildcard: a RouteConfiguration no listener names is never fetched).
 *
 * Measured: from the CDS response of the push being written until every
 * pushed resource of all four types is in a response the sidecar ACKed
 * (apply time, clocked in the control plane, which has encoded the new EDS
 * and RDS resources beforehand: see push()); failed requests
 * (non-200 or socket errors) from the push until the ACKs plus a 1 s settle;
 * requests served in that window; the sidecar process's RSS before and after;
 * the sidecar event loop's max delay during the push (monitorEventLoopDelay,
 * 1 ms resolution). --write replaces the xds-push section of docs/performance.md.
 * Extra node flags (e.g. --cpu-prof) apply to the sidecar process only.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = `${ROOT}docs/performance.md`;
const CLUSTERS = 1000;
const LISTENERS = 100;
const VHOSTS_PER_ROUTE_CONFIG = CLUSTERS / LISTENERS;
const CONCURRENCY = 8;
const SETTLE_MS = 1000;
const WARMUP_MS = 1000;

const CLUSTER_T = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const ENDPOINT_T = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const LISTENER_T = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const ROUTE_T = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const TYPES = [CLUSTER_T, ENDPOINT_T, LISTENER_T, ROUTE_T] as const;
const SHORT: Record<string, string> = { [CLUSTER_T]: 'CDS', [ENDPOINT_T]: 'EDS', [LISTENER_T]: 'LDS', [ROUTE_T]: 'RDS' };

// ---- resources ----------------------------------------------------------------

function hcmListener(name: string, port: number, rds: string): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: name,
          rds: { route_config_name: rds, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

function edsCluster(name: string): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
}

function assignment(name: string, port: number): Record<string, unknown> {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] };
}

function mainRoutes(): Record<string, unknown> {
  return { name: 'main', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'svc' } }] }] };
}

/** The initial config and the pushed one, per type URL (name -> JSON). */
function configs(upstreamPort: number, ingressPort: number): { initial: Record<string, Record<string, unknown>>; pushed: Record<string, Record<string, unknown>> } {
  const initial = {
    [CLUSTER_T]: { svc: edsCluster('svc') },
    [ENDPOINT_T]: { svc: assignment('svc', upstreamPort) },
    [LISTENER_T]: { ingress: hcmListener('ingress', ingressPort, 'main') },
    [ROUTE_T]: { main: mainRoutes() },
  };
  const pushed: Record<string, Record<string, unknown>> = {};
  for (const t of TYPES) pushed[t] = { ...initial[t] };
  for (let i = 0; i < CLUSTERS; i++) {
    pushed[CLUSTER_T]![`svc-${i}`] = edsCluster(`svc-${i}`);
    pushed[ENDPOINT_T]![`svc-${i}`] = assignment(`svc-${i}`, upstreamPort);
  }
  for (let l = 0; l < LISTENERS; l++) {
    pushed[LISTENER_T]![`listener-${l}`] = hcmListener(`listener-${l}`, 0, `routes-${l}`);
    const vhosts = [];
    for (let v = 0; v < VHOSTS_PER_ROUTE_CONFIG; v++) {
      const c = `svc-${l * VHOSTS_PER_ROUTE_CONFIG + v}`;
      vhosts.push({ name: c, domains: [`${c}.example`, `${c}.example:80`], routes: [{ match: { prefix: '/' }, route: { cluster: c, timeout: '5s' } }] });
    }
    pushed[ROUTE_T]![`routes-${l}`] = { name: `routes-${l}`, virtual_hosts: vhosts };
  }
  return { initial, pushed };
}

// ---- IPC ---------------------------------------------------------------------------

type Msg = Record<string, unknown> & { cmd: string };

function send(to: ChildProcess | NodeJS.Process, m: Msg): void {
  to.send!(m);
}

function next(from: ChildProcess | NodeJS.Process, cmd: string): Promise<Msg> {
  return new Promise((resolve) => {
    const on = (m: Msg): void => {
      if (m.cmd !== cmd) return;
      from.off('message', on);
      resolve(m);
    };
    from.on('message', on);
  });
}

// ---- control-plane child -----------------------------------------------------------

/** Push timings, in ms from the moment the CDS response was written. */
interface PushResult {
  encodeMs: Record<string, number>;
  ackMs: Record<string, number>;
  applyMs: number;
  nacks: string[];
}

async function controlPlane(): Promise<void> {
  const { startXdsServer } = await import('../tests/support/xds-server.ts');
  const xds = await startXdsServer();
  let cfg: ReturnType<typeof configs> | undefined;
  process.on('message', (m: Msg) => {
    if (m.cmd === 'initial') {
      cfg = configs(m['upstreamPort'] as number, m['ingressPort'] as number);
      for (const t of TYPES) xds.setResources(t, cfg.initial[t]!, `${SHORT[t]}-1`);
      send(process, { cmd: 'initial-set' });
    } else if (m.cmd === 'push') {
      void push(xds, cfg!).then((r) => send(process, { cmd: 'pushed', result: r }));
    } else if (m.cmd === 'exit') {
      void xds.close().then(() => process.exit(0));
    }
  });
  send(process, { cmd: 'ready', port: xds.port });
}

async function push(xds: Awaited<ReturnType<typeof import('../tests/support/xds-server.ts').startXdsServer>>, cfg: ReturnType<typeof configs>): Promise<PushResult> {
  const version = (t: string): string => `${SHORT[t]}-2`;
  // What must be ACKed: every resource the push adds, per type.
  const expected = new Map<string, Set<string>>();
  for (const t of TYPES) expected.set(t, new Set(Object.keys(cfg.pushed[t]!).filter((n) => !(n in cfg.initial[t]!))));
  const namesOfNonce = new Map<string, string[]>();
  let seenResponses = xds.responses.length;
  const acked = new Map<string, Set<string>>(TYPES.map((t) => [t, new Set<string>()]));
  const ackMs: Record<string, number> = {};
  const nacks: string[] = [];
  let t0 = 0;
  const complete = (r: { typeUrl: string; verdict: string; answeredVersion?: string; responseNonce: string; errorDetail?: { message: string } }): boolean => {
    if (r.verdict === 'nack') nacks.push(`${SHORT[r.typeUrl]}: ${r.errorDetail?.message ?? ''}`);
    if (r.verdict === 'ack' && r.answeredVersion === version(r.typeUrl)) {
      for (; seenResponses < xds.responses.length; seenResponses++) {
        const s = xds.responses[seenResponses]!;
        namesOfNonce.set(s.nonce, s.names);
      }
      const got = acked.get(r.typeUrl)!;
      for (const n of namesOfNonce.get(r.responseNonce) ?? []) got.add(n);
      const want = expected.get(r.typeUrl)!;
      if (ackMs[r.typeUrl] === undefined && [...want].every((n) => got.has(n))) ackMs[r.typeUrl] = performance.now() - t0;
    }
    return TYPES.every((t) => ackMs[t] !== undefined) || nacks.length > 0;
  };
  const encodeMs: Record<string, number> = {};
  const set = (t: string): number => {
    const a = performance.now();
    xds.setResources(t, cfg.pushed[t]!, version(t));
    const b = performance.now();
    encodeMs[t] = b - a;
    return b;
  };
  // Staged first (encoded, nothing sent): the sidecar is not subscribed to
  // the new EDS and RDS names yet, and the unchanged `svc` and `main` keep
  // their bytes, so the test server has nothing to push for them until the
  // sidecar subscribes after CDS and LDS, as Envoy does.
  set(ENDPOINT_T);
  set(ROUTE_T);
  const since = xds.requests.length;
  // The push: CDS is written when its set returns (t0); LDS follows (its encoding is inside the window).
  t0 = set(CLUSTER_T);
  set(LISTENER_T);
  await xds.waitFor(complete, 120_000, since);
  const applyMs = Math.max(...TYPES.map((t) => ackMs[t] ?? NaN));
  return { encodeMs, ackMs, applyMs, nacks };
}

// ---- traffic child ------------------------------------------------------------------

async function traffic(): Promise<void> {
  const body = Buffer.alloc(100, 'x');
  const upstream = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const counts = { ok: 0, failed: 0 };
  const failures: string[] = [];
  const marks: Record<string, { ok: number; failed: number }> = {};
  let running = false;
  let loops: Promise<void>[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const once = (port: number): Promise<void> => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) counts.ok++;
        else {
          counts.failed++;
          if (failures.length < 10) failures.push(`status ${res.statusCode}`);
        }
        resolve();
      });
      res.on('error', (e) => { counts.failed++; if (failures.length < 10) failures.push(e.message); resolve(); });
    });
    req.on('error', (e) => { counts.failed++; if (failures.length < 10) failures.push(e.message); resolve(); });
  });
  process.on('message', (m: Msg) => {
    if (m.cmd === 'start') {
      running = true;
      const port = m['port'] as number;
      loops = Array.from({ length: CONCURRENCY }, async () => { while (running) await once(port); });
      send(process, { cmd: 'started' });
    } else if (m.cmd === 'mark') {
      marks[m['name'] as string] = { ...counts };
      send(process, { cmd: 'marked' });
    } else if (m.cmd === 'stop') {
      running = false;
      void Promise.all(loops).then(() => {
        marks['stop'] = { ...counts };
        agent.destroy();
        send(process, { cmd: 'stopped', marks, failures });
      });
    } else if (m.cmd === 'exit') {
      upstream.close();
      process.exit(0);
    }
  });
  send(process, { cmd: 'ready', port: (upstream.address() as AddressInfo).port });
}

// ---- the sidecar process (main) -----------------------------------------------------

function bootstrap(xdsPort: number): string {
  return `
node: { id: "sidecar~10.0.0.1~perf.ns~ns.svc.cluster.local", cluster: perf }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: DELTA_GRPC
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services: [{ envoy_grpc: { cluster_name: xds-grpc } }]
  lds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
  cds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment: { cluster_name: xds-grpc, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${xdsPort} } } } }] }] }
`;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function child(role: string, pin: boolean): ChildProcess {
  const args = [SELF, `--role=${role}`];
  const stdio: Array<'inherit' | 'ipc'> = ['inherit', 'inherit', 'inherit', 'ipc'];
  return pin ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio }) : spawn(process.execPath, args, { stdio });
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
  });
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

async function main(): Promise<void> {
  const write = process.argv.includes('--write');
  const pin = os.cpus().length >= 2 && hasTaskset();
  if (pin) execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const cp = child('control-plane', pin);
  const tr = child('traffic', pin);
  const [cpReady, trReady] = await Promise.all([next(cp, 'ready'), next(tr, 'ready')]);
  const upstreamPort = trReady['port'] as number;
  const ingressPort = await freePort();
  send(cp, { cmd: 'initial', upstreamPort, ingressPort });
  await next(cp, 'initial-set');

  const { startSidecar } = await import('../tests/support/sidecar.ts');
  const sc = await startSidecar(bootstrap(cpReady['port'] as number));
  if ((await get(ingressPort, 'x')) !== 200) throw new Error('initial route does not answer 200');

  send(tr, { cmd: 'start', port: ingressPort });
  await next(tr, 'started');
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;

  const h = monitorEventLoopDelay({ resolution: 1 });
  send(tr, { cmd: 'mark', name: 'push' });
  await next(tr, 'marked');
  h.enable();
  const pushT0 = performance.now();
  send(cp, { cmd: 'push' });
  const pushed = (await next(cp, 'pushed'))['result'] as PushResult;
  const wall = performance.now() - pushT0;
  h.disable();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  send(tr, { cmd: 'mark', name: 'settled' });
  await next(tr, 'marked');
  const rssAfter = process.memoryUsage().rss;
  const heapAfter = process.memoryUsage().heapUsed;
  send(tr, { cmd: 'stop' });
  const stopped = await next(tr, 'stopped');
  const marks = stopped['marks'] as Record<string, { ok: number; failed: number }>;

  // The pushed config serves: a new listener routes a new virtual host to a new cluster.
  const srv = sc.server;
  const clusters = sc.stat('cluster_manager.active_clusters');
  const listeners = srv.listenerManager.all();
  const l99 = listeners.find((l) => l.config.name === `listener-${LISTENERS - 1}`);
  const probe = l99 ? await get(l99.port, `svc-${CLUSTERS - 1}.example`) : 0;

  const failedPush = marks['settled']!.failed - marks['push']!.failed;
  const servedPush = marks['settled']!.ok - marks['push']!.ok;
  const pushWindowS = (wall + SETTLE_MS) / 1000;
  const rows = [
    ['apply time: CDS response written -> all four types ACKed', `${ms(pushed.applyMs)} ms`, '<= 200 ms', pushed.applyMs <= 200 ? 'met' : 'not met'],
    ...TYPES.map((t) => [`  ${SHORT[t]} ACKed (all pushed resources)`, `${ms(pushed.ackMs[t] ?? NaN)} ms`, '', '']),
    ['failed requests, push + 1 s settle', String(failedPush), '0', failedPush === 0 ? 'met' : 'not met'],
    ['requests served, push + 1 s settle', `${servedPush} (${Math.round(servedPush / pushWindowS)} req/s)`, '', ''],
    ['requests served, whole run', String(marks['stop']!.ok), '', ''],
    ['event-loop max delay during the push', `${ms(h.max / 1e6)} ms`, '', ''],
    ['event-loop p99 delay during the push', `${ms(h.percentile(99) / 1e6)} ms`, '', ''],
    ['sidecar RSS before -> after', `${mb(rssBefore)} -> ${mb(rssAfter)} MB`, '', ''],
    ['sidecar heap used before -> after', `${mb(heapBefore)} -> ${mb(heapAfter)} MB`, '', ''],
  ];
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const report = [
    `Command: \`node perf/xds-push.ts${write ? ' --write' : ''}\` (${new Date().toISOString().slice(0, 10)}). Delta ADS; the sidecar in process`,
    `(tests/support/sidecar.ts, the Server the CLI runs), alone on its event loop; the test ADS server and the traffic`,
    `(${CONCURRENCY} keep-alive HTTP/1.1 clients, GET / on the unchanged route -> EDS cluster \`svc\` -> node:http upstream) in two child processes.`,
    `Push, in one go: ${CLUSTERS} EDS clusters + ${CLUSTERS} ClusterLoadAssignments, ${CLUSTERS} routes (virtual hosts with one route each,`,
    `in ${LISTENERS} RouteConfigurations) and ${LISTENERS} listeners on 127.0.0.1:0 (HCM, rds -> one RouteConfiguration each).`,
    '',
    '| measure | value | target | |',
    '|---|---:|---:|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `- machine: ${os.cpus().length} CPUs, ${cpuModel}, ${os.type()} ${os.release()}; node ${process.version}`,
    `- pinning: ${pin ? 'sidecar on core 0; control plane + traffic + upstream on core 1 (taskset)' : 'none (no taskset or one CPU)'}`,
    `- control plane: EDS and RDS are encoded before the push (JSON -> protobuf; nothing is sent: the sidecar is not subscribed to the new names yet), then CDS is written (t0) and LDS encoded and written; the sidecar's EDS/RDS subscriptions are answered from the store. Encoding, in its own process: ${TYPES.map((t) => `${SHORT[t]} ${ms(pushed.encodeMs[t] ?? NaN)} ms`).join(', ')} (LDS is inside the window)`,
    `- after the push: ${clusters} clusters (1 static), ${listeners.length} listeners, ${srv.routeTables.size} route configurations; a request to \`listener-${LISTENERS - 1}\` for \`svc-${CLUSTERS - 1}.example\` answered ${probe}`,
    `- times are clocked in the control plane (CDS response written -> the ACK of the last response carrying a pushed resource of that type received); event-loop delay: \`monitorEventLoopDelay({ resolution: 1 })\` in the sidecar process from the push command to the last ACK (${ms(wall)} ms)`,
    ...(pushed.nacks.length ? [`- NACKs: ${pushed.nacks.join('; ')}`] : []),
    ...((stopped['failures'] as string[]).length ? [`- failures seen: ${(stopped['failures'] as string[]).join('; ')}`] : []),
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  if (write) {
    let doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Performance\n';
    const begin = '<!-- xds-push:begin -->';
    const end = '<!-- xds-push:end -->';
    if (!doc.includes(begin) || !doc.includes(end)) {
      doc = `${doc.replace(/\n*$/, '\n')}\n## xDS push: 1,000 clusters, 1,000 routes, 100 listeners\n\n${begin}\n${end}\n`;
    }
    const a = doc.indexOf(begin) + begin.length;
    const b = doc.indexOf(end);
    doc = `${doc.slice(0, a)}\n${report}\n${doc.slice(b)}`;
    writeFileSync(DOC, doc);
    process.stderr.write(`updated ${DOC}\n`);
  }

  await sc.stop();
  send(cp, { cmd: 'exit' });
  send(tr, { cmd: 'exit' });
  await Promise.all([cp, tr].map((c) => new Promise((r) => c.once('exit', r))));
  if (pushed.nacks.length) process.exitCode = 1;
}

const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
if (role === 'control-plane') await controlPlane();
else if (role === 'traffic') await traffic();
else await main();
