// Fixed-count HTTP/1.1 keep-alive load for perf/callgrind-sidecar.sh (wrk runs
// for a time, callgrind needs a request count): N GET / requests over C
// connections, one in flight per connection, responses framed by content-length.
//   node perf/keepalive-client.mjs PORT N C
import net from 'node:net';

const [port, n, c] = process.argv.slice(2).map(Number);
const req = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
let sent = 0;
let done = 0;
await new Promise((resolve, reject) => {
  for (let i = 0; i < c; i++) {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const next = () => { if (sent < n) { sent++; s.write(req); } else s.end(); };
    s.on('connect', next);
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let h; (h = buf.indexOf('\r\n\r\n')) >= 0;) {
        const m = /content-length: *(\d+)/i.exec(buf.slice(0, h));
        const end = h + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < end) break;
        buf = buf.slice(end);
        if (++done === n) resolve();
        next();
      }
    });
  }
});
process.exit(0);
