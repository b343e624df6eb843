/**
 * The command line, with Envoy's flags so that Istio's pilot-agent can start
 * us where it starts Envoy. Flags that mean nothing here (hot restart) are
 * accepted and explained. This is the one place that reads process.env.
 */
import { parseArgs } from 'node:util';

/** Parsed command-line options. */
export interface CliOptions {
  readonly command: 'serve' | 'validate' | 'version' | 'help' | 'demo';
  readonly configPath?: string;
  readonly configYaml?: string;
  readonly serviceNode?: string;
  readonly serviceCluster?: string;
  readonly serviceZone?: string;
  readonly logLevel: string;
  readonly componentLogLevel: Readonly<Record<string, string>>;
  readonly logFormat?: string;
  readonly drainTimeS: number;
  readonly drainStrategy: 'gradual' | 'immediate';
  readonly parentShutdownTimeS: number;
  readonly concurrency: number;
  readonly allowUnknownStaticFields: boolean;
  /** Notes about accepted no-op flags, printed at start. */
  readonly notes: readonly string[];
  /** The raw options, for /server_info command_line_options. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A command-line mistake (exit 1 with the message). */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** `themis-sidecar --help`. */
export const HELP = `themis-sidecar: an Envoy-compatible service-mesh sidecar for databases

USAGE
  themis-sidecar -c FILE [options]          serve a bootstrap (YAML or JSON)
  themis-sidecar --mode validate -c FILE    check a bootstrap and exit (0 OK, 1 refused)
  themis-sidecar demo                       serve the embedded default bootstrap with a demo upstream
  themis-sidecar ranger test FILE...        run Apache Ranger policy-engine test files against the Ranger engine
  themis-sidecar certs ca|workload ...      a development CA and SPIFFE workload certificates (certs --help)

OPTIONS (Envoy's)
  -c, --config-path FILE        bootstrap file
  --config-yaml STRING          YAML merged over the bootstrap (protobuf merge semantics)
  --mode serve|validate         default serve
  --service-node ID             node.id
  --service-cluster NAME        node.cluster
  --service-zone ZONE           node.locality.zone
  -l, --log-level LEVEL         trace|debug|info|warning|error|critical|off (default info)
  --component-log-level LIST    e.g. upstream:debug,http:trace
  --log-format FORMAT           accepted; logs are JSON lines
  --drain-time-s N              seconds to drain on shutdown (default 600)
  --drain-strategy S            gradual|immediate (default gradual)
  --parent-shutdown-time-s N    accepted (hot restart is not supported)
  --concurrency N               accepted; one data-path thread today
  --allow-unknown-static-fields unknown bootstrap fields warn instead of failing
  --base-id N, --disable-hot-restart, --use-dynamic-base-id
                                accepted no-ops: there is no hot restart
  --file-flush-interval-msec N, --local-address-ip-version v4|v6
                                accepted (Istio's pilot-agent passes them)
  --version                     print the version
  -h, --help                    this text
`;

/** Parses argv (without node and script). */
export function parseCli(argv: readonly string[]): CliOptions {
  let command: CliOptions['command'] = 'serve';
  const args = [...argv];
  if (args[0] === 'demo') {
    command = 'demo';
    args.shift();
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        'config-path': { type: 'string', short: 'c' },
        'config-yaml': { type: 'string' },
        mode: { type: 'string' },
        'service-node': { type: 'string' },
        'service-cluster': { type: 'string' },
        'service-zone': { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        'component-log-level': { type: 'string' },
        'log-format': { type: 'string' },
        'log-path': { type: 'string' },
        'drain-time-s': { type: 'string' },
        'drain-strategy': { type: 'string' },
        'parent-shutdown-time-s': { type: 'string' },
        concurrency: { type: 'string' },
        'allow-unknown-static-fields': { type: 'boolean' },
        'reject-unknown-dynamic-fields': { type: 'boolean' },
        'base-id': { type: 'string' },
        'use-dynamic-base-id': { type: 'boolean' },
        'disable-hot-restart': { type: 'boolean' },
        'local-address-ip-version': { type: 'string' },
        'file-flush-interval-msec': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) command = 'help';
  else if (v.version) command = 'version';
  const mode = v.mode ?? 'serve';
  if (mode !== 'serve' && mode !== 'validate') throw new CliError(`--mode must be serve or validate, not '${mode}'`);
  if (mode === 'validate' && command === 'serve') command = 'validate';
  const num = (name: string, s: string | undefined, dflt: number): number => {
    if (s === undefined) return dflt;
    if (!/^\d+$/.test(s)) throw new CliError(`--${name} needs a non-negative integer, not '${s}'`);
    return Number(s);
  };
  const logLevel = v['log-level'] ?? 'info';
  const componentLogLevel: Record<string, string> = {};
  for (const part of (v['component-log-level'] ?? '').split(',').filter(Boolean)) {
    const [c, l] = part.split(':');
    if (!c || !l) throw new CliError(`--component-log-level entries are component:level, not '${part}'`);
    componentLogLevel[c] = l;
  }
  const drainStrategy = v['drain-strategy'] ?? 'gradual';
  if (drainStrategy !== 'gradual' && drainStrategy !== 'immediate') throw new CliError(`--drain-strategy must be gradual or immediate, not '${drainStrategy}'`);
  const notes: string[] = [];
  if (v['base-id'] !== undefined || v['use-dynamic-base-id']) notes.push('--base-id/--use-dynamic-base-id ignored: there is no hot restart');
  if (v['disable-hot-restart']) notes.push('--disable-hot-restart: hot restart is never enabled');
  if (v['parent-shutdown-time-s'] !== undefined) notes.push('--parent-shutdown-time-s ignored: there is no hot restart parent');
  const concurrency = num('concurrency', v.concurrency, 1);
  if (concurrency > 1) notes.push(`--concurrency ${concurrency}: the data path runs on one thread today`);
  if (v['log-format'] !== undefined) notes.push('--log-format accepted; logs are JSON lines');
  if (v['file-flush-interval-msec'] !== undefined) notes.push('--file-flush-interval-msec accepted; access logs are flushed on every event-loop turn');
  return {
    command,
    configPath: v['config-path'],
    configYaml: v['config-yaml'],
    serviceNode: v['service-node'],
    serviceCluster: v['service-cluster'],
    serviceZone: v['service-zone'],
    logLevel,
    componentLogLevel,
    logFormat: v['log-format'],
    drainTimeS: num('drain-time-s', v['drain-time-s'], 600),
    drainStrategy,
    parentShutdownTimeS: num('parent-shutdown-time-s', v['parent-shutdown-time-s'], 900),
    concurrency,
    allowUnknownStaticFields: v['allow-unknown-static-fields'] === true,
    notes,
    raw: v,
  };
}
