/**
 * Job hashes <-> Job objects. A job is one Redis hash `{<prefix>:<queue>}:job:<id>` with readable
 * fields, so operators can inspect it with redis-cli (HGETALL):
 *   id queue name payload priority state attempts max_attempts run_at timeout_ms unique_key
 *   worker lease_expires_at last_error errors result progress created_at started_at
 *   finished_at updated_at
 * Times are epoch ms; payload/result/progress are JSON text; errors are JSON lines
 * ({"attempt","at","message"}, the last 20). A missing field is null.
 */
import { decodeStoredPayload, type AttemptError, type ClaimedJob, type Job, type JobState, JOB_STATES } from '../../core/job.js';

export type JobHash = Record<string, string>;

export function flatToHash(flat: string[]): JobHash {
  const h: JobHash = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
}

const int = (v: string | undefined): number | null => (v === undefined || v === '' ? null : Number(v));

function json(v: string | undefined): unknown {
  if (v === undefined) return null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function parseErrors(text: string | undefined): AttemptError[] {
  if (!text) return [];
  const out: AttemptError[] = [];
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as AttemptError;
      out.push({ attempt: Number(e.attempt), at: Number(e.at), message: String(e.message) });
    } catch {
      out.push({ attempt: 0, at: 0, message: line });
    }
  }
  return out;
}

/** The state to report: stored `scheduled` whose run_at has come is `queued`. */
export function reportedState(stored: string, runAt: number, now: number): JobState {
  if (stored === 'scheduled' || stored === 'queued') return runAt > now ? 'scheduled' : 'queued';
  return (JOB_STATES as readonly string[]).includes(stored) ? (stored as JobState) : 'queued';
}

export function hashToJob(h: JobHash, now: number): Job {
  const runAt = int(h.run_at) ?? 0;
  const state = reportedState(h.state ?? 'queued', runAt, now);
  const { payload, payloadError } = decodeStoredPayload(h.payload ?? null);
  const job: Job = {
    id: h.id!,
    queue: h.queue!,
    name: h.name ?? '',
    payload,
    priority: int(h.priority) ?? 0,
    state,
    attempts: int(h.attempts) ?? 0,
    maxAttempts: int(h.max_attempts) ?? 1,
    runAt,
    timeoutMs: int(h.timeout_ms) ?? 0,
    uniqueKey: h.unique_key ?? null,
    workerId: state === 'running' ? h.worker || null : null,
    leaseExpiresAt: state === 'running' ? int(h.lease_expires_at) : null,
    lastError: h.last_error ?? null,
    errors: parseErrors(h.errors),
    result: json(h.result),
    progress: json(h.progress),
    createdAt: int(h.created_at) ?? 0,
    startedAt: int(h.started_at),
    finishedAt: int(h.finished_at),
    updatedAt: int(h.updated_at) ?? 0,
  };
  if (payloadError) job.payloadError = payloadError;
  return job;
}

/**
 * The job fields a claim reads (HMGET, in this order; compiled into claim.lua as the table `CF`
 * by claimReplyLua). claim.lua checks `state` (first) and replaces it with the job id, and
 * replaces `attempts` (second) by the new count; the fields the claim writes (worker, lease,
 * started_at, updated_at) and the queue are known to the caller and not read.
 */
export const CLAIM_READ_FIELDS = [
  'state',
  'attempts',
  'name',
  'payload',
  'priority',
  'max_attempts',
  'run_at',
  'timeout_ms',
  'unique_key',
  'last_error',
  'errors',
  'result',
  'progress',
  'created_at',
  'finished_at',
] as const;

/** Lua source defining `CF` (CLAIM_READ_FIELDS), prepended to the scripts that use it. */
export function claimReplyLua(): string {
  return `local CF = { ${CLAIM_READ_FIELDS.map((f) => JSON.stringify(f)).join(', ')} }\n`;
}

/** What a claim wrote on each job it took. */
export interface ClaimWrite {
  queue: string;
  worker: string;
  /** lease expiry, the claim's time (started_at, updated_at) */
  lease: string;
  now: number;
}

/** Position of each field in a claim reply's values (CLAIM_READ_FIELDS). */
const CF = Object.fromEntries(CLAIM_READ_FIELDS.map((f, i) => [f, i])) as Record<(typeof CLAIM_READ_FIELDS)[number], number>;

/**
 * A claimed job from the values claim.lua returns for it (CLAIM_READ_FIELDS with id, new attempts;
 * false: not set): what hashToJob gives for the job's hash after the claim, built directly (this
 * runs once per claimed job).
 */
export function fieldsToClaimed(values: (string | false)[], w: ClaimWrite): ClaimedJob {
  const str = (i: number): string | undefined => {
    const v = values[i];
    return typeof v === 'string' ? v : undefined;
  };
  const { payload, payloadError } = decodeStoredPayload(str(CF.payload) ?? null);
  const attempts = int(str(CF.attempts)) ?? 0;
  const job: ClaimedJob = {
    id: String(values[0]),
    queue: w.queue,
    name: str(CF.name) ?? '',
    payload,
    priority: int(str(CF.priority)) ?? 0,
    state: 'running',
    attempts,
    maxAttempts: int(str(CF.max_attempts)) ?? 1,
    runAt: int(str(CF.run_at)) ?? 0,
    timeoutMs: int(str(CF.timeout_ms)) ?? 0,
    uniqueKey: str(CF.unique_key) ?? null,
    workerId: w.worker || null,
    leaseExpiresAt: int(w.lease),
    lastError: str(CF.last_error) ?? null,
    errors: parseErrors(str(CF.errors)),
    result: json(str(CF.result)),
    progress: json(str(CF.progress)),
    createdAt: int(str(CF.created_at)) ?? 0,
    startedAt: w.now,
    finishedAt: int(str(CF.finished_at)),
    updatedAt: w.now,
    attempt: attempts,
  };
  if (payloadError) job.payloadError = payloadError;
  return job;
}
