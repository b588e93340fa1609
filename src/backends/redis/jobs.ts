/** Producer and worker operations: enqueue, claim, lease extension, outcomes, getJob. */
import type {
  ClaimParams,
  ClaimRef,
  CompleteItem,
  EnqueueResult,
  ExtendLeasesParams,
  FailItem,
  OutcomeResult,
  ReleaseItem,
} from '../../core/backend.js';
import { jobFromNew, type ClaimedJob, type Job, type JobState, type NewJob } from '../../core/job.js';
import { fieldsToClaimed, flatToHash, hashToJob } from './codec.js';
import type { Ctx } from './context.js';
import { assertQueueName } from './keys.js';
import { bumpTick, encodeRows, LOG_LINES, type Logs } from './logs.js';

/** Jobs per enqueue script call (bounds ARGV size and the time the server is busy). */
const ENQUEUE_CHUNK = 1000;
/** Items per outcome script call. */
const OUTCOME_CHUNK = 500;
const MAX_ERROR_CHARS = 16_384;

export async function enqueue(ctx: Ctx, jobs: NewJob[]): Promise<EnqueueResult[]> {
  if (jobs.length === 0) return [];
  for (const j of jobs) assertQueueName(j.queue);
  const ids = await ctx.newIds(jobs.map((j) => j.queue));
  const byQueue = new Map<string, number[]>();
  jobs.forEach((j, i) => byQueue.set(j.queue, [...(byQueue.get(j.queue) ?? []), i]));
  const results: EnqueueResult[] = new Array(jobs.length);
  const calls: Promise<void>[] = [];
  for (const [queue, idxs] of byQueue) {
    for (let s = 0; s < idxs.length; s += ENQUEUE_CHUNK) {
      const chunk = idxs.slice(s, s + ENQUEUE_CHUNK);
      const args: (string | number)[] = [ctx.keys.wakeChannel(queue), queue];
      for (const i of chunk) {
        const j = jobs[i]!;
        args.push(ids[i]!, j.name, j.payloadJson, j.priority, j.runAt ?? '', j.maxAttempts, j.timeoutMs, j.uniqueKey ?? '');
      }
      calls.push(
        ctx.run<(number | string[])[]>('enqueue', [ctx.keys.queue(queue)], args).then((res) => {
          const now = Number(res[0]);
          chunk.forEach((i, k) => {
            const r = res[k + 1];
            results[i] = Array.isArray(r)
              ? { job: hashToJob(flatToHash(r), now), created: false }
              : { job: jobFromNew(ids[i]!, jobs[i]!, now), created: true };
          });
        }),
      );
    }
  }
  await Promise.all(calls);
  return results;
}

/** Fill up to `limit` claims from the queues in the given order (one script call per queue tried). */
export async function claim(ctx: Ctx, p: ClaimParams): Promise<ClaimedJob[]> {
  const out: ClaimedJob[] = [];
  for (const queue of p.queues) {
    const left = p.limit - out.length;
    if (left <= 0) break;
    assertQueueName(queue);
    const text = await ctx.run<string>('claim', [ctx.keys.queue(queue)], [p.workerId, left, Math.max(1, Math.round(p.leaseMs))]);
    const res = JSON.parse(text) as [number, string, ...(string | false)[][]];
    const w = { queue, worker: p.workerId, now: Number(res[0]), lease: String(res[1]) };
    for (let i = 2; i < res.length; i++) out.push(fieldsToClaimed(res[i] as (string | false)[], w));
  }
  return out;
}

export async function extendLeases(ctx: Ctx, p: ExtendLeasesParams): Promise<{ lost: string[] }> {
  const queues = await Promise.all(p.jobs.map((j) => ctx.queueOfId(j.id)));
  const byQueue = new Map<string, (string | number)[]>();
  const lost: string[] = [];
  p.jobs.forEach((j, i) => {
    const q = queues[i];
    if (!q) lost.push(j.id);
    else {
      const pairs = byQueue.get(q);
      if (pairs) pairs.push(j.id, j.attempt);
      else byQueue.set(q, [j.id, j.attempt]);
    }
  });
  const leaseMs = Math.max(1, Math.round(p.leaseMs));
  const replies = await Promise.all(
    [...byQueue].map(([queue, pairs]) => ctx.run<string[]>('extend', [ctx.keys.queue(queue)], [p.workerId, leaseMs, ...pairs])),
  );
  for (const r of replies) lost.push(...r);
  return { lost: [...new Set(lost)] };
}

/**
 * Run one fenced outcome script per queue (in chunks), all calls in flight at once (pipelined).
 * `encode` gives each item's ARGV values after (id, attempt, worker); `state` reads a reply entry;
 * `then` runs after the scripts (see Ctx.inOrder: on one server without waiting for them).
 */
async function outcomes<T extends ClaimRef>(
  ctx: Ctx,
  items: T[],
  script: 'complete' | 'fail' | 'release',
  head: (queue: string) => (string | number)[],
  encode: (item: T, args: (string | number)[]) => void,
  state: (reply: unknown) => JobState | null,
  then?: () => Promise<unknown>,
): Promise<OutcomeResult[]> {
  const results: (OutcomeResult | undefined)[] = new Array<OutcomeResult | undefined>(items.length);
  // item indexes per queue, in item order (ids of unknown queues or malformed stay unanswered)
  const byQueue = new Map<string, number[]>();
  for (let i = 0; i < items.length; i++) {
    const id = items[i]!.id;
    const queue = ctx.cachedQueueOfId(id) ?? (await ctx.queueOfId(id));
    if (!queue) continue;
    const list = byQueue.get(queue);
    if (list) list.push(i);
    else byQueue.set(queue, [i]);
  }
  const scripts = (): Promise<unknown> => {
    const calls: Promise<void>[] = [];
    for (const [queue, idxs] of byQueue) {
      for (let s = 0; s < idxs.length; s += OUTCOME_CHUNK) {
        const chunk = idxs.slice(s, s + OUTCOME_CHUNK);
        const args = head(queue);
        for (const i of chunk) {
          const it = items[i]!;
          args.push(it.id, it.attempt, it.workerId);
          encode(it, args);
        }
        calls.push(
          ctx.run<unknown[]>(script, [ctx.keys.queue(queue)], args).then((res) => {
            chunk.forEach((i, k) => {
              const id = items[i]!.id;
              const st = state(res[k]);
              results[i] = st
                ? { id, ok: true, state: st }
                : { id, ok: false, reason: 'claim lost (job is no longer held by this attempt and worker)' };
            });
          }),
        );
      }
    }
    return Promise.all(calls);
  };
  await ctx.inOrder(then ? [scripts, then] : [scripts]);
  return items.map((it, i) => results[i] ?? { id: it.id, ok: false, reason: 'not found' });
}

const keep = (r: { count: number; ageMs: number }) => [r.count, r.ageMs];

/**
 * Each item's event lines (CompleteItem.events) go to the job's and the queue's log streams in
 * the same script as the outcome, only for outcomes recorded; then log followers are woken.
 */
export function complete(ctx: Ctx, items: CompleteItem[], logs: Logs): Promise<OutcomeResult[]> {
  let lines = 0;
  const minId = logs.ageTrim.next();
  return outcomes(
    ctx,
    items,
    'complete',
    () => [...keep(ctx.retention.completed), LOG_LINES.queue, LOG_LINES.job, minId],
    (it, args) => {
      const result = it.result === undefined || it.result === null ? 'null' : (JSON.stringify(it.result) ?? 'null');
      const ev = it.events;
      if (!ev || ev.lines.length === 0) {
        args.push(result, 0, '');
        return;
      }
      assertQueueName(ev.queue);
      lines += ev.lines.length;
      args.push(result, ev.lines.length, encodeRows(it.id, it.workerId, ev.queue, 'event', ev.lines));
    },
    (r) => (Number(r) === 1 ? 'completed' : null),
    () => (lines > 0 ? ctx.cmd(bumpTick(ctx, ctx.client)) : Promise.resolve()),
  );
}

export function fail(ctx: Ctx, items: FailItem[]): Promise<OutcomeResult[]> {
  return outcomes(
    ctx,
    items,
    'fail',
    (q) => [...keep(ctx.retention.failed), ctx.keys.wakeChannel(q)],
    (it, args) => {
      args.push(String(it.error).slice(0, MAX_ERROR_CHARS), Math.max(0, Math.round(it.retryDelayMs || 0)), it.final ? '1' : '0');
    },
    (r) => (typeof r === 'string' ? (r as JobState) : null),
  );
}

export function release(ctx: Ctx, items: ReleaseItem[]): Promise<OutcomeResult[]> {
  return outcomes(
    ctx,
    items,
    'release',
    (q) => [...keep(ctx.retention.failed), ctx.keys.wakeChannel(q)],
    (it, args) => {
      args.push(String(it.reason).slice(0, MAX_ERROR_CHARS), it.notStarted ? '1' : '0');
    },
    (r) => (typeof r === 'string' ? (r as JobState) : null),
  );
}

export async function setProgress(ctx: Ctx, ref: ClaimRef, progress: unknown): Promise<boolean> {
  const queue = await ctx.queueOfId(ref.id);
  if (!queue) return false;
  const text = JSON.stringify(progress === undefined ? null : progress) ?? 'null';
  return (await ctx.run<number>('progress', [ctx.keys.queue(queue)], [ref.id, ref.attempt, ref.workerId, text])) === 1;
}

export async function getJob(ctx: Ctx, id: string): Promise<Job | null> {
  const queue = await ctx.queueOfId(id);
  if (!queue) return null;
  const h = await ctx.cmd(ctx.client.hgetall(ctx.keys.job(queue, id)));
  return h.id ? hashToJob(h, Date.now()) : null;
}

/** Fetch many jobs of known queues in one pipeline (missing ones are dropped). */
export async function getJobs(ctx: Ctx, refs: { id: string; queue: string }[], now: number): Promise<Job[]> {
  const hashes = await ctx.cmd(Promise.all(refs.map((r) => ctx.bulk.hgetall(ctx.keys.job(r.queue, r.id)))));
  return hashes.filter((h) => h.id).map((h) => hashToJob(h, now));
}
