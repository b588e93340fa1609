/**
 * Batched writes of job output and lifecycle events to the backend (appendLogs).
 *
 * Lines are buffered and written in batches (every `flushMs`, or at once when `batchLines` are
 * pending), never one write per line. Memory is bounded: past `highWaterChars` push() returns
 * false and exec output streams pause until whenDrained(); past `hardMaxLines` new lines are
 * dropped (counted, then reported in one line). Backend errors are retried with back-off.
 */
import type { Backend, LogInput } from '../core/backend.js';
import type { WorkerLogger } from './logger.js';
import { errorMessage, loopBackoffMs, Notifier } from './util.js';

export interface LogBufferOptions {
  flushMs?: number;
  batchLines?: number;
  highWaterChars?: number;
  hardMaxLines?: number;
}

export class LogBuffer {
  private pending: LogInput[] = [];
  private pendingChars = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  /** the timer is armed for an immediate flush */
  private timerImmediate = false;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private readonly drained = new Notifier();
  private readonly enabled: boolean;
  private readonly flushMs: number;
  private readonly batchLines: number;
  private readonly highWater: number;
  private readonly hardMax: number;
  private stopped = false;
  /** lines accepted by push() / lines written, since the start (for barrier()) */
  private pushed = 0;
  private written = 0;
  /** `pushed` as it was after the last line of a job (jobId set): what barrier() waits for */
  private pushedJobLines = 0;

  constructor(
    private readonly backend: Backend,
    private readonly logger: WorkerLogger,
    opts: LogBufferOptions = {},
  ) {
    this.enabled = backend.capabilities.has('logs');
    this.flushMs = opts.flushMs ?? 50;
    this.batchLines = opts.batchLines ?? 2000;
    this.highWater = opts.highWaterChars ?? 4 * 1024 * 1024;
    this.hardMax = opts.hardMaxLines ?? 100_000;
  }

  get size(): number {
    return this.pending.length;
  }

  /** Queue a line. false = over the high-water mark: pause the producer of output. */
  push(line: LogInput): boolean {
    if (!this.enabled) return true;
    if (this.pending.length >= this.hardMax) {
      this.dropped++;
      return false;
    }
    if (line.ts === undefined) line.ts = Date.now();
    this.pending.push(line);
    this.pushed++;
    if (line.jobId !== null) this.pushedJobLines = this.pushed;
    this.pendingChars += line.message.length;
    if (this.pending.length >= this.batchLines) this.schedule(0);
    else if (!this.timer) this.schedule(this.flushMs);
    return this.pendingChars < this.highWater;
  }

  get overHighWater(): boolean {
    return this.pendingChars >= this.highWater || this.pending.length >= this.hardMax;
  }

  /** Resolves when the buffer is below the high-water mark again. */
  async whenDrained(): Promise<void> {
    while (this.overHighWater && !this.stopped) await this.drained.wait();
  }

  private schedule(ms: number): void {
    if (this.flushing || this.stopped) return;
    if (this.timer) {
      // an immediate flush replaces a later one, not another immediate one
      if (ms > 0 || this.timerImmediate) return;
      clearTimeout(this.timer);
    }
    this.timerImmediate = ms <= 0;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  /**
   * Resolves once every job's line pushed before this call is written (lines pushed later do not
   * delay it; lines are written in order, so so is everything before them), or as soon as a write
   * fails (a failing log store never holds up job outcomes). Worker lines pushed after the last
   * job line (jobId null: `started`, rescue summaries) are not waited for: no outcome is about
   * them, and a worker's first outcomes waited ~50–100 ms for its `started` line (flushMs).
   */
  async barrier(): Promise<void> {
    const target = this.pushedJobLines;
    if (!this.enabled || this.written >= target || this.stopped) return;
    this.schedule(0);
    const failuresBefore = this.failures;
    while (this.written < target && !this.stopped) {
      if (this.failures > failuresBefore || (this.failures > 0 && !this.flushing)) return;
      await this.drained.wait();
    }
  }

  /** Write everything pending now (one batch after another). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.length ? this.flush() : undefined));
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0 && this.dropped === 0) return Promise.resolve();
    this.flushing = this.writeAll().finally(() => {
      this.flushing = null;
      this.drained.notify();
      if (this.pending.length && !this.stopped) this.schedule(this.failures ? loopBackoffMs(this.failures) : this.flushMs);
    });
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length || this.dropped) {
      if (this.dropped) {
        const n = this.dropped;
        this.dropped = 0;
        this.pending.push({
          jobId: null,
          worker: null,
          queue: null,
          stream: 'event',
          message: `[${n} log lines dropped: log buffer full]`,
          ts: Date.now(),
        });
      }
      const batch = this.pending.slice(0, 5000);
      try {
        await this.backend.appendLogs(batch);
        this.failures = 0;
      } catch (e) {
        this.failures++;
        this.logger.log('warn', 'writing logs failed; will retry', { error: errorMessage(e), pending: this.pending.length });
        return;
      }
      this.pending.splice(0, batch.length);
      this.written += batch.length;
      let chars = 0;
      for (const l of batch) chars += l.message.length;
      this.pendingChars = Math.max(0, this.pendingChars - chars);
      this.drained.notify();
    }
  }

  /** Final flush on shutdown: tries for up to `deadlineMs`, then gives up (lines are lost, jobs are not). */
  async close(deadlineMs = 5000): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.pending.length || this.dropped) && Date.now() < until) {
      await this.flush();
      if (this.pending.length)
        await new Promise((r) => setTimeout(r, Math.min(loopBackoffMs(this.failures), Math.max(0, until - Date.now()))));
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.drained.notify();
  }
}
