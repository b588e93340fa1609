/**
 * Rescuer: every rescueIntervalMs (±20 % jitter; the first pass runs during start, before
 * the first claim) asks the backend
 * to put orphaned jobs back (lease expired or worker dead), up to 100 per call, repeating while
 * full batches come back. What it rescued is logged.
 */
import type { Backend, RescueResult } from '../core/backend.js';
import type { LogBuffer } from './log-buffer.js';
import type { WorkerLogger } from './logger.js';
import { errorMessage } from './util.js';

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

  constructor(private readonly o: RescuerOptions) {}

  /** First pass now (awaited: orphans are back in their queue before the first claim), then periodic. */
  async start(): Promise<void> {
    await this.tick();
    this.schedule(Math.round(this.o.intervalMs * (0.8 + Math.random() * 0.4)));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule(Math.round(this.o.intervalMs * (0.8 + Math.random() * 0.4)));
      });
    }, ms);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    try {
      for (let round = 0; round < 10 && !this.stopped; round++) {
        const r = await this.o.backend.rescue({ limit: LIMIT });
        if (r.requeued.length || r.failed.length) this.report(r);
        if (r.requeued.length + r.failed.length < LIMIT) break;
      }
    } catch (e) {
      this.o.onError('rescue', e);
      this.o.logger.log('warn', 'rescuing orphaned jobs failed; will retry', { error: errorMessage(e) });
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
