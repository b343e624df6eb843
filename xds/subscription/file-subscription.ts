/**
 * Envoy's filesystem subscription (`path_config_source`, or the deprecated
 * ConfigSource `path`): the file holds a DiscoveryResponse in YAML or JSON
 * (`version_info`, `resources: [{ "@type": ..., ... }]`), always the whole
 * state of its type. The file's directory (or `watched_directory`) is
 * watched; a move into place (Envoy's recommended atomic update: write a
 * temporary file, rename it over the old one) or an in-place write triggers
 * a debounced re-read. Each read is decoded with the canonical JSON mapping
 * and handed to the same handler as an ADS response; a file that cannot be
 * parsed or holds an invalid resource is rejected (the file equivalent of a
 * NACK: `<type>.update_rejected`, the reasons logged) and the last good
 * config keeps serving. A file that cannot be read counts `update_failure`,
 * as Envoy's does.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError, ConfigErrors } from '../../sidecar/contracts/errors.ts';
import type { Counter, StatsScope } from '../../sidecar/contracts/stats.ts';
import type { TypeUpdate, UpdateHandler, XdsResource } from '../ads/ads-client.ts';
import { resourceName, typeShortName } from '../ads/resource-names.ts';
import { parseConfigText } from '../proto/config-text.ts';
import { decodeJson, type ProtoJson } from '../proto/json.ts';

/** The wrapper Envoy also accepts around each resource (name + Any). */
const RESOURCE_WRAPPER = 'type.googleapis.com/envoy.service.discovery.v3.Resource';

/** Options of one file subscription. */
export interface FileSubscriptionOptions {
  /** The resource type the file holds. */
  readonly typeUrl: string;
  readonly path: string;
  /** Watch this directory instead of the file's own (any change in it re-reads the file). */
  readonly watchedDirectory?: string;
  /** Validates and applies; returns the reasons to reject, or [] to accept. */
  readonly onUpdate: UpdateHandler;
  /** Runs one refresh at a time, in order with the other sources' updates. */
  readonly schedule: (job: () => Promise<void>) => void;
  /** Extra checks before the handler sees the update (reasons to reject). */
  readonly check?: (typeUrl: string, resources: ReadonlyMap<string, XdsResource>) => string[];
  readonly stats: StatsScope;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Quiet time after the last file event before the re-read (default 50 ms). */
  readonly debounceMs?: number;
}

/**
 * Parses a DiscoveryResponse file's text (JSON by extension, YAML otherwise) as the
 * bootstrap's is parsed: integers a double cannot hold stay exact (config-text.ts).
 */
function parseText(text: string, file: string): unknown {
  if (/\.(pb|pb_text)$/i.test(file)) throw new ConfigError(file, 'binary and text-format protobuf files are not supported (use YAML or JSON)');
  return parseConfigText(text, file, 'a DiscoveryResponse');
}

/** Decodes the file into resources by name; throws ConfigError(s) naming the file. */
export function decodeDiscoveryFile(text: string, file: string, typeUrl: string): { versionInfo: string; resources: Map<string, XdsResource> } {
  // An in-place write is seen mid-way as an empty file; an empty
  // configuration is written `resources: []`.
  if (!text.trim()) throw new ConfigError(file, 'the file is empty (write `resources: []` for no resources)');
  const raw = parseText(text, file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, 'the file must be a DiscoveryResponse mapping (resources: [...])');
  let value: ProtoJson;
  try {
    value = decodeJson('envoy.service.discovery.v3.DiscoveryResponse', [raw]).value;
  } catch (e) {
    if (e instanceof ConfigErrors) throw new ConfigErrors(e.errors.map((x) => new ConfigError(x.path ? `${file}: ${x.path}` : file, x.reason)));
    throw e;
  }
  const versionInfo = typeof value['version_info'] === 'string' ? value['version_info'] : '';
  const resources = new Map<string, XdsResource>();
  const errors: ConfigError[] = [];
  const list = Array.isArray(value['resources']) ? (value['resources'] as ProtoJson[]) : [];
  list.forEach((any, i) => {
    let r = any;
    let wrappedName: string | undefined;
    if (r['@type'] === RESOURCE_WRAPPER) {
      wrappedName = typeof r['name'] === 'string' ? r['name'] : undefined;
      r = (r['resource'] as ProtoJson | undefined) ?? {};
    }
    if (r['@type'] !== typeUrl) {
      errors.push(new ConfigError(`${file}: resources[${i}]`, `type ${String(r['@type'])} where ${typeUrl} was expected`));
      return;
    }
    const resource: ProtoJson = { ...r };
    delete resource['@type'];
    const name = wrappedName || resourceName(typeUrl, resource);
    if (resources.has(name)) errors.push(new ConfigError(`${file}: resources[${i}]`, `duplicate resource name '${name}'`));
    resources.set(name, { name, version: versionInfo, value: resource });
  });
  if (errors.length) throw new ConfigErrors(errors);
  return { versionInfo, resources };
}

/** One watched file feeding one resource type. */
export class FileSubscription {
  private readonly opts: FileSubscriptionOptions;
  private readonly file: string;
  private readonly stats: { attempt: Counter; success: Counter; rejected: Counter; failure: Counter };
  private resources = new Map<string, XdsResource>();
  private versionInfo = '';
  /** Text of the last accepted file: an unchanged file is not re-applied (a rejected one is retried). */
  private acceptedText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending = false;
  private closed = false;

  constructor(opts: FileSubscriptionOptions) {
    this.opts = opts;
    this.file = resolve(opts.path);
    const short = typeShortName(opts.typeUrl);
    const s = opts.stats.scope(short === 'cds' ? 'cluster_manager.cds' : short === 'lds' ? 'listener_manager.lds' : short);
    this.stats = { attempt: s.counter('update_attempt'), success: s.counter('update_success'), rejected: s.counter('update_rejected'), failure: s.counter('update_failure') };
  }

  /** The accepted version_info. */
  version(): string {
    return this.versionInfo;
  }

  /** Reads the file now and watches for changes. */
  start(): void {
    if (this.closed || this.watcher) return;
    const dir = this.opts.watchedDirectory ? resolve(this.opts.watchedDirectory) : dirname(this.file);
    const name = basename(this.file);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Without watched_directory only our file's name matters; with it,
        // any move in the directory (a ConfigMap's ..data swap) re-reads.
        if (this.opts.watchedDirectory || !filename || filename === name) this.trigger();
      });
      this.watcher.on('error', (e) => this.opts.log.warn({ dir, err: e.message }, 'config file watch failed; updates to the file are not seen'));
    } catch (e) {
      this.opts.log.warn({ dir, err: (e as Error).message }, 'cannot watch the config directory; updates to the file are not seen');
    }
    this.enqueue();
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private trigger(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.enqueue(), this.opts.debounceMs ?? 50);
    this.timer.unref();
  }

  private enqueue(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    this.opts.schedule(async () => {
      this.pending = false;
      if (!this.closed) await this.refresh();
    });
  }

  private async refresh(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      this.stats.attempt.inc();
      this.stats.failure.inc();
      this.opts.log.warn({ type: typeShortName(this.opts.typeUrl), path: this.file, err: (e as Error).message }, 'cannot read the config file; keeping the last good config');
      return;
    }
    if (text === this.acceptedText) return;
    this.stats.attempt.inc();
    let errors: string[];
    let versionInfo = '';
    try {
      const decoded = decodeDiscoveryFile(text, this.file, this.opts.typeUrl);
      versionInfo = decoded.versionInfo;
      errors = this.opts.check?.(this.opts.typeUrl, decoded.resources) ?? [];
      if (!errors.length) {
        const update = diff(this.opts.typeUrl, this.resources, decoded.resources, versionInfo);
        errors = await this.opts.onUpdate(update);
        if (!errors.length) {
          this.resources = decoded.resources;
          this.versionInfo = versionInfo;
          this.acceptedText = text;
        }
      }
    } catch (e) {
      if (e instanceof ConfigError) errors = [e.message];
      else if (e instanceof ConfigErrors) errors = e.errors.map((x) => x.message);
      else errors = [`${this.file}: ${(e as Error).message}`];
    }
    if (errors.length) {
      this.stats.rejected.inc();
      this.opts.log.warn({ type: typeShortName(this.opts.typeUrl), path: this.file, version: versionInfo, errors }, 'config file rejected; keeping the last good config');
      return;
    }
    this.stats.success.inc();
    this.opts.log.info({ type: typeShortName(this.opts.typeUrl), path: this.file, version: versionInfo, resources: this.resources.size }, 'config file accepted');
  }
}

/** The update from the accepted state to the file's state (a file is always the whole state). */
function diff(typeUrl: string, before: ReadonlyMap<string, XdsResource>, after: ReadonlyMap<string, XdsResource>, versionInfo: string): TypeUpdate {
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [n, r] of after) {
    const prev = before.get(n);
    if (!prev || JSON.stringify(prev.value) !== JSON.stringify(r.value)) changed.push(n);
  }
  for (const n of before.keys()) if (!after.has(n)) removed.push(n);
  return { typeUrl, resources: after, changed, removed, received: [...after.keys()], versionInfo };
}
