/**
 * Rescuer: every rescueIntervalMs (±20 % jitter; the first pass runs during start, before
 * the first claim) asks the backend
 * to put orphaned jobs back (lease expired or worker dead), up to 100 per call, repeating while
 * full batches come back. What it rescued is logged. A failed pass is retried sooner, with
 * back-off (0.8 s, 1.6 s … up to the interval); a transient failure (the backend unreachable or
 * timed out) is logged as a warning only when the next pass fails too (backgroundFailureLevel).
 * Workers take turns where a pass is expensive (NATS, RescueParams.turn): a pass is skipped when
 * another worker ran one less than half an interval ago, so that an orphan waits at most about
 * 1.7 intervals (half an interval, then the next worker's tick, at most 1.2 intervals later) after
 * its lease expired instead of 1.2, and the namespace sees about two passes per interval instead
 * of one per worker.
 */
import type { Backend, RescueResult } from '../core/backend.js';
import type { LogBuffer } from './log-buffer.js';
import type { WorkerLogger } from './logger.js';
import { backgroundFailureLevel, errorMessage, loopBackoffMs } from './util.js';

export interface RescuerOptions {
  backend: Backend;
  workerName: string;
  intervalMs: number;
  logger: WorkerLogger;
  logs: LogBuffer;
  onRescued: (r: RescueResult) => void;
  onError: (where: string, e: unknown) => void;
}

const LIMIT = 100;

export class Rescuer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** failed passes in a row */
  private failures = 0;
  /** a warning was logged for the current run of failures */
  private warned = false;

  /** Backends with an expensive pass take turns: one pass per half interval in the namespace. */
  private readonly turn: { by: string; withinMs: number };

  constructor(private readonly o: RescuerOptions) {
    this.turn = { by: o.workerName, withinMs: Math.floor(o.intervalMs / 2) };
  }

  /** First pass now (awaited: orphans are back in their queue before the first claim), then periodic. */
  async start(): Promise<void> {
    await this.tick();
    this.schedule(this.nextDelay());
  }

  /** The interval (±20 %); after a failed pass, sooner with back-off. */
  private nextDelay(): number {
    const interval = Math.round(this.o.intervalMs * (0.8 + Math.random() * 0.4));
    return this.failures ? Math.min(interval, loopBackoffMs(this.failures + 3, this.o.intervalMs)) : interval;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule(this.nextDelay());
      });
    }, ms);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    try {
      for (let round = 0; round < 10 && !this.stopped; round++) {
        const r = await this.o.backend.rescue({ limit: LIMIT, turn: this.turn });
        if (r.skipped) break; // another worker's pass ran within half an interval
        if (r.requeued.length || r.failed.length) this.report(r);
        if (r.requeued.length + r.failed.length < LIMIT) break;
      }
      if (this.warned) this.o.logger.log('info', 'rescuing orphaned jobs works again', { after_failures: this.failures });
      this.failures = 0;
      this.warned = false;
    } catch (e) {
      this.failures++;
      this.o.onError('rescue', e);
      const level = backgroundFailureLevel(e, this.failures);
      if (level === 'warn') this.warned = true;
      this.o.logger.log(level, 'rescuing orphaned jobs failed; will retry', { error: errorMessage(e), attempt: this.failures });
    }
  }

  private report(r: RescueResult): void {
    this.o.logger.log('info', 'rescued orphaned jobs', {
      requeued: r.requeued.length,
      failed: r.failed.length,
      ids: [...r.requeued, ...r.failed].slice(0, 20).join(','),
    });
    const worker = this.o.workerName;
    for (const id of r.requeued)
      this.o.logs.push({
        jobId: id,
        worker,
        queue: null,
        stream: 'event',
        message: `rescued by ${worker}: orphaned (lease expired or worker dead), queued again`,
      });
    for (const id of r.failed)
      this.o.logs.push({
        jobId: id,
        worker,
        queue: null,
        stream: 'event',
        message: `rescued by ${worker}: orphaned on its last attempt, now failed`,
      });
    this.o.onRescued(r);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }
}
