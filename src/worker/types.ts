/**
 * Public types of the worker library (`import { createWorker } from 'jobctl'`).
 */
import type { EventEmitter } from 'node:events';
import type { Backend } from '../core/backend.js';
import type { BackoffOptions } from '../core/backoff.js';
import type { ClaimedJob } from '../core/job.js';
import type { WorkerLogger } from './logger.js';
import type { Failpoint } from './failpoints.js';

/** What a module handler receives as its second argument. */
export interface JobContext {
  /** The claimed job (its `attempt` is this claim's fencing token). */
  job: ClaimedJob;
  /** 1-based attempt number of this run. */
  attempt: number;
  /** Aborted on timeout, lost lease (cancel, reset, rescue elsewhere) and worker shutdown. */
  signal: AbortSignal;
  /** A line in the job's log (stream `log`), formatted like console.log. */
  log(...args: unknown[]): void;
  /** Record progress (any JSON value); resolves false when the claim was lost. */
  progress(value: unknown): Promise<boolean>;
}

/** Alias of JobContext (the name src/index.ts exports). */
export type HandlerContext = JobContext;

/** A job handler: its resolved value (JSON) becomes the job's result; a throw is a failed attempt. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (payload: any, ctx: JobContext) => unknown;
export type Handlers = Record<string, Handler>;

export interface QueueWeight {
  name: string;
  /** Relative share of claims that try this queue first (1 when not given). */
  weight: number;
}

export interface WorkerOptions {
  /** An opened backend. The worker never closes it. */
  backend: Backend;
  /** `"a,b"`, `"critical:10,default:2"` or a parsed list. Default `"default"`. */
  queues?: string | QueueWeight[];
  /** Jobs run at once. Default 10. */
  concurrency?: number;
  /**
   * Jobs claimed ahead of free slots, waiting in a local buffer (their leases are extended; their
   * timeout starts when they run; on shutdown they are released without running). 0 = claim only
   * free slots. Default: 0 with `exec`, else min(256, 4 × concurrency), growing up to
   * min(512, 12 × concurrency) while jobs are short enough that a prefetched job waits about
   * 25 ms or less for its slot (measured from the handlers' run times; it shrinks back as they
   * get longer). A value given here is used as is. Backends set started_at at claim, so keep it
   * small relative to job durations × concurrency and to timeouts.
   */
  prefetch?: number;
  /** Write the per-job `claimed` and `completed` event lines to the backend log. Default true. */
  jobEvents?: boolean;
  /** Worker name (unique among live workers). Default `${hostname}-${pid}`. */
  name?: string;
  /** Module handlers by job name. Exactly one of `handlers` and `exec`. */
  handlers?: Handlers;
  /** Shell command run per job with `/bin/sh -c` in its own process group. */
  exec?: string;
  /** Lease of each claim, extended by heartbeats. Default 30 s. */
  leaseMs?: number;
  /** Lease extension + worker heartbeat period. Default leaseMs / 3. */
  heartbeatMs?: number;
  /** The worker counts as dead after this long without a heartbeat. Default 3 × heartbeatMs. */
  workerTtlMs?: number;
  /** How long a graceful stop waits for running jobs before releasing them. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL of an exec process group, and for aborted handlers to settle. Default 5 s. */
  killGraceMs?: number;
  /** Stop (and resolve `done`) once a claim finds nothing ready now and no job is running. */
  drain?: boolean;
  /** Stop after claiming this many jobs (and finishing them). */
  maxJobs?: number;
  /** Retry back-off. Default base 1 s, max 1 h. */
  backoff?: BackoffOptions;
  /** Period of the orphan rescuer (jittered ±20 %). Default leaseMs / 2. */
  rescueIntervalMs?: number;
  /** Longest wait for work before claiming again (bounds the fallback poll). Default 1 s. */
  pollMs?: number;
  /** Lifecycle lines (stderr). Default: silent. See createStderrLogger. */
  logger?: WorkerLogger;
  /** Strings that must never reach logs or exec children (e.g. urlSecrets(url)). */
  secrets?: string[];
  /** Environment for exec children (default process.env); JOBCTL_URL and secret-bearing vars are removed. */
  env?: NodeJS.ProcessEnv;
  /** Output caps per attempt (exec output and ctx.log). */
  output?: Partial<OutputLimits>;
  /** Crash on purpose at a step (reliability tests). Default: env JOBCTL_FAILPOINT. */
  failpoint?: Failpoint | null;
}

export interface OutputLimits {
  /** Bytes kept per line; the rest is dropped with a marker. Default 64 KiB. */
  maxLineBytes: number;
  /** Lines logged per attempt; then one "[output truncated …]" line. Default 10,000. */
  maxLines: number;
  /** Bytes logged per attempt; then one "[output truncated …]" line. Default 8 MiB. */
  maxBytes: number;
}

export interface WorkerSummary {
  /** jobs whose completion the backend recorded */
  completed: number;
  /** jobs whose last attempt failed (now `failed`) */
  failed: number;
  /** failed attempts that will be retried */
  retried: number;
  /** running jobs given back on shutdown */
  released: number;
  /** claims lost (lease expired, cancelled, reset, rescued): no outcome recorded */
  lost: number;
}

export interface StopOptions {
  /** true (default): finish running jobs within shutdownTimeoutMs, then release. false: release now, kill exec groups. */
  graceful?: boolean;
}

/**
 * Events (for tests and embedding apps): `started`, `claimed` (job), `completed` (job, result),
 * `failed` (job, error, { retry }), `released` (job), `lost` (job, reason), `timeout` (job),
 * `rescued` (RescueResult), `backend-error` (where, error), `stopping` (graceful), `stopped` (summary).
 */
export interface Worker extends EventEmitter {
  readonly name: string;
  /** Register the worker and start claiming. Rejects when the name is held by a live worker. */
  start(): Promise<void>;
  /** Stop (idempotent; calling again with graceful:false forces). Resolves with the summary. */
  stop(options?: StopOptions): Promise<WorkerSummary>;
  /** Resolves when the worker has stopped (drain, max-jobs or stop()). */
  readonly done: Promise<WorkerSummary>;
  /** Handlers running now. */
  readonly running: number;
  readonly summary: Readonly<WorkerSummary>;
}
