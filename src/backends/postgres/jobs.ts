/**
 * Producer and worker paths: bulk enqueue (one statement per chunk), claim (one statement),
 * batched fenced outcomes, leases, progress, rescue.
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
import { jobFromNew, stampNewJob, type ClaimedJob, type Job, type JobState, type NewJob } from '../../core/job.js';
import { KEPT_ERRORS, logsChannelNow, notifyLogsLater, q, qSent, type PgContext } from './context.js';
import { isCanonicalId, toClaimedJob, toJob, type ClaimTuple, type JobRow } from './rows.js';

/** Rows per enqueue statement (bounded parameter size); a bigger batch is several statements. */
const ENQUEUE_CHUNK = 5000;

interface EnqueueRow {
  ord: number;
  id: string | null;
  created: boolean;
  now: number;
}

/** A column's values, or the one value of all (a one-element array, see enqueue-jobs-plain.sql and complete-jobs.sql). */
function column<I, T>(items: I[], get: (it: I) => T): T[] {
  if (items.length === 0) return [];
  const first = get(items[0]!);
  for (let i = 1; i < items.length; i++) if (get(items[i]!) !== first) return items.map(get);
  return [first];
}

export async function enqueue(ctx: PgContext, jobs: NewJob[]): Promise<EnqueueResult[]> {
  const out: EnqueueResult[] = [];
  for (let i = 0; i < jobs.length; i += ENQUEUE_CHUNK) out.push(...(await enqueueChunk(ctx, jobs.slice(i, i + ENQUEUE_CHUNK))));
  return out;
}

async function enqueueChunk(ctx: PgContext, jobs: NewJob[]): Promise<EnqueueResult[]> {
  if (jobs.every((j) => j.uniqueKey === null)) return enqueuePlain(ctx, jobs);
  const results: (EnqueueResult | undefined)[] = new Array(jobs.length);
  let todo = jobs.map((_, i) => i);
  for (let round = 0; todo.length > 0; round++) {
    if (round >= 5)
      throw new JobctlError('enqueue kept racing with jobs finishing that held its unique keys; try again', {
        code: 'internal',
        exitCode: 1,
      });
    const batch = todo.map((i) => jobs[i]!);
    const rows = await q<EnqueueRow>(ctx, 'enqueueJobs', [
      batch.map((j) => j.queue),
      batch.map((j) => j.name),
      batch.map((j) => j.payloadJson),
      batch.map((j) => j.priority),
      batch.map((j) => j.runAt),
      batch.map((j) => j.maxAttempts),
      batch.map((j) => j.timeoutMs),
      batch.map((j) => j.uniqueKey),
      ctx.channels.work,
    ]);
    const existingIds: string[] = [];
    const missingKeys: string[] = [];
    for (const r of rows) {
      const k = todo[r.ord - 1]!;
      const j = jobs[k]!;
      if (r.created && r.id !== null) results[k] = { job: jobFromNew(r.id, j, r.now), created: true };
      else if (r.id !== null) existingIds.push(r.id);
      else if (j.uniqueKey !== null) missingKeys.push(j.uniqueKey);
    }
    // unique-key matches: the holders as they are now (a holder inserted by a transaction that
    // committed after the statement started is looked up by key in a new snapshot)
    const holders = new Map<string, Job>();
    if (existingIds.length || missingKeys.length) {
      const found = [
        ...(existingIds.length ? await q<JobRow>(ctx, 'getJobs', [existingIds]) : []),
        ...(missingKeys.length ? await q<JobRow>(ctx, 'getUnfinishedByKeys', [missingKeys]) : []),
      ];
      for (const r of found) if (r.unique_key !== null) holders.set(r.unique_key, toJob(r));
    }
    const next: number[] = [];
    for (const k of todo) {
      if (results[k]) continue;
      const holder = holders.get(jobs[k]!.uniqueKey ?? '');
      if (holder) results[k] = { job: holder, created: false };
      else next.push(k); // the holder finished meanwhile: the key is free, insert again
    }
    todo = next;
  }
  return results as EnqueueResult[];
}

/** The payloads as one JSON array text (each payloadJson is already JSON): see enqueue-jobs-plain.sql. */
function payloadArray(jobs: NewJob[]): string {
  let out = '[';
  for (let i = 0; i < jobs.length; i++) out += (i ? ',' : '') + jobs[i]!.payloadJson;
  return out + ']';
}

/**
 * n consecutive ids from `first` (decimal text), as text: numbers while they are exact, BigInt
 * beyond 2^53 (bigserial ids go to 2^63 - 1).
 */
export function idRange(first: string, n: number): string[] {
  const lo = Number(first);
  if (Number.isSafeInteger(lo + n)) return Array.from({ length: n }, (_, i) => String(lo + i));
  const big = BigInt(first);
  return Array.from({ length: n }, (_, i) => String(big + BigInt(i)));
}

/** No unique keys: every row is inserted; ids ascend in input order. */
async function enqueuePlain(ctx: PgContext, jobs: NewJob[]): Promise<EnqueueResult[]> {
  const payloads = payloadArray(jobs);
  const sent = await qSent<{ first_id: string | null; n: number; ids: string | null; now_ms: number }>(ctx, 'enqueueJobsPlain', [
    column(jobs, (j) => j.queue),
    column(jobs, (j) => j.name),
    payloads,
    column(jobs, (j) => j.priority),
    column(jobs, (j) => j.runAt),
    column(jobs, (j) => j.maxAttempts),
    column(jobs, (j) => j.timeoutMs),
    ctx.channels.work,
  ]);
  // while the server inserts: the reported jobs, their payloads parsed in one go (each payloadJson
  // came from JSON.stringify); ids and times are filled in from the answer
  const values = JSON.parse(payloads) as unknown[];
  const reported = jobs.map((j, i) => jobFromNew('', j, 0, 0, { payload: values[i] }));
  const r = (await sent.rows)[0];
  const n = r ? Number(r.n) : 0;
  if (!r?.first_id || n !== jobs.length)
    throw new JobctlError(`enqueue inserted ${n} of ${jobs.length} jobs`, { code: 'internal', exitCode: 1 });
  const ids = r.ids === null ? idRange(r.first_id, n) : r.ids.split(',');
  const now = Math.floor(r.now_ms);
  return reported.map((job, i) => ({ job: stampNewJob(job, jobs[i]!, ids[i]!, now), created: true }));
}

export async function claim(ctx: PgContext, p: ClaimParams): Promise<ClaimedJob[]> {
  if (p.limit <= 0 || p.queues.length === 0) return [];
  const rows = await q<{ jobs: string | null; now_ms: number }>(ctx, 'claimJobs', [
    p.queues,
    Math.floor(p.limit),
    p.workerId,
    p.leaseMs,
  ]);
  const r = rows[0];
  if (!r?.jobs) return [];
  const now = Math.floor(r.now_ms);
  return (JSON.parse(r.jobs) as ClaimTuple[]).map((t) => toClaimedJob(t, p.workerId, p.leaseMs, now));
}

/** Postgres text cannot hold NUL. */
export const stripNul = (s: string): string => (s.includes('\u0000') ? s.replace(/\u0000/g, '') : s);

/** Claim refs whose id cannot exist are answered without asking the database. */
const valid = <T extends { id: string }>(items: T[]) => items.filter((it) => isCanonicalId(it.id));

const LOST =
  'claim lost: the job is no longer running under this attempt and worker (rescued, reset, cancelled or claimed again)';

type Done = Map<string, JobState>;
const refKey = (r: { id: string; attempt: number; worker_id?: string | null; workerId?: string }) =>
  `${r.id}:${r.attempt}:${r.worker_id ?? r.workerId ?? ''}`;

function answer(items: ClaimRef[], done: Done): OutcomeResult[] {
  return items.map((it) => {
    const state = done.get(refKey(it));
    return state ? { id: it.id, ok: true, state } : { id: it.id, ok: false, reason: LOST };
  });
}

/**
 * Postgres can hold no NUL: not in text, not as \u0000 in jsonb strings. A handler's result or
 * error with one would make the whole outcome batch fail, over and over (every job of the
 * worker stuck in running): NULs are dropped from what a worker records, as from log lines.
 */
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;
const jsonWithoutNul = (text: string): string => (text.includes('\\u0000') ? text.replace(JSON_NUL, '$1') : text);
const textWithoutNul = (text: string): string => (text.includes('\u0000') ? text.replace(/\u0000/g, '') : text);

export async function complete(ctx: PgContext, items: CompleteItem[]): Promise<OutcomeResult[]> {
  const v = valid(items);
  const done: Done = new Map();
  if (v.length) {
    // event lines travel with the outcome: written by the same statement, only when it is recorded.
    // An item's one line (the worker's `completed …`) is kept on the job's row (complete-jobs.sql);
    // several lines go to the logs table.
    const item: number[] = [];
    const ts: number[] = [];
    const queue: string[] = [];
    const message: string[] = [];
    let kept: (string | null)[] = [];
    v.forEach((it, i) => {
      if (!it.events) return;
      if (it.events.lines.length === 1) {
        if (kept.length === 0) kept = v.map(() => null);
        kept[i] = stripNul(it.events.lines[0]!.message);
        return;
      }
      for (const l of it.events.lines) {
        item.push(i + 1);
        ts.push(l.ts);
        queue.push(it.events.queue);
        message.push(stripNul(l.message));
      }
    });
    const lines = kept.length > 0 || item.length > 0;
    const channel = lines ? logsChannelNow(ctx) : null;
    const rows = await q<{ items: string | null }>(ctx, 'completeJobs', [
      v.map((it) => it.id),
      v.map((it) => it.attempt),
      column(v, (it) => it.workerId),
      column(
        v.map((it) => (it.result === undefined ? null : jsonWithoutNul(JSON.stringify(it.result)))),
        (x) => x,
      ),
      item,
      ts,
      column(queue, (x) => x),
      message,
      channel,
      kept,
    ]);
    const recorded = rows[0]?.items?.split(',');
    if (lines && channel === null && recorded) notifyLogsLater(ctx);
    // every item recorded (the common case): answered by position, without a key per item
    if (recorded?.length === items.length) return items.map((it) => ({ id: it.id, ok: true, state: 'completed' }));
    if (recorded) for (const k of recorded) done.set(refKey(v[Number(k) - 1]!), 'completed');
  }
  return answer(items, done);
}

export async function fail(ctx: PgContext, items: FailItem[]): Promise<OutcomeResult[]> {
  const v = valid(items);
  const done: Done = new Map();
  if (v.length) {
    const rows = await q<{ id: string; attempt: number; worker_id: string; state: string; scheduled: boolean }>(ctx, 'failJobs', [
      v.map((it) => it.id),
      v.map((it) => it.attempt),
      v.map((it) => it.workerId),
      v.map((it) => textWithoutNul(it.error)),
      v.map((it) => Math.max(0, it.retryDelayMs)),
      v.map((it) => it.final === true),
      KEPT_ERRORS,
      ctx.channels.work,
    ]);
    for (const r of rows) done.set(refKey(r), r.state === 'queued' && r.scheduled ? 'scheduled' : (r.state as JobState));
  }
  return answer(items, done);
}

export async function release(ctx: PgContext, items: ReleaseItem[]): Promise<OutcomeResult[]> {
  const v = valid(items);
  const done: Done = new Map();
  if (v.length) {
    const rows = await q<{ id: string; attempt: number; worker_id: string; state: string }>(ctx, 'releaseJobs', [
      v.map((it) => it.id),
      v.map((it) => it.attempt),
      v.map((it) => it.workerId),
      v.map((it) => it.reason),
      KEPT_ERRORS,
      ctx.channels.work,
      v.map((it) => it.notStarted === true),
    ]);
    for (const r of rows) done.set(refKey(r), r.state as JobState);
  }
  return answer(items, done);
}

export async function extendLeases(ctx: PgContext, p: ExtendLeasesParams): Promise<{ lost: string[] }> {
  const v = valid(p.jobs);
  const kept = new Set<string>();
  if (v.length) {
    const rows = await q<{ id: string; attempt: number }>(ctx, 'extendLeases', [
      v.map((j) => j.id),
      v.map((j) => j.attempt),
      p.workerId,
      p.leaseMs,
    ]);
    for (const r of rows) kept.add(`${r.id}:${r.attempt}`);
  }
  return { lost: p.jobs.filter((j) => !kept.has(`${j.id}:${j.attempt}`)).map((j) => j.id) };
}

/** A ready (queued, due) job in one of `queues`? */
export async function anyReady(ctx: PgContext, queues: readonly string[]): Promise<boolean> {
  const rows = await q<{ ready: boolean }>(ctx, 'anyReady', [queues]);
  return rows[0]?.ready === true;
}

export async function setProgress(ctx: PgContext, ref: ClaimRef, progress: unknown): Promise<boolean> {
  if (!isCanonicalId(ref.id)) return false;
  const rows = await q<{ id: string }>(ctx, 'setProgress', [
    ref.id,
    ref.attempt,
    ref.workerId,
    jsonWithoutNul(JSON.stringify(progress ?? null)),
  ]);
  return rows.length === 1;
}

export async function rescue(ctx: PgContext, limit: number): Promise<RescueResult> {
  const out: RescueResult = { requeued: [], failed: [] };
  if (limit <= 0) return out;
  const rows = await q<{ id: string; state: string }>(ctx, 'rescueJobs', [Math.floor(limit), KEPT_ERRORS, ctx.channels.work]);
  for (const r of rows) (r.state === 'failed' ? out.failed : out.requeued).push(r.id);
  return out;
}

export async function getJob(ctx: PgContext, id: string): Promise<Job | null> {
  if (!isCanonicalId(id)) return null;
  const rows = await q<JobRow>(ctx, 'getJobs', [[id]]);
  return rows[0] ? toJob(rows[0]) : null;
}
