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
import type { Backend, ClaimRef } from '../core/backend.js';
import { UsageError } from '../core/errors.js';
import type { ClaimedJob } from '../core/job.js';
import type { LogBuffer } from './log-buffer.js';
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

const okOf = (value: unknown): Settled => ({ ok: true, value });
const errOf = (error: unknown): Settled => ({ ok: false, error });

/** Call a handler; never throws, never rejects. */
export function callHandler(fn: Handler, payload: unknown, ctx: Parameters<Handler>[1]): Promise<Settled> | Settled {
  try {
    const v = fn(payload, ctx) as { then?: unknown } | undefined;
    if (v !== null && typeof v === 'object' && typeof v.then === 'function') {
      return (v as PromiseLike<unknown>).then(okOf, errOf) as Promise<Settled>;
    }
    return okOf(v);
  } catch (e) {
    return errOf(e);
  }
}

export const RESULT_LIMIT_BYTES = 1024 * 1024;

/** Check that a handler's result can be stored; returns an error text when it cannot. */
export function checkResult(value: unknown): { result: unknown; error?: string } {
  if (value === undefined || value === null) return { result: null };
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

/** The `ctx` of one run: ctx.log lines are capped per attempt like exec output. */
export function makeContext(
  run: { job: ClaimedJob; ref: ClaimRef; ctrl: { readonly signal: AbortSignal }; logLines: number },
  o: { workerName: string; limits: OutputLimits; logs: Pick<LogBuffer, 'push'>; backend: Backend; logger: WorkerLogger },
): JobContext {
  const { job } = run;
  const max = o.limits.maxLines;
  const lineMax = o.limits.maxLineBytes;
  return {
    job,
    attempt: job.attempt,
    get signal() {
      return run.ctrl.signal;
    },
    log: (...args: unknown[]) => {
      const n = run.logLines++;
      if (n > max) return;
      let message = n === max ? '[log truncated: limit of lines per attempt reached]' : format(...args);
      if (message.length > lineMax) message = `${message.slice(0, lineMax)} … [line truncated]`;
      o.logs.push({ jobId: job.id, worker: o.workerName, queue: job.queue, stream: 'log', message });
    },
    progress: (value: unknown) =>
      o.backend.setProgress(run.ref, value).catch((e: unknown) => {
        o.logger.log('warn', 'recording progress failed', { job: job.id, error: errorMessage(e) });
        return false;
      }),
  };
}
