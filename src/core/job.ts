import { ValidationError } from './errors.js';

/** Stored states. `scheduled` = not runnable before run_at (delays and retry back-off). */
export const JOB_STATES = ['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Derived views over `running` (see SEMANTICS.md): computed from facts, never stored. */
export const DERIVED_STATES = ['stuck', 'orphaned'] as const;
export type DerivedState = (typeof DERIVED_STATES)[number];

/** What `--state` accepts. */
export type StateFilter = JobState | DerivedState;
export const STATE_FILTERS: readonly StateFilter[] = [...JOB_STATES, ...DERIVED_STATES];

export const UNFINISHED_STATES: readonly JobState[] = ['scheduled', 'queued', 'running'];
export const FINISHED_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled'];

export interface AttemptError {
  attempt: number;
  /** epoch ms */
  at: number;
  message: string;
}

/**
 * A job as every backend reports it. Times are epoch milliseconds (null when not yet set);
 * `toPublicJob` turns them into ISO strings for --json.
 */
export interface Job {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  /** Set when the stored payload is not valid JSON (written around jobctl); payload is then the raw text. */
  payloadError?: string;
  priority: number;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  timeoutMs: number;
  uniqueKey: string | null;
  workerId: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  errors: AttemptError[];
  result: unknown;
  progress: unknown;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
}

/** A job handed to a worker by `claim`: `attempt` is its fencing token for this claim. */
export interface ClaimedJob extends Job {
  attempt: number;
}

export interface EnqueueInput {
  name: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  /** epoch ms; absent = now */
  runAt?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  uniqueKey?: string | null;
}

/** An EnqueueInput after validation and defaults: what a backend stores. */
export interface NewJob {
  name: string;
  /** JSON text, already validated and size-checked */
  payloadJson: string;
  queue: string;
  priority: number;
  /** epoch ms, or null for "now" by the backend's clock */
  runAt: number | null;
  maxAttempts: number;
  timeoutMs: number;
  uniqueKey: string | null;
}

export const DEFAULTS = {
  queue: 'default',
  priority: 0,
  maxAttempts: 5,
  timeoutMs: 30 * 60 * 1000,
  payloadLimitBytes: 1024 * 1024,
  leaseMs: 30_000,
  /** Errors kept per job (the oldest are dropped). */
  keptErrors: 20,
} as const;

export const QUEUE_NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const JOB_NAME_RE = /^[^\u0000-\u001f\u007f]{1,200}$/u;

export function validateQueueName(queue: string): string {
  if (typeof queue !== 'string' || !QUEUE_NAME_RE.test(queue)) {
    throw new ValidationError(
      `invalid queue name ${JSON.stringify(truncate(String(queue), 60))}`,
      'queue names are 1-128 characters of A-Z a-z 0-9 _ . -',
    );
  }
  return queue;
}

export function validateJobName(name: string): string {
  if (typeof name !== 'string' || !JOB_NAME_RE.test(name)) {
    throw new ValidationError(
      `invalid job name ${JSON.stringify(truncate(String(name), 60))}`,
      'job names are 1-200 characters without control characters',
    );
  }
  return name;
}

export function validateUniqueKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512 || /[\u0000-\u001f\u007f]/.test(key)) {
    throw new ValidationError('invalid unique key', 'unique keys are 1-512 characters without control characters');
  }
  return key;
}

function checkInt(value: number, what: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`invalid ${what} ${String(value)}`, `${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Serialise a payload to JSON and enforce the size limit. */
export function encodePayload(payload: unknown, limitBytes: number = DEFAULTS.payloadLimitBytes): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload === undefined ? null : payload);
  } catch (e) {
    throw new ValidationError(`payload is not serialisable to JSON: ${(e as Error).message}`);
  }
  if (text === undefined) throw new ValidationError('payload is not serialisable to JSON');
  // a UTF-16 code unit is at most 3 bytes of UTF-8: most payloads need no byte count
  const size = text.length * 3 <= limitBytes ? 0 : Buffer.byteLength(text, 'utf8');
  if (size > limitBytes) {
    throw new ValidationError(
      `payload is ${size} bytes, over the limit of ${limitBytes} bytes`,
      'store large data elsewhere and pass a reference in the payload',
    );
  }
  return text;
}

/** Parse JSON text given by a user (flag, file, stdin) as a payload; invalid JSON is rejected. */
export function parsePayloadText(text: string, limitBytes: number = DEFAULTS.payloadLimitBytes, source = 'payload'): unknown {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limitBytes) {
    throw new ValidationError(
      `${source} is ${size} bytes, over the limit of ${limitBytes} bytes`,
      'store large data elsewhere and pass a reference in the payload',
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValidationError(`${source} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Validate an enqueue request and fill in defaults. Throws ValidationError; never partial. */
export function normalizeEnqueue(input: EnqueueInput, limitBytes: number = DEFAULTS.payloadLimitBytes): NewJob {
  if (input === null || typeof input !== 'object') throw new ValidationError('a job must be an object');
  return {
    name: validateJobName(input.name),
    payloadJson: encodePayload(input.payload, limitBytes),
    queue: validateQueueName(input.queue ?? DEFAULTS.queue),
    priority: checkInt(input.priority ?? DEFAULTS.priority, 'priority', -1_000_000, 1_000_000),
    runAt: input.runAt === undefined ? null : checkInt(input.runAt, 'run time', 0, 8.64e15),
    maxAttempts: checkInt(input.maxAttempts ?? DEFAULTS.maxAttempts, 'max attempts', 1, 1000),
    timeoutMs: checkInt(input.timeoutMs ?? DEFAULTS.timeoutMs, 'timeout', 1, 365 * 24 * 3600 * 1000),
    uniqueKey: input.uniqueKey === undefined || input.uniqueKey === null ? null : validateUniqueKey(input.uniqueKey),
  };
}

/** The state users see: a stored `queued` job whose run_at is in the future is `scheduled`. */
export function reportedState(stored: string, runAt: number, now: number): JobState {
  return stored === 'queued' && runAt > now ? 'scheduled' : (stored as JobState);
}

export function isFinished(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

/** Parse stored payload text leniently: invalid JSON is reported, not thrown. */
export function decodeStoredPayload(text: string | null): { payload: unknown; payloadError?: string } {
  if (text === null) return { payload: null };
  try {
    return { payload: JSON.parse(text) };
  } catch (e) {
    return { payload: text, payloadError: `stored payload is not valid JSON: ${(e as Error).message}` };
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** decodeStoredPayload for payload bytes: invalid UTF-8 is reported, never silently replaced. */
export function decodeStoredPayloadBytes(bytes: Uint8Array | null): { payload: unknown; payloadError?: string } {
  if (bytes === null) return { payload: null };
  try {
    return decodeStoredPayload(strictUtf8.decode(bytes));
  } catch {
    return { payload: Buffer.from(bytes).toString('utf8'), payloadError: 'stored payload is not valid UTF-8' };
  }
}

/**
 * The Job a backend reports for a job it has just stored from `j` (no round trip to read it back).
 * `decoded`: the payload already parsed from j.payloadJson by the caller (e.g. a whole batch at once).
 */
export function jobFromNew(
  id: string,
  j: NewJob,
  now: number,
  runAt: number = j.runAt ?? now,
  decoded: { payload: unknown; payloadError?: string } = decodeStoredPayload(j.payloadJson),
): Job {
  const { payload, payloadError } = decoded;
  return {
    id,
    queue: j.queue,
    name: j.name,
    payload,
    ...(payloadError !== undefined ? { payloadError } : {}),
    priority: j.priority,
    state: runAt > now ? 'scheduled' : 'queued',
    attempts: 0,
    maxAttempts: j.maxAttempts,
    runAt,
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
  };
}

/**
 * Give a job that jobFromNew built before `j` was stored (with any id and clock) the id and the
 * store's clock it got: the same job as jobFromNew(id, j, now).
 */
export function stampNewJob(job: Job, j: NewJob, id: string, now: number): Job {
  job.id = id;
  job.createdAt = job.updatedAt = now;
  job.runAt = j.runAt ?? now;
  job.state = job.runAt > now ? 'scheduled' : 'queued';
  return job;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The stable --json shape of a job. */
export function toPublicJob(job: Job) {
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    state: job.state,
    payload: job.payload,
    ...(job.payloadError ? { payloadError: job.payloadError } : {}),
    priority: job.priority,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    runAt: iso(job.runAt),
    timeoutMs: job.timeoutMs,
    uniqueKey: job.uniqueKey,
    workerId: job.workerId,
    leaseExpiresAt: iso(job.leaseExpiresAt),
    lastError: job.lastError,
    errors: job.errors.map((e) => ({ attempt: e.attempt, at: iso(e.at), message: e.message })),
    result: job.result ?? null,
    progress: job.progress ?? null,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
  };
}
export type PublicJob = ReturnType<typeof toPublicJob>;

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
