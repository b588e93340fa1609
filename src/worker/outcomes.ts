/**
 * Outcome batching: completes and fails are written to the backend in batches (on a short
 * timer, or at once when `batchSize` are pending), never one round trip per job. A job counts as
 * done only when the backend's answer says so (at-least-once): until then it stays "recording",
 * its lease keeps being extended, and a failed write is retried with back-off.
 */
import type { Backend, CompleteItem, FailItem, OutcomeResult, ReleaseItem } from '../core/backend.js';
import type { WorkerLogger } from './logger.js';
import { crashNow, type Failpoint } from './failpoints.js';
import { errorMessage, loopBackoffMs, sleep } from './util.js';

export type OutcomeKind = 'complete' | 'fail';

export interface OutcomeEntry<T> {
  kind: OutcomeKind;
  item: CompleteItem | FailItem;
  owner: T;
}

export class OutcomeBatcher<T> {
  private queue: OutcomeEntry<T>[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** the timer is armed for an immediate flush */
  private timerImmediate = false;
  /** writes in flight (at most opts.maxWrites): a second batch goes out while the first is answered */
  private writing = new Set<Promise<void>>();
  private failures = 0;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly logger: WorkerLogger,
    private readonly onResult: (entry: OutcomeEntry<T>, result: OutcomeResult) => void,
    private readonly onFlushed: () => void,
    private readonly opts: {
      flushMs: number;
      batchSize: number;
      failpoint: Failpoint | null;
      /** awaited before each write: the job's own log lines go before its outcome's event lines */
      beforeWrite?: () => Promise<void>;
      /** writes in flight at once (default 2) */
      maxWrites?: number;
      /**
       * longest wait between retries of a failed write (default 5 s): pending outcomes hold their
       * jobs' slots, so a worker whose backend came back must not wait out a long back-off
       */
      retryCapMs?: number;
    },
  ) {}

  /** Outcomes not yet confirmed by the backend (queued or in flight). */
  inFlight = 0;

  get pending(): number {
    return this.queue.length;
  }

  private retryMs(): number {
    return loopBackoffMs(this.failures, this.opts.retryCapMs);
  }

  private get maxWrites(): number {
    return Math.max(1, this.opts.maxWrites ?? 2);
  }

  add(kind: OutcomeKind, item: CompleteItem | FailItem, owner: T): void {
    this.queue.push({ kind, item, owner });
    this.inFlight++;
    if (this.writing.size >= this.maxWrites) return; // the next write starts when one returns
    if (this.queue.length >= this.opts.batchSize && this.failures === 0) this.arm(0);
    else if (!this.timer) this.arm(this.failures ? this.retryMs() : this.opts.flushMs);
  }

  private arm(ms: number): void {
    if (this.timer) {
      // armed already: only an immediate flush replaces a later one (not another immediate one:
      // every add past batchSize asks for it while the write waits for its turn)
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
   * Start writing what is queued (up to the write limit). Resolves when the writes in flight
   * have returned (written, or failed and put back to be retried after a back-off).
   */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && this.writing.size < this.maxWrites) {
      const batch = this.queue.splice(0, 500);
      const p: Promise<void> = this.write(batch).finally(() => {
        this.writing.delete(p);
        this.onFlushed();
        if (this.queue.length && !this.closed) {
          if (this.failures) this.arm(this.retryMs());
          else if (this.queue.length >= this.opts.batchSize) void this.flush();
          else this.arm(this.opts.flushMs);
        }
      });
      this.writing.add(p);
      // after a failure, one write at a time until one succeeds
      if (this.failures > 0) break;
    }
    return Promise.all(this.writing).then(() => undefined);
  }

  private async write(batch: OutcomeEntry<T>[]): Promise<void> {
    const completes: OutcomeEntry<T>[] = [];
    const fails: OutcomeEntry<T>[] = [];
    // the items arrays are built by push, not by map: with map, the array's kind changed once this
    // caller was compiled, and the NATS backend's outcome code (EventBatches, fencedMany), compiled
    // for the first kind, was thrown away at the change and compiled again (a fresh worker's first
    // jobs; docs/benchmarks.md, session 15)
    const completeItems: CompleteItem[] = [];
    const failItems: FailItem[] = [];
    for (const e of batch) {
      if (e.kind === 'complete') {
        completes.push(e);
        completeItems.push(e.item as CompleteItem);
      } else {
        fails.push(e);
        failItems.push(e.item as FailItem);
      }
    }
    try {
      if (this.opts.beforeWrite) await this.opts.beforeWrite();
      if (this.opts.failpoint === 'before-ack') crashNow();
      if (completes.length) {
        const res = await this.backend.complete(completeItems);
        this.deliver(completes, res);
        completes.length = 0;
      }
      if (fails.length) {
        const res = await this.backend.fail(failItems);
        this.deliver(fails, res);
        fails.length = 0;
      }
      this.failures = 0;
      if (this.opts.failpoint === 'after-outcome') crashNow();
    } catch (e) {
      // put back what was not recorded, first in line, and retry after a back-off
      this.queue.unshift(...completes, ...fails);
      this.failures++;
      this.logger.log('warn', 'recording job outcomes failed; will retry', {
        error: errorMessage(e),
        pending: this.queue.length,
      });
    }
  }

  private deliver(entries: OutcomeEntry<T>[], results: OutcomeResult[]): void {
    const byId = new Map<string, OutcomeResult>();
    const inOrder = results.length === entries.length;
    if (!inOrder) for (const r of results) byId.set(r.id, r);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const r =
        inOrder && results[i]!.id === e.item.id ? results[i]! : (byId.get(e.item.id) ?? results.find((x) => x.id === e.item.id));
      this.inFlight--;
      this.onResult(e, r ?? { id: e.item.id, ok: false, reason: 'no answer from the backend' });
    }
  }

  /** Final flush on shutdown: keeps trying until `deadlineMs`, then gives up (leases expire, jobs get rescued). */
  async close(deadlineMs: number): Promise<OutcomeEntry<T>[]> {
    const until = Date.now() + deadlineMs;
    while (this.queue.length && Date.now() < until) {
      await this.flush();
      if (this.queue.length) await new Promise((r) => setTimeout(r, Math.min(this.retryMs(), Math.max(0, until - Date.now()))));
    }
    await Promise.all(this.writing);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const left = this.queue.splice(0);
    this.inFlight -= left.length;
    return left;
  }
}

/** Release jobs (shutdown), retrying backend errors until `deadlineMs`; null = could not be written. */
export async function releaseWithRetry(
  backend: Backend,
  logger: WorkerLogger,
  items: ReleaseItem[],
  deadlineMs: number,
): Promise<OutcomeResult[] | null> {
  const until = Date.now() + deadlineMs;
  for (let failures = 1; ; failures++) {
    try {
      return await backend.release(items);
    } catch (e) {
      logger.log('warn', 'releasing jobs failed', { error: errorMessage(e), jobs: items.length });
      if (Date.now() + 100 > until) {
        logger.log('error', 'could not release running jobs; they will be rescued after their lease expires', {
          jobs: items.map((x) => x.id),
        });
        return null;
      }
      await sleep(Math.min(loopBackoffMs(failures), until - Date.now()));
    }
  }
}
