/**
 * Operator mutations and the rescuer. Each is one Lua script per queue that checks the state it
 * expects for every job and returns what it changed (or would change, with dryRun). By-ids calls
 * group the ids by queue (the id encodes it); by-state calls take one bounded batch.
 */
import type { CancelParams, MutationResult, PurgeParams, RequeueParams, RescueResult, ResetParams } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import { liveArgs, type Ctx } from './context.js';
import { assertQueueName } from './keys.js';

const flag = (b: boolean | undefined) => (b ? '1' : '0');

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new ValidationError(`invalid limit ${limit}`, 'limit must be a positive integer');
  return limit;
}

/** Collect `[id, reason, …]` replies into a MutationResult. */
function collect(into: MutationResult, reply: string[]): void {
  for (let i = 0; i < reply.length; i += 2) {
    if (reply[i + 1] === '') into.changed.push(reply[i]!);
    else into.skipped.push({ id: reply[i]!, reason: reply[i + 1]! });
  }
}

/** Ids -> one script call per queue (in parallel); unknown ids are skipped as not found; order kept. */
async function byIds(
  ctx: Ctx,
  ids: string[],
  call: (queue: string, ids: string[]) => Promise<string[]>,
): Promise<MutationResult> {
  const unique = [...new Set(ids)];
  const { byQueue, unknown } = await ctx.groupIds(unique);
  const res: MutationResult = { changed: [], skipped: unknown.map((id) => ({ id, reason: 'not found' })) };
  const replies = await Promise.all([...byQueue].map(([q, qids]) => call(q, qids)));
  for (const r of replies) collect(res, r);
  const order = new Map(unique.map((id, i) => [id, i]));
  res.changed.sort((a, b) => order.get(a)! - order.get(b)!);
  res.skipped.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return res;
}

/** By state: queue after queue until `limit` jobs were looked at. */
async function byBatch(
  ctx: Ctx,
  queue: string | undefined,
  limit: number,
  call: (queue: string, left: number) => Promise<string[]>,
): Promise<MutationResult> {
  const queues = queue ? [assertQueueName(queue)] : await ctx.allQueues();
  const res: MutationResult = { changed: [], skipped: [] };
  let left = checkLimit(limit);
  for (const q of queues) {
    if (left <= 0) break;
    const reply = await call(q, left);
    collect(res, reply);
    left -= reply.length / 2;
  }
  return res;
}

export function requeue(ctx: Ctx, p: RequeueParams): Promise<MutationResult> {
  const head = (q: string) => [ctx.keys.wakeChannel(q), flag(p.dryRun), flag(p.resetAttempts)];
  if ('ids' in p) {
    return byIds(ctx, p.ids, (q, ids) => ctx.run<string[]>('requeue', [ctx.keys.queue(q)], [...head(q), '', 0, ...ids]));
  }
  if (!['failed', 'cancelled', 'completed'].includes(p.state)) throw new ValidationError(`cannot requeue ${p.state} jobs`);
  return byBatch(ctx, p.queue, p.limit, (q, left) =>
    ctx.run<string[]>('requeue', [ctx.keys.queue(q)], [...head(q), p.state, left]),
  );
}

export async function reset(ctx: Ctx, p: ResetParams): Promise<MutationResult> {
  const snap = await ctx.snapshot();
  const head = (q: string) => [ctx.keys.wakeChannel(q), snap.now, flag(p.dryRun), flag(p.force)];
  if ('ids' in p) {
    return byIds(ctx, p.ids, (q, ids) =>
      ctx.run<string[]>('reset', [ctx.keys.queue(q)], [...head(q), '', 0, ...liveArgs(snap), ...ids]),
    );
  }
  if (p.which !== 'orphaned' && p.which !== 'stuck') throw new ValidationError(`cannot reset ${String(p.which)} jobs`);
  return byBatch(ctx, p.queue, p.limit, (q, left) =>
    ctx.run<string[]>('reset', [ctx.keys.queue(q)], [...head(q), p.which, left, ...liveArgs(snap)]),
  );
}

export function cancel(ctx: Ctx, p: CancelParams): Promise<MutationResult> {
  const r = ctx.retention.cancelled;
  return byIds(ctx, p.ids, (q, ids) =>
    ctx.run<string[]>('cancel', [ctx.keys.queue(q)], [r.count, r.ageMs, flag(p.dryRun), ...ids]),
  );
}

export async function purge(ctx: Ctx, p: PurgeParams): Promise<{ deleted: number }> {
  const states = [...new Set(p.states)];
  for (const s of states)
    if (!['completed', 'failed', 'cancelled'].includes(s)) throw new ValidationError(`cannot purge ${s} jobs`);
  if (!Number.isFinite(p.olderThanMs) || p.olderThanMs < 0) throw new ValidationError(`invalid age ${p.olderThanMs}`);
  const queues = p.queue ? [assertQueueName(p.queue)] : await ctx.allQueues();
  let left = checkLimit(p.limit);
  let deleted = 0;
  for (const q of queues) {
    if (left <= 0 || states.length === 0) break;
    const n = await ctx.run<number>('purge', [ctx.keys.queue(q)], [Math.round(p.olderThanMs), left, ...states]);
    deleted += n;
    left -= n;
  }
  return { deleted };
}

/** Orphaned jobs of every queue back to queued (or failed on their last attempt). */
export async function rescue(ctx: Ctx, p: { limit: number }): Promise<RescueResult> {
  const snap = await ctx.snapshot();
  const out: RescueResult = { requeued: [], failed: [] };
  let left = checkLimit(p.limit);
  const f = ctx.retention.failed;
  for (const q of snap.queues) {
    if (left <= 0) break;
    const [requeued, failed] = await ctx.run<[string[], string[]]>(
      'rescue',
      [ctx.keys.queue(q)],
      [f.count, f.ageMs, ctx.keys.wakeChannel(q), snap.now, left, ...liveArgs(snap)],
    );
    out.requeued.push(...requeued);
    out.failed.push(...failed);
    left -= requeued.length + failed.length;
  }
  return out;
}
