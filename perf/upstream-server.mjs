// Minimal keep-alive HTTP/1.1 upstream for perf/http1-keepalive.sh.
// Usage: node perf/upstream-server.mjs PORT  (answers every request 200 with a ~100-byte body)
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = Buffer.from('x'.repeat(99) + '\n'); // 100 bytes
const headers = {
  'content-type': 'text/plain',
  'content-length': String(body.length),
};

const server = http.createServer((req, res) => {
  // drain any request body, then answer
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
