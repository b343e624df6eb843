// The reference point "a naive Node proxy": node:http server, node:http client with a
// keep-alive Agent, the request piped up and the response piped down, no routing, no stats.
// Usage: node perf/naive-proxy.mjs LISTEN_PORT UPSTREAM_PORT
// It calibrates perf/http1-keepalive.sh across machines: the CPU the same Node and the same
// kernel spend per request with no proxy logic at all beyond node:http's own.
import http from 'node:http';

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const server = http.createServer((req, res) => {
  const up = http.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
