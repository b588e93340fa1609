/**
 * The library API for producers: enqueue jobs and wait for their outcome without the CLI.
 * `jobctl trigger` is built on the same client.
 *
 *   import { connect } from 'jobctl';
 *   const client = await connect('postgres://app@db/app');
 *   const job = await client.enqueue({ name: 'send-email', payload: { to: 'a@b.c' } });
 *   const done = await client.waitFor(job.id, { timeoutMs: 60_000 });
 *   await client.close();
 */
import type { Backend, BackendName, EnqueueResult } from './backend.js';
import { resolveConnection } from './config.js';
import { JobctlError, NotFoundError, TimeoutError, ValidationError } from './errors.js';
import { DEFAULTS, isFinished, normalizeEnqueue, type EnqueueInput, type Job, type NewJob } from './job.js';
import { openBackend } from './registry.js';
import { formatDuration } from './durations.js';

export interface ConnectOptions {
  /** sqlite | pg | redis | nats (default: from the URL scheme, else sqlite) */
  backend?: BackendName | string;
  /** pg schema / redis key prefix / nats prefix */
  namespace?: string;
  /** Create or upgrade the schema on connect (default true; a newer schema is refused). */
  autoMigrate?: boolean;
  /** Payload size limit in bytes (default 1 MiB). */
  payloadLimitBytes?: number;
  /** Debug sink; never given secrets. */
  debug?: (message: string) => void;
}

export interface WaitOptions {
  /** Give up after this long: throws TimeoutError (exit code 124 in the CLI). */
  timeoutMs: number;
  /** Stop waiting early; rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface JobClient {
  /** The open backend (for anything the client does not wrap). */
  readonly backend: Backend;
  /** Validate and enqueue one job. With a unique key matching an unfinished job, that job is returned. */
  enqueue(input: EnqueueInput): Promise<Job>;
  /** Validate every input first (nothing is written if one is invalid), then enqueue them in one batch. */
  enqueueMany(inputs: readonly EnqueueInput[]): Promise<Job[]>;
  /** Like enqueueMany, also telling which jobs were created and which were unique-key matches. */
  enqueueWithResults(inputs: readonly EnqueueInput[]): Promise<EnqueueResult[]>;
  /** The job, or null when there is no job with this id. */
  getJob(id: string): Promise<Job | null>;
  /** Resolve with the job once it is completed, failed or cancelled. */
  waitFor(id: string, opts: WaitOptions): Promise<Job>;
  close(): Promise<void>;
}

/** Open a backend by URL (default: JOBCTL_URL, else the embedded ./.jobctl/jobs.db) and return a client. */
export async function connect(url?: string, opts: ConnectOptions = {}): Promise<JobClient> {
  const conn = resolveConnection({ url, backend: opts.backend, env: process.env });
  const backend = await openBackend(conn.backend, {
    url: conn.url,
    namespace: opts.namespace,
    autoMigrate: opts.autoMigrate ?? true,
    debug: opts.debug,
  });
  return createClient(backend, { payloadLimitBytes: opts.payloadLimitBytes, ownsBackend: true });
}

/** Validate a batch: every input is checked before anything is written. Errors name the job (1-based). */
export function prepareJobs(inputs: readonly EnqueueInput[], limitBytes: number = DEFAULTS.payloadLimitBytes): NewJob[] {
  return inputs.map((input, i) => {
    try {
      return normalizeEnqueue(input, limitBytes);
    } catch (e) {
      if (inputs.length > 1 && e instanceof JobctlError) throw new ValidationError(`job ${i + 1}: ${e.message}`, e.hint);
      throw e;
    }
  });
}

/** A client over an already open backend. `ownsBackend`: close() closes the backend too. */
export function createClient(backend: Backend, opts: { payloadLimitBytes?: number; ownsBackend?: boolean } = {}): JobClient {
  const limit = opts.payloadLimitBytes ?? DEFAULTS.payloadLimitBytes;
  let closed = false;

  async function enqueueWithResults(inputs: readonly EnqueueInput[]): Promise<EnqueueResult[]> {
    const jobs = prepareJobs(inputs, limit);
    if (jobs.length === 0) return [];
    return backend.enqueue(jobs);
  }

  return {
    backend,
    enqueueWithResults,
    async enqueue(input) {
      const [r] = await enqueueWithResults([input]);
      return r!.job;
    },
    async enqueueMany(inputs) {
      return (await enqueueWithResults(inputs)).map((r) => r.job);
    },
    async getJob(id) {
      return backend.getJob(backend.normalizeId(id));
    },
    waitFor(id, waitOpts) {
      return waitForJob(backend, backend.normalizeId(id), waitOpts);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (opts.ownsBackend !== false) await backend.close();
    },
  };
}

const POLL_MIN_MS = 20;
const POLL_MAX_MS = 500;

/** Poll until the job is finished, backing off from 20 ms to 500 ms. */
export async function waitForJob(backend: Pick<Backend, 'getJob'>, id: string, opts: WaitOptions): Promise<Job> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = POLL_MIN_MS;
  for (;;) {
    opts.signal?.throwIfAborted();
    const job = await backend.getJob(id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    if (isFinished(job.state)) return job;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TimeoutError(
        `job ${id} is still ${job.state} after ${formatDuration(opts.timeoutMs)}`,
        'raise --wait-timeout, or check `jobctl workers` for a running worker',
      );
    }
    await sleep(Math.min(delay, left), opts.signal);
    delay = Math.min(POLL_MAX_MS, Math.ceil(delay * 1.5));
  }
}

function sleep(msValue: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, msValue);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
