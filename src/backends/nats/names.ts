/**
 * Every stream, bucket, consumer and subject name of the NATS backend is built here, only from
 * validated parts (see docs/architecture.md, "NATS JetStream design").
 */
import { createHash, randomFillSync } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';
import { validateQueueName } from '../../core/job.js';

const NS_RE = /^[A-Za-z0-9_-]{1,32}$/;

export function validateNamespace(ns: string): string {
  if (!NS_RE.test(ns)) {
    throw new ValidationError(
      `invalid NATS namespace ${JSON.stringify(ns.slice(0, 40))}`,
      'namespaces are 1-32 characters of A-Z a-z 0-9 _ -',
    );
  }
  return ns;
}

/** Queue name → one subject token: A-Z a-z 0-9 - kept, anything else (only `.` and `_` pass validation) as _XX. */
export function queueToken(queue: string): string {
  validateQueueName(queue);
  return queue.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function tokenToQueue(token: string): string {
  return token.replace(/_([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Priority (-1e6..1e6) → fixed-width token that sorts like the number. */
export function levelToken(priority: number): string {
  return `L${String(priority + 1_000_000).padStart(7, '0')}`;
}
export function tokenToLevel(token: string): number {
  return Number(token.slice(1)) - 1_000_000;
}

/** marker state tokens kept in the active index (format 5): scheduled, running batches */
const ACTIVE = new Set(['scheduled', 'rb']);

/** marker state token of queued-batch markers (`q.queued-b.<q>.<batch>`, format 6) */
export const QUEUED_BATCH = 'queued-b';

const LOG_BATCH_RE = /^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,1000}\.b[0-9A-Z]{26}$/;

const sha = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

export class Names {
  readonly work: string;
  readonly index: string;
  /** finished index (format 4): finished markers apart from the big waiting index */
  readonly fin: string;
  /** active index (format 5): running-batch and scheduled markers apart from the queued ones */
  readonly act: string;
  /** waiting index (format 6): queued-batch markers in id ranges, apart from the per-job ones */
  readonly que: string;
  readonly logs: string;
  readonly jobsBucket: string;
  readonly workersBucket: string;
  readonly jobsStream: string;
  readonly workersStream: string;
  private readonly p: string;

  constructor(readonly ns: string) {
    validateNamespace(ns);
    this.p = `jc.${ns}`;
    this.work = `JC_${ns}_WORK`;
    this.index = `JC_${ns}_IDX`;
    this.fin = `JC_${ns}_FIN`;
    this.act = `JC_${ns}_ACT`;
    this.que = `JC_${ns}_QUE`;
    this.logs = `JC_${ns}_LOGS`;
    this.jobsBucket = `jc_${ns}_jobs`;
    this.workersBucket = `jc_${ns}_workers`;
    this.jobsStream = `KV_${this.jobsBucket}`;
    this.workersStream = `KV_${this.workersBucket}`;
  }

  // work stream
  workAll(): string {
    return `${this.p}.w.>`;
  }
  workSubject(queue: string, priority: number): string {
    return `${this.p}.w.${queueToken(queue)}.${levelToken(priority)}`;
  }
  workQueueFilter(queue: string): string {
    return `${this.p}.w.${queueToken(queue)}.*`;
  }
  /** consumer name for (queue, level): w_<token>_<level>; long queue names are hashed */
  consumer(queue: string, priority: number): string {
    const t = queueToken(queue);
    return `w_${t.length <= 64 ? t : `h${sha(queue, 32)}`}_${levelToken(priority)}`;
  }
  wake(queue: string): string {
    return `${this.p}.k.${queueToken(queue)}`;
  }
  /** (queue token, level) from a work subject */
  parseWorkSubject(subject: string): { queue: string; priority: number } | null {
    const t = subject.split('.');
    if (t.length !== 5 || t[2] !== 'w') return null;
    return { queue: tokenToQueue(t[3]!), priority: tokenToLevel(t[4]!) };
  }

  // KV keys (subjects inside the jobs bucket)
  jobKey(id: string): string {
    return `$KV.${this.jobsBucket}.${id}`;
  }
  /** a job's initial record, written once by enqueue (the record at jobKey starts at its first change) */
  initialKey(id: string): string {
    return `$KV.${this.jobsBucket}.n.${id}`;
  }
  uniqueKey(key: string): string {
    return `$KV.${this.jobsBucket}.u.${sha(key, 40)}`;
  }
  metaKey(): string {
    return `$KV.${this.jobsBucket}.meta.version`;
  }
  /** who ran the namespace's last rescue pass, and when (workers take turns: rescue-turn.ts) */
  rescueTurnKey(): string {
    return `$KV.${this.jobsBucket}.meta.rescue`;
  }
  workerKey(name: string): string {
    return `$KV.${this.workersBucket}.${workerToken(name)}`;
  }

  // index
  indexAll(): string {
    return `${this.p}.x.>`;
  }
  /**
   * A waiting or running marker: queued ones in the index (`x.`), scheduled and running-batch
   * (`rb`) ones in the active index (`a.`, format 5), whose reads do not pay for the queued ones.
   */
  marker(state: string, queue: string, id: string): string {
    return `${this.p}.${ACTIVE.has(state) ? 'a' : 'x'}.${state}.${queueToken(queue)}.${id}`;
  }
  markerFilter(state: string, queue?: string): string {
    return `${this.p}.${ACTIVE.has(state) ? 'a' : 'x'}.${state}.${queue === undefined ? '*' : queueToken(queue)}.*`;
  }
  /** the stream holding the markers of a waiting or running state token (marker()) */
  markerStream(state: string): string {
    return ACTIVE.has(state) ? this.act : this.index;
  }
  /** where formats 1–4 kept every waiting/running marker (the migration to 5 moves them) */
  legacyFilter(state: string): string {
    return `${this.p}.x.${state}.*.*`;
  }
  actAll(): string {
    return `${this.p}.a.>`;
  }
  queAll(): string {
    return `${this.p}.q.>`;
  }
  /** a queued-batch marker (format 6): the ids one enqueue or requeue call made queued in a queue */
  queMarker(queue: string, batch: string): string {
    return `${this.p}.q.${QUEUED_BATCH}.${queueToken(queue)}.${batch}`;
  }
  queFilter(queue?: string): string {
    return `${this.p}.q.${QUEUED_BATCH}.${queue === undefined ? '*' : queueToken(queue)}.*`;
  }
  finAll(): string {
    return `${this.p}.f.>`;
  }
  /**
   * A finished marker (per job, or `<state>-b` per outcome batch) in the finished index. An
   * outcome batch of format 7 is named `<bucket>.<batch id>` (outcomeBatchName): two tokens.
   */
  finMarker(state: string, queue: string, id: string): string {
    return `${this.p}.f.${state}.${queueToken(queue)}.${id}`;
  }
  /** per-job finished markers of a state, or (a `-b` token) the batch markers of both namings */
  finFilter(state: string, queue?: string): string {
    return `${this.p}.f.${state}.${queue === undefined ? '*' : queueToken(queue)}.${state.endsWith('-b') ? '>' : '*'}`;
  }
  /** the outcome batches (format 7) of a queue that can hold jobs of one id bucket, any state */
  outcomeFilter(queue: string, bucket: string): string {
    return `${this.p}.f.*.${queueToken(queue)}.${bucket}.*`;
  }
  /** (state token, queue, id) of a marker of any index; a format-7 outcome batch's id is `<bucket>.<batch>` */
  parseMarker(subject: string): { state: string; queue: string; id: string } | null {
    const t = subject.split('.');
    if (t.length === 7 && t[2] === 'f' && t[3]!.endsWith('-b'))
      return { state: t[3]!, queue: tokenToQueue(t[4]!), id: `${t[5]!}.${t[6]!}` };
    if (t.length !== 6 || (t[2] !== 'x' && t[2] !== 'f' && t[2] !== 'a' && t[2] !== 'q')) return null;
    return { state: t[3]!, queue: tokenToQueue(t[4]!), id: t[5]! };
  }

  // logs: jc.<ns>.l.<queue|_>.<worker|_>.<job|_>
  logsAll(): string {
    return `${this.p}.l.>`;
  }
  logSubject(queue: string | null, worker: string | null, jobId: string | null): string {
    return `${this.p}.l.${queue ? queueToken(queue) : '_'}.${worker ? workerToken(worker) : '_'}.${jobId ?? '_'}`;
  }
  /**
   * A log batch (the event lines of one outcome call, many jobs) as a job record names it:
   * `<queue token>.<worker token>.b<batch id>`, stored at subject `jc.<ns>.l.<that>`.
   */
  logBatch(queue: string, worker: string, batchId: string): string {
    return `${queueToken(queue)}.${workerToken(worker)}.b${batchId}`;
  }
  /** The subject of a log batch a record names; null when the name is not one (a damaged record). */
  logBatchSubject(batch: string): string | null {
    return LOG_BATCH_RE.test(batch) ? `${this.p}.l.${batch}` : null;
  }
  logFilter(q: { queue?: string; worker?: string; jobId?: string }): string {
    return `${this.p}.l.${q.queue ? queueToken(q.queue) : '*'}.${q.worker ? workerToken(q.worker) : '*'}.${q.jobId ?? '*'}`;
  }
}

/** Worker names are free text: hex-encode anything outside A-Z a-z 0-9 - (a KV key / subject token). */
export function workerToken(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200)
    throw new ValidationError('invalid worker name', 'worker names are 1-200 characters');
  return name.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.codePointAt(0)!.toString(16).toUpperCase().padStart(2, '0')}_`);
}

// ---- ids: ULID (Crockford base32), monotonic within this process ----
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const ID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
let lastMs = -1;
let lastRand: number[] = [];

/**
 * The random part of ids comes from the CSPRNG 4 KB at a time: one `randomBytes(16)` per id cost
 * 5 µs in a loop and 19-69 µs per call on a job's latency path (measured: an idle worker's enqueue,
 * claim and outcome each draw one, since each comes in a new millisecond; docs/benchmarks.md).
 */
const RANDOM_POOL = Buffer.allocUnsafe(4096);
let randomAt = RANDOM_POOL.length;
function random16(): Buffer {
  if (randomAt + 16 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  randomAt += 16;
  return RANDOM_POOL.subarray(randomAt - 16, randomAt);
}

export function newId(now = Date.now()): string {
  if (now <= lastMs) {
    // same (or earlier) millisecond: increment the random part so ids stay strictly increasing
    let i = lastRand.length - 1;
    while (i >= 0 && lastRand[i] === 31) lastRand[i--] = 0;
    if (i >= 0) lastRand[i]!++;
    now = lastMs;
  } else {
    const r = random16();
    lastRand = Array.from({ length: 16 }, (_, i) => r[i]! & 31);
    lastRand[0] = lastRand[0]! & 15; // head-room for increments
    lastMs = now;
  }
  let t = '';
  let ms = now;
  for (let i = 0; i < 10; i++) {
    t = B32[ms % 32] + t;
    ms = Math.floor(ms / 32);
  }
  return t + lastRand.map((d) => B32[d]).join('');
}

/**
 * The id bucket of a job (format 7): the first 9 characters of its ULID, 32.8 ms of enqueue time.
 * The outcome batches that hold finished records are split by it, so that a lookup by id reads
 * the few batches of its bucket (Names.outcomeFilter) instead of all of its queue's.
 */
export const idBucket = (id: string): string => id.slice(0, 9);

/** The name (`fb`) of an outcome batch of format 7: its jobs' bucket and the batch's own id. */
export const outcomeBatchName = (bucket: string, batch: string): string => `${bucket}.${batch}`;

export function normalizeNatsId(raw: string): string {
  if (typeof raw !== 'string' || !ID_RE.test(raw)) {
    throw new ValidationError(
      `invalid job id ${JSON.stringify(String(raw).slice(0, 40))}`,
      'NATS job ids are 26-character ULIDs such as 01JD3M5Q2V8K7X9Z0ABCDEFGHJ',
    );
  }
  return raw;
}
