/**
 * THE backend interface. Every backend (sqlite, pg, redis, nats) implements it; commands and
 * the worker talk only to it. docs/architecture.md explains how each backend maps each method.
 *
 * Rules every implementation keeps (checked by test/conformance):
 * - Each mutation is atomic and checks the state it expects; it returns what it actually changed.
 * - Outcomes (complete/fail/release/progress) are fenced by (id, attempt, workerId): a worker
 *   whose claim was lost (rescued, reset, cancelled, re-claimed) cannot record anything.
 * - `scheduled` is reported for queued jobs whose run_at is in the future.
 * - `stuck` and `orphaned` are derived at read time from leases and worker heartbeats.
 */
import type { ClaimedJob, Job, JobState, NewJob, StateFilter } from './job.js';

export const BACKEND_NAMES = ['sqlite', 'pg', 'redis', 'nats'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Optional abilities. Commands call `requireCapability`; a missing one is a NotSupportedError. */
export type Capability =
  /** waitForWork returns within milliseconds of an enqueue made by another process */
  | 'push-wakeups'
  /** unique_key de-duplication on enqueue */
  | 'unique-keys'
  /** deleting finished jobs */
  | 'purge'
  /** job logs and worker events */
  | 'logs'
  /** migrate() manages a versioned schema */
  | 'migrations';

export interface BackendOptions {
  /** Connection URL (sqlite: file path or sqlite: URL). */
  url: string;
  /** Namespace for all objects: pg schema, redis key prefix, nats stream/bucket prefix, sqlite: unused. */
  namespace?: string;
  /** Create or upgrade the schema on open (writing commands on the embedded default). */
  autoMigrate?: boolean;
  /** Debug sink (--debug). Never given secrets. */
  debug?: (message: string) => void;
}

export interface EnqueueResult {
  job: Job;
  /** false when a unique key matched an unfinished job and that job was returned instead */
  created: boolean;
}

export interface ClaimParams {
  workerId: string;
  /** Queues in the order to try them (the worker applies weights before calling). */
  queues: string[];
  /** Free slots: claim at most this many. */
  limit: number;
  leaseMs: number;
}

/** Identifies one claim of one job: the fencing token. */
export interface ClaimRef {
  id: string;
  attempt: number;
  workerId: string;
}

export interface CompleteItem extends ClaimRef {
  result?: unknown;
  /**
   * Lifecycle event lines of this attempt (the worker sends its `completed …` line, which also
   * stands for the `claimed` line when that one was never written). The backend appends them to
   * the job's log (stream `event`, this worker, `events.queue`) in the same call as the outcome,
   * and ONLY when the outcome is recorded: a lost claim leaves no `completed` line behind. Saves
   * a log write per job.
   */
  events?: OutcomeEvents;
}

export interface OutcomeEvents {
  queue: string;
  lines: { ts: number; message: string }[];
}

/** The log lines of `events` of the items whose outcome was recorded (results in item order or by id). */
export function recordedEventLines(items: readonly CompleteItem[], results: readonly OutcomeResult[]): LogInput[] {
  const ok = new Set<string>();
  for (const r of results) if (r.ok) ok.add(r.id);
  const lines: LogInput[] = [];
  for (const it of items) {
    if (!it.events || !ok.has(it.id)) continue;
    for (const l of it.events.lines)
      lines.push({ jobId: it.id, worker: it.workerId, queue: it.events.queue, stream: 'event', message: l.message, ts: l.ts });
  }
  return lines;
}

export interface FailItem extends ClaimRef {
  error: string;
  /** Delay before the retry when attempts remain (the worker computes back-off with jitter). */
  retryDelayMs: number;
  /** Do not retry (e.g. the payload can never be parsed): the job goes straight to failed. */
  final?: boolean;
}

export interface ReleaseItem extends ClaimRef {
  reason: string;
  /**
   * The job was claimed ahead (prefetched) and never started: its attempt is given back
   * (attempts - 1), it keeps its run_at and place, and it is never failed by the release.
   */
  notStarted?: boolean;
}

export interface OutcomeResult {
  id: string;
  /** false: the claim was lost, nothing was recorded */
  ok: boolean;
  /** new state when ok */
  state?: JobState;
  reason?: string;
}

export interface ExtendLeasesParams {
  workerId: string;
  leaseMs: number;
  jobs: { id: string; attempt: number }[];
}

export interface RescueParams {
  limit: number;
  /**
   * A worker's periodic pass (the rescuer): a backend whose rescue pass is expensive may take
   * turns — it skips the pass (`skipped`) when another worker (`by`) ran one within `withinMs`,
   * so that one pass per namespace runs at a time instead of one per worker. Without it (an
   * operator, a test) the pass always runs.
   */
  turn?: { by: string; withinMs: number };
}

export interface RescueResult {
  /** orphaned jobs put back to queued (attempt counted) */
  requeued: string[];
  /** orphaned jobs whose last attempt was used: now failed */
  failed: string[];
  /** the pass did not run: another worker's turn (RescueParams.turn) */
  skipped?: boolean;
}

export interface ListParams {
  states?: StateFilter[];
  queue?: string;
  name?: string;
  limit: number;
  /** keyset cursor: only jobs after this one (ascending id order) */
  after?: string;
}

export interface ListResult {
  jobs: Job[];
  /** cursor for the next page, null when this was the last */
  next: string | null;
}

export interface QueueStats {
  queue: string;
  queued: number;
  scheduled: number;
  /** all running jobs; stuck and orphaned are subsets of it */
  running: number;
  stuck: number;
  orphaned: number;
  failed: number;
  completed: number;
  cancelled: number;
  oldestQueuedAgeMs: number | null;
}

/** A queue's stats before anything is counted. */
export function emptyQueueStats(queue: string): QueueStats {
  return {
    queue,
    queued: 0,
    scheduled: 0,
    running: 0,
    stuck: 0,
    orphaned: 0,
    failed: 0,
    completed: 0,
    cancelled: 0,
    oldestQueuedAgeMs: null,
  };
}

export interface Stats {
  queues: QueueStats[];
  workers: { alive: number };
}

export interface MutationResult {
  changed: string[];
  skipped: { id: string; reason: string }[];
}

export type RequeueParams = (
  { ids: string[] } | { state: 'failed' | 'cancelled' | 'completed'; queue?: string; limit: number }
) & {
  resetAttempts?: boolean;
  dryRun?: boolean;
};

export type ResetParams = ({ ids: string[] } | { which: 'orphaned' | 'stuck'; queue?: string; limit: number }) & {
  force?: boolean;
  dryRun?: boolean;
};

export interface CancelParams {
  ids: string[];
  dryRun?: boolean;
}

export interface PurgeParams {
  states: ('completed' | 'failed' | 'cancelled')[];
  queue?: string;
  /** only jobs finished before now - olderThanMs */
  olderThanMs: number;
  limit: number;
}

export interface WorkerInfo {
  name: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  /** the worker is dead when no heartbeat came for this long */
  ttlMs: number;
  version: string;
}

export interface WorkerRecord extends WorkerInfo {
  startedAt: number;
  lastHeartbeatAt: number;
  runningJobs: number;
  alive: boolean;
}

export type LogStream = 'stdout' | 'stderr' | 'log' | 'event';

export interface LogInput {
  jobId: string | null;
  worker: string | null;
  queue: string | null;
  stream: LogStream;
  message: string;
  /** epoch ms; absent = now */
  ts?: number;
}

export interface LogLine {
  /** backend-ordered cursor of this line */
  seq: string;
  ts: number;
  jobId: string | null;
  worker: string | null;
  queue: string | null;
  stream: LogStream;
  message: string;
}

export interface LogQuery {
  jobId?: string;
  worker?: string;
  queue?: string;
  /** only lines after this cursor (from a previous read) */
  after?: string;
  /** only lines at or after this epoch ms */
  sinceMs?: number;
  /** the last N matching lines (ignored when `after` is set) */
  tail?: number;
  limit: number;
}

export interface LogReadResult {
  lines: LogLine[];
  /** pass as `after` to continue; null when nothing matched yet */
  cursor: string | null;
}

export interface MigrateResult {
  from: number;
  to: number;
}

export interface Backend {
  readonly name: BackendName;
  readonly capabilities: ReadonlySet<Capability>;
  /**
   * How far a worker's default prefetch may grow while jobs are short (see the worker's
   * defaultPrefetchMax): `perSlot` × concurrency, at most `max`. Absent: 12 per slot, at most 512.
   * A backend whose cost per job falls with the size of a claim and of an outcome write declares more.
   */
  readonly shortJobPrefetch?: { readonly perSlot: number; readonly max: number };

  /** Create or upgrade the schema; idempotent and safe when run concurrently. */
  migrate(): Promise<MigrateResult>;
  /** Check and canonicalise a job id typed by a user; throws ValidationError when malformed. */
  normalizeId(raw: string): string;

  // producers
  enqueue(jobs: NewJob[]): Promise<EnqueueResult[]>;

  // workers
  claim(params: ClaimParams): Promise<ClaimedJob[]>;
  extendLeases(params: ExtendLeasesParams): Promise<{ lost: string[] }>;
  complete(items: CompleteItem[]): Promise<OutcomeResult[]>;
  fail(items: FailItem[]): Promise<OutcomeResult[]>;
  /** Give running jobs back (graceful shutdown): queued again, the attempt stays counted (unless notStarted). */
  release(items: ReleaseItem[]): Promise<OutcomeResult[]>;
  setProgress(ref: ClaimRef, progress: unknown): Promise<boolean>;
  /** Put orphaned jobs back (or fail them when their last attempt was used). */
  rescue(params: RescueParams): Promise<RescueResult>;
  /** Resolve when work may be ready in one of these queues, or after timeoutMs, or on abort. */
  waitForWork(queues: string[], timeoutMs: number, signal?: AbortSignal): Promise<void>;

  // inspection
  getJob(id: string): Promise<Job | null>;
  listJobs(params: ListParams): Promise<ListResult>;
  stats(params: { queue?: string }): Promise<Stats>;
  /**
   * Optional: how many jobs of these queues are ready to claim now (queued and due; stats'
   * `queued` summed over them), for a draining worker whose claim came back empty. Backends
   * whose stats is expensive (NATS) answer it with less; without it the worker asks stats.
   */
  readyJobs?(queues: string[]): Promise<number>;

  // operators
  requeue(params: RequeueParams): Promise<MutationResult>;
  reset(params: ResetParams): Promise<MutationResult>;
  cancel(params: CancelParams): Promise<MutationResult>;
  purge(params: PurgeParams): Promise<{ deleted: number }>;

  // worker registry
  registerWorker(info: WorkerInfo): Promise<void>;
  /** false when the record is gone (e.g. pruned as dead): the worker registers again */
  heartbeatWorker(name: string, runningJobs: number): Promise<boolean>;
  listWorkers(): Promise<WorkerRecord[]>;
  unregisterWorker(name: string): Promise<void>;

  // logs
  appendLogs(lines: LogInput[]): Promise<void>;
  readLogs(query: LogQuery): Promise<LogReadResult>;
  /** Resolve when new log lines may exist, or after timeoutMs, or on abort. */
  waitForLogs(timeoutMs: number, signal?: AbortSignal): Promise<void>;

  /**
   * Conditions an operator must know about that are not errors (e.g. Redis without persistence:
   * jobs are lost on restart). `jobctl work` prints them at start, `jobctl doctor` lists them.
   */
  warnings(): Promise<string[]>;

  /**
   * Optional: before a worker starts, check what a worker must be allowed to do but would
   * otherwise fail at silently (NATS: acking messages, which is fire-and-forget); throws (a
   * PermissionError) when the worker could not work correctly. A backend whose worker writes go
   * through calls that fail visibly has none.
   */
  checkWorker?(): Promise<void>;

  close(): Promise<void>;
}

/** What a backend module exports; loaded lazily by the registry. */
export interface BackendModule {
  open(options: BackendOptions): Promise<Backend>;
}
