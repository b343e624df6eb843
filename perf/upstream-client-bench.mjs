// Upstream HTTP/1.1 client micro-benchmark: CPU time of the client process per
// request, undici's Http1Pool (sidecar/upstream/pool-http1.ts) against
// LeanHttp1Pool (sidecar/upstream/pool-http1-lean.ts).
//
// Usage: node perf/upstream-client-bench.mjs [N=200000] [CONCURRENCY=50] [ROUNDS=2]
//
// The upstream is perf/upstream-server.mjs (node:http, 100-byte body) in its own
// process; each measurement runs in a fresh client process (no shared JIT state),
// alternating the pools, after a warm-up of N/10 requests. It sends requests shaped
// like the router's (a handful of headers, no body) with CONCURRENCY in flight, and
// reports process.cpuUsage() (user+system) of the client divided by N.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--client') {
  await client(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
} else {
  await main(Number(process.argv[2] ?? 200_000), Number(process.argv[3] ?? 50), Number(process.argv[4] ?? 2));
}

async function main(n, concurrency, rounds) {
  const server = spawn(process.execPath, [path.join(here, 'upstream-server.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    server.stdout.once('data', (d) => resolve(Number(/listening (\d+)/.exec(String(d))[1])));
    server.once('exit', () => reject(new Error('upstream server exited')));
  });
  const results = { undici: [], lean: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? ['undici', 'lean'] : ['lean', 'undici']) {
        const res = await runClient(kind, port, n, concurrency);
        results[kind].push(res);
        process.stdout.write(`round ${r + 1} ${kind.padEnd(6)} ${fmt(res)}\n`);
      }
    }
  } finally {
    server.kill('SIGTERM');
  }
  process.stdout.write(`\nN=${n} concurrency=${concurrency}, best of ${rounds} (client CPU = user+system):\n`);
  for (const kind of ['undici', 'lean']) {
    const best = results[kind].reduce((a, b) => (b.cpuUsPerReq < a.cpuUsPerReq ? b : a));
    process.stdout.write(`  ${kind === 'undici' ? 'undici Http1Pool ' : 'LeanHttp1Pool    '} ${fmt(best)}\n`);
  }
}

function fmt(r) {
  return `${r.cpuUsPerReq.toFixed(2)} us CPU/req (user ${r.userUsPerReq.toFixed(2)}, sys ${r.sysUsPerReq.toFixed(2)}), ${Math.round(r.rps)} req/s, ${r.connections} connections, errors ${r.errors}`;
}

function runClient(kind, port, n, concurrency) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', kind, String(port), String(n), String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${kind} client exited ${code}`))));
  });
}

function counter() {
  let v = 0;
  return { inc: (by = 1) => { v += by; }, dec: (by = 1) => { v -= by; }, set: (x) => { v = x; }, value: () => v };
}

async function client(kind, port, n, concurrency) {
  const mod = kind === 'lean'
    ? await import('../sidecar/upstream/pool-http1-lean.ts')
    : await import('../sidecar/upstream/pool-http1.ts');
  const Pool = kind === 'lean' ? mod.LeanHttp1Pool : mod.Http1Pool;
  const stats = { cxTotal: counter(), cxActive: counter(), cxConnectFail: counter() };
  const pool = new Pool({ kind: 'tcp', host: '127.0.0.1', port }, { connectTimeoutMs: 5000, idleTimeoutMs: 60_000, maxRequestsPerConnection: 0, stats });

  let errors = 0;
  let bytes = 0;
  const run = (total) => new Promise((resolve) => {
    let started = 0;
    let finished = 0;
    // One handler object per request, as the router is one per stream.
    class Handler {
      onHeaders(status) { if (status !== 200) errors++; }
      onData(chunk) { bytes += chunk.length; return true; }
      onEnd() { done(); }
      onError() { errors++; done(); }
    }
    const next = () => {
      started++;
      // A fresh header object per request, shaped like the router's upstream headers.
      const headers = {
        'user-agent': 'bench/1.0',
        accept: '*/*',
        'x-forwarded-proto': 'http',
        'x-request-id': '7f3c2a1e-9b8d-4c6f-a5e4-3d2c1b0a9f8e',
        'x-envoy-expected-rq-timeout-ms': '15000',
      };
      pool.request({ method: 'GET', path: '/bench/item?id=42', authority: 'upstream.local:8080', headers, body: null }, new Handler());
    };
    const done = () => {
      finished++;
      if (finished === total) resolve();
      else if (started < total) next();
    };
    for (let i = 0; i < Math.min(concurrency, total); i++) next();
  });

  await run(Math.max(1000, Math.floor(n / 10)));
  globalThis.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(n);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const result = {
    kind,
    n,
    cpuUsPerReq: (cpu.user + cpu.system) / n,
    userUsPerReq: cpu.user / n,
    sysUsPerReq: cpu.system / n,
    rps: n / wallS,
    connections: stats.cxTotal.value(),
    errors,
    bytes,
  };
  await pool.drain();
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
}
