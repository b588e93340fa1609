/**
 * The jobctl worker, backend-agnostic (it speaks only the Backend interface).
 *
 *   import { createWorker } from 'jobctl';
 *   const worker = createWorker({ backend, queues: 'critical:10,default:2', concurrency: 10,
 *     handlers: { 'send-email': async (payload, ctx) => { ctx.log('sending'); return { ok: true }; } } });
 *   await worker.start();
 *   process.once('SIGTERM', () => void worker.stop({ graceful: true }));
 *   const summary = await worker.done;   // { completed, failed, retried, released, lost }
 *
 * Services, each with start/stop: Producer (claim loop), Executor (handlers, exec, timeouts,
 * outcome batching), Heartbeat (leases + worker record), Rescuer (orphans), LogBuffer (job
 * output and lifecycle events to the backend).
 *
 * Shutdown: stop({ graceful: true }) stops claiming, waits up to shutdownTimeoutMs for running
 * jobs, then aborts the rest (exec groups: SIGTERM, SIGKILL after killGraceMs) and releases
 * them (attempt counted), writes pending outcomes and logs, unregisters, resolves `done`.
 * stop({ graceful: false }) — or a second stop() call with it — does that at once, SIGKILLing
 * exec groups. Signals are the caller's business (`jobctl work` maps SIGTERM/SIGINT to a
 * graceful stop and a second signal to a forced one).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { WorkerInfo } from '../core/backend.js';
import { DEFAULT_BACKOFF } from '../core/backoff.js';
import { UsageError } from '../core/errors.js';
import { DEFAULTS } from '../core/job.js';
import { childBaseEnv } from './exec-runner.js';
import { Executor } from './executor.js';
import { parseFailpoint } from './failpoints.js';
import { handlerMap } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { LogBuffer } from './log-buffer.js';
import { silentLogger, type WorkerLogger } from './logger.js';
import { DEFAULT_OUTPUT_LIMITS } from './output.js';
import { Producer, type ProducerEnd } from './producer.js';
import { formatQueueSpec, parseQueueSpec } from './queues.js';
import { Rescuer } from './rescuer.js';
import type { StopOptions, Worker, WorkerOptions, WorkerSummary } from './types.js';
import { errorMessage } from './util.js';

export type * from './types.js';
export { parseQueueSpec, weightedOrder, formatQueueSpec } from './queues.js';
export { loadHandlers } from './handlers.js';
export { createStderrLogger, silentLogger, type WorkerLogger, type LogLevel } from './logger.js';
export { childBaseEnv } from './exec-runner.js';
export { parseFailpoint, FAILPOINTS, type Failpoint } from './failpoints.js';
export { DEFAULT_OUTPUT_LIMITS } from './output.js';

/** jobctl's version, from the nearest package.json named jobctl above this file (dist/ or a bundle in dist/app/). */
const VERSION: string = (() => {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'jobctl' && pkg.version) return pkg.version;
    } catch {
      // no (readable) package.json here: look further up
    }
    if (dir.pathname === '/') return '0.0.0';
  }
})();

function positiveInt(v: number | undefined, dflt: number, what: string, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min || Math.round(v) !== v)
    throw new UsageError(`invalid ${what} ${String(v)}`, `${what} must be an integer ≥ ${min}`);
  return v;
}

/**
 * Default prefetch: none for `--exec` (subprocess jobs are long: a prefetched job would sit in
 * `running` for a whole job's time, counted in stats and towards `stuck`); for module handlers
 * 4 × concurrency, at most 256 (measured: bigger claims matter most on pg).
 */
export function defaultPrefetch(concurrency: number, exec: boolean): number {
  return exec ? 0 : Math.min(256, 4 * concurrency);
}

/**
 * How far the default prefetch may grow while jobs are short (see Executor.prefetchNow): 12 ×
 * concurrency, at most 512, unless the backend declares more (Backend.shortJobPrefetch); never
 * below `prefetch`. A prefetch given explicitly is kept as is.
 * Measured on redis with no-op jobs at concurrency 24: claims of 120 → 312 jobs raised the
 * burn-down from ~20k to ~30k jobs/s (fewer claim/outcome round trips, each of which waits for
 * CPU on a loaded machine); pg: docs/benchmarks.md (session 5).
 */
export function defaultPrefetchMax(
  concurrency: number,
  prefetch: number,
  limits: { perSlot: number; max: number } = { perSlot: 12, max: 512 },
): number {
  return Math.max(prefetch, Math.min(limits.max, limits.perSlot * concurrency));
}

/** Options with every default applied (exported for tests and the command's summary). */
export function resolveWorkerOptions(o: WorkerOptions) {
  if (!o.backend) throw new UsageError('createWorker needs an opened backend');
  const hasHandlers = o.handlers !== undefined && o.handlers !== null;
  const hasExec = o.exec !== undefined && o.exec !== null;
  if (hasHandlers === hasExec)
    throw new UsageError('give exactly one of handlers and exec', 'use --handlers ./handlers.js or --exec "CMD"');
  if (hasExec && (typeof o.exec !== 'string' || o.exec.trim() === '')) throw new UsageError('empty --exec command');
  const leaseMs = positiveInt(o.leaseMs, DEFAULTS.leaseMs, 'lease', 100);
  const heartbeatMs = positiveInt(o.heartbeatMs, Math.max(50, Math.floor(leaseMs / 3)), 'heartbeat interval', 10);
  if (heartbeatMs >= leaseMs) throw new UsageError('the heartbeat interval must be shorter than the lease');
  const name = o.name ?? `${hostname()}-${process.pid}`;
  if (!/^[^\u0000-\u001f\u007f]{1,200}$/u.test(name))
    throw new UsageError('invalid worker name', 'worker names are 1-200 characters without control characters');
  const concurrency = positiveInt(o.concurrency, 10, 'concurrency');
  const maxJobs = o.maxJobs === undefined ? null : positiveInt(o.maxJobs, 1, 'max jobs');
  const prefetch =
    o.prefetch === undefined ? defaultPrefetch(concurrency, o.exec !== undefined) : positiveInt(o.prefetch, 0, 'prefetch', 0);
  return {
    backend: o.backend,
    queues: parseQueueSpec(o.queues ?? DEFAULTS.queue),
    concurrency,
    prefetch,
    /** the prefetch short jobs may grow to (= prefetch when given explicitly, or with exec) */
    prefetchMax:
      o.prefetch === undefined && prefetch > 0 ? defaultPrefetchMax(concurrency, prefetch, o.backend.shortJobPrefetch) : prefetch,
    jobEvents: o.jobEvents !== false,
    name,
    handlers: hasHandlers ? handlerMap(o.handlers!) : undefined,
    exec: hasExec ? (o.exec as string) : undefined,
    leaseMs,
    heartbeatMs,
    workerTtlMs: positiveInt(o.workerTtlMs, heartbeatMs * 3, 'worker TTL'),
    shutdownTimeoutMs: positiveInt(o.shutdownTimeoutMs, 30_000, 'shutdown timeout', 0),
    killGraceMs: positiveInt(o.killGraceMs, 5000, 'kill grace period', 0),
    drain: o.drain === true,
    maxJobs,
    backoff: o.backoff ?? DEFAULT_BACKOFF,
    rescueIntervalMs: positiveInt(o.rescueIntervalMs, Math.max(100, Math.floor(leaseMs / 2)), 'rescue interval', 10),
    pollMs: positiveInt(o.pollMs, 1000, 'poll interval', 1),
    logger: o.logger ?? silentLogger,
    secrets: o.secrets ?? [],
    env: o.env ?? process.env,
    limits: { ...DEFAULT_OUTPUT_LIMITS, ...(o.output ?? {}) },
    failpoint: o.failpoint === undefined ? parseFailpoint(process.env.JOBCTL_FAILPOINT) : o.failpoint,
  };
}

export function createWorker(options: WorkerOptions): Worker {
  return new JobWorker(options);
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

class JobWorker extends EventEmitter implements Worker {
  readonly name: string;
  readonly done: Promise<WorkerSummary>;
  private readonly o: ReturnType<typeof resolveWorkerOptions>;
  private readonly logger: WorkerLogger;
  private readonly stats: WorkerSummary = { completed: 0, failed: 0, retried: 0, released: 0, lost: 0 };
  private readonly logs: LogBuffer;
  private readonly executor: Executor;
  private readonly producer: Producer;
  private readonly heartbeat: Heartbeat;
  private readonly rescuer: Rescuer;
  private readonly info: WorkerInfo;
  private state: State = 'new';
  private resolveDone!: (s: WorkerSummary) => void;
  private rejectDone!: (e: unknown) => void;
  private stopping: Promise<WorkerSummary> | null = null;
  private starting: Promise<void> | null = null;
  private readonly forced = new AbortController();

  constructor(options: WorkerOptions) {
    super();
    this.o = resolveWorkerOptions(options);
    this.name = this.o.name;
    this.logger = this.o.logger;
    this.done = new Promise<WorkerSummary>((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    // `done` may be awaited only after start(); avoid an unhandled rejection in the meantime
    this.done.catch(() => {});
    const o = this.o;
    this.info = {
      name: o.name,
      host: hostname(),
      pid: process.pid,
      queues: o.queues.map((q) => q.name),
      concurrency: o.concurrency,
      ttlMs: o.workerTtlMs,
      version: VERSION,
    };
    const onError = (where: string, e: unknown) => this.emit('backend-error', where, e);
    this.logs = new LogBuffer(o.backend, this.logger);
    this.executor = new Executor({
      backend: o.backend,
      workerName: o.name,
      concurrency: o.concurrency,
      prefetch: o.prefetch,
      prefetchMax: o.prefetchMax,
      jobEvents: o.jobEvents,
      leaseMs: o.leaseMs,
      killGraceMs: o.killGraceMs,
      backoff: o.backoff,
      handlers: o.handlers,
      exec: o.exec ? { command: o.exec, env: childBaseEnv(o.env, o.secrets) } : undefined,
      limits: o.limits,
      secrets: o.secrets,
      failpoint: o.failpoint,
      logger: this.logger,
      logs: this.logs,
      emitter: this,
      summary: this.stats,
      onCapacity: () => this.producer.wake(),
    });
    this.producer = new Producer({
      backend: o.backend,
      executor: this.executor,
      workerName: o.name,
      queues: o.queues,
      leaseMs: o.leaseMs,
      pollMs: o.pollMs,
      drain: o.drain,
      maxJobs: o.maxJobs,
      maxInFlight: o.prefetch > 0 ? 2 : 1,
      minOverlapBatch: Math.max(1, Math.ceil((o.concurrency + o.prefetch) / 4)),
      failpoint: o.failpoint,
      beforeClaim: () => this.heartbeat.ensureFresh(),
      slowClaim: () => this.heartbeat.soon(),
      logger: this.logger,
      onError,
    });
    this.heartbeat = new Heartbeat({
      backend: o.backend,
      executor: this.executor,
      info: this.info,
      leaseMs: o.leaseMs,
      heartbeatMs: o.heartbeatMs,
      // the backend counts the worker dead after workerTtlMs: leave a heartbeat interval of margin
      freshMs: Math.max(o.heartbeatMs, o.workerTtlMs - o.heartbeatMs),
      logger: this.logger,
      onError,
    });
    this.rescuer = new Rescuer({
      backend: o.backend,
      workerName: o.name,
      intervalMs: o.rescueIntervalMs,
      logger: this.logger,
      logs: this.logs,
      onRescued: (r) => this.emit('rescued', r),
      onError,
    });
  }

  get running(): number {
    return this.executor.running;
  }

  get summary(): Readonly<WorkerSummary> {
    return { ...this.stats };
  }

  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new UsageError('this worker was already started'));
    this.state = 'starting';
    this.starting = this.startServices();
    return this.starting;
  }

  private async startServices(): Promise<void> {
    const o = this.o;
    try {
      // what a worker must be allowed to do but would otherwise fail at silently (NATS acks)
      await o.backend.checkWorker?.();
      await o.backend.registerWorker(this.info);
    } catch (e) {
      this.state = 'stopped';
      this.rejectDone(e);
      throw e;
    }
    this.state = 'running';
    const fields = {
      worker: o.name,
      queues: formatQueueSpec(o.queues),
      concurrency: o.concurrency,
      prefetch: o.prefetch,
      ...(o.prefetchMax > o.prefetch ? { prefetch_max: o.prefetchMax } : {}),
      ...(o.jobEvents ? {} : { job_events: false }),
      mode: o.exec ? 'exec' : 'handlers',
      lease_ms: o.leaseMs,
      ...(o.drain ? { drain: true } : {}),
      ...(o.maxJobs !== null ? { max_jobs: o.maxJobs } : {}),
      ...(o.failpoint ? { failpoint: o.failpoint } : {}),
    };
    this.logger.log('info', 'worker started', fields);
    this.executor.event(null, `started: queues ${formatQueueSpec(o.queues)}, concurrency ${o.concurrency}, pid ${process.pid}`);
    this.heartbeat.start();
    await this.rescuer.start();
    this.emit('started');
    void this.producer.start().then(
      (end: ProducerEnd) => {
        if (end !== 'stopped') void this.shutdown(true, end === 'drained' ? 'queues drained' : `max jobs (${o.maxJobs}) reached`);
      },
      (e: unknown) => {
        this.logger.log('error', 'claim loop crashed; stopping', { error: errorMessage(e) });
        void this.shutdown(true, `claim loop crashed: ${errorMessage(e)}`);
      },
    );
  }

  stop(options: StopOptions = {}): Promise<WorkerSummary> {
    const graceful = options.graceful !== false;
    if (this.state === 'new') {
      this.state = 'stopped';
      this.resolveDone({ ...this.stats });
      return this.done;
    }
    if (!graceful && !this.forced.signal.aborted) {
      if (this.stopping) this.logger.log('warn', 'forced stop: releasing running jobs now', { worker: this.name });
      this.forced.abort();
    }
    return this.shutdown(graceful, graceful ? 'worker shutting down' : 'worker stopped (forced)');
  }

  private shutdown(graceful: boolean, why: string): Promise<WorkerSummary> {
    if (!graceful && !this.forced.signal.aborted) this.forced.abort();
    this.stopping ??= this.runShutdown(why);
    return this.stopping;
  }

  private async runShutdown(why: string): Promise<WorkerSummary> {
    if (this.starting) {
      // let registration finish first (a failed start already rejected `done`)
      const ok = await this.starting.then(
        () => true,
        () => false,
      );
      if (!ok) return this.done;
    }
    this.state = 'stopping';
    const o = this.o;
    const forced = this.forced.signal;
    this.emit('stopping', !forced.aborted);
    const running = this.executor.runs.size;
    this.logger.log('info', 'worker shutting down', { worker: o.name, reason: why, running });
    this.executor.event(null, `shutting down (${why}); ${running} job(s) running`);
    try {
      await this.producer.stop();
      // prefetched jobs go back without running, their attempt given back
      await this.executor.releaseBuffered(forced.aborted ? 'worker stopped (forced)' : why, forced.aborted ? 2000 : 10_000);
      if (!forced.aborted && this.executor.runs.size > 0) {
        const timeout = AbortSignal.timeout(Math.max(0, o.shutdownTimeoutMs));
        await this.executor.idle(AbortSignal.any([timeout, forced]));
      }
      const reason = forced.aborted
        ? 'worker stopped (forced)'
        : this.executor.runs.size > 0
          ? `worker shutting down: still running after the ${o.shutdownTimeoutMs}ms shutdown timeout`
          : 'worker shutting down';
      await this.executor.abortAll(forced.aborted, forced, reason);
      await this.executor.close(forced.aborted ? 2000 : 10_000);
      await this.heartbeat.stop();
      await this.rescuer.stop();
    } catch (e) {
      this.logger.log('error', 'error during shutdown', { error: errorMessage(e) });
    }
    const s = { ...this.stats };
    this.executor.event(
      null,
      `stopped: ${s.completed} completed, ${s.failed} failed, ${s.retried} retried, ${s.released} released, ${s.lost} lost`,
    );
    await this.logs.close(forced.aborted ? 1000 : 5000);
    try {
      await o.backend.unregisterWorker(o.name);
    } catch (e) {
      this.logger.log('warn', 'unregistering the worker failed (its record expires after the TTL)', { error: errorMessage(e) });
    }
    this.state = 'stopped';
    this.logger.log('info', 'worker stopped', { worker: o.name, ...s });
    this.emit('stopped', s);
    this.resolveDone(s);
    return s;
  }
}
