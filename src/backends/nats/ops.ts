/** Inspection (list, stats) and operator mutations (requeue, reset, cancel, purge). */
import type {
  CancelParams,
  ListParams,
  ListResult,
  MutationResult,
  PurgeParams,
  QueueStats,
  RequeueParams,
  ResetParams,
  Stats,
  WorkerRecord,
} from '../../core/backend.js';
import type { StateFilter } from '../../core/job.js';
import { RunIndex, listed, type Listed } from './store.js';
import { MarkerWalk } from './finindex.js';
import { writeQueuedBatches } from './queindex.js';
import { WorkerView, derived, finishMessage, redeliver, unhold, workerMap, type Ctx } from './context.js';
import { takeUniqueKey } from './work.js';
import { tokenToLevel } from './names.js';
import {
  MARKER_STATES,
  clearClaim,
  decodeRec,
  encodeRec,
  isFinishedRec,
  markerState,
  pushError,
  toJob,
  type MarkerState,
  type Rec,
  type Versioned,
} from './record.js';

/** The marker states to read for a state filter. */
function markersFor(s: StateFilter): MarkerState[] {
  if (s === 'stuck' || s === 'orphaned') return ['running'];
  // a scheduled marker may have become due, and a queued marker may be delayed again (retry)
  if (s === 'queued' || s === 'scheduled') return ['queued', 'scheduled'];
  return [s];
}

function matches(r: Rec, states: StateFilter[] | undefined, workers: Map<string, WorkerRecord>, now: number): boolean {
  if (!states || states.length === 0) return true;
  const st = markerState(r, now);
  const d = derived(r, workers, now);
  return states.some((s) => s === st || s === d);
}

export async function listJobs(ctx: Ctx, p: ListParams): Promise<ListResult> {
  const states = p.states && p.states.length > 0 ? p.states : undefined;
  const mk = [...new Set((states ?? MARKER_STATES).flatMap((s) => markersFor(s)))];
  const walk = await MarkerWalk.open(ctx, mk, p.queue, p.after);
  // light claims' running state: from the running markers when read, else looked up per queue
  const runs = (mk.includes('running') ? RunIndex.from(ctx.store, walk.batches, p.queue) : new RunIndex(ctx.store)).seedOutcomes(
    walk.outcomes,
  );
  const needWorkers = states?.some((s) => s === 'stuck' || s === 'orphaned') ?? false;
  const workers = needWorkers ? await workerMap(ctx) : new Map<string, WorkerRecord>();
  const jobs = [];
  const now = Date.now();
  for (let size = 0; jobs.length < p.limit;) {
    // ids in id order, as many as the page still needs, more each round that met stale markers
    size = Math.min(1000, Math.max(p.limit - jobs.length, size * 2));
    const part = await walk.take(size);
    if (part.length === 0) break;
    const markers = new Map(part);
    const chunk = part.map(([id]) => id);
    const recs = await ctx.store.getMany(chunk, runs);
    const seen = new Map(chunk.map((id, k) => [id, recs[k]?.rec ?? null]));
    // superseded markers met on the way are deleted (per round: nothing kept across rounds)
    ctx.store.compactStale(markers, seen, now);
    ctx.store.upkeep(ctx.store.compactBatches(markers, seen));
    const dups = walk.drainDups();
    if (dups.length > 0) ctx.store.upkeep(ctx.store.compactBatches(new Map(dups), seen));
    for (const v of recs) {
      if (v === null || jobs.length >= p.limit) continue;
      const r = v.rec;
      if (p.queue !== undefined && r.queue !== p.queue) continue;
      if (p.name !== undefined && r.name !== p.name) continue;
      if (!matches(r, states, workers, now)) continue;
      jobs.push(toJob(r, now));
    }
  }
  return { jobs, next: jobs.length === p.limit && jobs.length > 0 ? jobs[jobs.length - 1]!.id : null };
}

/**
 * Per queue (consumer-name part), from the consumers of the work stream (one per priority
 * level): unfinished messages — not yet delivered plus delivered and not acked; every unfinished
 * job has exactly one — and never delivered ones; and the queues (from the consumers' filter
 * subjects, sorted). The queues are no longer read from the `q.<queue>` keys of the jobs bucket:
 * on nats-server 2.9 that wildcard read cost time in proportion to every key of the bucket (two
 * per job; 126 ms of a 147 ms `stats` at 200,000 queued jobs).
 */
async function workCounts(
  ctx: Ctx,
): Promise<{ unfinished: Map<string, number>; undelivered: Map<string, number>; queues: string[] }> {
  const out = new Map<string, number>();
  const undelivered = new Map<string, number>();
  const queues = new Set<string>();
  for (let offset = 0; ;) {
    const r = await ctx.w.api<{
      consumers: { name: string; num_pending: number; num_ack_pending: number; config?: { filter_subject?: string } }[] | null;
      total: number;
    }>(`$JS.API.CONSUMER.LIST.${ctx.n.work}`, { offset });
    const page = r.consumers ?? [];
    for (const c of page) {
      const m = /^w_(.+)_(L\d{7})$/.exec(c.name);
      if (!m) continue;
      const ws = c.config?.filter_subject === undefined ? null : ctx.n.parseWorkSubject(c.config.filter_subject);
      if (ws !== null) queues.add(ws.queue);
      out.set(m[1]!, (out.get(m[1]!) ?? 0) + c.num_pending + c.num_ack_pending);
      undelivered.set(m[1]!, (undelivered.get(m[1]!) ?? 0) + c.num_pending);
    }
    offset += page.length;
    if (page.length === 0 || offset >= r.total) break;
  }
  return { unfinished: out, undelivered, queues: [...queues].sort() };
}

/**
 * Jobs ready to claim in these queues (Backend.readyJobs, a draining worker's "anything left?"):
 * stats' queued count without what a drain does not need (finished counts: six ephemeral
 * consumers; the worker list; the oldest job's walk). One consumer listing answers it when
 * messages were never delivered (ready, or scheduled jobs not yet met by a claim, which a claim
 * turns into delayed naks: the count goes down) or when no message is left; only when every
 * unfinished message was delivered are the running and scheduled markers read and verified as
 * stats does (queued = unfinished − running − scheduled).
 */
export async function readyJobs(ctx: Ctx, queues: readonly string[]): Promise<number> {
  const { unfinished, undelivered } = await workCounts(ctx);
  const parts = queues.map((q) => consumerPart(ctx, q));
  const fresh = parts.reduce((n, p) => n + (undelivered.get(p) ?? 0), 0);
  if (fresh > 0 || parts.every((p) => (unfinished.get(p) ?? 0) === 0)) return fresh;
  const now = Date.now();
  const counts = await Promise.all(
    queues.map(async (q, i) => {
      const left = unfinished.get(parts[i]!) ?? 0;
      if (left === 0) return 0;
      const { ids, batches } = await ctx.store.markerIdsWithBatches(['running', 'scheduled'], q);
      const got = await ctx.store.getMany([...ids.keys()], RunIndex.from(ctx.store, batches, q));
      let busy = 0;
      for (const v of got) {
        if (v === null || v.rec.queue !== q) continue;
        const st = markerState(v.rec, now);
        if (st === 'running' || st === 'scheduled') busy++;
      }
      return Math.max(0, left - busy);
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Consumer-name part of a queue (see Names.consumer). */
function consumerPart(ctx: Ctx, q: string): string {
  return ctx.n
    .consumer(q, 0)
    .replace(/^w_/, '')
    .replace(/_L\d{7}$/, '');
}

/** The oldest due queued job among the first work messages of the queue's levels (bounded walk). */
async function oldestQueued(ctx: Ctx, q: string, levels: number[], now: number, runs: RunIndex): Promise<number | null> {
  let oldest: number | null = null;
  for (const prio of levels) {
    const subj = ctx.n.workSubject(q, prio);
    let seq = 1;
    for (let k = 0; k < 64; k++) {
      let m;
      try {
        m = await ctx.w.api<{ message: { seq: number; data?: string } }>(`$JS.API.STREAM.MSG.GET.${ctx.n.work}`, {
          seq,
          next_by_subj: subj,
        });
      } catch {
        break; // no more messages
      }
      seq = m.message.seq + 1;
      let id: string;
      try {
        id = decodeRec(Buffer.from(m.message.data ?? '', 'base64')).id;
      } catch {
        continue;
      }
      const v = await ctx.store.get(id, runs);
      const r = v?.rec;
      if (r === undefined) continue;
      if (r.state === 'queued' && r.runAt <= now) {
        if (oldest === null || r.runAt < oldest) oldest = r.runAt;
        break; // later messages of this level were enqueued later
      }
    }
  }
  return oldest;
}

export async function stats(ctx: Ctx, queue?: string): Promise<Stats> {
  const [workers, work] = await Promise.all([workerMap(ctx), workCounts(ctx)]);
  const queues = queue !== undefined ? [queue] : work.queues;
  const unfinished = work.unfinished;
  const now = Date.now();
  const out: QueueStats[] = await Promise.all(
    queues.map(async (q) => {
      const fin = ['completed', 'failed', 'cancelled'] as const;
      // queued = unfinished messages − running − scheduled; the running set (claim-batch
      // markers, bounded by worker concurrency) and the scheduled set are checked per record
      const [counts, { ids: verify, batches }] = await Promise.all([
        Promise.all(fin.map((s) => ctx.store.countFinished(s, q))),
        ctx.store.markerIdsWithBatches(['running', 'scheduled'], q),
      ]);
      const ids = [...verify.keys()];
      const runs = RunIndex.from(ctx.store, batches, q);
      const got = await ctx.store.getMany(ids, runs);
      ctx.store.compactRunBatches(batches, new Map(ids.map((id, i) => [id, got[i] ?? null])), now);
      const recs = got.filter((v): v is Versioned => v !== null && v.rec.queue === q);
      const qs: QueueStats = {
        queue: q,
        queued: 0,
        scheduled: 0,
        running: 0,
        stuck: 0,
        orphaned: 0,
        failed: counts[1]!,
        completed: counts[0]!,
        cancelled: counts[2]!,
        oldestQueuedAgeMs: null,
      };
      let oldest: number | null = null;
      for (const { rec: r } of recs) {
        const st = markerState(r, now);
        if (st === 'queued') {
          if (oldest === null || r.runAt < oldest) oldest = r.runAt;
        } else if (st === 'scheduled') qs.scheduled++;
        else if (st === 'running') {
          qs.running++;
          const d = derived(r, workers, now);
          if (d === 'stuck') qs.stuck++;
          if (d === 'orphaned') qs.orphaned++;
        }
      }
      qs.queued = Math.max(0, (unfinished.get(consumerPart(ctx, q)) ?? 0) - qs.running - qs.scheduled);
      if (qs.queued > 0) {
        const levels = await queueLevels(ctx, q);
        const first = await oldestQueued(ctx, q, levels, now, runs);
        if (first !== null && (oldest === null || first < oldest)) oldest = first;
      } else oldest = null;
      qs.oldestQueuedAgeMs = oldest === null ? null : Math.max(0, now - oldest);
      return qs;
    }),
  );
  return { queues: out, workers: { alive: [...workers.values()].filter((w) => w.alive).length } };
}

/** Priority levels with a consumer for this queue. */
async function queueLevels(ctx: Ctx, q: string): Promise<number[]> {
  const prefix = `w_${consumerPart(ctx, q)}_`;
  const out: number[] = [];
  for (let offset = 0; ;) {
    const r = await ctx.w.api<{ consumers: string[] | null; total: number }>(`$JS.API.CONSUMER.NAMES.${ctx.n.work}`, { offset });
    const page = r.consumers ?? [];
    for (const nm of page)
      if (nm.startsWith(prefix) && /^L\d{7}$/.test(nm.slice(prefix.length))) out.push(tokenToLevel(nm.slice(prefix.length)));
    offset += page.length;
    if (page.length === 0 || offset >= r.total) break;
  }
  return out.sort((a, b) => a - b);
}

// ---------------------------------------------------------------- operators

type Plan = {
  v: Versioned;
  next: Rec;
  after: (prev: Rec, next: Rec) => Promise<void> | void;
  /** the queued-batch marker (format 6) the caller wrote for this job */
  qb?: string;
};

/**
 * Apply per-job compare-and-sets; a job that changed since it was read is skipped, not overwritten.
 * Jobs that left a finished state are then removed from the finished index together (one rewrite
 * per batch marker; a run killed before that leaves entries that byMarkers compacts).
 */
async function apply(ctx: Ctx, plans: Plan[], res: MutationResult, dryRun: boolean | undefined): Promise<MutationResult> {
  if (dryRun) {
    res.changed.push(...plans.map((p) => p.v.rec.id));
  } else {
    const left: Listed[] = [];
    await Promise.all(
      plans.map(async (p) => {
        if ((await ctx.store.cas(p.v, p.next, undefined, undefined, undefined, false, p.qb)) === null) {
          res.skipped.push({ id: p.v.rec.id, reason: 'changed concurrently; run the command again' });
          return;
        }
        const was = listed(p.v.rec);
        if (isFinishedRec(p.v.rec) && p.next.mk !== was.state) left.push(was);
        unhold(ctx, p.v.rec.id);
        await p.after(p.v.rec, p.next);
        res.changed.push(p.v.rec.id);
      }),
    );
    await ctx.store.unlistMany(left);
  }
  res.changed.sort();
  res.skipped.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return res;
}

async function byIds(ctx: Ctx, ids: string[], res: MutationResult): Promise<Versioned[]> {
  const uniq = [...new Set(ids)];
  const recs = await ctx.store.getMany(uniq);
  const out: Versioned[] = [];
  recs.forEach((v, i) => {
    if (v === null) res.skipped.push({ id: uniq[i]!, reason: 'not found' });
    else out.push(v);
  });
  return out;
}

/**
 * Records with a marker in these states (oldest id first) that `keep` accepts, at most `limit`:
 * records are read in chunks only until `limit` are found, so one batch of an operator command
 * reads about `limit` records, not every job in the state (1,000,000 failed jobs: each 1,000-job
 * batch of `requeue --state failed --all` read all of them). Finished-index entries of jobs that
 * left their state are compacted among the records read.
 */
async function byMarkers(
  ctx: Ctx,
  states: MarkerState[],
  queue: string | undefined,
  keep: (v: Versioned) => boolean,
  limit: number,
  compact = true,
): Promise<Versioned[]> {
  const walk = await MarkerWalk.open(ctx, states, queue);
  const out: Versioned[] = [];
  for (let size = 0; out.length < limit;) {
    // the next ids in id order, as many as the batch still needs, more each round that met others
    size = Math.min(10_000, Math.max(limit - out.length, size * 2));
    const taken = await walk.take(size);
    if (taken.length === 0) break;
    const part = taken.map(([id]) => id);
    // the running markers read afresh each round (a walk of many rounds takes minutes); the
    // records the walk read in outcome batches (format 7) need no lookup of their own
    const got = await ctx.store.getMany(part, new RunIndex(ctx.store).seedOutcomes(walk.outcomes));
    got.forEach((v) => {
      if (v !== null && out.length < limit && (queue === undefined || v.rec.queue === queue) && keep(v)) out.push(v);
    });
    if (compact) {
      const recs = new Map(part.map((id, k) => [id, got[k]?.rec ?? null]));
      await ctx.store.compactBatches(new Map(taken), recs);
      const dups = walk.drainDups();
      if (dups.length > 0) await ctx.store.compactBatches(new Map(dups), recs);
    }
  }
  return out;
}

export async function requeue(ctx: Ctx, p: RequeueParams, wake: (q: string) => void): Promise<MutationResult> {
  const res: MutationResult = { changed: [], skipped: [] };
  let cands: Versioned[];
  if ('ids' in p) cands = await byIds(ctx, p.ids, res);
  else cands = await byMarkers(ctx, [p.state], p.queue, (v) => v.rec.state === p.state, p.limit, !p.dryRun);
  const now = Date.now();
  const plans: Plan[] = [];
  for (const v of cands) {
    const r = v.rec;
    if (!isFinishedRec(r)) {
      res.skipped.push({ id: r.id, reason: `not finished (${markerState(r, now)})` });
      continue;
    }
    if (r.uniqueKey !== null && !p.dryRun) {
      const holder = await takeUniqueKey(ctx, r.uniqueKey, r.id);
      if (holder !== null && holder.rec.id !== r.id) {
        res.skipped.push({ id: r.id, reason: `unique key is held by unfinished job ${holder.rec.id}` });
        continue;
      }
    }
    const next: Rec = { ...r, state: 'queued', runAt: now, finishedAt: null, updatedAt: now, result: null };
    clearClaim(next);
    if (p.resetAttempts) next.attempts = 0;
    else if (next.attempts >= next.maxAttempts) next.maxAttempts = next.attempts + 1;
    plans.push({
      v,
      next,
      after: () => wake(r.queue),
    });
  }
  if (!p.dryRun) {
    // a new work message first (the old one was acked when the job finished); if the
    // compare-and-set then fails, the claimer meets a finished record and acks it. Its message
    // id names the record revision it replaces: a run killed between the two, run again (within
    // the stream's duplicate window), gets the same message back instead of a second one.
    // With them, one queued-batch marker per queue (format 6) listing the jobs, named by each
    // record; an entry whose compare-and-set then fails is verified away by readers
    const batches = writeQueuedBatches(
      ctx,
      plans.map((pl) => pl.next),
      now,
    );
    for (const pl of plans) pl.qb = pl.next.qb ?? undefined;
    await Promise.all([
      ...plans.map((pl) =>
        ctx.w.publish(ctx.n.workSubject(pl.next.queue, pl.next.priority), encodeRec(pl.next), {
          headers: { 'Nats-Msg-Id': `rq.${pl.v.rec.id}.${pl.v.rev}` },
        }),
      ),
      ...batches.values(),
    ]);
  }
  return apply(ctx, plans, res, p.dryRun);
}

export async function reset(ctx: Ctx, p: ResetParams, wake: (q: string) => void): Promise<MutationResult> {
  const res: MutationResult = { changed: [], skipped: [] };
  const view = new WorkerView(ctx);
  const workers = await view.read();
  const now = Date.now();
  let cands: Versioned[];
  if ('ids' in p) cands = await byIds(ctx, p.ids, res);
  else cands = await byMarkers(ctx, ['running'], p.queue, (v) => derived(v.rec, workers, now) === p.which, p.limit);
  // a job orphaned by its worker is confirmed on a registry read after the records (WorkerView)
  const readAt = performance.now();
  const plans: Plan[] = [];
  for (const v of cands) {
    const r = v.rec;
    if (r.state !== 'running') {
      res.skipped.push({ id: r.id, reason: `not running (${markerState(r, now)})` });
      continue;
    }
    let d = derived(r, workers, now);
    if (d === 'orphaned') d = await view.derived(r, readAt, now);
    if (!('ids' in p) && d !== p.which) {
      res.skipped.push({ id: r.id, reason: `no longer ${p.which} (${d ?? 'running'}, worker ${r.workerId ?? '?'})` });
      continue;
    }
    if (d !== 'orphaned' && !p.force) {
      res.skipped.push({ id: r.id, reason: `held by live worker ${r.workerId ?? '?'} with a valid lease; use --force` });
      continue;
    }
    const next: Rec = { ...r, state: 'queued', runAt: now, updatedAt: now };
    pushError(next, `reset by operator (${d ?? 'running'}, worker ${r.workerId ?? '?'})`, now);
    clearClaim(next);
    if (next.attempts >= next.maxAttempts) next.maxAttempts = next.attempts + 1;
    plans.push({
      v,
      next,
      after: (prev) => {
        redeliver(ctx, prev.ackSubj, 0);
        wake(r.queue);
      },
    });
  }
  return apply(ctx, plans, res, p.dryRun);
}

/** A job whose only message was never delivered (no claim, no delayed nak): its initial record, queued. */
const neverDelivered = (v: Versioned): boolean =>
  v.rev === 0 && !isFinishedRec(v.rec) && v.rec.state !== 'running' && !v.rec.ackSubj && !v.rec.lastAck && !!v.rec.wseq;

/** Rounds a cancel that deleted a job's message retries its compare-and-set (below). */
const CANCEL_ROUNDS = 50;

export async function cancel(ctx: Ctx, p: CancelParams): Promise<MutationResult> {
  const res: MutationResult = { changed: [], skipped: [] };
  const cands = await byIds(ctx, p.ids, res);
  const plans: Plan[] = [];
  const todo: Versioned[] = [];
  for (const v of cands) {
    const r = v.rec;
    if (isFinishedRec(r)) {
      res.skipped.push({ id: r.id, reason: `already ${r.state}` });
      continue;
    }
    if (p.dryRun) plans.push({ v, next: r, after: () => undefined });
    else todo.push(v);
  }
  if (p.dryRun) return apply(ctx, plans, res, true);
  await Promise.all(
    todo.map(async (first) => {
      const reason = await cancelOne(ctx, first);
      if (reason === null) res.changed.push(first.rec.id);
      else res.skipped.push({ id: first.rec.id, reason });
    }),
  );
  res.changed.sort();
  res.skipped.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return res;
}

/**
 * Cancel one unfinished job; null when done, else why not. A job whose message was never
 * delivered has that message deleted BEFORE its record is written: its first delivery is claimed
 * without reading the record (a light claim, work.ts), so a message still in the stream after the
 * cancel's write could run a cancelled job. Deleted first, it is either never delivered or was
 * delivered before the cancel began (claimed just before the cancel: the cancel takes the job in
 * the claim's running marker once that is stored, and the holder's outcome is refused; before
 * that, the cancelled record stands over the holder's outcome: format 7, docs/architecture.md,
 * "What this narrows"). A cancel that deleted
 * the message does not give up while the job is unfinished (its message is gone: only a cancelled
 * or finished record leaves it consistent), retrying its compare-and-set on the newer record.
 */
async function cancelOne(ctx: Ctx, first: Versioned): Promise<string | null> {
  let v: Versioned | null = first;
  let deleted = false;
  for (let round = 0; round < CANCEL_ROUNDS; round++) {
    if (v === null) return 'not found';
    const r = v.rec;
    if (isFinishedRec(r)) return `already ${r.state}`;
    if (!deleted && neverDelivered(v)) {
      await ctx.store.deleteSeq(ctx.n.work, r.wseq!);
      deleted = true;
    }
    const now = Date.now();
    const next: Rec = { ...r, state: 'cancelled', finishedAt: now, updatedAt: now };
    clearClaim(next);
    if ((await ctx.store.cas(v, next, now, undefined, undefined, false)) !== null) {
      unhold(ctx, r.id);
      // a running job's message is acked now (its holder's outcome will be refused); a waiting
      // job's message through its last delivery (it may be held back by a delayed nak), or
      // deleted when it was never delivered, so that it stops counting
      if (r.ackSubj) finishMessage(ctx, r.ackSubj);
      else {
        if (r.lastAck) finishMessage(ctx, r.lastAck);
        if (r.wseq && !deleted) await ctx.store.deleteSeq(ctx.n.work, r.wseq);
      }
      return null;
    }
    if (!deleted) return 'changed concurrently; run the command again';
    v = await ctx.store.get(r.id);
  }
  throw new Error(`job ${first.rec.id} kept changing while it was cancelled (its message is deleted); run the command again`);
}

export async function purge(ctx: Ctx, p: PurgeParams): Promise<{ deleted: number }> {
  const bound = Date.now() - p.olderThanMs;
  const cands = await byMarkers(
    ctx,
    p.states,
    p.queue,
    (v) =>
      isFinishedRec(v.rec) &&
      (p.states as string[]).includes(v.rec.state) &&
      v.rec.finishedAt !== null &&
      v.rec.finishedAt < bound,
    p.limit,
  );
  await ctx.store.removeMany(cands.map((v) => v.rec));
  return { deleted: cands.length };
}
