// Allocation by function of a running sidecar, garbage included: V8's sampling heap profiler
// (HeapProfiler.startSampling with includeObjectsCollectedByMinorGC/MajorGC) over the inspector.
//
//   node --inspect=127.0.0.1:9239 bin/themis-sidecar.js -c BOOTSTRAP &    (then load it, e.g. wrk)
//   node perf/alloc-profile.mjs 9239 [SECONDS=4]
//
// Prints the sampled bytes and the top allocating functions with their share. Divide the
// sampled bytes by the requests served meanwhile for bytes per request.
const [port, secs] = [process.argv[2] ?? '9229', Number(process.argv[3] ?? 4)];
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
let id = 0;
const pending = new Map();
const send = (method, params = {}) => new Promise((resolve) => {
  const i = ++id;
  pending.set(i, resolve);
  ws.send(JSON.stringify({ id: i, method, params }));
});
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
};
await new Promise((r) => { ws.onopen = r; });
await send('HeapProfiler.enable');
await send('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
await new Promise((r) => setTimeout(r, secs * 1000));
const { result } = await send('HeapProfiler.stopSampling');
const byFunction = new Map();
let total = 0;
const walk = (n) => {
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\/.*?\/(sidecar|protocols|xds|policies)\//, '$1/')}:${f.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + n.selfSize);
  total += n.selfSize;
  for (const c of n.children) walk(c);
};
walk(result.profile.head);
console.log(`sampled bytes over ${secs} s: ${total}`);
for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / total * 100).toFixed(1).padStart(5)}%  ${k}`);
ws.close();
