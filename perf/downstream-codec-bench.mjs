// Downstream HTTP/1.1 codec micro-benchmark: server CPU time per request of an
// in-process handler that answers 200 with a 100-byte body through the
// Downstream API, served by
//   node-http : node:http + Http1Downstream (what the connection manager does today)
//   lean      : serveLeanHttp1 + LeanHttp1Downstream (http1-server.ts)
//   node-raw  : node:http with res.writeHead/res.end and no adapter (reference)
//
// Usage: node perf/downstream-codec-bench.mjs [SECONDS=5] [ROUNDS=2] [CONNECTIONS=50]
//
// Each measurement runs in a fresh server process pinned to CPU 0 (taskset -c 0)
// and is loaded by `wrk -t1 -cCONNECTIONS -dSECONDS` pinned to CPU 1, after a
// 2 s warm-up run. The server's process.cpuUsage() (user+system) over the
// measured wrk run is divided by the requests wrk completed.
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === '--server') await server(process.argv[3]);
else await main(Number(process.argv[2] ?? 5), Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 50));

async function main(seconds, rounds, connections) {
  const kinds = ['node-http', 'lean', 'node-raw'];
  const results = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of order) {
      const res = await measure(kind, seconds, connections);
      results[kind].push(res);
      process.stdout.write(`round ${r + 1} ${kind.padEnd(9)} ${fmt(res)}\n`);
    }
  }
  process.stdout.write(`\nwrk -t1 -c${connections} -d${seconds}s, server on CPU 0, wrk on CPU 1; best of ${rounds} (server CPU = user+system):\n`);
  for (const kind of kinds) {
    const best = results[kind].reduce((a, b) => (b.cpuUsPerReq < a.cpuUsPerReq ? b : a));
    process.stdout.write(`  ${kind.padEnd(9)} ${fmt(best)}\n`);
  }
}

function fmt(r) {
  return `${r.cpuUsPerReq.toFixed(2)} us CPU/req (user ${r.userUsPerReq.toFixed(2)}, sys ${r.sysUsPerReq.toFixed(2)}), ${Math.round(r.rps)} req/s, server CPU ${(r.cpuShare * 100).toFixed(0)}%, non-2xx ${r.errors}`;
}

async function measure(kind, seconds, connections) {
  const child = spawn('taskset', ['-c', '0', process.execPath, fileURLToPath(import.meta.url), '--server', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value;
  const ask = async (cmd) => { child.stdin.write(`${cmd}\n`); return next(); };
  try {
    const port = Number(/listening (\d+)/.exec(await next())[1]);
    const url = `http://127.0.0.1:${port}/`;
    await wrk(url, 2, connections); // warm-up (JIT, connections)
    await ask('start');
    const out = await wrk(url, seconds, connections);
    const cpu = JSON.parse(await ask('stop'));
    const requests = Number(/(\d+) requests in/.exec(out)[1]);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    const socketErrors = /Socket errors: (.*)/.exec(out);
    if (socketErrors) process.stderr.write(`${kind}: ${socketErrors[0]}\n`);
    return {
      cpuUsPerReq: (cpu.user + cpu.system) / requests,
      userUsPerReq: cpu.user / requests,
      sysUsPerReq: cpu.system / requests,
      rps: requests / (cpu.wallMs / 1000),
      cpuShare: (cpu.user + cpu.system) / (cpu.wallMs * 1000),
      errors: non2xx ? Number(non2xx[1]) : 0,
    };
  } finally {
    child.kill('SIGTERM');
  }
}

function wrk(url, seconds, connections) {
  return new Promise((resolve, reject) => {
    execFile('taskset', ['-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, url], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function server(kind) {
  const net = await import('node:net');
  const http = await import('node:http');
  const body = Buffer.alloc(100, 0x78);
  const headers = { 'content-type': 'text/plain' };
  const opts = { maxRequestHeadersKb: 60, maxHeadersCount: 100, keepAliveTimeoutMs: 3600_000, headersTimeoutMs: 0 };
  let srv;
  if (kind === 'lean') {
    const { serveLeanHttp1 } = await import('../protocols/http/connection-manager/http1-server.ts');
    const hooks = { onProtocolError() {} };
    const onRequest = (ds) => ds.respond(200, headers, body);
    srv = net.createServer((socket) => serveLeanHttp1(socket, opts, onRequest, hooks));
  } else if (kind === 'node-http') {
    const { Http1Downstream } = await import('../protocols/http/connection-manager/downstream.ts');
    // Configured as connection-manager.ts configures it.
    srv = http.createServer({ maxHeaderSize: 60 * 1024, keepAliveTimeout: 3600_000, headersTimeout: 0, requestTimeout: 0, requireHostHeader: false, joinDuplicateHeaders: false },
      (req, res) => new Http1Downstream(req, res, 'http').respond(200, headers, body));
  } else {
    srv = http.createServer({ keepAliveTimeout: 3600_000, headersTimeout: 0, requestTimeout: 0 }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  }
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  process.stdout.write(`listening ${srv.address().port}\n`);
  let start, startWall;
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'start') {
      start = process.cpuUsage();
      startWall = performance.now();
      process.stdout.write('ok\n');
    } else if (line === 'stop') {
      const d = process.cpuUsage(start);
      process.stdout.write(`${JSON.stringify({ user: d.user, system: d.system, wallMs: performance.now() - startWall })}\n`);
    }
  }
}
