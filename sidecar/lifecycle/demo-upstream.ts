/**
 * The demo upstream that `themis-sidecar demo` starts next to the sidecar:
 * a tiny HTTP server that echoes what it received (method, path, headers),
 * answers /healthz, and streams /bytes/N.
 */
import http from 'node:http';

/** Starts the demo upstream on 127.0.0.1:`port`. */
export function startDemoUpstream(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
    if (bytes) {
      const n = Math.min(Number(bytes[1]), 1 << 30);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      const chunk = Buffer.alloc(64 * 1024, 120);
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      const body = JSON.stringify({ upstream: 'themis-sidecar demo upstream', method: req.method, path: req.url, headers: req.headers, bodyBytes: size }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
