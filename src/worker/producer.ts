/**
 * Producer: the claim loop. Claims up to the free capacity (free slots + prefetch room) in one
 * call (queues in weighted random order per claim), hands the jobs to the executor, and when a
 * claim comes back short it waits on backend.waitForWork (push wake-up or the poll timeout) — it
 * never busy-loops. With prefetch, a second claim may be in flight while the last one came back
 * full (a backlog), so one round trip overlaps with the next; in-flight claims reserve their
 * limit against the capacity and against maxJobs, so neither is exceeded.
 *
 * Drain mode stops the loop when a claim finds nothing ready now and nothing is running (jobs
 * scheduled for later, including retries waiting out their back-off, are not waited for).
 * maxJobs stops claiming once that many jobs were claimed.
 */
import type { Backend } from '../core/backend.js';
import type { Executor } from './executor.js';
import { crashNow, type Failpoint } from './failpoints.js';
import type { WorkerLogger } from './logger.js';
import { weightedOrder } from './queues.js';
import type { QueueWeight } from './types.js';
import { backgroundFailureLevel, errorMessage, loopBackoffMs, Notifier, retryCapMs, sleep } from './util.js';

/**
 * How long a draining worker keeps claiming while its claims come back empty, stats show ready
 * jobs in its queues and their number does not go down (nobody makes progress on them).
 */
export const DRAIN_CONFIRM_MAX_MS = 30_000;
/**
 * While stats showed ready jobs, a draining worker whose claims come back empty claims again
 * every poll interval but asks stats again only this often: stats is a heavy call on some
 * backends (NATS: several ephemeral consumers), and 16 draining workers asking every second
 * saturated the server (reliability scenario 7).
 */
export const DRAIN_RECHECK_MS = 10_000;

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
  /** claims in flight at once (2 overlaps a claim with the next while there is a backlog) */
  maxInFlight: number;
  /** smallest limit worth a second, overlapping claim */
  minOverlapBatch: number;
  failpoint: Failpoint | null;
  /** false: do not claim now (the worker's heartbeat is stale and could not be written) */
  beforeClaim?: () => Promise<boolean>;
  /**
   * A claim took so long that its jobs' leases are partly spent (from before the call, as the
   * executor counts them): have their leases extended now rather than at the next heartbeat.
   */
  slowClaim?: () => void;
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

  /**
   * Drain: the last stats check that showed ready jobs after an empty claim (when, how many,
   * since when that number did not go down); null once a claim returns jobs.
   */
  private drainCheck: { at: number; ready: number; stuckSince: number } | null = null;

  /**
   * Drain: an empty claim ends it only when the backend also shows no ready job in these queues.
   * A claim can come back empty while jobs are ready (NATS: their messages sit in other
   * workers' pull windows for a moment, or the server answers a claim late under load; scenario
   * 7 at 100,000 jobs ended 16 drained workers with 27 jobs queued). While they are ready the
   * worker keeps claiming (stats asked again every DRAIN_RECHECK_MS); it ends anyway, with a
   * warning, when their number has not gone down for DRAIN_CONFIRM_MAX_MS (nobody can claim
   * them) — not while other workers are still working through them. A failed stats call is
   * no sign that nothing is ready (under load it timed out, and 7 of 16 NATS workers ended
   * their drain quietly with 13,000 jobs queued): a transient failure does not move the 30 s
   * along (the server was unreachable for 50 s in one run), any other counts as no progress.
   */
  private async nothingReady(signal: AbortSignal): Promise<boolean> {
    const last = this.drainCheck;
    if (last !== null && Date.now() - last.at < DRAIN_RECHECK_MS) return false;
    /** null: stats failed (unknown, which is no reason to end the drain) */
    let ready: number | null = 0;
    let error: unknown;
    try {
      const backend = this.o.backend;
      if (backend.readyJobs) ready = await backend.readyJobs(this.queueNames);
      else {
        const names = new Set(this.queueNames);
        const s = await backend.stats({});
        for (const q of s.queues) if (names.has(q.queue)) ready += q.queued;
      }
    } catch (e) {
      this.o.onError('stats', e);
      this.o.logger.log('debug', 'drain: stats failed; claiming again', { error: errorMessage(e) });
      ready = null;
      error = e;
    }
    if (ready === 0 || signal.aborted) return true;
    const now = Date.now();
    // progress: fewer ready jobs than last time; a transient stats failure (backend unreachable
    // or timed out) is neither progress nor its absence — the drain goes on, as it does while
    // claims fail — but any other stats error counts as no progress
    const transient = ready === null && backgroundFailureLevel(error, 1) === 'debug';
    const progressed = last === null || (ready !== null && ready < last.ready) || transient;
    const stuckSince = progressed ? now : last.stuckSince;
    this.drainCheck = { at: now, ready: ready ?? last?.ready ?? Infinity, stuckSince };
    if (now - stuckSince < DRAIN_CONFIRM_MAX_MS) return false;
    if (ready === null)
      this.o.logger.log('warn', 'drain: claims came back empty and stats could not be read; ending the drain', {
        error: errorMessage(error),
        for_ms: now - stuckSince,
      });
    else
      this.o.logger.log('warn', 'drain: claims came back empty while jobs stayed queued; ending the drain', {
        queued: ready,
        unchanged_for_ms: now - stuckSince,
      });
    return true;
  }

  private async run(): Promise<ProducerEnd> {
    const { backend, executor } = this.o;
    const signal = this.ac.signal;
    const maxInFlight = Math.max(1, this.o.maxInFlight);
    const inflight = new Set<Promise<void>>();
    /** sum of the limits of the claims in flight (reserved capacity and max-jobs room) */
    let pending = 0;
    let failures = 0;
    /** the last claim to finish came back full: more is probably ready (a second claim may overlap) */
    let backlog = false;
    /** the last claim to finish came back short, or empty */
    let short = false;
    let empty = false;

    /** a claim failed: back off before the next one */
    let retryWait = false;

    const claimOnce = (limit: number): void => {
      pending += limit;
      // deferred a tick so that `p` is in the set before its finally runs
      const p: Promise<void> = Promise.resolve().then(async () => {
        try {
          if (this.o.beforeClaim && !(await this.o.beforeClaim()))
            throw new Error('not claiming: the worker heartbeat is stale and could not be written');
          const claimedAt = Date.now();
          const jobs = await backend.claim({
            workerId: this.o.workerName,
            queues: weightedOrder(this.o.queues),
            limit,
            leaseMs: this.o.leaseMs,
          });
          failures = 0;
          if (jobs.length > 0) {
            if (this.o.failpoint === 'after-claim') crashNow();
            this.claimed += jobs.length;
            executor.accept(jobs, claimedAt);
            // a third of the lease gone before the jobs were even handed over: at the next
            // regular heartbeat (up to a third later) little or nothing would be left
            if (Date.now() - claimedAt > this.o.leaseMs / 3) this.o.slowClaim?.();
          }
          backlog = jobs.length === limit;
          short = jobs.length < limit;
          empty = jobs.length === 0;
          if (!empty) this.drainCheck = null;
        } catch (e) {
          failures++;
          retryWait = true;
          backlog = false;
          this.o.onError('claim', e);
          // one timed-out claim under load is retried at once: a warning when it persists
          this.o.logger.log(backgroundFailureLevel(e, failures), 'claiming jobs failed; retrying', {
            error: errorMessage(e),
            attempt: failures,
          });
        } finally {
          pending -= limit;
          inflight.delete(p);
          this.capacity.notify();
        }
      });
      inflight.add(p);
    };

    try {
      while (!signal.aborted) {
        if (inflight.size === 0) {
          if (retryWait) {
            retryWait = false;
            // at most a quarter lease, however many claims failed during an outage: once the
            // backend is back the worker claims again within that (a back-off grown to 3–6 s
            // kept both workers of reliability scenario 4 on NATS idle past the limbo bound)
            await sleep(loopBackoffMs(failures, retryCapMs(this.o.leaseMs)), signal);
            if (signal.aborted) break;
            // fall through: claim again (failures is reset by the next successful claim)
          } else if (short) {
            short = false;
            if (this.o.drain) {
              if (empty && executor.runs.size === 0) {
                if (await this.nothingReady(signal)) return 'drained';
                await sleep(this.o.pollMs, signal);
                continue;
              }
              // something is still running: claim again when it finishes (it may have unlocked more)
              if (executor.runs.size > 0) await this.waitForWorkOrCapacity(signal);
              continue; // then claim again: an empty claim with nothing running ends the drain
            }
            try {
              await backend.waitForWork(this.queueNames, this.o.pollMs, signal);
            } catch (e) {
              failures++;
              this.o.onError('waitForWork', e);
              await sleep(loopBackoffMs(failures, retryCapMs(this.o.leaseMs)), signal);
              failures = 0;
            }
            continue;
          }
        }
        if (this.o.maxJobs !== null && this.claimed >= this.o.maxJobs) {
          await Promise.all(inflight);
          await executor.idle(signal);
          return signal.aborted ? 'stopped' : 'max-jobs';
        }
        const maxLeft = this.o.maxJobs === null ? Infinity : this.o.maxJobs - this.claimed - pending;
        const limit = Math.min(executor.capacity() - pending, maxLeft);
        // a second claim overlaps only while there is a backlog, and only for a worthwhile batch
        const canClaim =
          limit > 0 &&
          (inflight.size === 0 || (inflight.size < maxInFlight && backlog && !short && limit >= this.o.minOverlapBatch));
        if (canClaim && !(retryWait || (failures > 0 && inflight.size > 0))) {
          claimOnce(limit);
          continue;
        }
        // wait for a claim to finish or a slot to free
        await Promise.race([...inflight, this.capacity.wait(signal)]);
        // let other completions of this tick land so that the next claim is a batch
        await new Promise<void>((r) => setImmediate(r));
      }
      return 'stopped';
    } finally {
      // a claim in flight finishes and its jobs are handed over (shutdown releases what did not start)
      await Promise.all(inflight);
    }
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
