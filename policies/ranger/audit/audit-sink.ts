/**
 * Where Ranger audit events go: JSON lines to a file (appended) or to
 * stdout, batched and bounded. `log()` only queues: events are written in
 * batches on the next turn of the event loop; while the output is behind
 * (more than `maxBufferedBytes` unwritten) the queue holds them; when the
 * queue is full (`maxQueue` events) new events are dropped and counted,
 * never blocking or failing a request.
 *
 * Stats under the given scope (`ranger.<service>.audit.`): logged, written,
 * dropped, write_errors (counters), queued (gauge).
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Counter, Gauge, StatsScope } from '../../../sidecar/contracts/stats.ts';

/** Bounds of a sink. */
export interface AuditSinkOptions {
  /** A file path, or `/dev/stdout` / `/dev/stderr`. */
  readonly path: string;
  /** Events queued before new ones are dropped (default 10,000). */
  readonly maxQueue?: number;
  /** Most events written in one batch (default 1,000). */
  readonly maxBatch?: number;
  /** Unwritten bytes the output may hold before the queue waits (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  readonly stats: StatsScope;
  /** The output stream instead of `path` (tests). */
  readonly out?: Writable;
}

/** A bounded, batched JSON-lines writer of audit events. */
export class AuditSink {
  private readonly out: Writable;
  private readonly owned: boolean;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;
  private queue: string[] = [];
  private scheduled = false;
  private waitingDrain = false;
  private closed = false;
  private readonly logged: Counter;
  private readonly written: Counter;
  private readonly dropped: Counter;
  private readonly writeErrors: Counter;
  private readonly queued: Gauge;

  constructor(opts: AuditSinkOptions) {
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
    const s = opts.stats;
    this.logged = s.counter('logged');
    this.written = s.counter('written');
    this.dropped = s.counter('dropped');
    this.writeErrors = s.counter('write_errors');
    this.queued = s.gauge('queued');
    if (opts.out) {
      this.out = opts.out;
      this.owned = false;
    } else if (opts.path === '/dev/stdout' || opts.path === '/dev/stderr') {
      this.out = opts.path === '/dev/stdout' ? process.stdout : process.stderr;
      this.owned = false;
    } else {
      this.out = createWriteStream(opts.path, { flags: 'a' });
      this.owned = true;
    }
    this.out.on('error', () => this.writeErrors.inc());
    this.out.on('drain', () => {
      this.waitingDrain = false;
      this.kick();
    });
  }

  /** Events waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues one event; drops (and counts) it when the queue is full. Never throws. */
  log(event: object): void {
    if (this.closed || this.queue.length >= this.maxQueue) {
      this.dropped.inc();
      return;
    }
    this.logged.inc();
    this.queue.push(`${JSON.stringify(event)}\n`);
    this.queued.set(this.queue.length);
    this.kick();
  }

  private kick(): void {
    if (this.scheduled || this.waitingDrain || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Writes queued events in batches while the output keeps up. */
  flush(): void {
    while (this.queue.length > 0 && !this.waitingDrain) {
      if (this.out.destroyed || this.out.writableEnded) {
        this.dropped.inc(this.queue.length);
        this.queue = [];
        break;
      }
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.out.write(batch.join(''));
      this.written.inc(batch.length);
      if (this.out.writableLength > this.maxBuffered) this.waitingDrain = true;
    }
    this.queued.set(this.queue.length);
  }

  /** Writes what is queued and, for files, closes. */
  async close(): Promise<void> {
    this.waitingDrain = false;
    this.flush();
    this.closed = true;
    if (!this.owned) return;
    await new Promise<void>((resolve) => this.out.end(() => resolve()));
  }
}
