/**
 * Structured logs (pino, JSON lines on stderr) with Envoy's log levels and
 * per-component levels (`--component-log-level upstream:debug,http:trace`,
 * admin `/logging`). `--log-format` is accepted; the output stays JSON lines
 * unless the format is Envoy's default text one, which we approximate.
 */
import pino, { type Logger } from 'pino';

/** Envoy's level names, mapped to pino's. */
const LEVELS: Record<string, string> = {
  trace: 'trace', debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'fatal', off: 'silent',
};

/** Envoy's components that we log under. */
export const COMPONENTS = ['main', 'config', 'upstream', 'http', 'http2', 'connection', 'admin', 'runtime', 'hc', 'dns', 'router'] as const;

/** True for a level name Envoy accepts. */
export function isLogLevel(l: string): boolean {
  return l in LEVELS;
}

/** The process's loggers, one per component. */
export class LogRegistry {
  private readonly root: Logger;
  private readonly components = new Map<string, Logger>();

  constructor(level: string, componentLevels: Readonly<Record<string, string>> = {}, destination: pino.DestinationStream = pino.destination({ fd: 2, sync: false })) {
    this.root = pino({ level: LEVELS[level] ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
    for (const c of COMPONENTS) this.components.set(c, this.root.child({ component: c }));
    for (const [c, l] of Object.entries(componentLevels)) this.setLevel(c, l);
  }

  /** The logger of a component (`main` when unknown). */
  get(component: string): Logger {
    return this.components.get(component) ?? this.components.get('main')!;
  }

  /** Current levels by component, in Envoy's names. */
  levels(): Record<string, string> {
    const back = (l: string): string => (l === 'warn' ? 'warning' : l === 'fatal' ? 'critical' : l === 'silent' ? 'off' : l);
    return Object.fromEntries([...this.components].map(([c, l]) => [c, back(l.level)]));
  }

  /** Sets one component's level, or all when `component` is undefined. False for a bad name. */
  setLevel(component: string | undefined, level: string): boolean {
    const l = LEVELS[level];
    if (!l) return false;
    if (component === undefined) {
      this.root.level = l;
      for (const c of this.components.values()) c.level = l;
      return true;
    }
    const c = this.components.get(component);
    if (!c) return false;
    c.level = l;
    return true;
  }

  /** Flushes buffered lines (before exit). */
  flush(): void {
    this.root.flush();
  }
}
