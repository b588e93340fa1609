/**
 * Heartbeat: every heartbeatMs, extend the leases of every job this worker holds (one call) and
 * heartbeat the worker record (registering again when the backend lost it). Jobs the backend
 * reports lost are aborted and never recorded; jobs whose lease ran out locally because the
 * backend could not be reached are treated the same way. Backend errors are retried sooner with
 * back-off and never stop the worker; a transient one (unreachable, timed out) is logged as a
 * warning only when the retry fails too (backgroundFailureLevel), any other error at once.
 */
import type { Backend, WorkerInfo } from '../core/backend.js';
import type { Executor } from './executor.js';
import type { WorkerLogger } from './logger.js';
import { backgroundFailureLevel, errorMessage, loopBackoffMs } from './util.js';

export interface HeartbeatOptions {
  backend: Backend;
  executor: Executor;
  info: WorkerInfo;
  leaseMs: number;
  heartbeatMs: number;
  /** a heartbeat older than this is stale: the worker claims nothing until one is written (see ensureFresh) */
  freshMs: number;
  logger: WorkerLogger;
  onError: (where: string, e: unknown) => void;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;
  /** a warning was logged for the current run of failures */
  private warned = false;
  /** start of the last round whose worker heartbeat was written (registration counts) */
  private lastOkAt = 0;

  constructor(private readonly o: HeartbeatOptions) {}

  /** Right after registerWorker (which wrote the first heartbeat). */
  start(): void {
    this.lastOkAt = Date.now();
    this.schedule(this.o.heartbeatMs);
  }

  /**
   * Before a claim: is the worker record fresh? When the last heartbeat written is older than
   * freshMs (the backend could not be reached, e.g. it was paused), write one first. Claiming
   * with a stale record would let any rescuer count the new claims as orphaned (worker dead)
   * and hand them to another run while this one runs them.
   */
  async ensureFresh(): Promise<boolean> {
    const fresh = () => Date.now() - this.lastOkAt < this.o.freshMs;
    if (fresh()) return true;
    // a round in flight may have started before the outage: then one more
    if (this.running) await this.running;
    if (!fresh()) await this.tick();
    return fresh();
  }

  /**
   * Run a round as soon as possible (after the one in flight, if any): jobs just claimed by a
   * slow claim get their leases extended before they run out.
   */
  soon(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true; // the round in flight may have listed the runs before these jobs came
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule(0);
  }

  /** soon() was asked for while a round ran: the next one follows at once */
  private again = false;

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
        const next = this.again ? 0 : this.o.heartbeatMs;
        this.again = false;
        this.schedule(this.failures ? Math.min(next, loopBackoffMs(this.failures)) : next);
      });
    }, ms);
  }

  /** One round: extend leases, heartbeat the worker. Exposed for tests. */
  async tick(): Promise<void> {
    const { backend, executor, info } = this.o;
    const startedAt = Date.now();
    try {
      const runs = executor.leaseHolders();
      if (runs.length > 0) {
        const t0 = Date.now();
        const { lost } = await backend.extendLeases({
          workerId: info.name,
          leaseMs: this.o.leaseMs,
          jobs: runs.map((r) => ({ id: r.job.id, attempt: r.job.attempt })),
        });
        const lostSet = new Set(lost);
        for (const r of runs) if (!lostSet.has(r.job.id)) r.leaseUntil = t0 + this.o.leaseMs;
        if (lost.length)
          executor.markLost(
            runs.filter((r) => lostSet.has(r.job.id)),
            'the backend no longer gives this worker the job (cancelled, reset or rescued)',
          );
      }
      const known = await backend.heartbeatWorker(info.name, executor.running);
      if (!known) {
        this.o.logger.log('warn', 'worker record was gone; registering again', { worker: info.name });
        await backend.registerWorker(info);
      }
      this.lastOkAt = startedAt;
      if (this.warned) this.o.logger.log('info', 'heartbeat recovered', { worker: info.name, after_failures: this.failures });
      this.failures = 0;
      this.warned = false;
    } catch (e) {
      this.failures++;
      this.o.onError('heartbeat', e);
      const level = backgroundFailureLevel(e, this.failures);
      if (level === 'warn') this.warned = true;
      this.o.logger.log(level, 'heartbeat failed; retrying', { error: errorMessage(e), attempt: this.failures });
    } finally {
      executor.expireLocal(Date.now());
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }
}
