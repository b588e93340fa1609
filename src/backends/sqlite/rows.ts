/**
 * Row shapes of the SQL in ./sql and their mapping to the job model. Ids are INTEGER PRIMARY
 * KEY values read as text (CAST(id AS TEXT)) and bound as BigInt, so ids above 2^53 stay exact.
 */
import type { WorkerRecord } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import { DEFAULTS, decodeStoredPayloadBytes, reportedState, type AttemptError, type Job } from '../../core/job.js';

export type StoredState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobRow {
  id: string;
  queue: string;
  name: string;
  /** read as bytes (CAST(payload AS BLOB)) so that invalid UTF-8 is seen, not replaced */
  payload: Uint8Array | null;
  priority: number;
  state: StoredState;
  attempts: number;
  max_attempts: number;
  run_at: number;
  timeout_ms: number;
  unique_key: string | null;
  worker_id: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  errors: string | null;
  result: string | null;
  progress: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

/** What operator mutations and rescue decide on (get-job-facts.sql, select-*.sql). */
export interface FactsRow {
  id: string;
  state: StoredState;
  queue: string;
  run_at: number;
  attempts: number;
  max_attempts: number;
  errors: string | null;
  last_error: string | null;
  worker_id: string | null;
  lease_expires_at: number | null;
  started_at: number | null;
  timeout_ms: number;
  unique_key: string | null;
  worker_alive: number;
}

export interface WorkerRow {
  name: string;
  host: string;
  pid: number;
  queues: string;
  concurrency: number;
  ttl_ms: number;
  version: string;
  started_at: number;
  last_heartbeat_at: number;
  running_jobs: number;
}

const ID_RE = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 9223372036854775807n;

/** The canonical decimal id as a BigInt to bind, or null when it is not one. */
export function toKey(id: string): bigint | null {
  if (typeof id !== 'string' || !ID_RE.test(id)) return null;
  const n = BigInt(id);
  return n <= MAX_ID ? n : null;
}

/** normalizeId: accept only the canonical form, never coerce to another job. */
export function normalizeId(raw: string): string {
  const id = typeof raw === 'string' ? raw : String(raw);
  if (toKey(id) === null) {
    const shown = id.length > 40 ? `${id.slice(0, 40)}…` : id;
    throw new ValidationError(`invalid job id ${JSON.stringify(shown)}`, 'job ids are positive whole numbers, e.g. 42');
  }
  return id;
}

/** Compare canonical decimal ids numerically without BigInt. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function parseJsonLenient(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** JSON text for a value given by a handler; never throws (unserialisable values become their text). */
export function toJsonText(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : text;
  } catch {
    return JSON.stringify(String(value));
  }
}

export function parseErrors(text: string | null): AttemptError[] {
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v)) return [];
    return v
      .filter((e): e is AttemptError => e !== null && typeof e === 'object' && typeof (e as AttemptError).message === 'string')
      .map((e) => ({ attempt: Number(e.attempt) || 0, at: Number(e.at) || 0, message: e.message }));
  } catch {
    return [];
  }
}

/** errors + one more, the last DEFAULTS.keptErrors kept, as JSON text. */
export function appendError(text: string | null, error: AttemptError): string {
  const list = parseErrors(text);
  list.push(error);
  return JSON.stringify(list.slice(-DEFAULTS.keptErrors));
}

export function toJob(r: JobRow, now: number): Job {
  const { payload, payloadError } = decodeStoredPayloadBytes(r.payload);
  const job: Job = {
    id: r.id,
    queue: r.queue,
    name: r.name,
    payload,
    priority: r.priority,
    state: reportedState(r.state, r.run_at, now),
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: r.run_at,
    timeoutMs: r.timeout_ms,
    uniqueKey: r.unique_key,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error,
    errors: parseErrors(r.errors),
    result: parseJsonLenient(r.result),
    progress: parseJsonLenient(r.progress),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
  };
  if (payloadError !== undefined) job.payloadError = payloadError;
  return job;
}

export function toWorker(r: WorkerRow, now: number): WorkerRecord {
  const queues = parseJsonLenient(r.queues);
  return {
    name: r.name,
    host: r.host,
    pid: r.pid,
    queues: Array.isArray(queues) ? queues.map(String) : [],
    concurrency: r.concurrency,
    ttlMs: r.ttl_ms,
    version: r.version,
    startedAt: r.started_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    runningJobs: r.running_jobs,
    alive: r.last_heartbeat_at + r.ttl_ms > now,
  };
}
