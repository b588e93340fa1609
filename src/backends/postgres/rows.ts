/**
 * Row shapes returned by the SQL files and their conversion to the interface types. Times arrive
 * as epoch ms (connection.ts type parser), ids as text, payload/result/progress/errors as parsed
 * JSON (jsonb). `now` is the server's now() of the same statement, so derived states use the
 * database clock.
 */
import type { WorkerRecord } from '../../core/backend.js';
import { reportedState, type AttemptError, type ClaimedJob, type Job } from '../../core/job.js';

/** The job columns every job-returning statement selects (see claim-jobs.sql). */
export interface JobRow {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  priority: number;
  state: string;
  attempts: number;
  max_attempts: number;
  run_at: number;
  timeout_ms: number;
  unique_key: string | null;
  worker_id: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  errors: AttemptError[] | null;
  result: unknown;
  progress: unknown;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
  now: number;
}

export function toJob(r: JobRow): Job {
  return buildJob(r, {
    state: reportedState(r.state, r.run_at, r.now),
    runAt: r.run_at,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
  });
}

/** The columns every job-returning statement selects under the same name and type. */
type JobColumns = Pick<
  JobRow,
  | 'id'
  | 'queue'
  | 'name'
  | 'payload'
  | 'priority'
  | 'attempts'
  | 'max_attempts'
  | 'timeout_ms'
  | 'unique_key'
  | 'last_error'
  | 'errors'
  | 'result'
  | 'progress'
>;
type JobTimes = Pick<
  Job,
  'state' | 'runAt' | 'workerId' | 'leaseExpiresAt' | 'createdAt' | 'startedAt' | 'finishedAt' | 'updatedAt'
>;

/**
 * One literal with every field, in one order (one object shape for every job): this runs once
 * per claimed job on the worker's hot path, where spreading the row cost ~30 us per job.
 */
function buildJob(r: JobColumns, t: JobTimes): Job {
  return {
    id: r.id,
    queue: r.queue,
    name: r.name,
    payload: r.payload,
    priority: r.priority,
    state: t.state,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: t.runAt,
    timeoutMs: r.timeout_ms,
    uniqueKey: r.unique_key,
    workerId: t.workerId,
    leaseExpiresAt: t.leaseExpiresAt,
    lastError: r.last_error,
    errors: Array.isArray(r.errors) ? r.errors : [],
    result: r.result ?? null,
    progress: r.progress ?? null,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    updatedAt: t.updatedAt,
  };
}

/**
 * One claimed job as claim-jobs.sql returns it (an element of its JSON array): the columns the
 * claim does not already tell, times as epoch ms.
 */
export type ClaimTuple = [
  id: string,
  queue: string,
  name: string,
  payload: unknown,
  priority: number,
  attempts: number,
  max_attempts: number,
  run_at_ms: number,
  timeout_ms: number,
  unique_key: string | null,
  last_error: string | null,
  errors: AttemptError[] | null,
  result: unknown,
  progress: unknown,
  created_at_ms: number,
];

/** A claimed job: running under this claim since the statement's `now`, lease until now + leaseMs. */
export function toClaimedJob(t: ClaimTuple, workerId: string, leaseMs: number, now: number): ClaimedJob {
  const job: ClaimedJob = {
    id: t[0],
    queue: t[1],
    name: t[2],
    payload: t[3],
    priority: t[4],
    state: 'running',
    attempts: t[5],
    maxAttempts: t[6],
    runAt: Math.floor(t[7]),
    timeoutMs: t[8],
    uniqueKey: t[9],
    workerId,
    leaseExpiresAt: now + leaseMs,
    lastError: t[10],
    errors: Array.isArray(t[11]) ? t[11] : [],
    result: t[12] ?? null,
    progress: t[13] ?? null,
    createdAt: Math.floor(t[14]),
    startedAt: now,
    finishedAt: null,
    updatedAt: now,
    attempt: t[5],
  };
  return job;
}

export interface WorkerRow {
  name: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  ttl_ms: number;
  version: string;
  started_at: number;
  last_heartbeat_at: number;
  running_jobs: number;
  alive: boolean;
}

export function toWorker(r: WorkerRow): WorkerRecord {
  return {
    name: r.name,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    concurrency: r.concurrency,
    ttlMs: r.ttl_ms,
    version: r.version,
    startedAt: r.started_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    runningJobs: r.running_jobs,
    alive: r.alive,
  };
}

const ID_RE = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 2n ** 63n - 1n;

/** True for the canonical decimal form of a bigint id in 1 .. 2^63-1. */
export function isCanonicalId(raw: string): boolean {
  // up to 18 digits is always below 2^63 - 1: no BigInt on the hot path (every outcome item)
  return typeof raw === 'string' && ID_RE.test(raw) && (raw.length < 19 || BigInt(raw) <= MAX_ID);
}
