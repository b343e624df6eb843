/**
 * A listener built before startWorkers() (the server's initialization ending)
 * but bound after it must serve, not hold its connections for ever: the
 * initial-fetch timeout or the static secrets can settle while a listener is
 * still binding.
 */
import { LogRegistry } from '../../../sidecar/lifecycle/log.ts';
import { Server } from '../../../sidecar/lifecycle/server.ts';
import { buildSnapshot, createRegistry, parseRouteTable } from '../../../sidecar/main.ts';
import { send } from '../../support/client.ts';
import { bootstrap, staticCluster } from '../../support/sidecar.ts';

const yaml = bootstrap({
  routes: 'virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: served } } }] }]',
  clusters: staticCluster('unused', [1]),
});

test('startWorkers() while a listener is binding: the listener serves once bound', async () => {
  const registry = createRegistry();
  const snapshot = await buildSnapshot({ configYaml: yaml, allowUnknownStaticFields: false }, registry);
  const server = new Server({ snapshot, registry, logs: new LogRegistry('off'), drainTimeS: 1, drainStrategy: 'immediate', version: 'test', commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable });
  const lm = server.listenerManager;
  const applied = lm.apply(snapshot.listeners, { drainTimeMs: 0 });
  for (let i = 0; i < 10; i++) await null; // the apply now waits in listen()
  lm.startWorkers();
  await applied;
  const l = lm.all()[0]!;
  try {
    const r = await send('h1', l.port, { path: '/' });
    expect({ status: r.status, body: r.text() }).toEqual({ status: 200, body: 'served' });
    expect(l.heldConnections).toBe(0);
  } finally {
    l.closeAll();
  }
});
