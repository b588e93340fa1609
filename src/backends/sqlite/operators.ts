/**
 * Operator mutations: requeue, reset, cancel, purge. Each call decides and writes inside one
 * BEGIN IMMEDIATE transaction (a dry run: the same decisions in a read transaction, no writes),
 * and returns exactly what changed and why the rest was skipped.
 */
import type { CancelParams, MutationResult, PurgeParams, RequeueParams, ResetParams } from '../../core/backend.js';
import { reportedState } from '../../core/job.js';
import { ValidationError } from '../../core/errors.js';
import { putBack } from './jobs.js';
import { toKey, type FactsRow } from './rows.js';
import type { Store } from './store.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);

interface Plan {
  /** the rows to look at: by ids (unknown ids already skipped) or by selector */
  rows: FactsRow[];
  result: MutationResult;
}

function byIds(s: Store, ids: string[], now: number): Plan {
  const result: MutationResult = { changed: [], skipped: [] };
  const rows: FactsRow[] = [];
  for (const id of new Set(ids)) {
    const key = toKey(id);
    const row = key === null ? undefined : s.get<FactsRow>('getJobFacts', { id: key, now });
    if (row) rows.push(row);
    else result.skipped.push({ id, reason: 'not found' });
  }
  return { rows, result };
}

function limitOf(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new ValidationError(`invalid limit ${limit}`, 'the limit must be a positive integer');
  return limit;
}

/** Run plan+apply in a write transaction, or only plan in a read transaction for a dry run. */
function mutate(s: Store, dryRun: boolean | undefined, fn: (write: boolean) => MutationResult): MutationResult {
  return dryRun ? s.read(() => fn(false)) : s.write(() => fn(true));
}

export function requeue(s: Store, p: RequeueParams): MutationResult {
  return mutate(s, p.dryRun, (write) => {
    const now = Date.now();
    const plan =
      'ids' in p
        ? byIds(s, p.ids, now)
        : {
            rows: s.all<FactsRow>('selectFinished', { state: p.state, queue: p.queue ?? null, limit: limitOf(p.limit), now }),
            result: { changed: [], skipped: [] },
          };
    const keys = new Set<string>();
    for (const r of plan.rows) {
      if (!FINISHED.has(r.state)) {
        plan.result.skipped.push({
          id: r.id,
          reason: `${reportedState(r.state, r.run_at, now)}: only failed, cancelled or completed jobs can be requeued`,
        });
        continue;
      }
      if (r.unique_key !== null) {
        const holder = s.get<{ id: string }>('getJobByUniqueKey', { uniqueKey: r.unique_key });
        if (holder || keys.has(r.unique_key)) {
          plan.result.skipped.push({
            id: r.id,
            reason: `unique key ${JSON.stringify(r.unique_key)} is held by unfinished job ${holder?.id ?? '(in this batch)'}`,
          });
          continue;
        }
        keys.add(r.unique_key);
      }
      if (write) s.run('requeueFinished', { id: BigInt(r.id), resetAttempts: p.resetAttempts ? 1 : 0, now });
      plan.result.changed.push(r.id);
    }
    return plan.result;
  });
}

export function reset(s: Store, p: ResetParams): MutationResult {
  return mutate(s, p.dryRun, (write) => {
    const now = Date.now();
    const plan =
      'ids' in p
        ? byIds(s, p.ids, now)
        : {
            rows: s.all<FactsRow>(p.which === 'stuck' ? 'selectStuck' : 'selectOrphaned', {
              now,
              queue: p.queue ?? null,
              limit: limitOf(p.limit),
            }),
            result: { changed: [], skipped: [] },
          };
    for (const r of plan.rows) {
      if (r.state !== 'running') {
        plan.result.skipped.push({
          id: r.id,
          reason: `${reportedState(r.state, r.run_at, now)}: only running jobs can be reset`,
        });
        continue;
      }
      const leaseValid = r.lease_expires_at !== null && r.lease_expires_at > now;
      if (r.worker_alive && leaseValid && !p.force) {
        plan.result.skipped.push({
          id: r.id,
          reason: `held by live worker ${r.worker_id ?? '?'} with a valid lease; use --force`,
        });
        continue;
      }
      if (write && putBack(s, r, `reset by an operator (was held by ${r.worker_id ?? 'nobody'})`, now, false) === null) {
        plan.result.skipped.push({ id: r.id, reason: 'changed while resetting; try again' });
        continue;
      }
      plan.result.changed.push(r.id);
    }
    return plan.result;
  });
}

export function cancel(s: Store, p: CancelParams): MutationResult {
  return mutate(s, p.dryRun, (write) => {
    const now = Date.now();
    const plan = byIds(s, p.ids, now);
    for (const r of plan.rows) {
      if (FINISHED.has(r.state)) {
        plan.result.skipped.push({ id: r.id, reason: `${r.state}: already finished` });
        continue;
      }
      if (write) s.run('cancelJob', { id: BigInt(r.id), now });
      plan.result.changed.push(r.id);
    }
    return plan.result;
  });
}

export function purge(s: Store, p: PurgeParams): { deleted: number } {
  const limit = limitOf(p.limit);
  return s.write(() => {
    const before = Date.now() - Math.max(0, p.olderThanMs);
    let deleted = 0;
    for (const state of new Set(p.states)) {
      if (deleted >= limit) break;
      for (const { id } of s.all<{ id: string }>('selectPurgeable', {
        state,
        before,
        queue: p.queue ?? null,
        limit: limit - deleted,
      })) {
        s.run('deleteJobLogs', { jobId: id });
        deleted += s.run('deleteJob', { id: BigInt(id) });
      }
    }
    return { deleted };
  });
}
