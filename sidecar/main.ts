/**
 * The composition root: the only module that imports every room. It
 * registers the extensions (one explicit list of setup() calls), parses the
 * command line, loads and translates the bootstrap, and runs the server
 * until it has drained.
 */
import { readFileSync } from 'node:fs';
import { ConfigErrors } from './contracts/errors.ts';
import { ExtensionRegistry } from './contracts/extension.ts';
import { setup as setupAccessLoggers } from './access-log/extension.ts';
import { CliError, HELP, parseCli, type CliOptions } from './cli.ts';
import { loadBootstrap } from './bootstrap/load.ts';
import { startDemoUpstream } from './lifecycle/demo-upstream.ts';
import { LogRegistry, isLogLevel } from './lifecycle/log.ts';
import { Server } from './lifecycle/server.ts';
import { fromRepo } from './paths.ts';
import { setup as setupHttpConnectionManager } from '../protocols/http/connection-manager/extension.ts';
import { parseRouteConfig } from '../protocols/http/route/route-config.ts';
import { setup as setupCompressor } from '../protocols/http/filters/compressor/compressor.ts';
import { setup as setupRanger } from '../protocols/http/filters/ranger/ranger-filter.ts';
import { setup as setupRbac } from '../protocols/http/filters/rbac/rbac-filter.ts';
import { setup as setupExtAuthz } from '../protocols/http/filters/ext-authz/ext-authz.ts';
import { setup as setupCors } from '../protocols/http/filters/cors/cors.ts';
import { setup as setupFault } from '../protocols/http/filters/fault/fault.ts';
import { setup as setupGrpcStats } from '../protocols/http/filters/grpc-stats/grpc-stats.ts';
import { setup as setupIstioAlpn } from '../protocols/istio/alpn.ts';
import { setup as setupIstioAuthn } from '../protocols/istio/authn.ts';
import { setup as setupIstioMetadataExchange } from '../protocols/istio/metadata-exchange.ts';
import { setup as setupIstioTelemetry } from '../protocols/istio/telemetry.ts';
import { setup as setupSetFilterState } from '../protocols/istio/set-filter-state.ts';
import { setup as setupJwtAuthn } from '../protocols/http/filters/jwt-authn/jwt-authn-filter.ts';
import { RouteTable } from '../protocols/http/route/route-match.ts';
import { setup as setupHttpInspector } from '../protocols/http/http-inspector.ts';
import { setup as setupRawBuffer } from '../protocols/tcp/raw-buffer.ts';
import { setup as setupTcpProxy } from '../protocols/tcp/tcp-proxy.ts';
import { setup as setupNetworkRbac } from '../protocols/tcp/network-rbac-filter.ts';
import { setup as setupTlsInspector } from '../protocols/tls/tls-inspector.ts';
import { setup as setupTls } from '../protocols/tls/tls-transport.ts';
import { setup as setupOriginalDst } from './listener/original-dst.ts';
import { releaseEnvoyRegistry } from '../xds/proto/registry.ts';
import { translateBootstrap, type BootstrapSnapshot } from '../xds/translate/bootstrap.ts';

/** The package version. */
export const VERSION: string = (JSON.parse(readFileSync(fromRepo('package.json'), 'utf8')) as { version: string }).version;

/**
 * RDS: a RouteConfiguration resource to the table the HCM routes with.
 * Updates arrive while serving, so DataSource files are not read (no
 * synchronous file I/O after start-up): such a route configuration is refused.
 */
export function parseRouteTable(json: Record<string, unknown>, path: string): RouteTable {
  return new RouteTable(parseRouteConfig(json, path, {
    readFile: (p) => {
      throw new Error(`'${p}': DataSource files are not read for RDS updates; use inline_string`);
    },
  }));
}

/** Every extension this build has, registered once. */
export function createRegistry(): ExtensionRegistry {
  const registry = new ExtensionRegistry();
  setupHttpConnectionManager(registry);
  setupAccessLoggers(registry);
  setupCompressor(registry);
  setupRanger(registry);
  setupJwtAuthn(registry);
  setupRbac(registry);
  setupRawBuffer(registry);
  setupTcpProxy(registry);
  setupNetworkRbac(registry);
  setupTlsInspector(registry);
  setupTls(registry);
  setupHttpInspector(registry);
  setupOriginalDst(registry);
  setupExtAuthz(registry);
  setupFault(registry);
  setupCors(registry);
  setupGrpcStats(registry);
  setupIstioAlpn(registry);
  setupIstioAuthn(registry);
  setupIstioMetadataExchange(registry);
  setupIstioTelemetry(registry);
  setupSetFilterState(registry);
  return registry;
}

/** Loads, decodes and translates a bootstrap (what --mode validate checks). */
export async function buildSnapshot(opts: Partial<Pick<CliOptions, 'configPath' | 'configYaml' | 'allowUnknownStaticFields' | 'serviceNode' | 'serviceCluster' | 'serviceZone'>>, registry: ExtensionRegistry): Promise<BootstrapSnapshot> {
  const loaded = await loadBootstrap({ configPath: opts.configPath, configYaml: opts.configYaml, allowUnknownFields: opts.allowUnknownStaticFields });
  const snap = translateBootstrap(loaded.value, registry, { serviceNode: opts.serviceNode, serviceCluster: opts.serviceCluster, serviceZone: opts.serviceZone });
  return loaded.warnings.length ? { ...snap, warnings: [...loaded.warnings, ...snap.warnings] } : snap;
}

function reasons(e: unknown): string {
  if (e instanceof ConfigErrors) return e.errors.map((x) => x.message).join('\n');
  return (e as Error).message;
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // `certs ...`: the development PKI (loaded on demand: node-forge is not needed to serve).
  if (argv[0] === 'certs') return (await import('../protocols/tls/certs-cli.ts')).runCertsCommand(argv.slice(1));
  // `ranger test FILE...`: Apache Ranger's policy-engine test files against our engine (loaded on demand).
  if (argv[0] === 'ranger') return (await import('../policies/ranger/cli.ts')).rangerCommand(argv.slice(1), { write: (t) => process.stdout.write(t), error: (t) => process.stderr.write(t) });
  let opts: CliOptions;
  try {
    opts = parseCli(argv);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`themis-sidecar: ${e.message}\n(see --help)\n`);
      return 1;
    }
    throw e;
  }
  if (opts.command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (opts.command === 'version') {
    process.stdout.write(`themis-sidecar version ${VERSION} (Envoy API v3, Node.js ${process.versions.node})\n`);
    return 0;
  }
  if (!isLogLevel(opts.logLevel)) {
    process.stderr.write(`themis-sidecar: unknown --log-level '${opts.logLevel}'\n`);
    return 1;
  }
  if (opts.command === 'demo' && !opts.configPath && !opts.configYaml) {
    opts = { ...opts, configPath: fromRepo('sidecar/bootstrap/default-bootstrap.yaml') };
  }
  const registry = createRegistry();
  let snapshot: BootstrapSnapshot;
  try {
    snapshot = await buildSnapshot(opts, registry);
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    const what = opts.configPath ?? '--config-yaml';
    process.stderr.write(`error initializing configuration '${what}':\n${reasons(e)}\n`);
    return 1;
  }
  if (opts.command === 'validate') {
    // The checks serving does before it binds anything (SDS and ECDS
    // references of the static resources), on a server that is never started.
    const refs = new Server({ snapshot, registry, logs: new LogRegistry('off'), drainTimeS: 0, drainStrategy: 'immediate', version: VERSION, commandLineOptions: {}, concurrency: 1, xdsRouteParser: parseRouteTable }).staticReferences();
    if (refs.errors.length) {
      process.stderr.write(`error initializing configuration '${opts.configPath ?? '--config-yaml'}':\n${refs.errors.map((e) => `static_resources: ${e}`).join('\n')}\n`);
      return 1;
    }
    for (const w of snapshot.warnings) process.stderr.write(`warning: ${w.message}\n`);
    process.stdout.write(`configuration '${opts.configPath ?? '--config-yaml'}' OK\n`);
    return 0;
  }
  // Without xDS nothing decodes protos after start-up.
  if (!snapshot.xds) releaseEnvoyRegistry();
  const logs = new LogRegistry(opts.logLevel, opts.componentLogLevel);
  for (const n of opts.notes) logs.get('main').info({}, n);
  if (opts.command === 'demo') {
    await startDemoUpstream(10080).then((s) => s.unref());
    logs.get('main').info({ port: 10080 }, 'demo upstream started');
  }
  const server = new Server({
    snapshot,
    registry,
    logs,
    drainTimeS: opts.drainTimeS,
    drainStrategy: opts.drainStrategy,
    version: VERSION,
    commandLineOptions: opts.raw,
    concurrency: opts.concurrency,
    xdsRouteParser: parseRouteTable,
  });
  process.on('SIGTERM', () => server.shutdown('SIGTERM'));
  process.on('SIGINT', () => server.shutdown('SIGINT'));
  try {
    await server.start();
  } catch (e) {
    logs.get('main').error({ err: (e as Error).message }, 'start-up failed');
    logs.flush();
    process.stderr.write(`themis-sidecar: start-up failed: ${(e as Error).message}\n`);
    return 1;
  }
  const code = await server.exited;
  logs.flush();
  return code;
}
