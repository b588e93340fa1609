/**
 * Inspection (list, stats) and operator mutations (requeue, reset, cancel, purge). Every mutation
 * is one statement that checks the state it expects and returns what it changed; the reasons for
 * the rest are worded here from the facts that statement returned.
 */
import {
  emptyQueueStats,
  type CancelParams,
  type ListParams,
  type ListResult,
  type MutationResult,
  type PurgeParams,
  type QueueStats,
  type RequeueParams,
  type ResetParams,
  type Stats,
} from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import { reportedState, STATE_FILTERS, type StateFilter } from '../../core/job.js';
import type pg from 'pg';
import { mapPgError, type SqlName } from './connection.js';
import { KEPT_ERRORS, q, type PgContext } from './context.js';
import { isCanonicalId, toJob, type JobRow } from './rows.js';

function limitOf(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new ValidationError(`invalid limit ${limit}`, 'the limit must be a positive integer');
  return limit;
}

const BRANCHES: StateFilter[] = ['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled', 'stuck', 'orphaned'];

export async function listJobs(ctx: PgContext, p: ListParams): Promise<ListResult> {
  const limit = limitOf(p.limit);
  const states = p.states && p.states.length > 0 ? new Set(p.states) : null;
  if (states)
    for (const s of states)
      if (!STATE_FILTERS.includes(s))
        throw new ValidationError(`unknown state ${JSON.stringify(s)}`, `use one of: ${STATE_FILTERS.join(', ')}`);
  let after = '0';
  if (p.after !== undefined) {
    if (!isCanonicalId(p.after))
      throw new ValidationError(`invalid cursor ${JSON.stringify(p.after)}`, 'pass the `next` value of the previous page');
    after = p.after;
  }
  const flags = BRANCHES.map((s) => states !== null && states.has(s));
  const values = [after, limit, p.queue ?? null, p.name ?? null, states === null, ...flags];
  // planned for the actual parameters: only the requested branches' indexes matter
  const rows =
    p.queue !== undefined
      ? await orderedWalk<JobRow>(ctx, 'listJobs', values, true)
      : await q<JobRow>(ctx, 'listJobs', values, { prepared: false });
  const jobs = rows.map(toJob);
  return { jobs, next: jobs.length === limit ? jobs[jobs.length - 1]!.id : null };
}

/**
 * Settings for statements that walk a state's or a queue's jobs in id order a page or batch at a
 * time (listing one queue; requeue by state), local to their transaction. On a jobs table without
 * column statistics (bulk loaded, autovacuum behind or off) the planner expects `queue = $3` to
 * keep 0.5% of the rows, fewer than one page, and reads every matching row after the cursor
 * through bitmap scans (for requeue: a BitmapAnd of jobs_failed_idx and jobs_queue_id_idx) and
 * sorts them, for every page or batch: 1,000,000 jobs in the queue took 1.3 s for the first page of
 * 5,000, and 0.5–1.5 s for each batch of 1,000 of `requeue --state failed --all` (O(n^2) in all).
 * Without bitmap scans the cheapest plan left is the ordered scan of jobs_queue_id_idx
 * (migration-003.sql) or of the state's index that stops after one page, whatever the estimates.
 */
export const ORDERED_WALK_SETTINGS = 'SET LOCAL enable_bitmapscan = off';

/** One statement, unnamed (planned for its actual parameters), in its own transaction with ORDERED_WALK_SETTINGS. */
async function orderedWalk<R extends pg.QueryResultRow>(
  ctx: PgContext,
  name: SqlName,
  values: unknown[],
  readOnly: boolean,
): Promise<R[]> {
  let failed = false;
  let c: pg.PoolClient | undefined;
  try {
    c = await ctx.pool.connect();
    await c.query(`BEGIN${readOnly ? ' READ ONLY' : ''}; ${ORDERED_WALK_SETTINGS}`);
    const r = await c.query<R>({ text: ctx.st[name].text, values });
    await c.query('COMMIT');
    return r.rows;
  } catch (e) {
    failed = true;
    await c?.query('ROLLBACK').catch(() => undefined);
    throw mapPgError(e, ctx);
  } finally {
    c?.release(failed ? true : undefined);
  }
}

type StatsRow = { queue: string | null; kind: string; n: number; ts: number | null; now: number };

export async function stats(ctx: PgContext, p: { queue?: string }): Promise<Stats> {
  const rows = await q<StatsRow>(ctx, 'stats', [p.queue ?? null], { prepared: false });
  const map = new Map<string, QueueStats>();
  const get = (name: string) => {
    let v = map.get(name);
    if (!v) map.set(name, (v = emptyQueueStats(name)));
    return v;
  };
  if (p.queue !== undefined) get(p.queue);
  let alive = 0;
  for (const r of rows) {
    if (r.kind === 'workers') {
      alive = r.n;
      continue;
    }
    const s = get(r.queue!);
    switch (r.kind) {
      case 'queued':
      case 'running':
      case 'completed':
      case 'failed':
      case 'cancelled':
      case 'stuck':
      case 'orphaned':
        s[r.kind] += r.n;
        break;
      case 'scheduled':
        s.scheduled += r.n;
        s.queued -= r.n;
        break;
      case 'oldest':
        s.oldestQueuedAgeMs = r.ts === null ? null : Math.max(0, r.now - r.ts);
        break;
    }
  }
  return { queues: [...map.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0)), workers: { alive } };
}

/** Split ids into canonical ones (asked about) and unknown ones (skipped: not found). */
function splitIds(ids: string[]): { known: string[]; skipped: MutationResult['skipped'] } {
  const known: string[] = [];
  const skipped: MutationResult['skipped'] = [];
  for (const id of new Set(ids)) {
    if (isCanonicalId(id)) known.push(id);
    else skipped.push({ id, reason: 'not found' });
  }
  return { known, skipped };
}

type IdRow = { id: string; changed: boolean; state: string | null; scheduled: boolean | null };
const shown = (r: IdRow) => reportedState(r.state!, r.scheduled ? Infinity : 0, 1);

export async function requeue(ctx: PgContext, p: RequeueParams): Promise<MutationResult> {
  const reset = p.resetAttempts === true;
  if (!('ids' in p)) {
    const limit = limitOf(p.limit);
    const rows = p.dryRun
      ? await q<{ id: string }>(ctx, 'requeueStateDry', [p.state, p.queue ?? null, limit], { prepared: false })
      : await orderedWalk<{ id: string }>(
          ctx,
          'requeueState',
          [p.state, reset, p.queue ?? null, limit, ctx.channels.work],
          false,
        );
    return { changed: rows.map((r) => r.id), skipped: [] };
  }
  const { known, skipped } = splitIds(p.ids);
  const result: MutationResult = { changed: [], skipped };
  if (known.length === 0) return result;
  const rows = await q<IdRow & { key_held: boolean }>(ctx, 'requeueIds', [known, reset, p.dryRun === true, ctx.channels.work]);
  for (const r of rows) {
    const eligible = r.state === 'completed' || r.state === 'failed' || r.state === 'cancelled';
    if (r.state === null) result.skipped.push({ id: r.id, reason: 'not found' });
    else if (!eligible)
      result.skipped.push({ id: r.id, reason: `${shown(r)}: only failed, cancelled or completed jobs can be requeued` });
    else if (r.key_held) result.skipped.push({ id: r.id, reason: 'its unique key is held by another unfinished job' });
    else if (r.changed || p.dryRun) result.changed.push(r.id);
    else result.skipped.push({ id: r.id, reason: 'changed while requeueing; try again' });
  }
  return result;
}

export async function reset(ctx: PgContext, p: ResetParams): Promise<MutationResult> {
  const force = p.force === true;
  const held = (worker: string | null) => `held by live worker ${worker ?? '?'} with a valid lease; use --force`;
  if (!('ids' in p)) {
    const limit = limitOf(p.limit);
    const result: MutationResult = { changed: [], skipped: [] };
    if (p.dryRun) {
      const rows = await q<{ id: string; worker_id: string | null; held: boolean }>(
        ctx,
        'resetWhichDry',
        [p.which, p.queue ?? null, limit],
        { prepared: false },
      );
      for (const r of rows) {
        if (r.held && !force) result.skipped.push({ id: r.id, reason: held(r.worker_id) });
        else result.changed.push(r.id);
      }
      return result;
    }
    const rows = await q<{ id: string; changed: boolean; worker_id: string | null }>(ctx, 'resetWhich', [
      p.which,
      p.queue ?? null,
      limit,
      force,
      ctx.channels.work,
      KEPT_ERRORS,
    ]);
    for (const r of rows) {
      if (r.changed) result.changed.push(r.id);
      else result.skipped.push({ id: r.id, reason: held(r.worker_id) });
    }
    return result;
  }
  const { known, skipped } = splitIds(p.ids);
  const result: MutationResult = { changed: [], skipped };
  if (known.length === 0) return result;
  const rows = await q<IdRow & { worker_id: string | null; held: boolean | null }>(ctx, 'resetIds', [
    known,
    force,
    p.dryRun === true,
    ctx.channels.work,
    KEPT_ERRORS,
  ]);
  for (const r of rows) {
    if (r.state === null) result.skipped.push({ id: r.id, reason: 'not found' });
    else if (r.state !== 'running') result.skipped.push({ id: r.id, reason: `${shown(r)}: only running jobs can be reset` });
    else if (r.held && !force) result.skipped.push({ id: r.id, reason: held(r.worker_id) });
    else if (r.changed || p.dryRun) result.changed.push(r.id);
    else result.skipped.push({ id: r.id, reason: 'changed while resetting; try again' });
  }
  return result;
}

export async function cancel(ctx: PgContext, p: CancelParams): Promise<MutationResult> {
  const { known, skipped } = splitIds(p.ids);
  const result: MutationResult = { changed: [], skipped };
  if (known.length === 0) return result;
  const rows = await q<IdRow>(ctx, 'cancelIds', [known, p.dryRun === true]);
  for (const r of rows) {
    if (r.state === null) result.skipped.push({ id: r.id, reason: 'not found' });
    else if (r.state !== 'queued' && r.state !== 'running')
      result.skipped.push({ id: r.id, reason: `${r.state}: already finished` });
    else if (r.changed || p.dryRun) result.changed.push(r.id);
    else result.skipped.push({ id: r.id, reason: 'changed while cancelling; try again' });
  }
  return result;
}

export async function purge(ctx: PgContext, p: PurgeParams): Promise<{ deleted: number }> {
  const limit = limitOf(p.limit);
  const states = [...new Set(p.states)];
  if (states.length === 0) return { deleted: 0 };
  const rows = await q<{ deleted: number }>(ctx, 'purgeJobs', [states, Math.max(0, p.olderThanMs), p.queue ?? null, limit]);
  return { deleted: rows[0]?.deleted ?? 0 };
}
