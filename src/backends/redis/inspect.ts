/** Read side: keyset listing by state (stored and derived) and stats. */
import type { ListParams, ListResult, QueueStats, Stats } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import { JOB_STATES, type Job, type StateFilter } from '../../core/job.js';
import { liveArgs, type Ctx, type Snapshot } from './context.js';
import { getJobs } from './jobs.js';
import { assertQueueName, parseId } from './keys.js';

type Source =
  | { queue: string; kind: 'set'; key: string }
  | { queue: string; kind: 'leases'; key: string }
  | { queue: string; kind: 'derived'; which: 'stuck' | 'orphaned' };

/** Running jobs per queue are bounded by worker concurrency: listed from the leases ZSET. */
const MAX_RUNNING_LISTED = 10_000;

/**
 * Ascending ids after the cursor from every (queue, state) source, merged; the page is filled from
 * the smallest ids and rechecked against the job's current state (and name) before it is returned.
 */
export async function listJobs(ctx: Ctx, p: ListParams): Promise<ListResult> {
  const limit = Math.max(1, Math.floor(p.limit));
  if (p.after !== undefined && !parseId(p.after)) throw new ValidationError(`invalid cursor ${JSON.stringify(p.after)}`);
  const wanted: StateFilter[] = p.states && p.states.length > 0 ? p.states : [...JOB_STATES];
  const snap = await ctx.snapshot();
  const queues = p.queue ? [assertQueueName(p.queue)] : snap.queues;
  if (wanted.includes('queued') || wanted.includes('scheduled')) {
    // make stored states current: scheduled jobs whose run_at has come become queued
    await Promise.all(queues.map((q) => ctx.run('promote', [ctx.keys.queue(q)], [ctx.keys.wakeChannel(q), 10_000], ctx.bulk)));
  }
  const sources: Source[] = [];
  for (const queue of queues) {
    for (const s of wanted) {
      if (s === 'stuck' || s === 'orphaned') sources.push({ queue, kind: 'derived', which: s });
      else if (s === 'running') sources.push({ queue, kind: 'leases', key: ctx.keys.leases(queue) });
      else sources.push({ queue, kind: 'set', key: ctx.keys.state(queue, s) });
    }
  }
  const stored = new Set(wanted.filter((s) => s !== 'stuck' && s !== 'orphaned'));
  const jobs: Job[] = [];
  let cursor = p.after ? Number(p.after) : 0;
  while (jobs.length < limit && sources.length > 0) {
    const need = limit - jobs.length;
    const batches = await Promise.all(sources.map((s) => fetchIds(ctx, s, snap, cursor, need)));
    const merged = new Map<number, { id: string; queue: string; derived: boolean }>();
    batches.forEach((ids, i) => {
      const s = sources[i]!;
      for (const id of ids) {
        const prev = merged.get(Number(id));
        merged.set(Number(id), { id, queue: s.queue, derived: (prev?.derived ?? false) || s.kind === 'derived' });
      }
    });
    if (merged.size === 0) break;
    const page = [...merged.keys()].sort((a, b) => a - b).slice(0, need);
    const refs = page.map((n) => merged.get(n)!);
    const found = await getJobs(ctx, refs, snap.now);
    const derivedIds = new Set(refs.filter((r) => r.derived).map((r) => r.id));
    for (const job of found) {
      if (p.name !== undefined && job.name !== p.name) continue;
      if (!derivedIds.has(job.id) && !stored.has(job.state)) continue;
      jobs.push(job);
    }
    cursor = page[page.length - 1]!;
    if (merged.size < need && batches.every((b) => b.length < need)) break;
  }
  jobs.sort((a, b) => Number(a.id) - Number(b.id));
  return { jobs, next: jobs.length === limit ? jobs[jobs.length - 1]!.id : null };
}

async function fetchIds(ctx: Ctx, s: Source, snap: Snapshot, after: number, n: number): Promise<string[]> {
  if (s.kind === 'set') return ctx.cmd(ctx.bulk.zrangebyscore(s.key, `(${after}`, '+inf', 'LIMIT', 0, n));
  if (s.kind === 'leases') {
    const all = await ctx.cmd(ctx.bulk.zrange(s.key, 0, MAX_RUNNING_LISTED - 1));
    return all
      .filter((id) => Number(id) > after)
      .sort((a, b) => Number(a) - Number(b))
      .slice(0, n);
  }
  return ctx.run<string[]>(
    'derived',
    [ctx.keys.queue(s.queue)],
    [snap.now, s.which, after > 0 ? String(after) : '', n, ...liveArgs(snap)],
    ctx.bulk,
  );
}

/** Counts per queue: one registry read, then one read-only script per queue, all pipelined. */
export async function stats(ctx: Ctx, p: { queue?: string }): Promise<Stats> {
  const snap = await ctx.snapshot();
  const queues = p.queue ? [assertQueueName(p.queue)] : snap.queues;
  const rows = await Promise.all(
    queues.map((q) => ctx.run<(number | string)[]>('stats', [ctx.keys.queue(q)], [snap.now, ...liveArgs(snap)], ctx.bulk)),
  );
  const out: QueueStats[] = [];
  rows.forEach((r, i) => {
    const [now, ready, due, future, running, completed, failed, cancelled, oldest, stuck, orphaned] = r.map((v) =>
      v === '' ? null : Number(v),
    );
    const s: QueueStats = {
      queue: queues[i]!,
      queued: ready! + due!,
      scheduled: future!,
      running: running!,
      stuck: stuck!,
      orphaned: orphaned!,
      failed: failed!,
      completed: completed!,
      cancelled: cancelled!,
      oldestQueuedAgeMs: oldest === null || oldest === undefined ? null : Math.max(0, now! - oldest),
    };
    const total = s.queued + s.scheduled + s.running + s.failed + s.completed + s.cancelled;
    if (p.queue || total > 0) out.push(s);
  });
  return { queues: out, workers: { alive: snap.live.length } };
}
