/**
 * The worker side: enqueue, claim, outcomes (complete/fail/release/progress/extend) and rescue.
 * Rule: a work message is acked or nak'ed only after the record's compare-and-set succeeded.
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
  WorkerRecord,
} from '../../core/backend.js';
import type { ClaimedJob, NewJob } from '../../core/job.js';
import {
  derived,
  dropBatch,
  finishMessage,
  finishMessagesSync,
  redeliver,
  unhold,
  WorkerView,
  type ClaimBatch,
  type Ctx,
  type Held,
} from './context.js';
import { idBucket, newId, outcomeBatchName } from './names.js';
import type { Poller } from './poll.js';
import { EventBatches } from './side.js';
import { writeQueuedBatches } from './queindex.js';
import { RUN_BATCH, RunIndex, encodeRunMarker, takenIn, type RunBatch } from './store.js';
import {
  clearClaim,
  decodeRec,
  encodeRec,
  encodeRecText,
  isFinishedRec,
  outcomeEntry,
  pushError,
  toClaimed,
  toJob,
  type MarkerState,
  type OutcomeEntry,
  type Rec,
  type Versioned,
} from './record.js';
import { NO_WAIT_GIVE_UP_MS, ack, ackInfo, bytes, nak, pendingAfter, text, working, type RawMsg } from './wire.js';

export function newRecord(j: NewJob, now: number): Rec {
  return {
    v: 1,
    id: newId(now),
    queue: j.queue,
    name: j.name,
    payload: j.payloadJson,
    priority: j.priority,
    state: 'queued',
    attempts: 0,
    maxAttempts: j.maxAttempts,
    runAt: j.runAt ?? now,
    timeoutMs: j.timeoutMs,
    uniqueKey: j.uniqueKey,
    workerId: null,
    leaseExpiresAt: null,
    lastError: null,
    errors: [],
    result: null,
    progress: null,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    msgSeq: null,
    ackSubj: null,
  };
}

// ---------------------------------------------------------------- enqueue

/** Take the unique key for `id`, or return the unfinished job already holding it. */
export async function takeUniqueKey(ctx: Ctx, key: string, id: string): Promise<Versioned | null> {
  const subj = ctx.n.uniqueKey(key);
  for (let i = 0; i < 50; i++) {
    const mine = bytes(JSON.stringify({ id, at: Date.now() }));
    if ((await ctx.w.publish(subj, mine, { expectSeq: 0 })) !== null) return null;
    const cur = await ctx.w.directGet(ctx.n.jobsStream, subj);
    if (cur === null) continue;
    const holder = JSON.parse(text(cur.data)) as { id: string; at: number };
    const v = await ctx.store.get(holder.id);
    if (v !== null && !isFinishedRec(v.rec)) return v;
    if (v === null && Date.now() - holder.at < 5000) {
      // its enqueue may still be writing the record
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    if ((await ctx.w.publish(subj, mine, { expectSeq: cur.seq })) !== null) return null;
  }
  throw new Error(`unique key ${JSON.stringify(key)} is contended; try again`);
}

export async function enqueueOne(ctx: Ctx, j: NewJob, ensure: (q: string, p: number) => Promise<void>): Promise<EnqueueResult> {
  const now = Date.now();
  const rec = newRecord(j, now);
  if (j.uniqueKey !== null) {
    const existing = await takeUniqueKey(ctx, j.uniqueKey, rec.id);
    if (existing) return { job: toJob(existing.rec), created: false };
  }
  await ensure(j.queue, j.priority);
  const msg = ctx.w.publish(ctx.n.workSubject(j.queue, j.priority), encodeRec(rec));
  return writeNew(ctx, rec, msg, ctx.store.writeWaitingMarker(rec, now));
}

/** Many jobs without unique keys: messages are published in the given order (FIFO = id order). */
export async function enqueueMany(
  ctx: Ctx,
  jobs: NewJob[],
  ensure: (q: string, p: number) => Promise<void>,
): Promise<EnqueueResult[]> {
  const levels = new Map<string, NewJob>();
  for (const j of jobs) levels.set(`${j.priority} ${j.queue}`, j);
  for (const j of levels.values()) await ensure(j.queue, j.priority);
  const now = Date.now();
  const recs = jobs.map((j) => newRecord(j, now));
  // one queued-batch marker per queue (format 6: a keyset page stops in it); it names each
  // record's batch, so it comes before the messages (which carry the record)
  const batches = writeQueuedBatches(ctx, recs, now);
  // every publish is sent before any is awaited: they reach the stream in this order
  const pubs = recs.map((r) => ctx.w.publish(ctx.n.workSubject(r.queue, r.priority), encodeRec(r)));
  const marks = recs.map((r) => (r.qb ? batches.get(r.queue)!.then(() => null) : ctx.store.writeWaitingMarker(r, now)));
  return Promise.all(recs.map((r, i) => writeNew(ctx, r, pubs[i]!, marks[i]!)));
}

/**
 * The message first: it carries the whole record, so a crash before the record is written
 * still leaves a job that the claimer completes (it creates the record from the payload).
 */
async function writeNew(
  ctx: Ctx,
  rec: Rec,
  published: Promise<number | null>,
  marker: Promise<number | null>,
): Promise<EnqueueResult> {
  // the message and the queued/scheduled marker are written together, then the record
  const [wseq, mseq] = await Promise.all([published, marker]);
  rec.wseq = wseq;
  if (!(await ctx.store.createInitial(rec, rec.createdAt, mseq))) {
    const v = await ctx.store.get(rec.id, false);
    if (v) return { job: toJob(v.rec), created: true };
  }
  return { job: toJob(rec), created: true };
}

// ---------------------------------------------------------------- claim

function toRunning(r: Rec, workerId: string, leaseMs: number, seq: number, reply: string, now: number): Rec {
  return {
    ...r,
    state: 'running',
    attempts: r.attempts + 1,
    workerId,
    leaseExpiresAt: now + leaseMs,
    startedAt: now,
    finishedAt: null,
    updatedAt: now,
    progress: null,
    msgSeq: seq,
    ackSubj: reply,
    wseq: seq,
    lastAck: null,
  };
}

/**
 * A delivery of a job this handle holds a claim on (running, or its outcome being written) is
 * never taken for a first delivery, which is claimed without reading anything: it is decided on
 * the job's record and running marker like a redelivery (acked and skipped once the holder's
 * outcome is committed, nak'ed while its lease runs). Seen under load (reliability scenario 1,
 * nats-server 2.9): a worker got a delivery of a job it had just run, counted as a first
 * delivery, and ran the job again; its two outcomes were both committed and counted.
 */
const heldHere = (ctx: Ctx, id: string): boolean => ctx.held.has(id);

/** Decide what one delivered work message means; returns the claimed job or null (skipped). */
async function claimDelivery(
  ctx: Ctx,
  m: RawMsg,
  p: ClaimParams,
  workers: WorkerView,
  runs: RunIndex,
): Promise<ClaimedJob | null> {
  const reply = m.reply!;
  const { seq, deliveries } = ackInfo(reply);
  const fromMsg = msgRec(m);
  if (fromMsg === null) {
    ack(ctx.w, reply); // not ours: drop it rather than redeliver it forever
    return null;
  }
  // a first delivery of a message published by enqueue: the job is most likely unchanged since
  // (no record yet, only its initial one): the claim's compare-and-set creates the record
  // without reading anything first; if anything changed the job, the create fails and the
  // record is read (a requeue's new message, a cancel, a redelivery: read first)
  let guess = deliveries === 1 && fromMsg.state === 'queued' && fromMsg.attempts === 0 && !heldHere(ctx, fromMsg.id);
  for (let round = 0; round < 5; round++) {
    const now = Date.now();
    // (a redelivery of a light claim: the initial record with the claim's running state)
    const cur: Versioned | null = guess ? { rec: fromMsg, rev: 0 } : await ctx.store.get(fromMsg.id, runs);
    const readAt = performance.now();
    guess = false;
    let prev: Versioned | null = cur;
    let base: Rec;
    if (cur === null) {
      base = fromMsg; // the enqueue crashed (or is still writing): the message has the record
    } else {
      const r = cur.rec;
      if (r.damaged !== undefined) {
        // the stored record cannot be read: the job fails, its record rebuilt from the message
        const next: Rec = { ...fromMsg, state: 'failed', finishedAt: now, updatedAt: now };
        pushError(next, r.damaged, now);
        clearClaim(next);
        // the stand-in has no index marker: let the failed one be written
        if ((await ctx.store.cas({ ...cur, rec: { ...r, mk: 'running' } }, next, now)) !== null) {
          ack(ctx.w, reply);
          return null;
        }
        continue;
      }
      if (isFinishedRec(r)) {
        // idempotency: finished jobs are never run again (the writer of the outcome did not
        // ack: make sure the job is in the finished index first). A finished record of revision
        // 0 was read from its outcome batch (format 7): listed there, nothing to repair. Reading
        // that batch again cost a read of the whole batch per message (with whole records, up
        // to 256 KB each), where the claim's own lookup reads it once
        if (cur.rev !== 0) await ctx.store.repairFinished(r).catch(() => undefined);
        ack(ctx.w, reply);
        return null;
      }
      if (r.state === 'queued') {
        if (r.runAt > now) {
          nak(ctx.w, reply, r.runAt - now);
          return null;
        }
        base = r;
      } else {
        // running
        if (r.msgSeq !== seq) {
          ack(ctx.w, reply); // a duplicate message: another one holds the claim
          return null;
        }
        // redelivered while its lease runs: taken only from a worker the registry, read after
        // the record, shows dead (WorkerView)
        if ((await workers.derived(r, readAt, now)) !== 'orphaned') {
          nak(ctx.w, reply, Math.max(100, (r.leaseExpiresAt ?? now) - now));
          return null;
        }
        // redelivered after its holder vanished: count that attempt
        const next: Rec = { ...r };
        pushError(next, `lease expired (worker ${r.workerId ?? '?'})`, now);
        if (r.attempts >= r.maxAttempts) {
          next.state = 'failed';
          next.finishedAt = now;
          next.updatedAt = now;
          clearClaim(next);
          if ((await ctx.store.cas(cur, next, now)) !== null) {
            ack(ctx.w, reply);
            return null;
          }
          continue;
        }
        base = next;
      }
      prev = cur;
    }
    const run = toRunning(base, p.workerId, p.leaseMs, seq, reply, now);
    const rev = await ctx.store.cas(prev, run, now);
    if (rev !== null) {
      // the job's queued marker is superseded now; it is left for readers to compact (deleting
      // it here costs a stream operation per job: measured ~1/3 of the claim throughput)
      ctx.held.set(run.id, { rec: run, rev });
      return toClaimed(run, now);
    }
  }
  nak(ctx.w, reply, 50);
  return null;
}

const CLAIM_WINDOW = 8;

/** A light claim's record check: the job has no record `<id>` yet. */
const hasNoRecord = (ctx: Ctx, id: string): Promise<boolean> =>
  ctx.w.directGet(ctx.n.jobsStream, ctx.n.jobKey(id)).then((m) => m === null);

/**
 * A claim that takes a parked message later than this after its delivery checks that the job has
 * no record yet before running it (a cancel meanwhile saw the job queued: it deleted the message,
 * which this handle already held, and wrote the record).
 */
const PARKED_FRESH_MS = 100;

/** A parked message taken too long after its delivery to be claimed without a record check. */
function staleParked(m: RawMsg, now: number): boolean {
  const at = m.parkedAt;
  return at !== undefined && now - at > PARKED_FRESH_MS;
}

/** A long-poll delivered `m` (poll.ts): remember when, for the claim that takes it. */
export function precheck(_ctx: Ctx, m: RawMsg): void {
  m.parkedAt = Date.now();
}

/**
 * A first delivery of a message enqueue published, due now: claimed without writing (a light
 * claim). Nothing can have changed the job unseen: a cancel deletes a never-delivered message
 * before it writes `<id>`, whoever changes the job once it runs marks it taken in the running
 * marker first (format 7), and a record written around jobctl before this delivery is
 * superseded by the outcome this claim commits (RunIndex.supersede). A requeue's message is not
 * one (its record exists: updatedAt > createdAt, an index marker set).
 */
function lightClaimable(deliveries: number, r: Rec, now: number): boolean {
  return (
    deliveries === 1 &&
    r.state === 'queued' &&
    r.attempts === 0 &&
    r.runAt <= now &&
    r.mk === undefined &&
    r.updatedAt === r.createdAt &&
    r.damaged === undefined
  );
}

/** A work message's record (its payload), decoded once per delivery; null when it is not ours. */
function msgRec(m: RawMsg): Rec | null {
  let r = m.rec as Rec | null | undefined;
  if (r === undefined) {
    try {
      r = decodeRec(m.data, true);
      if (typeof r?.id !== 'string') r = null;
    } catch {
      r = null;
    }
    m.rec = r;
  }
  return r;
}

function orderKey(m: RawMsg): { runAt: number; id: string } {
  const r = msgRec(m);
  return r === null ? { runAt: 0, id: '' } : { runAt: r.runAt, id: r.id };
}

/** The messages of one claim round, split by how they are claimed (see `claimRound`). */
interface RoundSplit {
  /** light claims: their running records (`mk: running`), in message order */
  light: Rec[];
  lightMsgs: RawMsg[];
  /** the others, claimed through their record */
  heavy: RawMsg[];
  /** ids of the heavy ones (listed in the running marker) */
  ids: string[];
  /** the running marker's entries of the light ones */
  entries: [string, number, string, number][];
}

/** Split a round's messages into light claims and the others (synchronous: the per-message loop). */
function splitRound(ctx: Ctx, msgs: RawMsg[], p: ClaimParams, now: number): RoundSplit {
  const out: RoundSplit = { light: [], lightMsgs: [], heavy: [], ids: [], entries: [] };
  for (const m of msgs) {
    const r = msgRec(m);
    const info = r === null ? null : ackInfo(m.reply!);
    // (a job this handle holds already is decided on its record: see heldHere)
    if (r !== null && lightClaimable(info!.deliveries, r, now) && !heldHere(ctx, r.id)) {
      const run = toRunning(r, p.workerId, p.leaseMs, info!.seq, m.reply!, now);
      run.mk = 'running';
      out.light.push(run);
      out.lightMsgs.push(m);
      out.entries.push([run.id, run.attempts, m.reply!, run.leaseExpiresAt!]);
    } else {
      out.heavy.push(m);
      if (r !== null) out.ids.push(r.id);
    }
  }
  return out;
}

/** At most `want` of the pulled messages, in run_at/id order; the rest go back at once, in order. */
function keepFirst(ctx: Ctx, msgs: RawMsg[], want: number): RawMsg[] {
  const keyed = msgs
    .map((m) => ({ m, k: orderKey(m) }))
    .sort((a, b) => a.k.runAt - b.k.runAt || (a.k.id < b.k.id ? -1 : a.k.id > b.k.id ? 1 : 0));
  // (redeliveries come before new messages)
  for (const x of keyed.slice(want)) nak(ctx.w, x.m.reply!, 0);
  ctx.lastNakAt = Date.now();
  return keyed.slice(0, want).map((x) => x.m);
}

/** The messages of one round of a claim: parked ones a long-poll delivered, or a pull. */
async function roundMessages(
  ctx: Ctx,
  consumer: string,
  want: number,
  first: boolean,
  poll: Poller | null,
): Promise<{ msgs: RawMsg[]; more: number }> {
  // small claims look at a few more messages so that run_at/id order holds within a level
  const fetchN = Math.max(want, CLAIM_WINDOW);
  // messages an idle long-poll delivered go first, claimed at once; a background pull looks
  // for more meanwhile (parked for the next claim). A consumer with a pull of this handle in
  // flight is not pulled again: nothing was pending when it was sent (see poll.ts).
  let msgs = first && poll ? poll.take(consumer, want) : [];
  // (not when the consumer had nothing left to deliver: the ack subject says so)
  const more = msgs.length > 0 && msgs.length < want && pendingAfter(msgs[msgs.length - 1]!.reply!) > 0 ? want - msgs.length : 0;
  if (msgs.length === 0 && poll?.isPulling(consumer)) return { msgs, more };
  if (msgs.length === 0) {
    msgs = await ctx.w.pull(ctx.n.work, consumer, fetchN, { noWait: true, giveUpMs: NO_WAIT_GIVE_UP_MS });
    // a nak this handle just sent may not have been processed by the server yet
    if (msgs.length === 0 && Date.now() - ctx.lastNakAt < 200)
      msgs = await ctx.w.pull(ctx.n.work, consumer, fetchN, { expiresMs: 30 });
  }
  if (msgs.length > want) msgs = keepFirst(ctx, msgs, want);
  return { msgs, more };
}

export async function claim(
  ctx: Ctx,
  p: ClaimParams,
  levels: (q: string) => Promise<number[]>,
  /** bounds the consumer's AckWait by this claim's lease (see ackwait.ts) */
  ackWaitAtMost: (consumer: string) => Promise<void>,
  /** this handle's idle long-polls (null: pull only) */
  poll: Poller | null = null,
): Promise<ClaimedJob[]> {
  // (kept small, as each step is its own function: V8 compiles a function with many awaits in
  // nested loops slowly, and a fresh worker paid that compile on its first jobs)
  const out: ClaimedJob[] = [];
  const workers = new WorkerView(ctx);
  const runs = new RunIndex(ctx.store);
  for (const q of p.queues) {
    if (out.length >= p.limit) break;
    const start = out.length;
    for (const prio of await levels(q)) {
      const consumer = ctx.n.consumer(q, prio);
      await ackWaitAtMost(consumer);
      for (let round = 0; round < 10 && out.length < p.limit; round++) {
        const want = p.limit - out.length;
        const { msgs, more } = await roundMessages(ctx, consumer, want, round === 0, poll);
        if (msgs.length === 0) break;
        // a prefetch for the rest is sent after the round's compare-and-sets
        await claimRound(ctx, p, q, msgs, runs, workers, out, more > 0 ? () => poll!.prefetch(consumer, more) : null);
        if (msgs.length < want) break;
      }
      if (out.length >= p.limit) break;
    }
    // within one queue and one claim: priority, then run_at, then id (the stream is only FIFO)
    const mine = out
      .splice(start)
      .sort((a, b) => a.priority - b.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    out.push(...mine);
  }
  return out;
}

/**
 * Claim one round's messages of queue `q` under one running marker, adding the claimed jobs to
 * `out`. First deliveries of enqueued jobs are claimed without a record write (light claims):
 * the batch's running marker carries their running state. The others (redeliveries, requeued
 * jobs, …) are decided on their record and claimed by a compare-and-set; the marker lists their
 * ids (a superset; readers verify against the records).
 */
async function claimRound(
  ctx: Ctx,
  p: ClaimParams,
  q: string,
  msgs: RawMsg[],
  runs: RunIndex,
  workers: WorkerView,
  out: ClaimedJob[],
  /** called once the compare-and-sets are sent */
  sent: (() => void) | null,
): Promise<void> {
  const now = Date.now();
  const split = splitRound(ctx, msgs, p, now);
  const { lightMsgs, heavy, ids, entries } = split;
  let light = split.light;
  const batchId = newId();
  const first = ctx.store.writeRunBatch(q, batchId, { worker: p.workerId, startedAt: now, runs: entries, ids });
  const batch: ClaimBatch = {
    seq: first,
    left: 0,
    queue: q,
    id: batchId,
    subject: ctx.n.marker(RUN_BATCH, q, batchId),
    worker: p.workerId,
    startedAt: now,
    ids,
    taken: new Set(),
    done: new Set(),
    chain: first.catch(() => undefined),
  };
  for (const run of light) ctx.held.set(run.id, { rec: run, rev: 0, light: true });
  // A light claim reads nothing before its handler runs: the delivery is the claim. A cancel
  // of a never-delivered job deletes its message before it writes `<id>` (ops.ts cancel), so
  // a message delivered here was not cancelled before it was delivered; whoever changes the
  // job once it runs first marks it taken in the running marker (the fence, Store.takeLight).
  // A queued record written around jobctl before the first delivery (hand-edited, damaged)
  // is superseded by the outcome the claim commits, which ran from the message's intact copy
  // (RunIndex.supersede). Only a parked message taken long after its delivery is checked
  // first (a cancel meanwhile saw the job queued), with the marker write (no extra wait).
  const untouched = lightMsgs.map((m, i) => (staleParked(m, now) ? hasNoRecord(ctx, light[i]!.id) : null));
  const claiming = Promise.allSettled(heavy.map((m) => claimDelivery(ctx, m, p, workers, runs)));
  sent?.();
  const checked = untouched.some((c) => c !== null) ? await Promise.allSettled(untouched.map((c) => c ?? true)) : [];
  const changed = lightMsgs.filter(
    (_, i) => checked[i]?.status === 'fulfilled' && !(checked[i] as PromiseFulfilledResult<boolean>).value,
  );
  if (changed.length > 0) {
    const gone = new Set(changed.map((m) => msgRec(m)!.id));
    for (const id of gone) ctx.held.delete(id);
    light = light.filter((r) => !gone.has(r.id));
  }
  const settled = [
    ...(await claiming),
    ...(await Promise.allSettled(changed.map((m) => claimDelivery(ctx, m, p, workers, runs)))),
  ];
  // the marker: light claims run once it was sent (the connection writes it before any reply
  // is read; see "Fast path" in docs/architecture.md); if it then cannot be stored, its light
  // claims are lost (markUnrecorded). Claims through a record wait until it is stored.
  const marked =
    heavy.length > 0
      ? await batch.seq.then(
          () => null,
          (e: unknown) => e,
        )
      : null;
  if (heavy.length === 0) batch.seq.catch(() => (batch.unrecorded = true));
  const failed = settled.find((r) => r.status === 'rejected') ?? checked.find((r) => r.status === 'rejected');
  if (failed !== undefined || marked !== null) {
    // the claim fails (connection dropped, …): nothing of it runs here. The light claims go
    // back at once; the jobs claimed through their record are no longer kept alive by this
    // handle (its in-progress acks), so AckWait or rescue brings them back after their lease
    for (const run of light) {
      ctx.held.delete(run.id);
      redeliver(ctx, run.ackSubj, 0);
    }
    for (const r of settled) if (r.status === 'fulfilled' && r.value) ctx.held.delete(r.value.id);
    throw failed !== undefined ? (failed as PromiseRejectedResult).reason : marked;
  }
  adopt(
    ctx,
    batch,
    light.map((r) => toClaimed(r, now)),
    out,
  );
  adopt(
    ctx,
    batch,
    settled.map((r) => (r as PromiseFulfilledResult<ClaimedJob | null>).value),
    out,
  );
  if (batch.left === 0) dropBatch(ctx, batch);
}

/** Claimed jobs join `out` and this round's batch (a job this handle held before leaves its old batch). */
function adopt(ctx: Ctx, batch: ClaimBatch, jobs: (ClaimedJob | null)[], out: ClaimedJob[]): void {
  for (const j of jobs) {
    if (!j) continue;
    out.push(j);
    const old = ctx.batchOf.get(j.id); // re-claimed by this handle: the old batch lets go of it
    if (old !== undefined && --old.left === 0) dropBatch(ctx, old);
    ctx.batchOf.set(j.id, batch);
    batch.left++;
  }
}

// ---------------------------------------------------------------- outcomes

const holds = (r: Rec, ref: ClaimRef) => r.state === 'running' && r.attempts === ref.attempt && r.workerId === ref.workerId;

function lostReason(v: Versioned | null, ref: ClaimRef): string {
  if (v === null) return 'not found';
  const r = v.rec;
  if (r.state !== 'running') return `lease lost: job is ${r.state}`;
  return `lease lost: job is held by attempt ${r.attempts} of ${r.workerId ?? '?'} (not attempt ${ref.attempt} of ${ref.workerId})`;
}

/**
 * A light claim whose running marker could not be stored (the claim returned before its PubAck):
 * nobody else can see it running, so it counts as lost — its outcome is refused and the heartbeat
 * reports it, and its message comes back after AckWait.
 */
const unrecorded = (ctx: Ctx, id: string): boolean => ctx.batchOf.get(id)?.unrecorded === true;
const UNRECORDED = 'lease lost: the claim could not be recorded (its running marker was not stored)';

/** A refusal carries the record it met (`cur`), when one was read. */
type Fenced = { ok: true; prev: Rec; next: Rec } | { ok: false; reason: string; cur?: Rec };

/** Compare-and-set a running job this claim still holds; nothing is written otherwise. */
export async function fenced(
  ctx: Ctx,
  ref: ClaimRef,
  mutate: (r: Rec, now: number) => Rec,
  batches?: FinBatches,
  /** the held record is known to be stale (a compare-and-set over it failed): read first */
  reread = false,
): Promise<Fenced> {
  const h = ctx.held.get(ref.id);
  if (h?.light && holds(h.rec, ref) && unrecorded(ctx, ref.id)) {
    unhold(ctx, ref.id);
    return { ok: false, reason: UNRECORDED };
  }
  let v: Versioned | null = h && holds(h.rec, ref) && !reread ? { rec: h.rec, rev: h.rev } : null;
  for (let i = 0; i < 5; i++) {
    v ??= await ctx.store.get(ref.id);
    if (v === null || !holds(v.rec, ref)) {
      // a wrong claim reference must not make this handle let go of a claim it still holds
      // (a light claim's running state is its entry in the batch marker this handle owns)
      const mine = ctx.held.get(ref.id);
      if (!(mine && v && holds(v.rec, { id: ref.id, attempt: mine.rec.attempts, workerId: mine.rec.workerId ?? '' })))
        unhold(ctx, ref.id);
      return v === null ? { ok: false, reason: lostReason(v, ref) } : { ok: false, reason: lostReason(v, ref), cur: v.rec };
    }
    const now = Date.now();
    const next = mutate({ ...v.rec, updatedAt: now }, now);
    const rev = await ctx.store.cas(v, next, now, batches?.idFor(next));
    if (rev !== null) {
      if (next.state === 'running') ctx.held.set(ref.id, { rec: next, rev });
      else unhold(ctx, ref.id);
      return { ok: true, prev: v.rec, next };
    }
    v = null;
  }
  return { ok: false, reason: 'lease lost: the record kept changing' };
}

/**
 * fenced for many claims of one outcome call: the claims this handle holds (the usual case) are
 * written as one batch of compare-and-sets (Store.casMany: one buffer, one promise); the rest,
 * and any whose compare-and-set failed (the record changed: read it and decide), go through fenced.
 */
async function fencedMany<T extends ClaimRef>(
  ctx: Ctx,
  items: readonly T[],
  mutate: (it: T, r: Rec, now: number) => Rec,
  batches: FinBatches,
  /** collects the held light claims that finish (format 7): left out of the answers (undefined) */
  light?: LightOutcome<T>[],
): Promise<(Fenced | undefined)[]> {
  // the answers in item order: a settled one, or the slow path's promise (no promise per fast item)
  const out: (Fenced | Promise<Fenced>)[] = new Array(items.length);
  let slow = false;
  const now = Date.now();
  const fast: { i: number; prev: Versioned; next: Rec; finBatch?: string }[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const h = ctx.held.get(it.id);
    if (h === undefined || !holds(h.rec, it) || (h.light && unrecorded(ctx, it.id))) {
      out[i] = fenced(ctx, it, (r, t) => mutate(it, r, t), batches);
      slow = true;
      continue;
    }
    const next = mutate(it, { ...h.rec, updatedAt: now }, now);
    const batch = ctx.batchOf.get(it.id);
    if (light !== undefined && h.light && batch !== undefined && (next.state === 'completed' || next.state === 'failed')) {
      // no record of its own: stored in its outcome batch, committed through its running marker
      next.mk = next.state;
      next.mseq = null;
      next.qb = null;
      next.fb = batches.idFor(next, true) ?? null;
      light.push({ i, it, prev: h.rec, next, batch });
      continue;
    }
    fast.push({ i, prev: { rec: h.rec, rev: h.rev }, next, finBatch: batches.idFor(next) });
  }
  if (fast.length > 0) {
    const revs = await ctx.store.casMany(fast, now);
    for (let k = 0; k < fast.length; k++) {
      const f = fast[k]!;
      const rev = revs[k]!;
      const it = items[f.i]!;
      if (rev instanceof Error || rev === null) {
        out[f.i] = rev === null ? fenced(ctx, it, (r, t) => mutate(it, r, t), batches, true) : Promise.reject(rev);
        slow = true;
      } else {
        if (f.next.state === 'running') ctx.held.set(it.id, { rec: f.next, rev });
        else unhold(ctx, it.id);
        out[f.i] = { ok: true, prev: f.prev.rec, next: f.next };
      }
    }
  }
  return slow ? Promise.all(out) : (out as (Fenced | undefined)[]);
}

/** A held light claim that an outcome call finishes (format 7, docs/architecture.md). */
interface LightOutcome<T> {
  i: number;
  it: T;
  prev: Rec;
  next: Rec;
  batch: ClaimBatch;
}

/**
 * The rest of an outcome call of format 7, after fencedMany: store the outcome batches (the
 * records of every job it finished, the light claims' among them: prepare), then commit the
 * light claims through their running markers (their ids into `d`, one compare-and-set per
 * marker), and only then let the caller ack. A light claim that was taken meanwhile, or whose
 * marker is gone, or any of them when the batches could not be stored, goes down the per-job
 * path (the create of `<id>`, which fails when the taker wrote it first). Returns every item's
 * answer and whether the batches were stored (if not, nothing may be acked: the messages come
 * back and their claimer repairs the index, as before).
 */
async function settleLight<T extends ClaimRef>(
  ctx: Ctx,
  batches: FinBatches,
  answers: (Fenced | undefined)[],
  light: LightOutcome<T>[],
  perJob: (it: T) => Promise<Fenced>,
): Promise<{ answers: Fenced[]; stored: boolean; committed: Rec[] }> {
  for (const f of answers) if (f?.ok === true && (f.next.state === 'completed' || f.next.state === 'failed')) batches.add(f.next);
  for (const l of light) batches.add(l.next);
  const stored = await batches.write(ctx);
  const byBatch = new Map<ClaimBatch, LightOutcome<T>[]>();
  const late: LightOutcome<T>[] = [];
  const committed: Rec[] = [];
  for (const l of light) {
    let g = byBatch.get(l.batch);
    if (g === undefined) byBatch.set(l.batch, (g = []));
    g.push(l);
  }
  if (!stored) {
    // nothing committed without its outcome stored: the per-job path (the create of `<id>`)
    late.push(...light);
    byBatch.clear();
  }
  for (const ls of byBatch.values()) for (const l of ls) l.batch.done.add(l.it.id);
  await Promise.all(
    [...byBatch].map(async ([b, ls]) => {
      let w: MarkerWrite;
      try {
        w = await writeRunMarker(ctx, b);
      } catch {
        w = { written: false, taken: new Set() };
      }
      for (const l of ls) {
        if (w.written && b.done.has(l.it.id)) {
          committed.push(l.next);
          answers[l.i] = { ok: true, prev: l.prev, next: l.next };
        } else {
          b.done.delete(l.it.id);
          late.push(l);
        }
      }
    }),
  );
  await Promise.all(
    late.map(async (l) => {
      const f = await perJob(l.it);
      // taken by one that found this outcome stored (its holder looked dead or late: Store.
      // takeLight) and wrote it as the record: it stands, listed by the batch it names
      answers[l.i] = !f.ok && f.cur !== undefined && adopted(f.cur, l.next) ? { ok: true, prev: l.prev, next: f.cur } : f;
    }),
  );
  // refused (taken by another): out of the batch that stored it, or stats count it until a
  // listing compacts the batch (also when another of the call's batches could not be stored)
  const refused = late.filter((l) => answers[l.i]?.ok !== true);
  if (refused.length > 0)
    await ctx.store
      .unlistMany(refused.map((l) => ({ id: l.it.id, state: l.next.state as MarkerState, queue: l.next.queue, fb: l.next.fb })))
      .catch(() => undefined); // upkeep: a listing compacts what is left
  return { answers: answers as Fenced[], stored, committed };
}

/** Whether record `cur` is the light claim's outcome `mine`, stored in its batch and written as the record by a taker. */
const adopted = (cur: Rec, mine: Rec): boolean =>
  isFinishedRec(cur) && cur.state === mine.state && cur.fb != null && cur.fb === mine.fb && cur.attempts === mine.attempts;

/**
 * Let go of the light claims an outcome call committed, once their acks were confirmed: the last
 * job of a claim deletes its running marker, and a job in no running marker whose message is
 * still there is read as not run (RunIndex.overlay). Acks not confirmed (refused, connection
 * lost): their messages may come back, so the records are written as `<id>` first (one create
 * each, only then), and kept in the marker if even that fails.
 */
async function releaseCommitted(ctx: Ctx, committed: readonly Rec[], acked: boolean): Promise<void> {
  if (committed.length === 0) return;
  if (!acked) {
    const writes = await ctx.w
      .publishMany(committed.map((r) => ({ subject: ctx.n.jobKey(r.id), data: encodeRecText(r), expectSeq: 0 })))
      .catch(() => null);
    if (writes === null || writes.some((x) => x instanceof Error)) return;
  }
  for (const r of committed) unhold(ctx, r.id);
}

/**
 * The outcome batches of one outcome call (format 7): one finished-batch marker per state, queue
 * and id bucket (split further past OUTCOME_BATCH_BYTES), carrying the records of the jobs that
 * call finished. Written after the record writes of the jobs claimed through a record and before
 * the commit of the light claims (settleLight), then the acks.
 */
class FinBatches {
  /** the open batch per state, queue and id bucket */
  private readonly open = new Map<string, OutcomeBatch>();
  /** every batch by name */
  private readonly byName = new Map<string, OutcomeBatch>();
  /** the batch each job was given */
  private readonly ofJob = new Map<string, string>();

  /** the entry each job was given (its text decided its batch) */
  private readonly entryOf = new Map<string, OutcomeEntry>();

  /**
   * The batch of a job this call finishes (its `fb`); `light`: a light claim's outcome, whose
   * entry is its outcome (encoded here, once: its size picks the batch, so the record must be
   * final but for `fb`), else the id alone (its `<id>` holds the outcome).
   */
  idFor(r: Rec, light = false): string | undefined {
    if (r.state !== 'completed' && r.state !== 'failed') return undefined;
    // asked again for a job (the per-job path after a failed commit): the batch that lists it
    const given = this.ofJob.get(r.id);
    if (given !== undefined) return given;
    const bucket = idBucket(r.id);
    const key = `${r.state}\u0000${r.queue}\u0000${bucket}`;
    const entry = outcomeEntry(r, light);
    // characters, not bytes: under max_payload (1 MiB) even if every one took three
    const size = entry.text.length + 1;
    let b = this.open.get(key);
    if (b === undefined || (b.bytes > 0 && b.bytes + size > OUTCOME_BATCH_BYTES)) {
      b = { state: r.state, queue: r.queue, name: outcomeBatchName(bucket, newId()), entries: [], bytes: 0 };
      this.open.set(key, b);
      this.byName.set(b.name, b);
    }
    b.bytes += size;
    this.ofJob.set(r.id, b.name);
    this.entryOf.set(r.id, entry);
    return b.name;
  }

  /** A job the call finished: its entry goes into the batch it names (`fb`, from idFor). */
  add(r: Rec): void {
    const e = this.entryOf.get(r.id);
    if (r.fb && e !== undefined) this.byName.get(r.fb)?.entries.push(e);
  }

  /**
   * Write the markers; returns false when one could not be written (then nothing is acked). A
   * marker whose write failed (a timeout under load) is written again, twice at most, merged
   * into what is there (Store.mergeOutcomeBatch): the records it lists may already say
   * finished, and until it is stored `stats` and listings miss them (reliability scenario 1:
   * jobs stayed uncounted after the workers stopped, their messages never redelivered to a
   * claimer that repairs the index).
   */
  async write(ctx: Ctx): Promise<boolean> {
    let todo = [...this.byName.values()].filter((b) => b.entries.length > 0);
    for (let attempt = 0; ; attempt++) {
      const results = await Promise.all(
        todo.map((b) =>
          (attempt === 0
            ? ctx.store.writeOutcomeBatch(b.state, b.queue, b.name, b.entries).then((seq) => seq !== null)
            : ctx.store.mergeOutcomeBatch(b.state, b.queue, b.name, b.entries).then(() => true)
          ).catch(() => false),
        ),
      );
      todo = todo.filter((_, i) => !results[i]);
      if (todo.length === 0) return true;
      // the outcomes are stored; if the markers cannot be, their messages are redelivered after
      // AckWait and the claimer that meets the finished records repairs the index and acks them
      if (attempt === 2) return false;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
  }
}

interface OutcomeBatch {
  state: 'completed' | 'failed';
  queue: string;
  /** `<bucket>.<batch id>` (outcomeBatchName): the records' `fb` */
  name: string;
  entries: OutcomeEntry[];
  /** size of the entries given this batch so far (characters) */
  bytes: number;
}

/**
 * Size at which an outcome batch is split (characters of its entries): well under the server's
 * max_payload (1 MB by default) even if every character took three bytes, so that no batch is
 * refused for its size. A lone entry over it is a batch of its own: no bigger than the job's
 * record, which may not be bigger than max_payload less RECORD_RESERVE_BYTES.
 */
const OUTCOME_BATCH_BYTES = 256 * 1024;

/** Finish an outcome call without light claims: batch markers, then the acks of finished jobs (only after both). */
async function ackFinished(ctx: Ctx, batches: FinBatches, acks: (string | null)[]): Promise<void> {
  if (!(await batches.write(ctx))) return;
  // acks wait for the server's confirmation: stats count unfinished jobs from the consumers, so
  // a finished job must not still count as an unacked message once the outcome call returned
  await finishMessagesSync(ctx, acks);
}

function finish(r: Rec, state: 'completed' | 'failed', now: number): Rec {
  r.state = state;
  r.finishedAt = now;
  clearClaim(r);
  return r;
}

export async function complete(ctx: Ctx, items: CompleteItem[]): Promise<OutcomeResult[]> {
  const batches = new FinBatches();
  const events = new EventBatches(ctx, items);
  const acks: (string | null)[] = [];
  const mutate = (it: CompleteItem, r: Rec, now: number): Rec => {
    r.result = it.result === undefined ? null : it.result;
    // the record names the log batch that will hold its event lines (logs <job id>)
    const lb = events.batchOf(it.id);
    if (lb !== null) r.lb = r.lb && r.lb.length > 0 ? [...r.lb, lb].slice(-KEPT_LOG_BATCHES) : [lb];
    return finish(r, 'completed', now);
  };
  const light: LightOutcome<CompleteItem>[] = [];
  const first = await fencedMany(ctx, items, mutate, batches, light);
  const { answers, stored, committed } = await settleLight(ctx, batches, first, light, (it) =>
    fenced(ctx, it, (r, now) => mutate(it, r, now), batches),
  );
  const out = answers.map((f, i): OutcomeResult => {
    const id = items[i]!.id;
    if (!f.ok) return { id, ok: false, reason: f.reason };
    acks.push(f.prev.ackSubj);
    return { id, ok: true, state: 'completed' as const };
  });
  // only now: the outcomes are stored (and the light claims' committed); acks wait for the
  // server's confirmation: stats count unfinished jobs from the consumers
  await releaseCommitted(ctx, committed, stored && (await finishMessagesSync(ctx, acks)));
  events.fire(ctx, new Set(out.filter((r) => r.ok).map((r) => r.id)));
  return out;
}

/** Log batches a record names (older ones: their lines are still read by queue and worker). */
const KEPT_LOG_BATCHES = 20;

export async function fail(ctx: Ctx, items: FailItem[]): Promise<OutcomeResult[]> {
  const batches = new FinBatches();
  const acks: (string | null)[] = [];
  const mutate = (it: FailItem, r: Rec, now: number): Rec => {
    pushError(r, it.error, now);
    if (it.final || r.attempts >= r.maxAttempts) return finish(r, 'failed', now);
    r.state = 'queued';
    r.runAt = now + Math.max(0, it.retryDelayMs);
    clearClaim(r);
    return r;
  };
  const light: LightOutcome<FailItem>[] = [];
  const first = await fencedMany(ctx, items, mutate, batches, light);
  const { answers, stored, committed } = await settleLight(ctx, batches, first, light, (it) =>
    fenced(ctx, it, (r, now) => mutate(it, r, now), batches),
  );
  const out = answers.map((f, i): OutcomeResult => {
    const it = items[i]!;
    if (!f.ok) return { id: it.id, ok: false, reason: f.reason };
    if (f.next.state === 'failed') acks.push(f.prev.ackSubj);
    else redeliver(ctx, f.prev.ackSubj, Math.max(0, it.retryDelayMs));
    const state =
      f.next.state === 'failed' ? ('failed' as const) : f.next.runAt > Date.now() ? ('scheduled' as const) : ('queued' as const);
    return { id: it.id, ok: true, state };
  });
  await releaseCommitted(ctx, committed, stored && (await finishMessagesSync(ctx, acks)));
  return out;
}

export async function release(ctx: Ctx, items: ReleaseItem[], wake: (q: string) => void): Promise<OutcomeResult[]> {
  const batches = new FinBatches();
  const acks: (string | null)[] = [];
  const out = await Promise.all(
    items.map(async (it): Promise<OutcomeResult> => {
      const f = await fenced(
        ctx,
        it,
        (r, now) => {
          if (it.notStarted) {
            // claimed ahead and never started: the attempt is given back, run_at and place kept
            r.state = 'queued';
            r.attempts = Math.max(0, r.attempts - 1);
            r.startedAt = null;
            clearClaim(r);
            return r;
          }
          if (r.attempts >= r.maxAttempts) {
            pushError(r, it.reason, now);
            return finish(r, 'failed', now);
          }
          r.state = 'queued';
          r.runAt = now;
          clearClaim(r);
          return r;
        },
        batches,
      );
      if (!f.ok) return { id: it.id, ok: false, reason: f.reason };
      if (f.next.state === 'failed') {
        batches.add(f.next);
        acks.push(f.prev.ackSubj);
      } else {
        redeliver(ctx, f.prev.ackSubj, 0);
        wake(f.next.queue);
      }
      return { id: it.id, ok: true, state: f.next.state as 'failed' | 'queued' };
    }),
  );
  await ackFinished(ctx, batches, acks);
  return out;
}

export async function setProgress(ctx: Ctx, ref: ClaimRef, progress: unknown): Promise<boolean> {
  const f = await fenced(ctx, ref, (r) => {
    r.progress = progress === undefined ? null : progress;
    return r;
  });
  return f.ok;
}

export async function extendLeases(ctx: Ctx, p: ExtendLeasesParams): Promise<{ lost: string[] }> {
  const lost: string[] = [];
  const light: { id: string; attempt: number; held: Held }[] = [];
  const heavy: { id: string; attempt: number }[] = [];
  for (const j of p.jobs) {
    const h = ctx.held.get(j.id);
    if (h?.light && holds(h.rec, { id: j.id, attempt: j.attempt, workerId: p.workerId })) {
      if (unrecorded(ctx, j.id)) {
        unhold(ctx, j.id); // its message comes back after AckWait (no more in-progress acks)
        lost.push(j.id);
      } else light.push({ ...j, held: h });
    } else heavy.push(j);
  }
  /** a job with a record: compare-and-set of its lease (a light claim fenced by another fails here) */
  const byRecord = async (j: { id: string; attempt: number }) => {
    const f = await fenced(ctx, { id: j.id, attempt: j.attempt, workerId: p.workerId }, (r, now) => {
      r.leaseExpiresAt = now + p.leaseMs;
      return r;
    });
    if (!f.ok) lost.push(j.id);
    else if (f.next.ackSubj) working(ctx.w, f.next.ackSubj); // resets the server's AckWait
  };
  await Promise.all([extendLight(ctx, light, p.leaseMs, byRecord), ...heavy.map(byRecord)]);
  return { lost };
}

/**
 * Light claims: lost when the job has a record now (whoever fenced the claim wrote it: cancel,
 * reset, rescue, a redelivery's claim); the others get the new lease in their batch marker
 * (written again once per batch), then `+WPI`.
 */
async function extendLight(
  ctx: Ctx,
  jobs: { id: string; attempt: number; held: Held }[],
  leaseMs: number,
  byRecord: (j: { id: string; attempt: number }) => Promise<void>,
): Promise<void> {
  if (jobs.length === 0) return;
  const recs = await Promise.all(jobs.map((j) => ctx.w.directGet(ctx.n.jobsStream, ctx.n.jobKey(j.id))));
  const lease = Date.now() + leaseMs;
  const batches = new Set<ClaimBatch>();
  const kept: { id: string; attempt: number; held: Held }[] = [];
  const recorded: Promise<void>[] = [];
  jobs.forEach((j, i) => {
    if (recs[i] !== null || ctx.held.get(j.id) !== j.held) {
      recorded.push(byRecord(j)); // written since (by this handle's setProgress, or by whoever fenced it)
      return;
    }
    j.held.rec.leaseExpiresAt = lease;
    kept.push(j);
    const b = ctx.batchOf.get(j.id);
    if (b !== undefined) batches.add(b);
  });
  const writes = await Promise.all([...batches].map((b) => writeRunMarker(ctx, b).then((w) => ({ b, w }))));
  await Promise.all(recorded);
  // a job another took meanwhile (marked in the marker before its `<id>` is written), or of a
  // marker that is gone: decided on its record, which the taker writes (lost here, as a rule)
  const lost = new Set<string>();
  for (const { b, w } of writes) {
    for (const id of w.taken) lost.add(id);
    if (!w.written) for (const j of kept) if (ctx.batchOf.get(j.id) === b) lost.add(j.id);
  }
  await Promise.all(kept.filter((j) => lost.has(j.id)).map((j) => byRecord(j)));
  for (const j of kept) if (j.held.rec.ackSubj && !lost.has(j.id)) working(ctx.w, j.held.rec.ackSubj);
}

/**
 * Write a claim's running marker again: the light claims this handle still holds from it (with
 * their leases) and the done and taken ids. A compare-and-set on its subject, one write at a time
 * per marker in this handle (format 7: others mark the jobs they take there, `t`); when the marker
 * changed, its taken ids are merged in and the write is tried again. Returns the ids this write
 * found taken — every light claim still held from it when the marker is gone (deleted by
 * compaction once all of its jobs were changed by others) or was never stored.
 */
function writeRunMarker(ctx: Ctx, b: ClaimBatch): Promise<MarkerWrite> {
  const run = async (): Promise<MarkerWrite> => {
    const taken = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const entries: [string, number, string, number][] = [];
      for (const [id, batch] of ctx.batchOf) {
        if (batch !== b || b.taken.has(id) || b.done.has(id)) continue;
        const h = ctx.held.get(id);
        if (h?.light && h.rec.ackSubj) entries.push([id, h.rec.attempts, h.rec.ackSubj, h.rec.leaseExpiresAt ?? 0]);
      }
      const seq = await b.seq.catch(() => null);
      if (seq === null) return { written: false, taken };
      const body = encodeRunMarker({
        worker: b.worker,
        startedAt: b.startedAt,
        runs: entries,
        ids: b.ids,
        taken: [...b.taken],
        done: [...b.done],
      });
      const rev = await ctx.w.publish(b.subject, body, { expectSeq: seq });
      if (rev !== null) {
        b.seq = Promise.resolve(rev);
        return { written: true, taken };
      }
      const cur = await ctx.w.directGet(ctx.n.act, b.subject);
      if (cur === null) {
        b.seq = Promise.resolve(null);
        return { written: false, taken };
      }
      for (const id of takenIn(cur.data))
        if (!b.taken.has(id)) {
          b.taken.add(id);
          taken.add(id);
          // not committed here (a taker that finds a job done does not take it)
          b.done.delete(id);
        }
      b.seq = Promise.resolve(cur.seq);
    }
    throw new Error(`the running marker ${b.id} kept changing`);
  };
  const p = b.chain.then(run, run);
  b.chain = p.catch(() => undefined);
  return p;
}

/** What a write of a running marker did: stored or not (the marker is gone), and the ids it found taken. */
interface MarkerWrite {
  written: boolean;
  taken: Set<string>;
}

// ---------------------------------------------------------------- rescue

/**
 * The ids of the running-batch markers whose records a rescue pass must read (sorted): every id
 * but the light claims whose marker entry shows a live worker and a lease not expired yet. Such
 * a job is not orphaned: its initial record with that entry is running and healthy, and once it
 * has a record it is finished, or running by a claim that lists it among its marker's record
 * ids (read), or by its holder's progress write (whose lease the holder keeps at least as long).
 * Under 16 workers × 32 slots most of the thousands of running jobs are such light claims, which
 * cost two direct gets each per pass before.
 */
export function suspects(batches: readonly RunBatch[], workers: Map<string, WorkerRecord>, now: number): string[] {
  const read = new Set<string>();
  for (const b of batches) {
    const light = new Set<string>();
    for (const e of b.runs) {
      light.add(e.id);
      const alive = workers.get(e.workerId)?.alive === true;
      // done: finished (read only for a dead holder's marker, which compaction deletes once every
      // job of it is read finished); taken: the taker may have died before writing `<id>`
      if (e.status === 'done' ? !alive : !(e.status === 'running' && e.leaseExpiresAt > now && alive)) read.add(e.id);
    }
    for (const id of b.ids) if (!light.has(id)) read.add(id);
  }
  return [...read].sort();
}

export async function rescue(ctx: Ctx, limit: number, wake: (q: string) => void): Promise<RescueResult> {
  const out: RescueResult = { requeued: [], failed: [] };
  const { ids: marked, batches } = await ctx.store.markerIdsWithBatches(['running']);
  if (marked.size === 0) return out;
  const view = new WorkerView(ctx);
  const workers = await view.read();
  const now = Date.now();
  const ids = suspects(batches, workers, now);
  const recs = await ctx.store.getMany(ids, RunIndex.from(ctx.store, batches));
  const readAt = performance.now();
  ctx.store.compactRunBatches(batches, new Map(ids.map((id, i) => [id, recs[i] ?? null])), now);
  // orphaned by the registry read before the records: confirmed on one read after them
  const cands = recs.filter((v): v is Versioned => v !== null && derived(v.rec, workers, now) === 'orphaned');
  const verdicts = await Promise.all(cands.map((v) => view.derived(v.rec, readAt, now)));
  const todo = cands.filter((_, i) => verdicts[i] === 'orphaned').slice(0, limit);
  await Promise.all(
    todo.map(async (v) => {
      const r = v.rec;
      const next: Rec = { ...r, updatedAt: now };
      pushError(next, `lease expired (worker ${r.workerId ?? '?'})`, now);
      if (r.attempts >= r.maxAttempts) {
        next.state = 'failed';
        next.finishedAt = now;
      } else {
        next.state = 'queued';
        next.runAt = now;
      }
      clearClaim(next);
      if ((await ctx.store.cas(v, next, now)) === null) return;
      unhold(ctx, r.id);
      if (next.state === 'failed') {
        finishMessage(ctx, r.ackSubj);
        out.failed.push(r.id);
      } else {
        redeliver(ctx, r.ackSubj, 0);
        wake(r.queue);
        out.requeued.push(r.id);
      }
    }),
  );
  out.requeued.sort();
  out.failed.sort();
  return out;
}
