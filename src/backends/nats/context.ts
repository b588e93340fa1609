/** What the parts of the NATS backend share: connection, names, store, claim cache, worker liveness. */
import type { WorkerRecord } from '../../core/backend.js';
import type { Names } from './names.js';
import type { Rec } from './record.js';
import type { Store } from './store.js';
import { ack, ackSync, nak, type OutMsg, type Wire } from './wire.js';

export interface Held {
  rec: Rec;
  rev: number;
  /** a light claim: no record written yet, running by its entry in the batch marker (rev 0) */
  light?: boolean;
}

export interface Ctx {
  w: Wire;
  n: Names;
  store: Store;
  /** id → last record/revision this handle wrote for a claim (saves a read on the outcome) */
  held: Map<string, Held>;
  listWorkers(): Promise<WorkerRecord[]>;
  /** when this handle last nak'ed a message (epoch ms) */
  lastNakAt: number;
  /** job id → the running-batch marker of the claim that holds it (this handle's claims) */
  batchOf: Map<string, ClaimBatch>;
}

/** One claim call's running-batch marker and how many of its jobs still run here. */
export interface ClaimBatch {
  /** stream sequence of the marker's latest write (heartbeats and outcome commits write it again) */
  seq: Promise<number | null>;
  left: number;
  queue: string;
  id: string;
  /** the marker's subject */
  subject: string;
  /** the claiming worker (the marker's `w`) */
  worker: string;
  startedAt: number;
  /** ids claimed by a record write (listed as ids in the marker) */
  ids: string[];
  /** light claims another took (format 7: the marker's `t`, merged in when a write met them) */
  taken: Set<string>;
  /** light claims whose outcome this handle committed (the marker's `d`) */
  done: Set<string>;
  /** this handle's writes to the marker, one after another (compare-and-set on its subject) */
  chain: Promise<unknown>;
  /** the marker's first write failed after the claim returned: its light claims are lost */
  unrecorded?: boolean;
}

/** This handle no longer holds the claim on `id`: forget it; the last job of a batch deletes its marker. */
export function unhold(ctx: Ctx, id: string): void {
  ctx.held.delete(id);
  const b = ctx.batchOf.get(id);
  if (b === undefined) return;
  ctx.batchOf.delete(id);
  if (--b.left === 0) dropBatch(ctx, b);
}

/** Delete the marker of a claim none of whose jobs runs here any more (after this handle's other writes to it). */
export function dropBatch(ctx: Ctx, b: ClaimBatch): void {
  const drop = () => b.seq.then((seq) => (seq ? ctx.store.deleteSeq(ctx.n.act, seq) : undefined)).catch(() => undefined);
  b.chain = b.chain.then(drop, drop);
}

/** Derived views over a running record (docs/architecture.md). */
export function derived(r: Rec, workers: Map<string, WorkerRecord>, now: number): 'orphaned' | 'stuck' | null {
  if (r.state !== 'running') return null;
  const w = r.workerId === null ? undefined : workers.get(r.workerId);
  if (r.leaseExpiresAt === null || r.leaseExpiresAt <= now || w === undefined || !w.alive) return 'orphaned';
  if (r.startedAt !== null && r.startedAt + r.timeoutMs < now) return 'stuck';
  return null;
}

export async function workerMap(ctx: Ctx): Promise<Map<string, WorkerRecord>> {
  return new Map((await ctx.listWorkers()).map((w) => [w.name, w]));
}

/**
 * The worker registry as one call sees it, for judging running records. A record is orphaned by
 * its worker (lease still valid, worker unknown or dead) only on a registry read that began
 * after the record was read: a read from before could miss a worker that registered and claimed
 * the job in between (a new worker's first claims, a restarted worker's), and taking that live
 * run would run the job twice. One read is shared while it is recent enough (`read(since)`).
 */
export class WorkerView {
  private map: Promise<Map<string, WorkerRecord>> | null = null;
  /** when the shared read began (performance.now()) */
  private at = -Infinity;

  constructor(private readonly ctx: Ctx) {}

  /** A registry read that began after `since` (performance.now(); default: any, e.g. to choose what to read). */
  read(since = -Infinity): Promise<Map<string, WorkerRecord>> {
    if (this.map === null || this.at <= since) {
      // (stamped before the request is sent: a read counts as after `since` only if it began after)
      this.at = performance.now();
      const m = workerMap(this.ctx);
      this.map = m;
      m.catch(() => {
        if (this.map === m) this.map = null; // a failed read is not kept
      });
    }
    return this.map;
  }

  /** The derived state of a running record read at `readAt` (performance.now()), its worker judged as above. */
  async derived(r: Rec, readAt: number, now: number): Promise<'orphaned' | 'stuck' | null> {
    if (r.state !== 'running') return null;
    // an expired lease needs no registry: orphaned whoever holds it
    if (r.leaseExpiresAt === null || r.leaseExpiresAt <= now) return 'orphaned';
    return derived(r, await this.read(readAt), now);
  }
}

/** Release the work message of a claim to be delivered again (after delayMs). */
export function redeliver(ctx: Ctx, ackSubj: string | null, delayMs = 0): void {
  if (ackSubj) {
    nak(ctx.w, ackSubj, delayMs);
    ctx.lastNakAt = Date.now();
  }
}

/** The work message is done with: its record is finished. */
export function finishMessage(ctx: Ctx, ackSubj: string | null): void {
  if (ackSubj) ack(ctx.w, ackSubj);
}

/**
 * Ack finished messages and wait until the server confirmed it processed the acks (so that stats
 * counted from the consumers no longer see them). A consumer processes the acks sent to it in
 * order, one after another: per consumer every ack but the last is sent without a reply, and the
 * last one's confirmation covers them all (one reply per consumer instead of one per message).
 * A lost confirmation is harmless: an unacked message is redelivered and the claimer acks it when
 * it meets the finished record.
 */
export async function finishMessagesSync(ctx: Ctx, ackSubjs: readonly (string | null)[]): Promise<boolean> {
  const last = new Map<string, string>();
  for (const a of ackSubjs) if (a) last.set(consumerOf(a), a);
  const tails = new Set(last.values());
  const acks: OutMsg[] = [];
  for (const a of ackSubjs) if (a && !tails.has(a)) acks.push({ subject: a, data: '+ACK' });
  ctx.w.sendMany(acks); // one buffer for the batch's acks
  const confirmed = await Promise.all(
    [...tails].map((a) =>
      ackSync(ctx.w, a).then(
        () => true,
        () => false,
      ),
    ),
  );
  // whether every consumer confirmed its acks (a consumer processes its acks in order)
  return confirmed.every(Boolean);
}

/** `$JS.ACK.<stream>.<consumer>` of an ack subject. */
function consumerOf(ackSubj: string): string {
  let at = -1;
  for (let dots = 0; dots < 4; dots++) {
    at = ackSubj.indexOf('.', at + 1);
    if (at === -1) return ackSubj;
  }
  return ackSubj.slice(0, at);
}
