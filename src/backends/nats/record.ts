/** The job record stored in the jobs KV bucket, and its conversion to the interface's Job. */
import { ValidationError } from '../../core/errors.js';
import {
  DEFAULTS,
  decodeStoredPayload,
  type AttemptError,
  type ClaimedJob,
  type Job,
  type NewJob,
  type JobState,
} from '../../core/job.js';
import { isUtf8 } from 'node:buffer';
import { bytes } from './wire.js';

export type StoredState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
/** index marker states: stored states, with queued split into queued/scheduled by run_at */
export type MarkerState = StoredState | 'scheduled';
export const MARKER_STATES: readonly MarkerState[] = ['queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled'];

export interface Rec {
  v: 1;
  id: string;
  queue: string;
  name: string;
  payload: string;
  priority: number;
  state: StoredState;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  timeoutMs: number;
  uniqueKey: string | null;
  workerId: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  errors: AttemptError[];
  result?: unknown;
  progress?: unknown;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
  /** stream sequence of the work message that holds the current claim */
  msgSeq: number | null;
  /** ack subject of the delivery that holds the current claim (so any handle can ack/nak it) */
  ackSubj: string | null;
  /** the index marker written with this revision (running: none per job, see Store.cas) */
  mk?: MarkerState;
  /** stream sequence of this job's queued/scheduled index marker (deleted by seq once claimed) */
  mseq?: number | null;
  /** stream sequence of the job's current work message (cancel of a queued job deletes it) */
  wseq?: number | null;
  /** id of the finished-batch marker that lists this finished job (else a per-job marker) */
  fb?: string | null;
  /** id of the queued-batch marker (format 6) that lists this queued job (else a per-job marker) */
  qb?: string | null;
  /** ack subject of the last delivery of the work message (kept after release/retry) */
  lastAck?: string | null;
  /**
   * Log batches holding this job's outcome event lines (`<queue token>.<worker token>.<batch>`,
   * subject `jc.<ns>.l.<that>`): the lines of one outcome call are one log message (side.ts)
   */
  lb?: string[] | null;
  /** set only on the stand-in for a stored record that cannot be decoded (damagedRec) */
  damaged?: string;
  /**
   * The stored text of the fields a job never changes (`{"v":2` through priority), cut from the
   * work message it was decoded from (decodeRec with keepHead): encodeRecText reuses it instead of
   * encoding id, queue, name and payload again for every outcome. Never stored itself.
   */
  head?: string;
}

/** A record with its KV revision (the compare-and-set token). */
export interface Versioned {
  rec: Rec;
  rev: number;
  /**
   * Running by a light claim (revision 0, RunIndex.overlay): the subject of the running marker
   * whose entry says so. Whoever changes such a job takes the entry there first (Store.cas):
   * the fence against the holder's outcome (format 7).
   */
  light?: { subject: string };
}

/**
 * Stored form (format 2): short keys, and null / empty / absent fields left out; about half the
 * bytes of the plain record (every job's record is written twice and read twice, and the work
 * message carries it too). Records of format 1 (the plain Rec, `v: 1`) are still read. The short
 * keys are those of encodeRec and decodeRec (the two must list the same fields).
 */
/** `,"k":value` for a present field (null, undefined and empty error lists are left out). */
function field(short: string, x: unknown): string {
  if (x === null || x === undefined) return '';
  if (typeof x === 'number') return Number.isFinite(x) ? `,"${short}":${x}` : `,"${short}":null`;
  return `,"${short}":${JSON.stringify(x)}`;
}

export function encodeRec(r: Rec): Uint8Array {
  return bytes(encodeRecText(r));
}

/** The stored text of the fields a job never changes: `{"v":2` through the priority. */
function headText(r: Rec): string {
  return '{"v":2' + field('i', r.id) + field('q', r.queue) + field('n', r.name) + field('p', r.payload) + field('pr', r.priority);
}

/** The fields of a record that its attempts change (worker, lease, errors, result, progress), stored form: both encoders. */
function attemptText(r: Rec): string {
  return (
    field('w', r.workerId) +
    field('le', r.leaseExpiresAt) +
    field('er', r.lastError) +
    (r.errors.length ? field('es', r.errors) : '') +
    field('r', r.result) +
    field('pg', r.progress)
  );
}

/**
 * The stored form as text (a batch of records is encoded to bytes together, Wire.sendMany). A
 * record decoded from its work message reuses that message's text of the unchanging fields
 * (Rec.head) instead of encoding id, queue, name and payload again (the payload's JSON.stringify
 * escapes every quote of the stored payload text): byte for byte what headText gives.
 */
export function encodeRecText(r: Rec): string {
  // the JSON text is built directly (no intermediate object): this runs for every write
  return (
    (r.head ?? headText(r)) +
    field('s', r.state) +
    field('a', r.attempts) +
    field('ma', r.maxAttempts) +
    field('ra', r.runAt) +
    field('to', r.timeoutMs) +
    field('uk', r.uniqueKey) +
    attemptText(r) +
    field('ca', r.createdAt) +
    field('sa', r.startedAt) +
    field('fa', r.finishedAt) +
    field('ua', r.updatedAt) +
    field('ms', r.msgSeq) +
    field('ak', r.ackSubj) +
    field('mk', r.mk) +
    field('mq', r.mseq) +
    field('ws', r.wseq) +
    field('fb', r.fb) +
    field('qb', r.qb) +
    field('la', r.lastAck) +
    (r.lb && r.lb.length ? field('lb', r.lb) : '') +
    '}'
  );
}

/** UTF-8 text of stored bytes; throws on invalid UTF-8 (never silently replaced). */
function strictText(b: Uint8Array): string {
  if (!isUtf8(b)) throw new TypeError('The encoded data was not valid for encoding utf-8');
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/** How a stored text that may keep its head starts (the id's value follows). */
const HEAD_START = '{"v":2,"i":"';
/** Where the state field starts in the stored text (the fields before it never change). */
const STATE_FIELD_BYTES = Buffer.from(',"s":"');
/** The keys the stored text must start with for its head to be reused (encodeRecText's order). */
const HEAD_KEYS = ['v', 'i', 'q', 'n', 'p', 'pr', 's'];

/**
 * The parsed text's keys start with v, i, q, n, p, pr, s (JSON.parse keeps the text's key order):
 * then everything before `,"s":"` is those fields. A text written otherwise (another field among
 * them, another order) keeps no head and is encoded in full.
 */
function headKeysFirst(o: Record<string, unknown>): boolean {
  let k = 0;
  for (const key in o) {
    if (key !== HEAD_KEYS[k]) return false;
    if (++k === HEAD_KEYS.length) return true;
  }
  return false;
}

/**
 * Decode a stored record; throws on invalid UTF-8 (never silently replaced) or invalid JSON.
 * `keepHead`: keep the text of the fields before the state (Rec.head) for encodeRecText; a string
 * value cannot contain `,"s":"` unescaped, so its first occurrence is the state field.
 * Only the fields v, i, q, n, p, pr may come before the state (headKeysFirst): a field added to
 * the stored form must come after it, or it would be reused unchanged from the work message.
 */
export function decodeRec(b: Uint8Array, keepHead = false): Rec {
  const text = strictText(b);
  const o = JSON.parse(text) as Record<string, unknown>;
  if (o.v !== 2) return o as unknown as Rec; // format 1: stored as is
  let head: string | undefined;
  if (keepHead && headKeysFirst(o)) {
    // a text written around jobctl (spaces around the state's colon, the id given twice, an id
    // that JSON escapes) keeps none; compared in place, no string made (this runs per delivery)
    const id = o.i;
    if (
      typeof id === 'string' &&
      text.startsWith(HEAD_START) &&
      text.startsWith(id, HEAD_START.length) &&
      text.startsWith('","q":', HEAD_START.length + id.length)
    ) {
      // decoded again from the bytes before the state field (UTF-8 bytes of other characters
      // never contain ASCII ones, so the first match is the same): a string of its own, where a
      // slice of `text` would keep the whole text alive with the claim (measured: ~190 of the
      // ~1,750 bytes per job that outlive the young generation in the burn-down)
      const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      const at = buf.indexOf(STATE_FIELD_BYTES);
      if (at > 0) head = buf.toString('utf8', 0, at);
    }
  }
  return recFromStored(o, head);
}

/**
 * A record from its parsed stored form (format 2 keys; a format-1 object as it is): what decodeRec
 * returns, for records parsed as part of a bigger text (the outcome batches of format 7).
 */
export function recFromStored(o: Record<string, unknown>, head?: string): Rec {
  if (o.v !== 2) return o as unknown as Rec;
  // one object literal: every record has the same shape (fast property access and copies)
  return {
    v: 1,
    id: o.i,
    queue: o.q,
    name: o.n,
    payload: o.p,
    priority: o.pr,
    state: o.s,
    attempts: o.a,
    maxAttempts: o.ma,
    runAt: o.ra,
    timeoutMs: o.to,
    uniqueKey: o.uk ?? null,
    workerId: o.w ?? null,
    leaseExpiresAt: o.le ?? null,
    lastError: o.er ?? null,
    errors: o.es ?? [],
    result: o.r,
    progress: o.pg,
    createdAt: o.ca,
    startedAt: o.sa ?? null,
    finishedAt: o.fa ?? null,
    updatedAt: o.ua,
    msgSeq: o.ms ?? null,
    ackSubj: o.ak ?? null,
    mk: o.mk,
    mseq: o.mq,
    wseq: o.ws,
    fb: o.fb,
    qb: o.qb,
    lastAck: o.la,
    lb: o.lb,
    head,
  } as Rec;
}

/**
 * An entry of an outcome batch of format 7 with its batch (`<bucket>.<batch id>`, the records'
 * `fb`): a whole record in stored form (v 2, session 13's batches), or a light claim's outcome
 * (v 3, encodeOutcomeText) to be read over the job's initial record (fromOutcome).
 */
export interface StoredOutcome {
  o: Record<string, unknown>;
  fb: string;
}

/**
 * A light claim's outcome as its outcome batch stores it (v 3): only what its run changed. A job
 * is claimed light only before anything changed it (work.ts, lightClaimable), so the fields
 * every change leaves alone (id aside: queue, name, payload, priority, max attempts, run at,
 * timeout, unique key, created at) are its initial record's `n.<id>`, which readers hold when
 * they look for the outcome (fromOutcome); `mk` is the state and `fb` the batch, `ua` is left out
 * when it is `fa`. About 150 instead of ~340 bytes for a small payload, and a big payload is
 * not stored again with every outcome: the batches are about half as big (less to store, and
 * less for bulk requeue and purge to rewrite); the worker's CPU per job did not change.
 */
export function encodeOutcomeText(r: Rec): string {
  return (
    '{"v":3' +
    field('i', r.id) +
    field('s', r.state) +
    field('a', r.attempts) +
    attemptText(r) +
    field('sa', r.startedAt) +
    field('fa', r.finishedAt) +
    (r.updatedAt === r.finishedAt ? '' : field('ua', r.updatedAt)) +
    field('ms', r.msgSeq) +
    field('ak', r.ackSubj) +
    field('mq', r.mseq) +
    field('ws', r.wseq) +
    field('qb', r.qb) +
    field('la', r.lastAck) +
    (r.lb && r.lb.length ? field('lb', r.lb) : '') +
    '}'
  );
}

/** An entry of an outcome batch to be written: the job's id and the entry's stored text. */
export interface OutcomeEntry {
  id: string;
  text: string;
}

/**
 * The entry an outcome batch gets for a job: a light claim's outcome (encodeOutcomeText), or the
 * id alone for a job claimed through its record (its `<id>` holds the outcome; the batch lists it).
 */
export function outcomeEntry(r: Rec, light: boolean): OutcomeEntry {
  return { id: r.id, text: light ? encodeOutcomeText(r) : JSON.stringify(r.id) };
}

/** The record of an outcome batch's entry: a whole one as stored, a light claim's over its initial record. */
export function fromOutcome(e: StoredOutcome, initial: Rec): Rec {
  const o = e.o;
  if (o.v !== 3) return recFromStored(o);
  const state = o.s as StoredState;
  const finishedAt = (o.fa as number | undefined) ?? null;
  return {
    v: 1,
    id: initial.id,
    queue: initial.queue,
    name: initial.name,
    payload: initial.payload,
    priority: initial.priority,
    state,
    attempts: o.a as number,
    maxAttempts: initial.maxAttempts,
    runAt: initial.runAt,
    timeoutMs: initial.timeoutMs,
    uniqueKey: initial.uniqueKey,
    workerId: (o.w as string | undefined) ?? null,
    leaseExpiresAt: (o.le as number | undefined) ?? null,
    lastError: (o.er as string | undefined) ?? null,
    errors: (o.es as AttemptError[] | undefined) ?? [],
    result: o.r,
    progress: o.pg,
    createdAt: initial.createdAt,
    startedAt: (o.sa as number | undefined) ?? null,
    finishedAt,
    updatedAt: (o.ua as number | undefined) ?? finishedAt ?? initial.updatedAt,
    msgSeq: (o.ms as number | undefined) ?? null,
    ackSubj: (o.ak as string | undefined) ?? null,
    mk: state,
    mseq: (o.mq as number | undefined) ?? null,
    wseq: (o.ws as number | undefined) ?? null,
    fb: e.fb,
    qb: (o.qb as string | undefined) ?? null,
    lastAck: (o.la as string | undefined) ?? null,
    lb: (o.lb as string[] | undefined) ?? null,
    head: initial.head,
  };
}

/**
 * What readers see for a job whose stored record cannot be decoded (written around jobctl,
 * damaged): a failed job that says why, so one bad record never breaks listing, stats or claims.
 * A worker that receives the job's message replaces it with a proper failed record (work.ts).
 */
export function damagedRec(id: string, error: string): Rec {
  const message = `stored job record is damaged and cannot be read: ${error}`;
  return {
    v: 1,
    id,
    queue: '?',
    name: '?',
    payload: 'null',
    priority: 0,
    state: 'failed',
    attempts: 0,
    maxAttempts: 1,
    runAt: 0,
    timeoutMs: DEFAULTS.timeoutMs,
    uniqueKey: null,
    workerId: null,
    leaseExpiresAt: null,
    lastError: message,
    errors: [],
    createdAt: 0,
    startedAt: null,
    finishedAt: null,
    updatedAt: 0,
    msgSeq: null,
    ackSubj: null,
    damaged: message,
  };
}

export function markerState(r: Rec, now: number): MarkerState {
  return r.state === 'queued' && r.runAt > now ? 'scheduled' : r.state;
}

export function isFinishedRec(r: Rec): boolean {
  return r.state === 'completed' || r.state === 'failed' || r.state === 'cancelled';
}

/**
 * The interface's Job of a record. One object literal (every claimed job goes through here, see
 * toClaimed): no conditional spread; a payload that is not valid JSON (rare) gets payloadError
 * right after the payload in a copy.
 */
export function toJob(r: Rec, now = Date.now()): Job {
  const p = decodeStoredPayload(r.payload);
  const state: JobState = markerState(r, now);
  const job: Job = {
    id: r.id,
    queue: r.queue,
    name: r.name,
    payload: p.payload,
    priority: r.priority,
    state,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    runAt: r.runAt,
    timeoutMs: r.timeoutMs,
    uniqueKey: r.uniqueKey,
    workerId: r.workerId,
    leaseExpiresAt: r.leaseExpiresAt,
    lastError: r.lastError,
    errors: r.errors,
    result: r.result ?? null,
    progress: r.progress ?? null,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    updatedAt: r.updatedAt,
  };
  if (p.payloadError === undefined) return job;
  const { id, queue, name, payload, ...rest } = job;
  return { id, queue, name, payload, payloadError: p.payloadError, ...rest };
}

/**
 * Room kept in a job's record, beyond its payload, for what the record gains later: bookkeeping
 * fields, lastError and the kept errors (each error text is capped at 8 KiB by the worker).
 */
export const RECORD_RESERVE_BYTES = 256 * 1024;

/**
 * A job's whole record travels in one NATS message (KV value and work message), so it must fit
 * the server's max_payload. Checked for every job before anything is written; throws a
 * ValidationError (exit 2) naming the largest payload this server can take.
 */
export function checkRecordsFit(jobs: readonly NewJob[], maxPayload: number): void {
  const room = maxPayload - RECORD_RESERVE_BYTES;
  jobs.forEach((j, i) => {
    // the payload is stored as a JSON string inside the record: count it escaped
    const stored = Buffer.byteLength(JSON.stringify(j.payloadJson)) + Buffer.byteLength(j.name) + (j.uniqueKey?.length ?? 0);
    if (stored > room) {
      throw new ValidationError(
        `${jobs.length > 1 ? `job ${i + 1} of ${jobs.length}: ` : ''}payload is ${Buffer.byteLength(j.payloadJson)} bytes (${stored} as stored), over what this NATS server can hold in one job record (max_payload ${maxPayload} bytes, less ${RECORD_RESERVE_BYTES} kept for the job's errors)`,
        'store large data elsewhere and pass a reference in the payload, or raise max_payload in nats-server.conf',
      );
    }
  });
}

export function toClaimed(r: Rec, now = Date.now()): ClaimedJob {
  // the attempt added to toJob's object (not a spread copy of it: this runs for every claim)
  const j = toJob(r, now) as ClaimedJob;
  j.attempt = r.attempts;
  return j;
}

export function pushError(r: Rec, message: string, at: number): void {
  r.errors = [...r.errors, { attempt: r.attempts, at, message }].slice(-DEFAULTS.keptErrors);
  r.lastError = message;
}

/**
 * Clear the claim fields (back to queued or finished; call after setting the state). A waiting
 * job keeps the ack subject of its message's last delivery (cancel acks it through that).
 */
export function clearClaim(r: Rec): void {
  r.lastAck = r.state === 'queued' ? (r.ackSubj ?? r.lastAck ?? null) : null;
  r.workerId = null;
  r.leaseExpiresAt = null;
  r.msgSeq = null;
  r.ackSubj = null;
}
