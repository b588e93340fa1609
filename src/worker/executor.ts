/**
 * Executor: runs claimed jobs (module handlers or `--exec`), enforces timeouts, aborts jobs
 * whose claim was lost, hands outcomes to the batcher and turns the backend's answers into the
 * summary, events and lifecycle log lines.
 *
 * A run goes `buffered` (prefetched, not started) → `running` → `recording` (outcome queued or
 * being written) → `done`. Its lease is extended while it is not done.
 *
 * Prefetch: the producer may claim up to `prefetch` jobs beyond the free slots; they wait in a
 * FIFO buffer (holding their leases, extended by the heartbeat) and start as slots free, so a
 * claim round trip overlaps with running jobs. Their timeout starts when they start running.
 * Backends set started_at at claim, so a job's time in the buffer shows in its age (and the
 * `stuck` view): keep `prefetch` small relative to job timeouts. On shutdown buffered jobs are
 * released without running with `notStarted`: the backend gives their attempt back, so a job
 * that never ran loses nothing. A concurrency slot is held while the handler runs; a module
 * handler that ignores its aborted signal after a timeout or a lost lease gives its slot back
 * at once (the attempt is recorded as failed without waiting for it; such a handler keeps
 * running in the background until it settles, and its result is ignored). An exec job holds its
 * slot until its process group is gone (SIGTERM, then SIGKILL after killGraceMs).
 */
import type { EventEmitter } from 'node:events';
import type { Backend, ClaimRef, CompleteItem, FailItem, OutcomeEvents, OutcomeResult, ReleaseItem } from '../core/backend.js';
import { retryDelayMs, type BackoffOptions } from '../core/backoff.js';
import { formatDuration } from '../core/durations.js';
import type { ClaimedJob } from '../core/job.js';
import { DeadlineTimer } from './deadlines.js';
import { execErrorText, runExec, type ExecHandle, type ExecResult } from './exec-runner.js';
import { crashNow, type Failpoint } from './failpoints.js';
import { callHandler, checkResult, RunContext, type ContextShared, type Settled } from './handlers.js';
import type { LogBuffer } from './log-buffer.js';
import type { WorkerLogger } from './logger.js';
import { OutcomeBatcher, releaseWithRetry, type OutcomeEntry } from './outcomes.js';
import type { Handler, OutputLimits, WorkerSummary } from './types.js';
import { errorText, LazyAbort, Notifier, retryCapMs, sleep } from './util.js';

type AbortReason = 'timeout' | 'lost' | 'shutdown';
type Phase = 'buffered' | 'running' | 'recording' | 'done';

export interface Run {
  job: ClaimedJob;
  ref: ClaimRef;
  ctrl: LazyAbort;
  startedAt: number;
  deadline: number;
  leaseUntil: number;
  phase: Phase;
  claimedAt: number;
  abortReason: AbortReason | null;
  holdsSlot: boolean;
  exec?: ExecHandle;
  logLines: number;
  /** the `claimed` event line is held back, to go out with the job's next line (see holdClaim) */
  claimHeld: boolean;
  /** set when the handler settled after a shutdown abort */
  shutdownResult?: Settled;
  onSettled?: () => void;
}

export interface ExecutorOptions {
  backend: Backend;
  workerName: string;
  concurrency: number;
  /** jobs claimed ahead of free slots (0 = claim only free slots) */
  prefetch: number;
  /** the prefetch may grow to this while jobs are short (see prefetchNow); = prefetch: fixed */
  prefetchMax: number;
  /** write the per-job `claimed` / `completed` event lines */
  jobEvents: boolean;
  leaseMs: number;
  killGraceMs: number;
  backoff: BackoffOptions;
  handlers?: Map<string, Handler>;
  exec?: { command: string; env: NodeJS.ProcessEnv };
  limits: OutputLimits;
  secrets: readonly string[];
  failpoint: Failpoint | null;
  logger: WorkerLogger;
  logs: LogBuffer;
  emitter: EventEmitter;
  summary: WorkerSummary;
  /** a slot was freed or outcomes were written: the producer may claim again */
  onCapacity: () => void;
}

/** A prefetched job should wait about this long or less for a slot (see prefetchNow). */
const PREFETCH_WAIT_MS = 25;

/** Longest a `claimed` line is held back waiting to share an append with the job's next line. */
const CLAIM_LINE_HOLD_MS = 100;

/** How long a run took so far (since it started, or since its claim when it never started). */
const tookText = (run: Run): string => formatDuration(Date.now() - (run.startedAt || run.claimedAt));

const firstLine = (s: string, max = 300) => {
  const nl = s.indexOf('\n');
  const l = nl === -1 ? s : s.slice(0, nl);
  return l.length > max ? `${l.slice(0, max)}…` : l;
};

export class Executor {
  readonly runs = new Map<string, Run>();
  slotsUsed = 0;
  readonly batcher: OutcomeBatcher<Run>;
  private readonly deadlines: DeadlineTimer<Run>;
  private readonly changed = new Notifier();
  private readonly handlerNames: string;
  /** prefetched runs not started yet, in claim order */
  private buffer: Run[] = [];
  /** shutdown began: start nothing more from the buffer (see releaseBuffered) */
  private draining = false;
  private pumping = false;
  /** runs whose `claimed` line is held back, in claim order */
  private readonly heldClaims = new Set<Run>();
  private claimSweep: NodeJS.Timeout | null = null;
  /** what every module handler's ctx shares */
  private readonly ctxShared: ContextShared;

  constructor(private readonly o: ExecutorOptions) {
    this.batcher = new OutcomeBatcher<Run>(
      o.backend,
      o.logger,
      (e, r) => this.onRecorded(e, r),
      () => o.onCapacity(),
      {
        flushMs: 2,
        batchSize: Math.max(50, o.concurrency),
        failpoint: o.failpoint,
        beforeWrite: () => o.logs.barrier(),
        // failed writes are retried at least every quarter lease: after a backend outage the
        // outcomes are recorded (or their claims found lost) well within a lease, not after a
        // back-off of seconds during which the held jobs' slots stay full (reliability
        // scenario 4 on NATS: the job enqueued during the outage waited ~3 s longer)
        retryCapMs: retryCapMs(o.leaseMs),
      },
    );
    this.deadlines = new DeadlineTimer<Run>(
      () => this.runs.values(),
      (r) => r.phase !== 'running' || r.abortReason !== null,
      (r) => this.onTimeout(r),
    );
    this.handlerNames = o.handlers ? [...o.handlers.keys()].sort().join(', ') : '';
    this.ctxShared = {
      workerName: o.workerName,
      limits: o.limits,
      line: (run, line) => {
        this.flushClaim(run as Run);
        this.o.logs.push(line);
      },
      backend: o.backend,
      logger: o.logger,
    };
  }

  /** How many more jobs may be claimed now (free slots + prefetch room, bounded by outcomes not yet written). */
  capacity(): number {
    if (this.draining) return 0;
    const prefetch = this.prefetchNow();
    const want = this.o.concurrency + prefetch - this.slotsUsed - this.buffer.length;
    // outcomes not yet written still hold leases: bound them, but let one write overlap the next claim
    const room = 2 * (this.o.concurrency + prefetch) + 100 - this.runs.size;
    return Math.max(0, Math.min(want, room));
  }

  /**
   * The prefetch to use now: `prefetch`, or more (up to `prefetchMax`) while jobs are short. A
   * prefetched job waits about (its place in the buffer) × (run time) / concurrency for a slot,
   * so the buffer may hold as many jobs as keep that near PREFETCH_WAIT_MS. Bigger claims of
   * short jobs mean fewer claim and outcome round trips per job.
   */
  prefetchNow(): number {
    const { prefetch, prefetchMax } = this.o;
    if (prefetchMax <= prefetch || this.avgRunMs === null) return prefetch;
    const fit = this.avgRunMs <= 0 ? prefetchMax : Math.floor((PREFETCH_WAIT_MS * this.o.concurrency) / this.avgRunMs);
    return Math.max(prefetch, Math.min(prefetchMax, fit));
  }

  /** Moving average of handler run times in ms (null until a run finished). */
  private avgRunMs: number | null = null;

  private sampleRunTime(ms: number): void {
    this.avgRunMs = this.avgRunMs === null ? ms : this.avgRunMs + (ms - this.avgRunMs) / 16;
  }

  /** Prefetched jobs waiting for a slot. */
  get buffered(): number {
    return this.buffer.length;
  }

  get running(): number {
    return this.slotsUsed;
  }

  /** Runs whose lease must be kept (running or outcome not yet recorded). */
  leaseHolders(): Run[] {
    return [...this.runs.values()];
  }

  /** Take claimed jobs: they start at once when slots are free, else wait in the buffer. */
  accept(jobs: readonly ClaimedJob[], claimedAt: number): void {
    for (const job of jobs) {
      const run: Run = {
        job,
        ref: { id: job.id, attempt: job.attempt, workerId: this.o.workerName },
        ctrl: new LazyAbort(),
        startedAt: 0,
        deadline: Infinity,
        leaseUntil: claimedAt + this.o.leaseMs,
        phase: 'buffered',
        claimedAt,
        abortReason: null,
        holdsSlot: false,
        logLines: 0,
        claimHeld: false,
      };
      // (an earlier attempt of this job still here is one whose outcome is being written: the
      // backend gave the job out again, so that write will be refused; see finish)
      this.runs.set(job.id, run);
      this.buffer.push(run);
      if (this.o.jobEvents) this.holdClaim(run);
      this.o.emitter.emit('claimed', job);
    }
    this.pump();
  }

  /**
   * The `claimed` line is held back (with its claim-time ts) until the job's next line (output
   * or outcome event) or for at most CLAIM_LINE_HOLD_MS, so that a short job's claimed and
   * completed lines go to the backend in one append (one entry per stream instead of two). The
   * line is made only when it is written (most short jobs fold it into their `completed` line).
   */
  private holdClaim(run: Run): void {
    run.claimHeld = true;
    this.heldClaims.add(run);
    if (!this.claimSweep) {
      this.claimSweep = setInterval(() => this.sweepClaims(Date.now() - CLAIM_LINE_HOLD_MS), CLAIM_LINE_HOLD_MS / 2);
      this.claimSweep.unref();
    }
  }

  /** Stop holding this run's `claimed` line; false when none was held. */
  private takeClaim(run: Run): boolean {
    if (!run.claimHeld) return false;
    run.claimHeld = false;
    this.heldClaims.delete(run);
    return true;
  }

  private flushClaim(run: Run): void {
    if (!this.takeClaim(run)) return;
    const { job } = run;
    this.o.logs.push({
      jobId: job.id,
      worker: this.o.workerName,
      queue: job.queue,
      stream: 'event',
      message: `claimed (attempt ${job.attempt} of ${job.maxAttempts})`,
      ts: run.claimedAt,
    });
  }

  /** Write held `claimed` lines claimed before `before` (all when Infinity). */
  private sweepClaims(before: number): void {
    for (const run of this.heldClaims) {
      if (run.claimedAt >= before) break;
      this.flushClaim(run);
    }
    if (this.heldClaims.size === 0 && this.claimSweep) {
      clearInterval(this.claimSweep);
      this.claimSweep = null;
    }
  }

  /** Start buffered runs while slots are free (a loop, not recursion: sync handlers free slots at once). */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.slotsUsed < this.o.concurrency && this.buffer.length > 0) {
        const run = this.buffer.shift()!;
        if (run.phase === 'buffered') this.start(run);
      }
    } finally {
      this.pumping = false;
    }
  }

  private start(run: Run): void {
    const now = Date.now();
    const { job } = run;
    run.startedAt = now;
    run.deadline = now + job.timeoutMs;
    run.phase = 'running';
    run.holdsSlot = true;
    this.slotsUsed++;
    if (job.payloadError) {
      this.freeSlot(run);
      this.record(run, { ok: false, error: job.payloadError }, true);
      return;
    }
    this.deadlines.track(run.deadline);
    if (this.o.exec) this.startExec(run, this.o.exec);
    else this.startModule(run);
  }

  private startModule(run: Run): void {
    const fn = this.o.handlers?.get(run.job.name);
    if (!fn) {
      this.onSettled(run, {
        ok: false,
        error: `no handler for job "${run.job.name}" in this worker (handlers: ${this.handlerNames || 'none'})`,
      });
      return;
    }
    callHandler(fn, run.job.payload, new RunContext(run, this.ctxShared), (s) => this.onSettled(run, s));
  }

  private onSettled(run: Run, s: Settled): void {
    if (this.o.failpoint === 'after-handler') crashNow();
    if (run.abortReason === 'shutdown') {
      run.shutdownResult = s;
      run.onSettled?.();
      return;
    }
    if (run.phase !== 'running') return; // timed out or lost: already handled, result ignored
    this.freeSlot(run);
    this.record(run, s, false);
  }

  private startExec(run: Run, exec: { command: string; env: NodeJS.ProcessEnv }): void {
    const { job } = run;
    const logs = this.o.logs;
    const worker = this.o.workerName;
    run.exec = runExec(exec.command, job, {
      env: exec.env,
      limits: this.o.limits,
      killGraceMs: this.o.killGraceMs,
      secrets: this.o.secrets,
      sink: {
        line: (stream, message) => {
          this.flushClaim(run);
          return logs.push({ jobId: job.id, worker, queue: job.queue, stream, message });
        },
        whenDrained: () => logs.whenDrained(),
      },
    });
    void run.exec.result.then((r) => this.onExecExit(run, r));
  }

  private onExecExit(run: Run, r: ExecResult): void {
    if (this.o.failpoint === 'after-handler') crashNow();
    this.freeSlot(run);
    if (run.phase !== 'running') return; // lost
    const ok = !r.spawnError && r.signal === null && r.code === 0;
    if (run.abortReason === 'shutdown') {
      run.shutdownResult = ok ? { ok: true, value: null } : { ok: false, error: execErrorText(r) };
      run.onSettled?.();
      return;
    }
    if (run.abortReason === 'timeout') this.record(run, { ok: false, error: execErrorText(r, run.job.timeoutMs) }, false);
    else this.record(run, ok ? { ok: true, value: null } : { ok: false, error: execErrorText(r) }, false);
  }

  private onTimeout(run: Run): void {
    if (run.phase !== 'running' || run.abortReason !== null) return;
    run.abortReason = 'timeout';
    const text = `timed out after ${formatDuration(run.job.timeoutMs)}`;
    run.ctrl.abort(new Error(text));
    this.event(run, `${text}: aborting`);
    this.o.logger.log('warn', 'job timed out', { job: run.job.id, name: run.job.name, timeout_ms: run.job.timeoutMs });
    this.o.emitter.emit('timeout', run.job);
    if (run.exec) {
      run.exec.terminate(this.o.killGraceMs);
    } else {
      this.freeSlot(run);
      this.record(run, { ok: false, error: `${text} (the handler was aborted)` }, false);
    }
  }

  private freeSlot(run: Run): void {
    if (!run.holdsSlot) return;
    run.holdsSlot = false;
    this.slotsUsed--;
    if (this.o.prefetchMax > this.o.prefetch) this.sampleRunTime(Date.now() - run.startedAt);
    this.pump();
    this.changed.notify();
    this.o.onCapacity();
  }

  private record(run: Run, s: Settled, final: boolean): void {
    run.phase = 'recording';
    const { ref } = run;
    if (s.ok) {
      const c = checkResult(s.value);
      if (c.error === undefined) {
        const events = this.completedEvents(run);
        const item: CompleteItem = events
          ? { id: ref.id, attempt: ref.attempt, workerId: ref.workerId, result: c.result, events }
          : { id: ref.id, attempt: ref.attempt, workerId: ref.workerId, result: c.result };
        this.batcher.add('complete', item, run);
        return;
      }
      s = { ok: false, error: c.error };
    }
    const item: FailItem = {
      id: ref.id,
      attempt: ref.attempt,
      workerId: ref.workerId,
      error: errorText(s.error),
      retryDelayMs: retryDelayMs(run.job.attempt, this.o.backoff),
    };
    if (final) item.final = true;
    this.batcher.add('fail', item, run);
  }

  /**
   * The job's `completed` line goes with the outcome: the backend writes it in the same call, and
   * only if the outcome is recorded. When the `claimed` line is still held back (a short job with
   * no output), the one line says both: `completed in 3ms (attempt 1 of 5)` — one log row per
   * job instead of two.
   */
  private completedEvents(run: Run): OutcomeEvents | undefined {
    if (!this.o.jobEvents) return undefined;
    const merged = this.takeClaim(run);
    const now = Date.now();
    const took = formatDuration(now - (run.startedAt || run.claimedAt));
    const { attempt, maxAttempts } = run.job;
    const message = merged
      ? `completed in ${took} (attempt ${attempt} of ${maxAttempts})`
      : `completed in ${took} (attempt ${attempt})`;
    return { queue: run.job.queue, lines: [{ ts: now, message }] };
  }

  private onRecorded(e: OutcomeEntry<Run>, r: OutcomeResult): void {
    const run = e.owner;
    if (run.phase === 'done') return;
    this.finish(run);
    const { job } = run;
    if (!r.ok) {
      this.lost(run, r.reason ?? 'the claim was lost');
      return;
    }
    if (e.kind === 'complete') {
      this.o.summary.completed++;
      this.o.emitter.emit('completed', job, (e.item as { result?: unknown }).result);
      if (this.o.logger.debugEnabled)
        this.o.logger.log('debug', 'job completed', { job: job.id, name: job.name, took: tookText(run) });
      return;
    }
    const item = e.item as { error: string; retryDelayMs: number; final?: boolean };
    const retry = r.state !== 'failed' && r.state !== 'cancelled';
    if (retry) {
      this.o.summary.retried++;
      this.event(
        run,
        `retried: attempt ${job.attempt} of ${job.maxAttempts} failed after ${tookText(run)}; next try in ${formatDuration(item.retryDelayMs)}: ${firstLine(item.error)}`,
      );
    } else {
      this.o.summary.failed++;
      const why = item.final ? 'not retried' : `attempt ${job.attempt} of ${job.maxAttempts}, giving up`;
      this.event(run, `failed (${why}) after ${tookText(run)}: ${firstLine(item.error)}`);
    }
    this.o.logger.log('warn', retry ? 'job attempt failed; retrying' : 'job failed', {
      job: job.id,
      name: job.name,
      attempt: job.attempt,
      error: firstLine(item.error),
      ...(retry ? { retry_in_ms: item.retryDelayMs } : {}),
    });
    this.o.emitter.emit('failed', job, item.error, { retry });
  }

  private finish(run: Run): void {
    run.phase = 'done';
    // only this run: the job may have been claimed again by this worker (a later attempt) while
    // this one's outcome was being written, and the later run must keep its place (its lease
    // extended by the heartbeat, found by markLost, counted by idle and capacity)
    if (this.runs.get(run.job.id) === run) this.runs.delete(run.job.id);
    this.changed.notify();
  }

  private lost(run: Run, reason: string): void {
    this.o.summary.lost++;
    this.event(run, `lost claim (attempt ${run.job.attempt}): ${reason}; no outcome recorded`);
    this.o.logger.log('warn', 'lost claim', { job: run.job.id, name: run.job.name, attempt: run.job.attempt, reason });
    this.o.emitter.emit('lost', run.job, reason);
  }

  /**
   * The backend says these claims are gone (cancelled, reset, rescued elsewhere): abort, record
   * nothing. The runs themselves (as asked about), not their job ids: a later attempt of the same
   * job claimed by this worker since is not the claim that was lost.
   */
  markLost(runs: readonly Run[], reason: string): void {
    for (const run of runs) {
      // a run whose outcome is being written is decided by that write's (fenced) answer
      if (run.phase !== 'running' && run.phase !== 'buffered') continue;
      this.abandon(run, reason);
    }
  }

  private abandon(run: Run, reason: string): void {
    run.abortReason = 'lost';
    if (run.phase === 'buffered') this.unbuffer(run);
    this.finish(run);
    run.ctrl.abort(new Error(`lease lost: ${reason}`));
    if (run.exec) run.exec.terminate(this.o.killGraceMs);
    else this.freeSlot(run);
    this.lost(run, reason);
  }

  /** Leases we could not extend in time are treated as lost (we may no longer hold them). */
  expireLocal(now: number): void {
    for (const run of this.runs.values()) {
      if ((run.phase === 'running' || run.phase === 'buffered') && run.leaseUntil < now)
        this.abandon(run, 'lease expired before it could be extended');
    }
  }

  /** Resolves when nothing is running or being recorded. */
  async idle(signal?: AbortSignal): Promise<void> {
    while (this.runs.size > 0 && !signal?.aborted) await this.changed.wait(signal);
  }

  private unbuffer(run: Run): void {
    const i = this.buffer.indexOf(run);
    if (i !== -1) this.buffer.splice(i, 1);
  }

  /**
   * Shutdown, first step: start nothing more from the buffer and release the prefetched jobs
   * without running them (`notStarted`: their attempt is given back).
   */
  async releaseBuffered(reason: string, deadlineMs: number): Promise<void> {
    this.draining = true;
    const out = this.buffer.filter((run) => run.phase === 'buffered');
    this.buffer = [];
    if (out.length === 0) return;
    for (const run of out) run.phase = 'recording'; // not startable, not abandoned by markLost
    await this.releaseAll(
      out.map((run) => ({ run, item: { ...run.ref, reason: `${reason} (prefetched, not started)`, notStarted: true } })),
      deadlineMs,
    );
  }

  /**
   * Shutdown: abort what still runs, give handlers killGraceMs to settle (exec: SIGTERM, then
   * SIGKILL), complete the ones that succeeded anyway, release the rest (attempt counted).
   * `force` = no waiting: SIGKILL exec groups and release at once.
   */
  async abortAll(force: boolean, forced: AbortSignal, reason: string): Promise<void> {
    await this.releaseBuffered(reason, force ? 2000 : 10_000);
    const victims = [...this.runs.values()].filter((r) => r.phase === 'running');
    if (victims.length === 0) return;
    const settled: Promise<void>[] = [];
    for (const run of victims) {
      run.abortReason = 'shutdown';
      settled.push(new Promise<void>((res) => (run.onSettled = res)));
      run.ctrl.abort(new Error(reason));
      run.exec?.terminate(force ? 0 : this.o.killGraceMs);
    }
    if (!force) {
      const onForce = () => victims.forEach((r) => r.exec?.terminate(0));
      forced.addEventListener('abort', onForce, { once: true });
      await Promise.race([Promise.all(settled), sleep(this.o.killGraceMs + 1000, forced)]);
      forced.removeEventListener('abort', onForce);
    }
    const releases: { run: Run; item: ReleaseItem }[] = [];
    for (const run of victims) {
      if (run.phase !== 'running') continue;
      this.freeSlot(run);
      if (run.shutdownResult?.ok) this.record(run, run.shutdownResult, false);
      else releases.push({ run, item: { ...run.ref, reason } });
    }
    await this.releaseAll(releases, force ? 2000 : 10_000);
  }

  private async releaseAll(list: { run: Run; item: ReleaseItem }[], deadlineMs: number): Promise<void> {
    if (list.length === 0) return;
    const res = await releaseWithRetry(
      this.o.backend,
      this.o.logger,
      list.map((x) => x.item),
      deadlineMs,
    );
    const byId = new Map((res ?? []).map((r) => [r.id, r]));
    for (const { run, item } of list) {
      this.finish(run);
      if (res === null) continue; // not written: the lease expires and the job is rescued
      const r = byId.get(run.job.id);
      if (r?.ok) {
        this.o.summary.released++;
        this.event(
          run,
          item.notStarted
            ? `released, not started (attempt given back): ${item.reason}`
            : `released (attempt ${run.job.attempt} of ${run.job.maxAttempts} counted): ${item.reason}`,
        );
        this.o.emitter.emit('released', run.job);
      } else this.lost(run, r?.reason ?? 'the claim was lost');
    }
  }

  /** Write what is left; outcomes that cannot be written in time are left to lease expiry. */
  async close(deadlineMs: number): Promise<void> {
    this.deadlines.stop();
    this.sweepClaims(Infinity);
    const left = await this.batcher.close(deadlineMs);
    if (left.length) {
      this.o.logger.log('error', 'could not record job outcomes; the jobs will be rescued after their lease expires', {
        jobs: left.map((e) => e.item.id),
      });
      for (const e of left) this.finish(e.owner);
    }
  }

  event(run: Run | null, message: string): void {
    if (run) this.flushClaim(run);
    this.o.logs.push({
      jobId: run ? run.job.id : null,
      worker: this.o.workerName,
      queue: run ? run.job.queue : null,
      stream: 'event',
      message,
    });
  }
}
