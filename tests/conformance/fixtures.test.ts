/**
 * Every bootstrap in ../shared/fixtures/envoy and ../shared/fixtures/istio/
 * bootstrap is either accepted or refused with reasons that name a field or
 * an extension, never a crash; the table in docs/compatibility.md is current;
 * envoy-demo.yaml serves for real.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureFiles, renderTable, validateFiles } from '../../sidecar/bootstrap/fixture-report.ts';
import { createRegistry } from '../../sidecar/main.ts';
import { fromFixtures, fromRepo } from '../../sidecar/paths.ts';
import { send } from '../support/client.ts';
import { startSidecar } from '../support/sidecar.ts';

const shared = fromFixtures();
const files = fixtureFiles([join(shared, 'envoy'), join(shared, 'istio', 'bootstrap')]);

test('every fixture validates or is refused with a named field or extension', async () => {
  expect(files.length).toBeGreaterThan(70);
  const results = await validateFiles(files, createRegistry());
  for (const r of results) {
    if (r.ok) continue;
    expect(r.reasons.length).toBeGreaterThan(0);
    // Each reason starts with a field path (or names a type URL / extension).
    for (const reason of r.reasons) expect(reason).toMatch(/^[a-z_]+[\w.[\]"-]*: |type URL|extension/);
  }
  expect(results.find((r) => r.file.endsWith('envoy-demo.yaml'))?.ok).toBe(true);
  const doc = readFileSync(fromRepo('docs', 'compatibility.md'), 'utf8');
  expect(doc).toContain(renderTable(results, shared));
}, 60000);

test('envoy-demo.yaml serves: listener_0 proxies to listener_1 whose local reply mapper answers GET', async () => {
  const yaml = readFileSync(join(shared, 'envoy', 'envoy-demo.yaml'), 'utf8')
    .replace('port_value: 10000', 'port_value: 0')
    .replace(/address: 0\.0\.0\.0/, 'address: 127.0.0.1');
  // listener_1 must keep its port (the loopback cluster points at it): pick a free one.
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port1 = (s.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const sc = await startSidecar(yaml.replace(/port_value: 10001/g, `port_value: ${port1}`));
  const r = await send('h1', sc.port('listener_0'), { path: '/' });
  expect(r.status).toBe(404);
  expect(r.headers['content-type']).toBe('text/html; charset=UTF-8');
  expect(r.text()).toContain('<h1>Welcome to Envoy</h1>');
  const head = await send('h1', sc.port('listener_0'), { method: 'POST', path: '/' });
  expect(head.status).toBe(404);
  expect(head.text()).toBe('');
  await sc.stop();
});
