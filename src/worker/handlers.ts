/**
 * Module handlers: load them from a file and run one with its context.
 *
 * A handlers module exports `{ [jobName]: async (payload, ctx) => result }`: ESM named exports,
 * an ESM default export object, or CommonJS `module.exports = { … }` (all are merged; named
 * exports win over the default object's keys).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import type { Backend, ClaimRef, LogInput } from '../core/backend.js';
import { UsageError } from '../core/errors.js';
import type { ClaimedJob } from '../core/job.js';
import type { WorkerLogger } from './logger.js';
import type { Handler, Handlers, JobContext, OutputLimits } from './types.js';
import { errorMessage } from './util.js';

export async function loadHandlers(path: string): Promise<Handlers> {
  const abs = resolve(path);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(abs)) {
      throw new UsageError(`handlers module not found: ${path}`, 'pass a .js/.mjs/.cjs file to --handlers');
    }
    throw new UsageError(`cannot load handlers from ${path}: ${err.message ?? String(e)}`);
  }
  const out: Handlers = {};
  const def = mod.default;
  if (def && typeof def === 'object') {
    for (const [k, v] of Object.entries(def as Record<string, unknown>)) if (typeof v === 'function') out[k] = v as Handler;
  }
  for (const [k, v] of Object.entries(mod)) {
    if (k !== 'default' && typeof v === 'function') out[k] = v as Handler;
  }
  if (Object.keys(out).length === 0) {
    throw new UsageError(
      `${path} exports no job handlers`,
      'export functions named after the jobs, e.g. export async function sendEmail(payload, ctx) {}',
    );
  }
  return out;
}

/** Own, function-valued handlers only (no prototype keys such as "constructor"). */
export function handlerMap(handlers: Handlers): Map<string, Handler> {
  const map = new Map<string, Handler>();
  for (const [k, v] of Object.entries(handlers)) if (typeof v === 'function') map.set(k, v);
  return map;
}

export type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Call a handler and pass how it settled to `done` (at once for a synchronous handler); never
 * throws. One `then` on a returned promise, no promise of its own (this runs once per job).
 */
export function callHandler(fn: Handler, payload: unknown, ctx: Parameters<Handler>[1], done: (s: Settled) => void): void {
  let v: { then?: unknown } | undefined;
  try {
    v = fn(payload, ctx) as { then?: unknown } | undefined;
  } catch (e) {
    done({ ok: false, error: e });
    return;
  }
  if (v !== null && typeof v === 'object' && typeof v.then === 'function') {
    (v as PromiseLike<unknown>).then(
      (value) => done({ ok: true, value }),
      (error: unknown) => done({ ok: false, error }),
    );
  } else done({ ok: true, value: v });
}

export const RESULT_LIMIT_BYTES = 1024 * 1024;

const NULL_RESULT: { result: unknown } = Object.freeze({ result: null });

/** Check that a handler's result can be stored; returns an error text when it cannot. */
export function checkResult(value: unknown): { result: unknown; error?: string } {
  if (value === undefined || value === null) return NULL_RESULT;
  const t = typeof value;
  if (t === 'number' || t === 'boolean') return { result: Number.isFinite(value) || t === 'boolean' ? value : null };
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    return { result: null, error: `the handler's result is not JSON-serialisable: ${(e as Error).message}` };
  }
  if (text === undefined) return { result: null };
  if (text.length > RESULT_LIMIT_BYTES / 4 && Buffer.byteLength(text) > RESULT_LIMIT_BYTES) {
    return {
      result: null,
      error: `the handler's result is ${Buffer.byteLength(text)} bytes, over the limit of ${RESULT_LIMIT_BYTES} bytes`,
    };
  }
  return { result: value };
}

/** What every run's `ctx` shares (one object per worker). */
export interface ContextShared {
  workerName: string;
  limits: OutputLimits;
  /** a `ctx.log` line of this run (the executor writes it to the log buffer) */
  line: (run: ContextRun, line: LogInput) => void;
  backend: Backend;
  logger: WorkerLogger;
}

export interface ContextRun {
  job: ClaimedJob;
  ref: ClaimRef;
  ctrl: { readonly signal: AbortSignal };
  logLines: number;
}

/**
 * The `ctx` of one run: ctx.log lines are capped per attempt like exec output. One object per
 * run; `log` and `progress` are made on first use (most handlers use neither) and are bound, so
 * `const { log } = ctx` works.
 */
export class RunContext implements JobContext {
  readonly job: ClaimedJob;
  readonly attempt: number;
  private logFn: ((...args: unknown[]) => void) | undefined;
  private progressFn: ((value: unknown) => Promise<boolean>) | undefined;

  constructor(
    private readonly run: ContextRun,
    private readonly o: ContextShared,
  ) {
    this.job = run.job;
    this.attempt = run.job.attempt;
  }

  get signal(): AbortSignal {
    return this.run.ctrl.signal;
  }

  get log(): (...args: unknown[]) => void {
    return (this.logFn ??= (...args: unknown[]) => this.writeLog(args));
  }

  get progress(): (value: unknown) => Promise<boolean> {
    return (this.progressFn ??= (value: unknown) =>
      this.o.backend.setProgress(this.run.ref, value).catch((e: unknown) => {
        this.o.logger.log('warn', 'recording progress failed', { job: this.job.id, error: errorMessage(e) });
        return false;
      }));
  }

  private writeLog(args: unknown[]): void {
    const { run, o, job } = this;
    const max = o.limits.maxLines;
    const n = run.logLines++;
    if (n > max) return;
    let message = n === max ? '[log truncated: limit of lines per attempt reached]' : format(...args);
    if (message.length > o.limits.maxLineBytes) message = `${message.slice(0, o.limits.maxLineBytes)} … [line truncated]`;
    o.line(run, { jobId: job.id, worker: o.workerName, queue: job.queue, stream: 'log', message });
  }
}
