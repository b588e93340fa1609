/**
 * Every Redis key and channel name the backend uses, built here and nowhere else.
 *
 * Layout (prefix = options.namespace, default `jobctl`):
 *
 *   {<prefix>}:meta                    hash   format version (migrate)
 *   {<prefix>}:queues                  hash   queue name -> queue number (1..99999)
 *   {<prefix>}:queue-names             hash   queue number -> queue name
 *   {<prefix>}:queue-counter           string last queue number handed out
 *   {<prefix>}:job-counter             string last job sequence handed out (ids, see below)
 *   {<prefix>}:workers                 hash   worker name -> JSON WorkerInfo + startedAt
 *   {<prefix>}:worker-beats            hash   worker name -> "<lastHeartbeatMs>:<runningJobs>"
 *   {<prefix>}:worker-log              stream log lines without a queue (worker lifecycle events)
 *   {<prefix>}:log-tick                stream one entry per write of log lines (MAXLEN 1), for XREAD BLOCK
 *
 *   {<prefix>:<queue>}:job:<id>        hash   the job (fields: see codec.ts)
 *   {<prefix>:<queue>}:ready           zset   runnable jobs: score = priority, member = "<runAt16>:<id16>"
 *                                             (equal scores sort by member: run_at, then id)
 *   {<prefix>:<queue>}:scheduled       zset   run_at in the future: score = run_at, member = id
 *   {<prefix>:<queue>}:leases          zset   running jobs: score = lease expiry, member = id
 *   {<prefix>:<queue>}:state:<state>   zset   listing index per stored state: score = member = id
 *                                             (not for running: those are the leases ZSET)
 *   {<prefix>:<queue>}:finished:<st>   zset   completed/failed/cancelled: score = finished_at (retention, purge)
 *   {<prefix>:<queue>}:unique:<key>    string unique key -> id of the unfinished job holding it
 *   {<prefix>:<queue>}:logs            stream log lines of the queue (every line of its jobs)
 *   {<prefix>:<queue>}:log:<id>        stream log lines of one job (deleted with the job)
 *   {<prefix>:<queue>}:pending-log     hash   job id -> 'S' when the job has a stream, else its
 *                                             only log entry ("<entry id>\n<n>\n<lines>"): a job
 *                                             whose only lines are its outcome events gets no stream
 *                                             (log streams hold one entry per write: logs.ts; the
 *                                             views of a worker and of everything are merged at
 *                                             read time from the queue streams and worker-log)
 *
 *   channel <prefix>:wake:<queue>      pub/sub: published when jobs become ready (waitForWork)
 *
 * Hash tags: every key of one queue carries the tag `{<prefix>:<queue>}`, so each per-queue Lua
 * script touches a single cluster slot; the registry keys share `{<prefix>}`. Per-queue scripts get
 * the queue's key prefix as KEYS[1] and derive the other names from the suffix table below, which
 * is compiled into every script by `luaKeyTable()` — so this module stays the one definition.
 *
 * Job ids: `id = seq * 100000 + queueNumber`, a decimal integer ≤ 2^53 − 1. `seq` comes from the
 * global job counter (strictly increasing, so ids sort by creation), `queueNumber` from the queue
 * registry. The id therefore tells which queue (and so which slot) holds the job, with no global
 * id -> queue index to keep in sync. Ids are exact in Lua doubles and ZSET scores (< 2^53).
 * Unique keys are per queue (the key lives in the queue's slot).
 */
import { ValidationError } from '../../core/errors.js';
import { QUEUE_NAME_RE } from '../../core/job.js';

export const DEFAULT_PREFIX = 'jobctl';
export const QUEUE_NUMBER_SPAN = 100_000;
export const MAX_QUEUE_NUMBER = QUEUE_NUMBER_SPAN - 1;
const ID_RE = /^[1-9][0-9]{0,15}$/;
const PREFIX_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Suffixes of a queue's keys after `{<prefix>:<queue>}:` (also compiled into the Lua scripts). */
export const QUEUE_KEYS = {
  job: 'job:',
  ready: 'ready',
  scheduled: 'scheduled',
  leases: 'leases',
  state: 'state:',
  finished: 'finished:',
  unique: 'unique:',
  logs: 'logs',
  jobLog: 'log:',
  pendingLog: 'pending-log',
} as const;

export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new ValidationError(`invalid redis key prefix ${JSON.stringify(prefix)}`, 'use 1-64 characters of A-Z a-z 0-9 _ . : -');
  }
  return prefix;
}

export class Keys {
  readonly prefix: string;
  private readonly g: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = validatePrefix(prefix);
    this.g = `{${prefix}}:`;
  }

  // registry (one slot)
  get meta(): string {
    return `${this.g}meta`;
  }
  get queues(): string {
    return `${this.g}queues`;
  }
  get queueNames(): string {
    return `${this.g}queue-names`;
  }
  get queueCounter(): string {
    return `${this.g}queue-counter`;
  }
  get jobCounter(): string {
    return `${this.g}job-counter`;
  }
  get workers(): string {
    return `${this.g}workers`;
  }
  get workerBeats(): string {
    return `${this.g}worker-beats`;
  }
  /** Format 1's global log stream (deleted by the migration to format 2). */
  get formerGlobalLog(): string {
    return `${this.g}logs`;
  }
  /** Log lines without a queue (each line names its worker). */
  get workerLog(): string {
    return `${this.g}worker-log`;
  }
  get logTick(): string {
    return `${this.g}log-tick`;
  }
  /** Every registry key, for tests and tooling. */
  get registryPattern(): string {
    return `${this.g}*`;
  }

  // one queue (one slot)
  /** KEYS[1] of every per-queue script: `{<prefix>:<queue>}:` */
  queue(queue: string): string {
    return `{${this.prefix}:${queue}}:`;
  }
  job(queue: string, id: string): string {
    return this.queue(queue) + QUEUE_KEYS.job + id;
  }
  ready(queue: string): string {
    return this.queue(queue) + QUEUE_KEYS.ready;
  }
  scheduled(queue: string): string {
    return this.queue(queue) + QUEUE_KEYS.scheduled;
  }
  leases(queue: string): string {
    return this.queue(queue) + QUEUE_KEYS.leases;
  }
  state(queue: string, state: string): string {
    return this.queue(queue) + QUEUE_KEYS.state + state;
  }
  finished(queue: string, state: string): string {
    return this.queue(queue) + QUEUE_KEYS.finished + state;
  }
  queueLog(queue: string): string {
    return this.queue(queue) + QUEUE_KEYS.logs;
  }
  jobLog(queue: string, id: string): string {
    return this.queue(queue) + QUEUE_KEYS.jobLog + id;
  }
  pendingLog(queue: string): string {
    return this.queue(queue) + QUEUE_KEYS.pendingLog;
  }
  /** SCAN pattern of every key under this prefix (registry and queues). */
  get allPattern(): string {
    return `{${this.prefix}[}:]*`;
  }

  /** Pub/sub channel (not a key: channels have no slot in classic pub/sub). */
  wakeChannel(queue: string): string {
    return `${this.prefix}:wake:${queue}`;
  }
}

/** Lua source defining `K`, the suffix table above, prepended to every script. */
export function luaKeyTable(): string {
  const entries = Object.entries(QUEUE_KEYS).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
  return `local K = { ${entries.join(', ')} }\n`;
}

// ---- ids ----

export function makeId(seq: number, queueNumber: number): string {
  return String(seq * QUEUE_NUMBER_SPAN + queueNumber);
}

/** The queue number an id encodes, or null when the text is not a canonical id. */
export function parseId(raw: string): { id: string; queueNumber: number } | null {
  if (typeof raw !== 'string' || !ID_RE.test(raw)) return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) return null;
  const queueNumber = n % QUEUE_NUMBER_SPAN;
  if (queueNumber === 0 || n < QUEUE_NUMBER_SPAN) return null;
  return { id: raw, queueNumber };
}

export function assertQueueName(queue: string): string {
  if (!QUEUE_NAME_RE.test(queue)) throw new ValidationError(`invalid queue name ${JSON.stringify(queue)}`);
  return queue;
}
