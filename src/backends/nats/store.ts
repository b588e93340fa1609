/**
 * Job records (KV bucket, compare-and-set by revision) with their state index markers, and
 * server-side reads over streams (ephemeral consumers): the only code that writes records.
 */
import { idBucket, type Names } from './names.js';
import {
  damagedRec,
  decodeRec,
  encodeRec,
  encodeRecText,
  fromOutcome,
  markerState,
  type MarkerState,
  type Rec,
  type Versioned,
  type OutcomeEntry,
  type StoredOutcome,
} from './record.js';
import type { MsgHdrs } from '@nats-io/transport-node';
import { JsApiError, ackInfo, text, type RawMsg, type Wire } from './wire.js';

export interface ReadItem {
  subject: string;
  seq: number;
  /** epoch ms the message was stored */
  ts: number;
  data: Uint8Array;
  headers?: MsgHdrs;
}

export interface ReadOptions {
  startSeq?: number;
  startTimeMs?: number;
  lastPerSubject?: boolean;
  headersOnly?: boolean;
  /** stop after this many messages */
  max?: number;
  /**
   * A log stream (many messages per subject, appended to): read what was pending when the read
   * began, in stream order. Otherwise (KV buckets and the index: one message per subject, a newer
   * one replacing the older) read until nothing is pending and keep the newest per subject.
   */
  log?: boolean;
}

/**
 * What a compare-and-set of `next` over `prev` does to the index (docs/architecture.md): sets
 * next.mk and next.fb, returns the marker states before and after.
 */
function prepare(
  prev: Versioned | null,
  next: Rec,
  now: number,
  finBatch: string | undefined,
): { mk: MarkerState; oldMk: MarkerState | null; inBatch: boolean } {
  const mk = markerState(next, now);
  const oldMk = prev ? (prev.rec.mk ?? markerState(prev.rec, now)) : null;
  next.mk = mk;
  // a finished job of an outcome batch is listed by the batch's marker (written by the caller)
  const inBatch = finBatch !== undefined && FINISHED.has(mk);
  next.fb = inBatch ? finBatch : FINISHED.has(mk) && oldMk === mk ? (next.fb ?? null) : null;
  return { mk, oldMk, inBatch };
}

export class Store {
  constructor(
    private readonly w: Wire,
    private readonly n: Names,
  ) {}

  /**
   * The job's record. Until its first change (claim, cancel, …) a job has only its initial
   * record (initialKey, written by enqueue); it is returned with revision 0, so that the first
   * compare-and-set creates the record at jobKey (and fails if another change came first).
   */
  async get(id: string, runs: RunIndex | false = new RunIndex(this)): Promise<Versioned | null> {
    const m = await this.w.directGet(this.n.jobsStream, this.n.jobKey(id));
    if (m !== null) {
      const cur: Versioned = { rec: this.decode(id, m.data), rev: m.seq };
      return runs === false ? cur : runs.supersede(cur);
    }
    const v = await this.initial(id);
    return v === null || runs === false ? v : runs.overlay(v);
  }

  /** The job's initial record (written by enqueue), with revision 0; null when there is none. */
  async initial(id: string): Promise<Versioned | null> {
    const first = await this.w.directGet(this.n.jobsStream, this.n.initialKey(id));
    return first === null ? null : { rec: this.decode(id, first.data), rev: 0 };
  }

  /** A stored record, or the damaged-record stand-in when it cannot be decoded (never throws). */
  private decode(id: string, data: Uint8Array): Rec {
    try {
      return decodeRec(data);
    } catch (e) {
      return damagedRec(id, (e as Error).message);
    }
  }

  /** Write a new job's initial record (with the sequence of the waiting marker enqueue wrote). */
  async createInitial(rec: Rec, now: number, markerSeq: number | null): Promise<boolean> {
    rec.mk = markerState(rec, now);
    rec.mseq = markerSeq;
    return (await this.w.publish(this.n.initialKey(rec.id), encodeRec(rec), { expectSeq: 0 })) !== null;
  }

  /**
   * Compare-and-set `next` over `prev` (null: the record must not exist). Returns the new
   * revision, or null when the record changed meanwhile. Index markers (docs/architecture.md):
   * - running: no marker per job (the claim writes one marker per claimed batch);
   * - queued/scheduled: the marker is written first and its sequence stored in the record, so the
   *   claimer can delete it by sequence later; a superseded one is left for readers, which verify
   *   every marker against its record and delete stale ones by sequence;
   * - finished: written together with the record (one pipelined burst per outcome batch).
   * Nothing is purged here except the finished marker of a job that leaves a finished state
   * (requeue: an operator path); `unlist` false leaves that to the caller (unlistMany, once per
   * batch marker for many jobs: one rewrite per job of a batch marker contends with itself).
   * `queuedBatch`: the queued-batch marker (format 6) the caller wrote listing this job, instead
   * of a per-job queued marker; the record names it (`qb`) while the job stays queued.
   */
  async cas(
    prev: Versioned | null,
    next: Rec,
    now = Date.now(),
    finBatch?: string,
    /** sequence of the waiting marker the caller already wrote (enqueue) */
    writtenMarker?: number | null,
    unlist = true,
    queuedBatch?: string,
  ): Promise<number | null> {
    if (prev !== null && prev.rev === 0 && prev.light !== undefined && !(await this.takeLight(prev, next.id))) return null;
    const { mk, oldMk, inBatch } = prepare(prev, next, now, finBatch);
    const inQueued = queuedBatch !== undefined && mk === 'queued';
    const writeMarker = mk !== 'running' && mk !== oldMk && !inBatch && !inQueued;
    const waiting = mk === 'queued' || mk === 'scheduled';
    if (writeMarker && waiting)
      next.mseq = writtenMarker !== undefined ? writtenMarker : await this.w.publish(this.n.marker(mk, next.queue, next.id), '');
    else if (!waiting || inQueued) next.mseq = null;
    // listed by a queued-batch marker: the caller's, or the one it had while it stays queued
    next.qb = inQueued ? queuedBatch : mk === 'queued' && !writeMarker ? (next.qb ?? null) : null;
    const write = this.w.publish(this.n.jobKey(next.id), encodeRec(next), { expectSeq: prev ? prev.rev : 0 });
    const fin = writeMarker && !waiting ? this.w.publish(this.n.finMarker(mk, next.queue, next.id), '') : null;
    const [rev, fseq] = await Promise.all([write, fin]);
    if (rev === null) {
      if (writeMarker) {
        // we wrote a marker for a transition that did not happen: drop it unless it is true now
        const cur = await this.get(next.id, false);
        const curMk = cur ? (cur.rec.mk ?? markerState(cur.rec, now)) : null;
        const seq = waiting ? next.mseq : fseq;
        if (curMk !== mk && seq) await this.deleteSeq(waiting ? this.n.markerStream(mk) : this.n.fin, seq);
      }
      return null;
    }
    if (unlist && prev !== null && oldMk !== null && oldMk !== mk && FINISHED.has(oldMk))
      await this.unlistFinished(prev.rec, oldMk);
    return rev as number;
  }

  /**
   * The fence of format 7 (docs/architecture.md): before anyone but its holder changes a job
   * that runs by a light claim, the job's entry in the claim's running marker is marked taken
   * (compare-and-set on the marker), so the holder can no longer commit an outcome there and goes
   * down the per-job path, whose create of `<id>` then fails. Returns whether the caller may go
   * on creating `<id>`; false (the caller reads the job again): the holder committed its outcome
   * first (entry done, or the marker gone: the job is found finished), or an outcome the holder
   * stored and did not commit (it died, or is late) was found and written as `<id>`: it stands.
   */
  private async takeLight(prev: Versioned, id: string): Promise<boolean> {
    const { taken, runs } = await this.markTaken(prev.light!.subject, id);
    if (!taken) return false;
    const stored = await runs.outcome(prev.rec, id);
    if (stored === undefined) return true;
    await this.w.publish(this.n.jobKey(id), encodeRec(stored), { expectSeq: 0 });
    return false;
  }

  /** Marks this handle is writing, per running marker (takeLight). */
  private readonly takes = new Map<string, TakeQueue>();

  /**
   * Mark a light claim taken in its running marker (`t`), together with the other jobs of the
   * same marker this handle takes meanwhile: one compare-and-set in flight per marker, and the
   * ids asked for while it is in flight go into the next one. A rescue or a claim that takes a
   * dead worker's jobs takes many of one marker at once; one compare-and-set each on the same
   * subject failed against each other and were read and tried again, round after round (measured
   * under load: a claim of 5–11 such jobs took 1.4–2.6 s, most of its lease). `taken`: the entry
   * is marked taken (by this write, or by another taker before); false when the holder committed
   * it (`d`), or it is no light claim of that marker, or the marker is gone. `runs`: a lookup
   * made after the mark was stored, shared by the ids of one write (one read of a bucket's
   * outcome batches for all of them).
   */
  private markTaken(subject: string, id: string): Promise<{ taken: boolean; runs: RunIndex }> {
    let q = this.takes.get(subject);
    if (q === undefined) this.takes.set(subject, (q = { next: null, tail: Promise.resolve(), open: 0 }));
    const queue = q;
    let round = queue.next;
    if (round === null) {
      const ids = new Set<string>();
      const r: TakeRound = {
        ids,
        // starts once the write in flight is done; from then on it takes no more ids
        result: queue.tail.then(() => {
          if (queue.next === r) queue.next = null;
          return this.writeTaken(subject, ids);
        }),
      };
      round = queue.next = r;
      queue.open++;
      queue.tail = r.result.then(
        () => this.closeTake(subject, queue),
        () => this.closeTake(subject, queue),
      );
    }
    round.ids.add(id);
    return round.result.then(({ taken, runs }) => ({ taken: taken.has(id), runs }));
  }

  private closeTake(subject: string, q: TakeQueue): void {
    if (--q.open === 0 && this.takes.get(subject) === q) this.takes.delete(subject);
  }

  /** One write of takeLight's marks: the ids now taken, and a lookup that began after it. */
  private async writeTaken(subject: string, ids: ReadonlySet<string>): Promise<{ taken: Set<string>; runs: RunIndex }> {
    for (let i = 0; i < 50; i++) {
      const cur = await this.w.directGet(this.n.act, subject);
      if (cur === null) return { taken: new Set(), runs: new RunIndex(this) };
      const m = JSON.parse(text(cur.data)) as RawRunMarker;
      const taken = new Set<string>();
      const add: string[] = [];
      for (const id of ids) {
        if (m.d?.includes(id) === true) continue;
        if (m.t?.includes(id) !== true) {
          if (!Array.isArray(m.r) || !m.r.some((e) => Array.isArray(e) && e[0] === id)) continue;
          add.push(id);
        }
        taken.add(id);
      }
      if (add.length > 0) {
        m.t = [...(m.t ?? []), ...add];
        if ((await this.w.publish(subject, JSON.stringify(m), { expectSeq: cur.seq })) === null) continue;
      }
      return { taken, runs: new RunIndex(this) };
    }
    throw new Error(`the running marker ${subject} kept changing; run the command again`);
  }

  /**
   * The outcome batches (format 7) of one queue and id bucket, by their headers (one read of
   * headers only): subject and id range, in stream order.
   */
  async outcomeHeads(queue: string, bucket: string): Promise<{ subject: string; min: string; max: string }[]> {
    const items = await this.readAll(this.n.fin, this.n.outcomeFilter(queue, bucket), { headersOnly: true });
    return items.map((it) => ({
      subject: it.subject,
      min: it.headers?.get('Jc-Min') ?? '',
      max: it.headers?.get('Jc-Max') ?? '\uffff',
    }));
  }

  /** The outcomes an outcome batch holds (one direct get; empty when it is gone). */
  async outcomeRecords(subject: string): Promise<Map<string, StoredOutcome>> {
    const out = new Map<string, StoredOutcome>();
    const m = await this.w.directGet(this.n.fin, subject);
    const fb = subject.split('.').slice(-2).join('.');
    if (m !== null) for (const e of batchEntries(m.data)) if (typeof e !== 'string') out.set(entryId(e), { o: e, fb });
    return out;
  }

  /**
   * Many compare-and-sets that write no index marker (a claim's lease or progress, outcomes listed
   * by their batch's finished marker): sent as one batch (Wire.publishMany). Per item: the new
   * revision, null when the record changed meanwhile, or the error. Items that would write or
   * remove a marker go through cas.
   */
  async casMany(
    items: readonly { prev: Versioned; next: Rec; finBatch?: string }[],
    now = Date.now(),
  ): Promise<(number | null | Error)[]> {
    const out: (Promise<number | null | Error> | undefined)[] = [];
    const plain: { subject: string; data: string; expectSeq: number }[] = [];
    const at: number[] = [];
    items.forEach((it, i) => {
      const { mk, oldMk, inBatch } = prepare(it.prev, it.next, now, it.finBatch);
      const writeMarker = mk !== 'running' && mk !== oldMk && !inBatch;
      const unlist = oldMk !== null && oldMk !== mk && FINISHED.has(oldMk);
      if (writeMarker || unlist || it.prev.light !== undefined) {
        out[i] = this.cas(it.prev, it.next, now, it.finBatch).catch((e: unknown) => e as Error);
        return;
      }
      if (mk !== 'queued' && mk !== 'scheduled') it.next.mseq = null;
      // still queued without a new marker: keeps the queued-batch marker listing it (cas)
      it.next.qb = mk === 'queued' ? (it.next.qb ?? null) : null;
      at.push(i);
      plain.push({ subject: this.n.jobKey(it.next.id), data: encodeRecText(it.next), expectSeq: it.prev.rev });
    });
    const sent = plain.length > 0 ? await this.w.publishMany(plain) : [];
    const res: (number | null | Error)[] = new Array(items.length);
    at.forEach((i, k) => (res[i] = sent[k]!));
    for (let i = 0; i < items.length; i++) if (out[i] !== undefined) res[i] = await out[i]!;
    return res;
  }

  /** Remove a job that leaves a finished state from the finished index (operator paths only). */
  async unlistFinished(r: Rec, state: MarkerState): Promise<void> {
    if (!r.fb) {
      await this.purge(this.n.fin, this.n.finMarker(state, r.queue, r.id));
      return;
    }
    await this.unlistBatch(state, r.queue, r.fb, new Set([r.id]));
  }

  /**
   * Remove jobs (records as they were while finished) from the finished index: each batch marker
   * is rewritten once for all of its ids, per-job markers are purged, at most 64 at a time.
   */
  async unlistMany(entries: Listed[]): Promise<void> {
    const byBatch = new Map<string, { state: MarkerState; queue: string; fb: string; ids: Set<string> }>();
    const single: Listed[] = [];
    for (const e of entries) {
      if (!e.fb) single.push(e);
      else {
        const key = `${e.state}\u0000${e.queue}\u0000${e.fb}`;
        let b = byBatch.get(key);
        if (b === undefined) byBatch.set(key, (b = { state: e.state, queue: e.queue, fb: e.fb, ids: new Set() }));
        b.ids.add(e.id);
      }
    }
    await limited([...byBatch.values()], 64, (b) => this.unlistBatch(b.state, b.queue, b.fb, b.ids));
    await limited(single, 64, (e) => this.purge(this.n.fin, this.n.finMarker(e.state, e.queue, e.id)));
  }

  /**
   * Rewrite batch markers without the listed jobs whose record has left that batch. Finished
   * batches (requeued, failed again into another batch, purged): what a run killed between its
   * compare-and-sets and the marker rewrite leaves behind, counted by stats until compacted; a
   * finished-batch marker is written after its records, so a listed record not in the batch has
   * left it. Queued batches (format 6): jobs claimed, cancelled or made waiting by another
   * marker since (the claim path never touches the index); only markers older than a minute,
   * since a queued-batch marker is written before its records.
   */
  async compactBatches(markers: Map<string, MarkerRef>, recs: Map<string, Rec | null>, now = Date.now()): Promise<void> {
    const gone: Listed[] = [];
    for (const [id, m] of markers) {
      const r = recs.get(id);
      if (m.batch === undefined || r === undefined || r?.damaged) continue; // unknown: keep
      if (m.state === 'queued') {
        if (now - m.ts < 60_000) continue;
        const st = r === null ? null : (r.mk ?? markerState(r, now));
        // a folded marker (queindex.ts) lists jobs whose records name other batches: by state
        if (r !== null && st === 'queued' && (m.batch.folded === true || r.qb == null || r.qb === m.batch.fb)) continue;
      } else if (r !== null && ((r.mk ?? r.state) === m.state ? r.fb === m.batch.fb : r.state === 'running')) continue;
      gone.push({ id, state: m.state, queue: m.batch.queue, fb: m.batch.fb });
    }
    await this.unlistMany(gone);
  }

  /** Stream and subject of a batch marker: queued ones in the waiting index (format 6), finished ones in `JC_<ns>_FIN`. */
  private batchMarker(state: MarkerState, queue: string, fb: string): { stream: string; subject: string } {
    return state === 'queued'
      ? { stream: this.n.que, subject: this.n.queMarker(queue, fb) }
      : { stream: this.n.fin, subject: this.n.finMarker(finBatchToken(state), queue, fb) };
  }

  /** Rewrite a batch marker without these ids (compare-and-set on its subject). */
  async unlistBatch(state: MarkerState, queue: string, fb: string, drop: Set<string>): Promise<void> {
    const { stream, subject } = this.batchMarker(state, queue, fb);
    await this.editBatchMarker(
      stream,
      subject,
      (all) => {
        if (all === null) return null;
        const ids = all.filter((id) => !drop.has(id));
        return ids.length === all.length ? null : ids; // none of them is listed (any more): nothing to do
      },
      `the index marker ${fb} kept changing; run the command again`,
    );
  }

  /**
   * Edit the id list of a batch marker by compare-and-set on its subject, again while it changes
   * under us: `edit` gets the ids (null: no marker) and returns the new ones (null: leave it as it
   * is; empty: delete it). A folded marker stays folded.
   */
  private async editBatchMarker(
    stream: string,
    subj: string,
    edit: (ids: string[] | null) => string[] | null,
    busy: string,
    /** entries of ids the edit adds (an outcome batch's records), by id; others are written as ids */
    added?: ReadonlyMap<string, BatchEntry>,
  ): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const cur = await this.w.directGet(stream, subj);
      const entries = cur === null ? null : batchEntries(cur.data);
      const ids = edit(entries === null ? null : entries.map(entryId));
      if (ids === null) return;
      if (ids.length === 0) {
        if (cur !== null) await this.deleteSeq(stream, cur.seq);
        return;
      }
      // an outcome batch's records stay with their ids (format 7)
      const byId = new Map((entries ?? []).map((e) => [entryId(e), e]));
      const { body, headers } = batchBody(ids.map((id) => byId.get(id) ?? added?.get(id) ?? id));
      if (cur?.headers?.get(FOLDED) === '1') headers[FOLDED] = '1';
      if ((await this.w.publish(subj, body, { expectSeq: cur === null ? 0 : cur.seq, headers })) !== null) return;
    }
    throw new Error(busy);
  }

  /**
   * One marker for the jobs an enqueue or requeue call made queued in one queue (format 6,
   * `JC_<ns>_QUE`), written before their records; payload and headers as a finished batch's, so
   * that a keyset read opens it only when its smallest id can be on the page (finindex.ts).
   */
  writeQueuedBatch(queue: string, batchId: string, ids: string[], folded = false): Promise<number | null> {
    const { body, headers } = finBatchBody(ids);
    if (folded) headers[FOLDED] = '1';
    return this.w.publish(this.n.queMarker(queue, batchId), body, { headers });
  }

  /**
   * One marker for the jobs an outcome batch finished in one state and queue; payload = the ids
   * (sorted), headers: their count, smallest and largest id (a keyset read opens it only when
   * its smallest id can be on the page: finindex.ts).
   */
  writeFinBatch(state: MarkerState, queue: string, batchId: string, ids: string[]): Promise<number | null> {
    const { body, headers } = finBatchBody(ids);
    return this.w.publish(this.n.finMarker(finBatchToken(state), queue, batchId), body, { headers });
  }

  /**
   * The outcome batch of format 7 (docs/architecture.md): a finished-batch marker named
   * `<bucket>.<batch>` whose payload is its jobs' entries (sorted by id: a light claim's outcome,
   * format 8's `{"v":3,…}`, or the id of a job whose `<id>` holds it), so that a light claim's
   * outcome needs no record of its own; headers as writeFinBatch's.
   */
  writeOutcomeBatch(state: MarkerState, queue: string, name: string, entries: readonly OutcomeEntry[]): Promise<number | null> {
    const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const body = '[' + sorted.map((e) => e.text).join(',') + ']';
    const headers = rangeHeaders(sorted.map((e) => e.id));
    return this.w.publish(this.n.finMarker(finBatchToken(state), queue, name), body, { headers });
  }

  /**
   * Write an outcome batch again after a failed write (FinBatches.write): by compare-and-set,
   * adding the entries it does not list yet to what is there. The first write may have got
   * through (only its answer was lost), and a claimer that met one of its jobs redelivered may
   * have created the batch with that job alone (repairFinished); a blind write would drop what
   * such a writer added, a create that found it would leave this call's other jobs out of it.
   */
  async mergeOutcomeBatch(state: MarkerState, queue: string, name: string, entries: readonly OutcomeEntry[]): Promise<void> {
    const { stream, subject } = this.batchMarker(state, queue, name);
    const mine = new Map(entries.map((e) => [e.id, JSON.parse(e.text) as BatchEntry]));
    await this.editBatchMarker(
      stream,
      subject,
      (ids) => {
        const listed = new Set(ids ?? []);
        const missing = [...mine.keys()].filter((id) => !listed.has(id));
        return missing.length === 0 ? null : [...listed, ...missing];
      },
      `the outcome batch ${name} kept changing`,
      mine,
    );
  }

  /**
   * A finished record whose message was delivered again (its outcome writer did not ack): make
   * sure the job is in the finished index (its batch marker may never have been written).
   * A job of an outcome batch (`fb`) goes into that batch's marker, added by compare-and-set,
   * never into a marker of its own: the batch's writer may still be alive and write the marker
   * after this check (its lease ran out during the outcome write), and a per-job marker beside
   * it counted the job twice in `stats` (reliability scenario 1 on NATS: 20,001 completed of
   * 20,000). The writer's own marker lists every job it recorded, so it may replace this one.
   */
  async repairFinished(r: Rec): Promise<void> {
    const st = r.mk ?? r.state;
    if (!r.fb) {
      await this.w.publish(this.n.finMarker(st, r.queue, r.id), '');
      return;
    }
    const { stream, subject } = this.batchMarker(st, r.queue, r.fb);
    await this.editBatchMarker(
      stream,
      subject,
      (ids) => (ids === null ? [r.id] : ids.includes(r.id) ? null : [...ids, r.id]),
      `the finished-batch marker ${r.fb} kept changing`,
    );
  }

  /** Finished jobs of a state and queue: per-job markers plus the counts of batch markers. */
  async countFinished(state: MarkerState, queue: string): Promise<number> {
    const [single, batches] = await Promise.all([
      this.count(this.n.fin, this.n.finFilter(state, queue)),
      this.readAll(this.n.fin, this.n.finFilter(finBatchToken(state), queue), { headersOnly: true }),
    ]);
    return batches.reduce((n, b) => n + Number(b.headers?.get('Jc-N') ?? 0), single);
  }

  /** The queued/scheduled marker of a new job (written by enqueue together with its message). */
  writeWaitingMarker(r: Rec, now: number): Promise<number | null> {
    return this.w.publish(this.n.marker(markerState(r, now), r.queue, r.id), '');
  }

  /** Delete one message by sequence (a no-op when it is already gone or was superseded). */
  async deleteSeq(stream: string, seq: number): Promise<void> {
    try {
      await this.w.api(`$JS.API.STREAM.MSG.DELETE.${stream}`, { seq, no_erase: true });
    } catch (e) {
      if (!(e instanceof JsApiError)) throw e;
    }
  }

  /** Fire-and-forget deletes by sequence, sent together (stale markers, off the hot path). */
  deleteSeqsLater(stream: string, seqs: number[]): void {
    for (const seq of seqs) this.upkeep(this.deleteSeq(stream, seq));
  }

  /** Upkeep still running (index compaction a reader started and did not wait for). */
  private readonly pending = new Set<Promise<unknown>>();

  /**
   * Index upkeep that a reader starts and does not wait for (compaction of stale markers): its
   * failure is ignored (the next reader finds the same), and `settled` lets a closing handle
   * finish it first, so that a command that lists (`jobctl jobs list`) leaves the index it read
   * compacted instead of cutting the work off when it exits.
   */
  upkeep(p: Promise<unknown>): void {
    const q = p.catch(() => undefined);
    this.pending.add(q);
    void q.then(() => this.pending.delete(q));
  }

  /** Resolves when the upkeep started so far (and any it starts) is done. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * The marker of a claimed batch: `a.rb.<q>.<batch id>` (active index, format 5). It carries the running state of the
   * jobs claimed without a record write (`runs`: id, attempt, ack subject, lease; with the
   * worker and start time) and lists the ids of the others (`ids`: running by their record).
   * Written again (same subject) by every heartbeat with the new leases.
   */
  writeRunBatch(queue: string, batchId: string, m: RunMarker): Promise<number | null> {
    return this.w.publish(this.n.marker(RUN_BATCH, queue, batchId), encodeRunMarker(m));
  }

  /** Running-batch markers (optionally one queue): sequence, age, the ids each lists, its light claims. */
  async runBatches(queue?: string): Promise<RunBatch[]> {
    const items = await this.readAll(this.n.act, this.n.markerFilter(RUN_BATCH, queue));
    return items.map((it) => decodeRunBatch(it));
  }

  /**
   * Delete running-batch markers none of whose jobs is running any more. Only batches older than
   * a minute: a younger one may belong to a claim whose compare-and-sets are still in flight. The
   * jobs a dead holder committed there (`d`) get their record from the outcome batch as `<id>`
   * first (format 7): their messages may not have been acked, and readers take a job whose
   * message is still there and that is in no running marker for one that has not run.
   */
  compactRunBatches(batches: RunBatch[], recs: Map<string, Versioned | null>, now = Date.now()): void {
    const dead = batches.filter(
      (b) =>
        now - b.ts > 60_000 &&
        b.ids.every((id) => {
          const v = recs.get(id);
          return v !== undefined && (v === null || v.rec.state !== 'running'); // unknown: keep
        }),
    );
    this.upkeep(
      (async () => {
        for (const b of dead) {
          const done = b.runs.filter((e) => e.status === 'done').map((e) => recs.get(e.id));
          const writes = done.map((v) =>
            v && v.rev === 0 && FINISHED.has(v.rec.state)
              ? this.w.publish(this.n.jobKey(v.rec.id), encodeRec(v.rec), { expectSeq: 0 })
              : null,
          );
          await Promise.all(writes);
          await this.deleteSeq(this.n.act, b.seq);
        }
      })(),
    );
  }

  /**
   * Delete finished records with their index entries and logs (bulk purge): records get a KV
   * purge marker each (one pipelined publish, not an API call), each finished-batch marker is
   * rewritten once for all of its ids, and the per-job purges run at most 64 at a time. Log
   * lines are purged per job only for purges of up to LOG_PURGE_MAX jobs.
   */
  async removeMany(recs: Rec[]): Promise<void> {
    for (let i = 0; i < recs.length; i += 1000) {
      // the initial record first: a job must never fall back to it once its record is gone
      const purgeKey = (key: string) => this.w.publish(key, '', { headers: { 'KV-Operation': 'PURGE', 'Nats-Rollup': 'sub' } });
      const chunk = recs.slice(i, i + 1000);
      await Promise.all(chunk.map((r) => purgeKey(this.n.initialKey(r.id))));
      await Promise.all(chunk.map((r) => purgeKey(this.n.jobKey(r.id))));
    }
    await this.unlistMany(recs.map(listed));
    // a purge by job filter scans the whole log stream (~15 ms each on a busy stream): done for
    // small purges only; the lines of bigger ones expire with the stream's max age (7 days)
    if (recs.length <= LOG_PURGE_MAX) await limited(recs, 16, (r) => this.purge(this.n.logs, this.n.logFilter({ jobId: r.id })));
  }

  /** Delete a record and its markers (purge). */
  async remove(r: Rec): Promise<void> {
    const mk = r.mk;
    await this.purge(this.n.jobsStream, this.n.initialKey(r.id)); // first (see removeMany)
    await Promise.all([
      this.purge(this.n.jobsStream, this.n.jobKey(r.id)),
      mk ? this.unlistFinished(r, mk) : Promise.resolve(),
      this.purge(this.n.logs, this.n.logFilter({ jobId: r.id })),
    ]);
  }

  async purge(stream: string, filter: string): Promise<number> {
    const r = await this.w.api<{ purged: number }>(`$JS.API.STREAM.PURGE.${stream}`, { filter });
    return r.purged;
  }

  /**
   * Moves the markers `filter` of the waiting index elsewhere (the format migrations): each is
   * written where `write` says, `chunk` writes at a time, and then they are purged from the
   * index. Written first and purged after, so a migration cut short and run again moves what is
   * left.
   */
  async moveIndexMarkers(
    filter: string,
    o: { headersOnly: boolean; chunk: number },
    write: (it: ReadItem, m: { state: string; queue: string; id: string }) => Promise<unknown>,
  ): Promise<void> {
    await this.moveIndexChunks(filter, o, (chunk) => Promise.all(chunk.map(([it, m]) => write(it, m))));
  }

  /** moveIndexMarkers with the writes of `chunk` markers at a time left to `write` (grouping them). */
  async moveIndexChunks(
    filter: string,
    o: { headersOnly: boolean; chunk: number; sort?: boolean },
    write: (chunk: [ReadItem, { state: string; queue: string; id: string }][]) => Promise<unknown>,
  ): Promise<void> {
    const parsed: [ReadItem, { state: string; queue: string; id: string }][] = [];
    for (const it of await this.readAll(this.n.index, filter, { headersOnly: o.headersOnly })) {
      const m = this.n.parseMarker(it.subject);
      if (m !== null) parsed.push([it, m]);
    }
    if (o.sort)
      parsed.sort(([, a], [, b]) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (let i = 0; i < parsed.length; i += o.chunk) await write(parsed.slice(i, i + o.chunk));
    await this.purge(this.n.index, filter);
  }

  private async ephemeral(stream: string, filter: string, o: ReadOptions = {}): Promise<{ name: string; pending: number }> {
    const config: Record<string, unknown> = {
      ack_policy: 'none',
      filter_subject: filter,
      inactive_threshold: 10_000_000_000,
      mem_storage: true,
      num_replicas: 1,
      deliver_policy: 'all',
    };
    if (o.startSeq !== undefined) {
      config.deliver_policy = 'by_start_sequence';
      config.opt_start_seq = Math.max(1, o.startSeq);
    } else if (o.startTimeMs !== undefined) {
      config.deliver_policy = 'by_start_time';
      config.opt_start_time = new Date(o.startTimeMs).toISOString();
    } else if (o.lastPerSubject) config.deliver_policy = 'last_per_subject';
    if (o.headersOnly) config.headers_only = true;
    const r = await this.w.api<{ name: string; num_pending: number }>(`$JS.API.CONSUMER.CREATE.${stream}`, {
      stream_name: stream,
      config,
    });
    return { name: r.name, pending: r.num_pending };
  }

  private dropConsumer(stream: string, name: string): void {
    this.w.api(`$JS.API.CONSUMER.DELETE.${stream}.${name}`).catch(() => undefined);
  }

  /** Number of messages matching a filter, counted by the server. */
  async count(stream: string, filter: string): Promise<number> {
    const c = await this.ephemeral(stream, filter, { headersOnly: true });
    this.dropConsumer(stream, c.name);
    return c.pending;
  }

  /** Every message matching a filter (in stream order), read through an ephemeral consumer. */
  async readAll(stream: string, filter: string, o: ReadOptions = {}): Promise<ReadItem[]> {
    let c: { name: string; pending: number };
    try {
      c = await this.ephemeral(stream, filter, o);
    } catch (e) {
      // start sequence past the end etc.
      if (e instanceof JsApiError && e.code === 400 && o.startSeq !== undefined) return [];
      throw e;
    }
    const out: ReadItem[] = [];
    try {
      // one message per subject: records rewritten while the read delivers (worker heartbeats,
      // markers) make the count pending at the start a bad stop signal; a read of the worker
      // registry that stopped there missed a live worker, which the rescuer then took for dead
      // (duplicate runs in the SIGKILL chaos scenario). Read until the server has nothing more.
      let left = o.log ? Math.min(c.pending, o.max ?? Infinity) : c.pending * 2 + 10_000;
      while (left > 0) {
        const batch = Math.min(left, 5000);
        const msgs: RawMsg[] = await this.w.pull(stream, c.name, batch, {
          noWait: true,
          // messages deleted after the consumer was created are never delivered
          // (and everything delivered so far has arrived)
          drained: async (received) => {
            const info = await this.w.api<{ num_pending: number; delivered: { consumer_seq: number } }>(
              `$JS.API.CONSUMER.INFO.${stream}.${c.name}`,
            );
            return info.num_pending === 0 && info.delivered.consumer_seq <= out.length + received;
          },
        });
        for (const m of msgs) {
          const info = ackInfo(m.reply ?? '');
          const t = (m.reply ?? '').split('.');
          out.push({
            subject: m.subject,
            seq: info.seq,
            ts: Math.floor(Number(t[t.length - 2]) / 1e6),
            data: m.data,
            headers: m.headers,
          });
        }
        left -= msgs.length;
        // a no_wait pull that delivered less than asked found nothing more pending
        if (msgs.length < batch) break;
      }
    } finally {
      this.dropConsumer(stream, c.name);
    }
    if (o.log) return out;
    const newest = new Map<string, ReadItem>();
    for (const it of out) newest.set(it.subject, it); // stream order: the later one wins
    return out.length === newest.size ? out : out.filter((it) => newest.get(it.subject) === it);
  }

  /**
   * Ids with an index marker in these states (optionally one queue), with the marker's
   * sequence (per-job markers) — a superset: callers verify against the records. `running`
   * reads the claim-batch markers (and per-job running markers of older versions). Finished
   * states: per-job markers only; their batch markers are read in id order by MarkerWalk (finindex.ts), with the running-batch markers read here.
   */
  async markerIdsWithBatches(
    states: readonly MarkerState[],
    queue?: string,
  ): Promise<{ ids: Map<string, MarkerRef>; batches: RunBatch[] }> {
    // running has no per-job markers (claim batches list them)
    const perJob = states.filter((s) => s !== 'running');
    const [lists, batches] = await Promise.all([
      Promise.all(
        perJob.map((s) =>
          FINISHED.has(s)
            ? this.readAll(this.n.fin, this.n.finFilter(s, queue), { headersOnly: true })
            : this.readAll(this.n.markerStream(s), this.n.markerFilter(s, queue), { headersOnly: true }),
        ),
      ),
      states.includes('running') ? this.runBatches(queue) : Promise.resolve([]),
    ]);
    const out = new Map<string, MarkerRef>();
    for (const items of lists) {
      for (const it of items) {
        const m = this.n.parseMarker(it.subject);
        if (m) out.set(m.id, { state: m.state as MarkerState, seq: it.seq, ts: it.ts, queue: m.queue });
      }
    }
    for (const b of batches) for (const id of b.ids) if (!out.has(id)) out.set(id, { state: 'running', seq: null, ts: b.ts });
    return { ids: out, batches };
  }

  /** Delete per-job queued/scheduled markers whose record says otherwise (lazy compaction). */
  compactStale(markers: Map<string, MarkerRef>, recs: Map<string, Rec | null>, now = Date.now()): void {
    const stale: Record<'queued' | 'scheduled', number[]> = { queued: [], scheduled: [] };
    for (const [id, m] of markers) {
      if (m.seq === null || (m.state !== 'queued' && m.state !== 'scheduled')) continue;
      // a young marker may belong to a transition whose compare-and-set is still in flight
      if (now - m.ts < 60_000) continue;
      const r = recs.get(id);
      if (r === undefined) continue;
      if (r === null) {
        if (now - idTime(id) > 60_000) stale[m.state].push(m.seq); // no record (purged, or an enqueue that never finished)
        continue;
      }
      // superseded: the job left the waiting states, or a newer waiting marker was written (of
      // the other waiting state: the record's `mk`; of the same: a queued marker's sequence, or
      // a queued-batch marker that the record names (`qb`, format 6) — a
      // scheduled one has a single subject per job, and one moved by the migration to format 5
      // has a new sequence that the record does not know)
      if (
        r.state !== 'queued' ||
        (r.mk != null && r.mk !== m.state) ||
        (m.state === 'queued' && ((r.mseq != null && r.mseq !== m.seq) || r.qb != null))
      )
        stale[m.state].push(m.seq);
    }
    this.deleteSeqsLater(this.n.index, stale.queued);
    this.deleteSeqsLater(this.n.act, stale.scheduled);
  }

  /** Id of the oldest marker matching a filter; null when none. */
  async firstMarkerId(filter: string): Promise<string | null> {
    const m = await this.w.directGetSeq(this.n.index, 1, filter);
    return m === null ? null : (this.n.parseMarker(m.subject)?.id ?? null);
  }

  /**
   * Whether the work message with this stream sequence is still in the work stream (not acked,
   * not deleted); null when the server did not say.
   */
  async workMessageExists(seq: number): Promise<boolean | null> {
    this.workDirect ??= this.w.api<{ config: { allow_direct?: boolean } }>(`$JS.API.STREAM.INFO.${this.n.work}`, {}).then(
      (si) => si.config.allow_direct === true,
      () => false,
    );
    if (await this.workDirect) {
      try {
        return (await this.w.directGetSeq(this.n.work, seq)) !== null;
      } catch {
        return null;
      }
    }
    try {
      await this.w.api(`$JS.API.STREAM.MSG.GET.${this.n.work}`, { seq });
      return true;
    } catch (e) {
      return e instanceof JsApiError && e.code === 404 ? false : null;
    }
  }

  /**
   * Whether the work stream answers direct gets (allow_direct, session 16: a stream made before
   * is asked through the JetStream API, slower under load); read once per handle, when needed.
   */
  private workDirect: Promise<boolean> | undefined;

  /** The record a work message carries (by stream sequence); null when gone or not a record. */
  async workMessageRec(seq: number): Promise<Rec | null> {
    try {
      const m = await this.w.api<{ message: { data?: string } }>(`$JS.API.STREAM.MSG.GET.${this.n.work}`, { seq });
      return decodeRec(Buffer.from(m.message.data ?? '', 'base64'));
    } catch {
      return null;
    }
  }

  /** Records of many jobs (running state of light claims from the running-batch markers). */
  async getMany(ids: readonly string[], runs: RunIndex | false = new RunIndex(this)): Promise<(Versioned | null)[]> {
    const out: (Versioned | null)[] = [];
    for (let i = 0; i < ids.length; i += 1000)
      out.push(...(await Promise.all(ids.slice(i, i + 1000).map((id) => this.get(id, runs)))));
    return out;
  }
}

/**
 * A claim without a record write ("light claim", docs/architecture.md): a job whose message was
 * delivered for the first time is running on the strength of its entry in the claim's
 * running-batch marker; the job record `<id>` is first written by the outcome (or by whoever
 * fences the holder: rescue, cancel, reset, a redelivery's claim).
 */
export interface RunEntry {
  id: string;
  /**
   * running: held by the claim; taken (format 7): another changed the job first (its `<id>`
   * follows); done: the holder committed the outcome stored in its outcome batch (no tuple: the
   * other fields are zero)
   */
  status: 'running' | 'taken' | 'done';
  attempt: number;
  /** ack subject of the delivery (its stream sequence is in it) */
  ack: string;
  leaseExpiresAt: number;
  startedAt: number;
  workerId: string;
}

/** Payload of a running-batch marker (format 3). */
export interface RunMarker {
  worker: string;
  startedAt: number;
  /** light claims: [id, attempt, ack subject, lease expiry] */
  runs: [string, number, string, number][];
  /** ids claimed by a record write (verified against their records) */
  ids: string[];
  /** light claims taken by another (format 7: cancel, reset, rescue, a redelivery's claim) */
  taken?: readonly string[];
  /** light claims whose outcome the holder committed (format 7; stored in its outcome batch) */
  done?: readonly string[];
}

/** A running marker as stored (format 3; `t` and `d` from format 7). */
/** takeLight's marks of one running marker: the round being filled, and the writes in flight. */
interface TakeQueue {
  /** the next write's ids, until it starts */
  next: TakeRound | null;
  /** settles when the last write started so far is done */
  tail: Promise<void>;
  /** writes started or waiting */
  open: number;
}

interface TakeRound {
  ids: Set<string>;
  result: Promise<{ taken: Set<string>; runs: RunIndex }>;
}

interface RawRunMarker {
  v?: number;
  w?: string;
  sa?: number;
  r?: [string, number, string, number][];
  i?: string[];
  t?: string[];
  d?: string[];
}

export function encodeRunMarker(m: RunMarker): string {
  const o: RawRunMarker = { v: 3, w: m.worker, sa: m.startedAt, r: m.runs, i: m.ids };
  if (m.taken !== undefined && m.taken.length > 0) o.t = [...m.taken];
  if (m.done !== undefined && m.done.length > 0) o.d = [...m.done];
  return JSON.stringify(o);
}

/** The taken ids of a stored running marker (format 7); [] for an older one or one that is not. */
export function takenIn(data: Uint8Array): string[] {
  const o = JSON.parse(text(data)) as RawRunMarker | unknown[];
  return !Array.isArray(o) && Array.isArray(o.t) ? o.t.filter((id) => typeof id === 'string') : [];
}

function decodeRunBatch(it: ReadItem): RunBatch {
  const o = JSON.parse(text(it.data)) as unknown;
  // format 2: the ids only (their records say running)
  if (Array.isArray(o)) return { subject: it.subject, seq: it.seq, ts: it.ts, ids: o as string[], runs: [] };
  const m = o as RawRunMarker;
  const runs: RunEntry[] = [];
  const ids: string[] = [];
  if (Array.isArray(m.r) && typeof m.w === 'string' && typeof m.sa === 'number') {
    const taken = new Set(Array.isArray(m.t) ? m.t : []);
    for (const e of m.r) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[2] !== 'string') continue;
      const status = taken.has(e[0]) ? 'taken' : 'running';
      runs.push({
        id: e[0],
        status,
        attempt: Number(e[1]),
        ack: e[2],
        leaseExpiresAt: Number(e[3]),
        startedAt: m.sa,
        workerId: m.w,
      });
      ids.push(e[0]);
    }
    if (Array.isArray(m.d))
      for (const id of m.d) {
        if (typeof id !== 'string') continue;
        runs.push({ id, status: 'done', attempt: 0, ack: '', leaseExpiresAt: 0, startedAt: m.sa, workerId: m.w });
        ids.push(id);
      }
  }
  if (Array.isArray(m.i)) for (const id of m.i) if (typeof id === 'string') ids.push(id);
  return { subject: it.subject, seq: it.seq, ts: it.ts, ids, runs };
}

/** A light claim's running state over the job's initial record (what the claim would have written). */
export function runningFrom(r: Rec, e: RunEntry): Rec {
  const { seq } = ackInfo(e.ack);
  return {
    ...r,
    state: 'running',
    attempts: e.attempt,
    workerId: e.workerId,
    leaseExpiresAt: e.leaseExpiresAt,
    startedAt: e.startedAt,
    finishedAt: null,
    updatedAt: e.startedAt,
    progress: null,
    msgSeq: seq,
    ackSubj: e.ack,
    wseq: seq,
    lastAck: null,
    mk: 'running',
  };
}

/**
 * The light claims of the running-batch markers, read once per queue and reader call: a job
 * with only its initial record and an entry here is running (readers never see it as queued).
 */
export class RunIndex {
  private readonly byQueue = new Map<string, Promise<Map<string, Marked>>>();
  /** the outcome batches of a queue and id bucket, by their headers (format 7) */
  private readonly headsOf = new Map<string, Promise<{ subject: string; min: string; max: string }[]>>();
  /** the entries of outcome batches read */
  private readonly recordsOf = new Map<string, Promise<Map<string, StoredOutcome>>>();
  /** entries the caller already read from outcome batches (a listing's walk: MarkerWalk.outcomes) */
  private known: ReadonlyMap<string, StoredOutcome> = new Map();

  constructor(private readonly store: Store) {}

  /** Seed with markers the caller already read (all of one queue, or of every queue). */
  static from(store: Store, batches: RunBatch[], queue?: string): RunIndex {
    const idx = new RunIndex(store);
    const all = entriesOf(batches);
    if (queue !== undefined) idx.byQueue.set(queue, Promise.resolve(all));
    else idx.all = all;
    return idx;
  }

  private all: Map<string, Marked> | null = null;

  async entry(queue: string, id: string): Promise<Marked | undefined> {
    if (this.all !== null) return this.all.get(id);
    let p = this.byQueue.get(queue);
    if (p === undefined) {
      p = this.store.runBatches(queue).then(entriesOf);
      this.byQueue.set(queue, p);
    }
    return (await p).get(id);
  }

  /** Entries read from outcome batches by the caller (found there without another read). */
  seedOutcomes(known: ReadonlyMap<string, StoredOutcome>): this {
    this.known = known;
    return this;
  }

  /**
   * The finished record an outcome batch holds for the job (format 7), if any, read over its
   * initial record (`initial`: what a light claim's outcome leaves out, fromOutcome): the headers of
   * the batches of its queue and id bucket (one read per bucket and RunIndex), then the payloads
   * of those whose id range holds it, newest first (a job is in at most one; each read once).
   */
  async outcome(initial: Rec, id = initial.id): Promise<Rec | undefined> {
    const e = await this.outcomeEntry(initial.queue, id);
    return e === undefined ? undefined : fromOutcome(e, initial);
  }

  private async outcomeEntry(queue: string, id: string): Promise<StoredOutcome | undefined> {
    const seen = this.known.get(id);
    if (seen !== undefined) return seen;
    const key = `${queue}\u0000${idBucket(id)}`;
    let heads = this.headsOf.get(key);
    if (heads === undefined) {
      heads = this.store.outcomeHeads(queue, idBucket(id));
      this.headsOf.set(key, heads);
    }
    const hs = await heads;
    for (let i = hs.length - 1; i >= 0; i--) {
      const h = hs[i]!;
      if (id < h.min || id > h.max) continue;
      let recs = this.recordsOf.get(h.subject);
      if (recs === undefined) {
        recs = this.store.outcomeRecords(h.subject);
        this.recordsOf.set(h.subject, recs);
      }
      const r = (await recs).get(id);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /**
   * The initial record as readers must see it (docs/architecture.md, format 7, readers' order):
   * running while a light claim holds it (or another took it and its `<id>` follows), finished
   * once its holder committed the outcome its outcome batch stores. The running markers are read
   * before the outcome batches: an outcome is stored before it is committed, and a marker is
   * deleted only after its outcomes were stored, so a job is never seen going back to queued.
   */
  async overlay(v: Versioned): Promise<Versioned> {
    if (v.rev !== 0) return v;
    if (v.rec.damaged !== undefined) {
      // a damaged initial record names no queue: look in every queue's markers, and take the
      // job from its work message (what the claim ran; its outcome replaces the record)
      const e = await this.anywhere(v.rec.id);
      const fromMsg = e === undefined || e.e.status === 'done' ? null : await this.store.workMessageRec(ackInfo(e.e.ack).seq);
      return e === undefined || fromMsg === null || fromMsg.id !== v.rec.id
        ? v
        : { rec: runningFrom(fromMsg, e.e), rev: 0, light: { subject: e.subject } };
    }
    if (v.rec.state !== 'queued') return v;
    const e = await this.entry(v.rec.queue, v.rec.id);
    if (e !== undefined && e.e.status !== 'done') return { rec: runningFrom(v.rec, e.e), rev: 0, light: { subject: e.subject } };
    if (e === undefined) {
      // in no running marker: a record the caller read in an outcome batch was committed (one
      // stored and not committed keeps its entry in `r` until it is, or is taken). Otherwise it
      // is finished only if its message is gone: the holder deletes a marker after its acks, and
      // compaction after writing the records of its done jobs as `<id>`, so a job whose first
      // message is still there has no outcome in a batch (a queued job, a scheduled job's
      // delivery): one read by sequence instead of a read of the batches. Read even when the
      // caller holds a delivery of that message: the delivery may be older than the ack that
      // removed it (a redelivery that crossed its holder's ack; taken for present, the holder's
      // committed job ran again)
      const seen = this.known.get(v.rec.id);
      if (seen !== undefined) return { rec: fromOutcome(seen, v.rec), rev: 0 };
      const ws = v.rec.wseq;
      if (typeof ws === 'number' && (await this.store.workMessageExists(ws)) === true) return v;
    }
    const fin = await this.outcome(v.rec);
    return fin === undefined ? v : { rec: fin, rev: 0 };
  }

  /**
   * A record `<id>` as readers must see it (format 7, docs/architecture.md: "A record written
   * around jobctl"). jobctl never writes `<id>` of a job that runs by a light claim without
   * marking it taken in the claim's running marker first (the fence), so the holder's outcome
   * then goes down the per-job path. A record written around jobctl before the job's first
   * delivery (hand-edited, or damaged) is not such a taker: the claim runs from its message's
   * intact copy, and its outcome is committed in an outcome batch and acked. Such a record says
   * queued with no attempt (a damaged one: its initial record does) while its work message is
   * gone, which jobctl never leaves (a queued job keeps its message until it is claimed or
   * cancelled): it yields to the committed outcome of that very message. One read by sequence
   * for queued records that never ran (none for deliveries a claim holds), the batch lookup only
   * when that message is gone.
   */
  async supersede(v: Versioned): Promise<Versioned> {
    let r = v.rec;
    if (r.damaged !== undefined) {
      const first = await this.store.initial(r.id);
      if (first === null || first.rec.damaged !== undefined) return v;
      r = first.rec;
    }
    if (r.state !== 'queued' || r.attempts !== 0) return v;
    const ws = r.wseq;
    if (typeof ws !== 'number' || (await this.store.workMessageExists(ws)) !== false) return v;
    const out = await this.outcomeEntry(r.queue, r.id);
    if (out === undefined) return v;
    // read over the initial record (not over `<id>`, which may have been edited)
    const initial = r === v.rec ? await this.store.initial(r.id) : { rec: r };
    const fin = initial === null || initial.rec.damaged !== undefined ? undefined : fromOutcome(out, initial.rec);
    if (fin === undefined || fin.wseq !== ws) return v;
    // committed: its entry is done, or the marker is gone (deleted after the acks); an entry still
    // running or taken is an outcome stored and not committed
    const e = await this.entry(r.queue, r.id);
    return e !== undefined && e.e.status !== 'done' ? v : { rec: fin, rev: v.rev };
  }

  private async anywhere(id: string): Promise<Marked | undefined> {
    this.all ??= entriesOf(await this.store.runBatches());
    return this.all.get(id);
  }
}

/** A light claim's entry and the subject of the running marker that holds it. */
interface Marked {
  e: RunEntry;
  subject: string;
}

/** The light-claim entries of running markers (a job has at most one light claim: the newest marker wins). */
function entriesOf(batches: readonly RunBatch[]): Map<string, Marked> {
  const m = new Map<string, Marked>();
  for (const b of batches) for (const e of b.runs) m.set(e.id, { e, subject: b.subject });
  return m;
}

export interface MarkerRef {
  state: MarkerState;
  /** stream sequence of a per-job marker; null for ids listed by a batch marker */
  seq: number | null;
  /** epoch ms the marker was stored */
  ts: number;
  /** the batch marker that lists the id (finished, or queued: format 6) */
  batch?: {
    fb: string;
    queue: string;
    /** a folded queued-batch marker (header `Jc-Fold`): its entries are judged by state only */
    folded?: boolean;
  };
  /** the queue of a per-job marker */
  queue?: string;
}

/** A job's entry in the finished index: a per-job marker, or its id in a batch marker (fb). */
export interface Listed {
  id: string;
  state: MarkerState;
  queue: string;
  fb?: string | null;
}

/** Where a finished record is listed. */
export const listed = (r: Rec): Listed => ({ id: r.id, state: r.mk ?? r.state, queue: r.queue, fb: r.fb });

export interface RunBatch {
  subject: string;
  seq: number;
  ts: number;
  /** every id the marker lists (light claims and the others) */
  ids: string[];
  /** its light claims (running state) */
  runs: RunEntry[];
}

/** marker state token of running-batch markers */
export const RUN_BATCH = 'rb';
export const FINISHED = new Set<MarkerState>(['completed', 'failed', 'cancelled']);

/** Payload (ids, sorted) and headers (count, smallest and largest id) of a finished-batch marker. */
export function finBatchBody(ids: readonly string[]): { body: string; headers: Record<string, string> } {
  return batchBody(ids);
}

/** An entry of a batch marker: an id, or (an outcome batch of format 7) a job's record in stored form. */
export type BatchEntry = string | Record<string, unknown>;
export const entryId = (e: BatchEntry): string => (typeof e === 'string' ? e : String(e.i));

/** The entries of a batch marker's payload (entries that are neither are left out). */
export function batchEntries(data: Uint8Array): BatchEntry[] {
  const o = JSON.parse(text(data)) as unknown;
  if (!Array.isArray(o)) return [];
  return o.filter(
    (e): e is BatchEntry =>
      typeof e === 'string' || (typeof e === 'object' && e !== null && typeof (e as Record<string, unknown>).i === 'string'),
  );
}

/** Payload (entries sorted by id) and headers (count, smallest and largest id) of a batch marker. */
export function batchBody(entries: readonly BatchEntry[]): { body: string; headers: Record<string, string> } {
  const sorted = [...entries].sort((a, b) => (entryId(a) < entryId(b) ? -1 : entryId(a) > entryId(b) ? 1 : 0));
  return { body: JSON.stringify(sorted), headers: rangeHeaders(sorted.map(entryId)) };
}

/** Headers of a batch marker from its ids (sorted): count, smallest and largest id. */
function rangeHeaders(sortedIds: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = { 'Jc-N': String(sortedIds.length) };
  if (sortedIds.length > 0) {
    headers['Jc-Min'] = sortedIds[0]!;
    headers['Jc-Max'] = sortedIds[sortedIds.length - 1]!;
  }
  return headers;
}
/**
 * Header of a queued-batch marker made by folding other listings (the migration to 6, readers:
 * queindex.ts): its jobs' records name other batches, so an entry is valid while it is queued.
 */
export const FOLDED = 'Jc-Fold';

/** marker state token of finished-batch markers: `x.<state>-b.<q>.<batch id>` */
export const finBatchToken = (s: MarkerState | string): string => `${s}-b`;

/** Epoch ms of a ULID. */
export function idTime(id: string): number {
  const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + B32.indexOf(id[i] ?? '0');
  return t;
}

/** Bulk purges of more jobs than this leave their log lines to expire (see removeMany). */
const LOG_PURGE_MAX = 100;

/** Run `f` over `items`, at most `n` at a time. */
export async function limited<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

export const json = <T>(b: Uint8Array): T => JSON.parse(text(b)) as T;
