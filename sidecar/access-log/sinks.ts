/**
 * The access log manager (Envoy's AccessLogManager): one append-only sink per
 * path, shared by every logger that names it, written asynchronously in
 * batches and bounded: when a sink cannot keep up, lines are dropped and
 * counted (`access_log_file.write_buffered` / `.dropped`) instead of
 * holding requests or memory. Owned by the server, flushed at shutdown.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Counter, Gauge, StatsScope } from '../contracts/stats.ts';

/** Bytes a sink may hold unwritten before it drops lines. */
const MAX_PENDING = 4 * 1024 * 1024;

/** One output. */
export class AccessLogSink {
  private readonly out: Writable;
  private readonly owned: boolean;
  private batch: string[] = [];
  private scheduled = false;
  private readonly dropped: Counter;
  private readonly buffered: Gauge;

  constructor(out: Writable, owned: boolean, stats: StatsScope) {
    this.out = out;
    this.owned = owned;
    this.dropped = stats.counter('dropped');
    this.buffered = stats.gauge('write_buffered');
    out.on('error', () => this.dropped.inc());
  }

  /** Queues one line (with its newline). Never blocks. */
  write(line: string): void {
    if (this.out.writableLength > MAX_PENDING) {
      this.dropped.inc();
      return;
    }
    this.batch.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is queued. */
  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const text = this.batch.join('');
    this.batch = [];
    this.out.write(text);
    this.buffered.set(this.out.writableLength);
  }

  /** Flushes and, for files, closes. */
  close(): Promise<void> {
    this.flush();
    if (!this.owned) return Promise.resolve();
    return new Promise((resolve) => (this.out as WriteStream).end(() => resolve()));
  }
}

/** Sinks by path. */
export class AccessLogManager {
  private readonly sinks = new Map<string, AccessLogSink>();
  private readonly stats: StatsScope;

  constructor(stats: StatsScope) {
    this.stats = stats.scope('access_log_file');
  }

  /** The sink for a path (`/dev/stdout` and `/dev/stderr` use the process streams). */
  sink(path: string): AccessLogSink {
    let s = this.sinks.get(path);
    if (!s) {
      if (path === '/dev/stdout') s = new AccessLogSink(process.stdout, false, this.stats);
      else if (path === '/dev/stderr') s = new AccessLogSink(process.stderr, false, this.stats);
      else s = new AccessLogSink(createWriteStream(path, { flags: 'a' }), true, this.stats);
      this.sinks.set(path, s);
    }
    return s;
  }

  /** Flushes and closes every sink. */
  async close(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.close()));
  }
}
