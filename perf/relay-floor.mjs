// The floor of any Node.js proxy on this machine: a byte relay with no HTTP at all.
// Usage: node perf/relay-floor.mjs LISTEN_PORT UPSTREAM_PORT
// Each accepted connection gets its own upstream connection (1:1) and bytes are copied
// both ways as they arrive ('data' -> write), so a keep-alive HTTP/1.1 client sees the
// upstream's responses unchanged. Per request that is what any proxy in Node must do at
// least: two reads and two writes through node:net, and the kernel's loopback TCP work.
// The upstream side reads with `onread` into one shared buffer, as the sidecar's pool does;
// the downstream side with 'data' events, as the sidecar's accepted sockets must.
import net from 'node:net';

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
const shared = Buffer.allocUnsafe(64 * 1024);

const server = net.createServer({ noDelay: true }, (down) => {
  const up = net.connect({
    host: '127.0.0.1',
    port: upstreamPort,
    noDelay: true,
    onread: {
      buffer: shared,
      callback: (n, buf) => {
        // The next read overwrites `shared`, and write() may queue what it is given: a copy
        // (the sidecar copies a small response into one buffer with its head as well).
        if (!down.write(Buffer.from(buf.subarray(0, n)))) up.pause();
        return true;
      },
    },
  });
  down.on('data', (c) => { if (!up.write(c)) down.pause(); });
  up.on('drain', () => down.resume());
  down.on('drain', () => up.resume());
  const close = () => { down.destroy(); up.destroy(); };
  down.on('error', close); up.on('error', close);
  down.on('close', close); up.on('close', close);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', () => { stop(); setTimeout(() => process.exit(0), 500).unref(); });
process.on('SIGINT', stop);
