/** Reads: one job, keyset-paginated lists (derived states included), stats per queue. */
import { emptyQueueStats, type ListParams, type ListResult, type QueueStats, type Stats } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import type { Job, StateFilter } from '../../core/job.js';
import { compareIds, normalizeId, toJob, toKey, type JobRow, type StoredState } from './rows.js';
import type { Store } from './store.js';

export function getJob(s: Store, id: string): Job | null {
  const key = toKey(id);
  if (key === null) return null;
  const row = s.get<JobRow>('getJob', { id: key });
  return row ? toJob(row, Date.now()) : null;
}

type View = 'all' | 'due' | 'future' | 'orphaned' | 'stuck';
const VIEWS: Record<StateFilter, [StoredState, View]> = {
  scheduled: ['queued', 'future'],
  queued: ['queued', 'due'],
  running: ['running', 'all'],
  stuck: ['running', 'stuck'],
  orphaned: ['running', 'orphaned'],
  completed: ['completed', 'all'],
  failed: ['failed', 'all'],
  cancelled: ['cancelled', 'all'],
};

export function listJobs(s: Store, p: ListParams): ListResult {
  if (!Number.isSafeInteger(p.limit) || p.limit < 1)
    throw new ValidationError(`invalid limit ${p.limit}`, 'the limit must be a positive integer');
  const after = p.after === undefined ? 0n : BigInt(normalizeId(p.after));
  const common = { after, queue: p.queue ?? null, name: p.name ?? null, limit: p.limit };
  const states = p.states ?? [];
  for (const st of states)
    if (!(st in VIEWS))
      throw new ValidationError(`unknown state ${JSON.stringify(st)}`, `use one of: ${Object.keys(VIEWS).join(', ')}`);
  return s.read(() => {
    const now = Date.now();
    let rows: JobRow[];
    if (states.length === 0) {
      rows = s.all<JobRow>('listJobsAll', common);
    } else {
      // one indexed query per (state, view), merged by id: still a correct keyset page
      const byId = new Map<string, JobRow>();
      for (const [state, view] of new Map(states.map((st) => [VIEWS[st].join('/'), VIEWS[st]])).values()) {
        for (const r of s.all<JobRow>('listJobsState', { ...common, state, view, now })) byId.set(r.id, r);
      }
      rows = [...byId.values()].sort((a, b) => compareIds(a.id, b.id)).slice(0, p.limit);
    }
    const jobs = rows.map((r) => toJob(r, now));
    return { jobs, next: jobs.length === p.limit ? jobs[jobs.length - 1]!.id : null };
  });
}

export function stats(s: Store, p: { queue?: string }): Stats {
  const queue = p.queue ?? null;
  return s.read(() => {
    const now = Date.now();
    const map = new Map<string, QueueStats>();
    const get = (q: string) => {
      let v = map.get(q);
      if (!v) map.set(q, (v = emptyQueueStats(q)));
      return v;
    };
    if (queue !== null) get(queue);
    const counts =
      queue === null
        ? s.all<{ queue: string; state: StoredState; n: number }>('statsCounts')
        : s.all<{ queue: string; state: StoredState; n: number }>('statsCountsQueue', { queue });
    for (const r of counts) {
      const q = get(r.queue);
      if (
        r.state === 'queued' ||
        r.state === 'running' ||
        r.state === 'completed' ||
        r.state === 'failed' ||
        r.state === 'cancelled'
      )
        q[r.state] += r.n;
    }
    for (const r of s.all<{ queue: string; scheduled: number | null; oldest: number | null }>('statsQueued', { now, queue })) {
      const q = get(r.queue);
      q.scheduled = r.scheduled ?? 0;
      q.queued -= q.scheduled;
      q.oldestQueuedAgeMs = r.oldest === null ? null : Math.max(0, now - r.oldest);
    }
    for (const r of s.all<{ queue: string; orphaned: number | null; stuck: number | null }>('statsRunning', { now, queue })) {
      const q = get(r.queue);
      q.orphaned = r.orphaned ?? 0;
      q.stuck = r.stuck ?? 0;
    }
    const alive = s.get<{ alive: number }>('countAliveWorkers', { now })?.alive ?? 0;
    return { queues: [...map.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0)), workers: { alive } };
  });
}
