/**
 * Producer and worker operations: enqueue, claim, outcomes (fenced by id + attempt + worker),
 * lease extension, progress, rescue. Each call is one transaction, batches included.
 */
import type {
  ClaimParams,
  ClaimRef,
  CompleteItem,
  EnqueueResult,
  ExtendLeasesParams,
  FailItem,
  OutcomeResult,
  ReleaseItem,
  RescueResult,
} from '../../core/backend.js';
import { JobctlError } from '../../core/errors.js';
import { jobFromNew, type ClaimedJob, type NewJob } from '../../core/job.js';
import { appendError, compareIds, toJob, toJsonText, toKey, type FactsRow, type JobRow, type StoredState } from './rows.js';
import type { Store } from './store.js';

interface ClaimFacts {
  attempts: number;
  max_attempts: number;
  errors: string | null;
  last_error: string | null;
  queue: string;
}

export function enqueue(s: Store, jobs: NewJob[]): EnqueueResult[] {
  const now = Date.now();
  return s.write(() =>
    jobs.map((j): EnqueueResult => {
      const runAt = j.runAt ?? now;
      const row = s.get<{ id: string }>('insertJob', {
        queue: j.queue,
        name: j.name,
        payload: j.payloadJson,
        priority: j.priority,
        maxAttempts: j.maxAttempts,
        runAt,
        timeoutMs: j.timeoutMs,
        uniqueKey: j.uniqueKey,
        now,
      });
      if (row) return { job: jobFromNew(row.id, j, now, runAt), created: true };
      const existing = j.uniqueKey === null ? undefined : s.get<JobRow>('getJobByUniqueKey', { uniqueKey: j.uniqueKey });
      if (!existing)
        throw new JobctlError('enqueue inserted nothing and found no job holding its unique key', {
          code: 'internal',
          exitCode: 1,
        });
      return { job: toJob(existing, now), created: false };
    }),
  );
}

const byClaimOrder = (a: JobRow, b: JobRow) => a.priority - b.priority || a.run_at - b.run_at || compareIds(a.id, b.id);

export function claim(s: Store, p: ClaimParams): ClaimedJob[] {
  if (p.limit <= 0 || p.queues.length === 0) return [];
  const now = Date.now();
  const leaseUntil = now + Math.max(0, p.leaseMs);
  const queues = [...new Set(p.queues)];
  const rows = s.write(() => {
    const out: JobRow[] = [];
    for (const queue of queues) {
      const left = p.limit - out.length;
      if (left <= 0) break;
      const got = s.all<JobRow>('claimJobs', { queue, limit: left, workerId: p.workerId, leaseUntil, now });
      if (got.length > 1) got.sort(byClaimOrder);
      for (const r of got) out.push(r);
    }
    return out;
  });
  return rows.map((r) => {
    const job = toJob(r, now) as ClaimedJob;
    job.attempt = r.attempts;
    return job;
  });
}

function fence(ref: ClaimRef): { id: bigint; attempt: number; workerId: string } | null {
  const id = toKey(ref.id);
  return id === null ? null : { id, attempt: ref.attempt, workerId: ref.workerId };
}

/** Why an outcome was refused: the job is gone, or someone else holds it now. */
function lostReason(s: Store, ref: ClaimRef): string {
  const id = toKey(ref.id);
  const row = id === null ? undefined : s.get<JobRow>('getJob', { id });
  if (!row) return 'not found';
  if (row.state !== 'running') return `claim lost: the job is ${row.state}`;
  return `claim lost: the job is held by ${row.worker_id ?? 'nobody'} (attempt ${row.attempts})`;
}

export function complete(s: Store, items: CompleteItem[]): OutcomeResult[] {
  const now = Date.now();
  return s.write(() =>
    items.map((it): OutcomeResult => {
      const f = fence(it);
      if (f && s.run('completeJob', { ...f, result: toJsonText(it.result), now }) === 1)
        return { id: it.id, ok: true, state: 'completed' };
      return { id: it.id, ok: false, reason: lostReason(s, it) };
    }),
  );
}

/** A failed attempt: retried after retryDelayMs while attempts remain, else failed. */
export function fail(s: Store, items: FailItem[]): { results: OutcomeResult[]; retried: boolean } {
  const now = Date.now();
  let retried = false;
  const results = s.write(() =>
    items.map((it): OutcomeResult => {
      const f = fence(it);
      const c = f ? s.get<ClaimFacts>('getClaim', f) : undefined;
      if (!f || !c) return { id: it.id, ok: false, reason: lostReason(s, it) };
      const errors = appendError(c.errors, { attempt: c.attempts, at: now, message: it.error });
      if (it.final === true || c.attempts >= c.max_attempts) {
        s.run('failRunning', { ...f, errors, lastError: it.error, now });
        return { id: it.id, ok: true, state: 'failed' };
      }
      const delay = Math.max(0, Math.floor(it.retryDelayMs) || 0);
      s.run('requeueRunning', { ...f, runAt: now + delay, errors, lastError: it.error, now });
      retried = true;
      return { id: it.id, ok: true, state: delay > 0 ? 'scheduled' : 'queued' };
    }),
  );
  return { results, retried };
}

/** Give claims back: queued now with the attempt counted; failed when it was the last one (notStarted: attempt given back). */
export function release(s: Store, items: ReleaseItem[]): OutcomeResult[] {
  const now = Date.now();
  return s.write(() =>
    items.map((it): OutcomeResult => {
      const f = fence(it);
      const c = f ? s.get<ClaimFacts>('getClaim', f) : undefined;
      if (!f || !c) return { id: it.id, ok: false, reason: lostReason(s, it) };
      if (it.notStarted) {
        s.run('unclaimRunning', { ...f, now });
        return { id: it.id, ok: true, state: 'queued' };
      }
      if (c.attempts >= c.max_attempts) {
        const errors = appendError(c.errors, { attempt: c.attempts, at: now, message: it.reason });
        s.run('failRunning', { ...f, errors, lastError: it.reason, now });
        return { id: it.id, ok: true, state: 'failed' };
      }
      s.run('requeueRunning', { ...f, runAt: now, errors: c.errors, lastError: c.last_error, now });
      return { id: it.id, ok: true, state: 'queued' };
    }),
  );
}

export function extendLeases(s: Store, p: ExtendLeasesParams): { lost: string[] } {
  if (p.jobs.length === 0) return { lost: [] };
  const leaseUntil = Date.now() + Math.max(0, p.leaseMs);
  return s.write(() => {
    const lost: string[] = [];
    for (const j of p.jobs) {
      const f = fence({ id: j.id, attempt: j.attempt, workerId: p.workerId });
      if (!f || s.run('extendLease', { ...f, leaseUntil }) !== 1) lost.push(j.id);
    }
    return { lost };
  });
}

export function setProgress(s: Store, ref: ClaimRef, progress: unknown): boolean {
  const f = fence(ref);
  if (!f) return false;
  const now = Date.now();
  return s.write(() => s.run('setProgress', { ...f, progress: toJsonText(progress), now }) === 1);
}

/** Why a running job counts as orphaned, for its error list. */
export function orphanReason(r: FactsRow, now: number): string {
  const who = r.worker_id ?? 'unknown worker';
  if (r.lease_expires_at !== null && r.lease_expires_at <= now && r.worker_alive) {
    return `lease expired at ${new Date(r.lease_expires_at).toISOString()} (worker ${who} did not renew it)`;
  }
  if (!r.worker_alive) return `lease expired: worker ${who} is dead or gone`;
  return `lease expired (worker ${who})`;
}

/**
 * Put a running job back to queued now (attempt counted, error appended), or fail it when
 * `failIfLast` and it used its last attempt. Fenced by the facts read in the same transaction.
 */
export function putBack(s: Store, r: FactsRow, message: string, now: number, failIfLast: boolean): StoredState | null {
  const errors = appendError(r.errors, { attempt: r.attempts, at: now, message });
  const key = { id: BigInt(r.id), attempt: r.attempts, workerId: r.worker_id, errors, lastError: message, now };
  if (failIfLast && r.attempts >= r.max_attempts) return s.run('failRunning', key) === 1 ? 'failed' : null;
  return s.run('requeueRunning', { ...key, runAt: now }) === 1 ? 'queued' : null;
}

export function rescue(s: Store, limit: number): RescueResult {
  const now = Date.now();
  return s.write(() => {
    const out: RescueResult = { requeued: [], failed: [] };
    if (limit <= 0) return out;
    for (const r of s.all<FactsRow>('selectOrphaned', { now, queue: null, limit })) {
      const state = putBack(s, r, orphanReason(r, now), now, true);
      if (state === 'failed') out.failed.push(r.id);
      else if (state === 'queued') out.requeued.push(r.id);
    }
    return out;
  });
}
