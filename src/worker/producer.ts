/**
 * Producer: the claim loop. Claims up to the free capacity in one call (queues in weighted
 * random order per claim), hands the jobs to the executor, and when a claim comes back short it
 * waits on backend.waitForWork (push wake-up or the poll timeout) — it never busy-loops.
 *
 * Drain mode stops the loop when a claim finds nothing ready now and nothing is running (jobs
 * scheduled for later, including retries waiting out their back-off, are not waited for).
 * maxJobs stops claiming once that many jobs were claimed.
 */
import type { Backend } from '../core/backend.js';
import type { ClaimedJob } from '../core/job.js';
import type { Executor } from './executor.js';
import { crashNow, type Failpoint } from './failpoints.js';
import type { WorkerLogger } from './logger.js';
import { weightedOrder } from './queues.js';
import type { QueueWeight } from './types.js';
import { errorMessage, loopBackoffMs, Notifier, sleep } from './util.js';

export type ProducerEnd = 'stopped' | 'drained' | 'max-jobs';

export interface ProducerOptions {
  backend: Backend;
  executor: Executor;
  workerName: string;
  queues: QueueWeight[];
  leaseMs: number;
  pollMs: number;
  drain: boolean;
  maxJobs: number | null;
  failpoint: Failpoint | null;
  logger: WorkerLogger;
  onError: (where: string, e: unknown) => void;
}

export class Producer {
  private readonly ac = new AbortController();
  private readonly capacity = new Notifier();
  private loop: Promise<ProducerEnd> | null = null;
  claimed = 0;
  private readonly queueNames: string[];

  constructor(private readonly o: ProducerOptions) {
    this.queueNames = o.queues.map((q) => q.name);
  }

  /** Called when a slot frees or outcomes were written. */
  wake(): void {
    this.capacity.notify();
  }

  start(): Promise<ProducerEnd> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** Stop claiming (a claim in flight finishes and its jobs still run). */
  async stop(): Promise<void> {
    this.ac.abort();
    this.capacity.notify();
    if (this.loop) await this.loop;
  }

  private async run(): Promise<ProducerEnd> {
    const { backend, executor } = this.o;
    const signal = this.ac.signal;
    let failures = 0;
    while (!signal.aborted) {
      const maxLeft = this.o.maxJobs === null ? Infinity : this.o.maxJobs - this.claimed;
      if (maxLeft <= 0) {
        await executor.idle(signal);
        return signal.aborted ? 'stopped' : 'max-jobs';
      }
      const limit = Math.min(executor.capacity(), maxLeft);
      if (limit <= 0) {
        await this.capacity.wait(signal);
        // let other completions of this tick land so that the next claim is a batch
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      let jobs: ClaimedJob[];
      const claimedAt = Date.now();
      try {
        jobs = await backend.claim({
          workerId: this.o.workerName,
          queues: weightedOrder(this.o.queues),
          limit,
          leaseMs: this.o.leaseMs,
        });
        failures = 0;
      } catch (e) {
        failures++;
        this.o.onError('claim', e);
        this.o.logger.log('warn', 'claiming jobs failed; retrying', { error: errorMessage(e), attempt: failures });
        await sleep(loopBackoffMs(failures), signal);
        continue;
      }
      if (jobs.length > 0) {
        if (this.o.failpoint === 'after-claim') crashNow();
        this.claimed += jobs.length;
        for (const job of jobs) executor.start(job, claimedAt);
        if (jobs.length === limit) continue;
      }
      if (signal.aborted) break;
      if (this.o.drain && executor.runs.size === 0 && jobs.length === 0) return 'drained';
      if (this.o.drain) {
        // something is still running: claim again when it finishes (it may have unlocked more)
        if (executor.runs.size > 0) await this.waitForWorkOrCapacity(signal);
        continue; // then claim again: an empty claim with nothing running ends the drain
      }
      try {
        await backend.waitForWork(this.queueNames, this.o.pollMs, signal);
      } catch (e) {
        failures++;
        this.o.onError('waitForWork', e);
        await sleep(loopBackoffMs(failures), signal);
      }
    }
    return 'stopped';
  }

  private async waitForWorkOrCapacity(signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([
        this.capacity.wait(ac.signal),
        this.o.backend.waitForWork(this.queueNames, this.o.pollMs, ac.signal).catch(() => {}),
      ]);
    } finally {
      ac.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
