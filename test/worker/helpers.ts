import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, LogLine } from '../../src/core/backend.js';
import { normalizeEnqueue, type EnqueueInput, type Job } from '../../src/core/job.js';
import { createWorker, type Worker, type WorkerOptions } from '../../src/worker/index.js';

export interface TestEnv {
  dir: string;
  /** the database file (for writing rows directly, e.g. states no API can produce) */
  dbPath: string;
  backend: Backend;
  cleanup(): Promise<void>;
}

/** A real SQLite backend on a fresh file in a temp dir. */
export async function sqliteEnv(): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'jobctl-worker-'));
  const { open } = (await import('../../src/backends/sqlite/index.js')) as {
    open: (o: { url: string; autoMigrate?: boolean }) => Promise<Backend>;
  };
  const dbPath = join(dir, 'jobs.db');
  const backend = await open({ url: dbPath, autoMigrate: true });
  return {
    dir,
    dbPath,
    backend,
    async cleanup() {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Method = {
  [K in keyof Backend]-?: NonNullable<Backend[K]> extends (...args: never[]) => unknown ? K : never;
}[keyof Backend];

/** A real backend behind a proxy that counts calls and can make the next calls of a method fail. */
export type FaultyBackend = Backend & {
  /** method -> how many of its next calls reject with an ECONNREFUSED-like error (before reaching the backend) */
  faults: Partial<Record<Method, number>>;
  /** method -> calls so far (failed ones included) */
  calls: Partial<Record<Method, number>>;
};

export function faulty(backend: Backend, faults: Partial<Record<Method, number>> = {}): FaultyBackend {
  const calls: Partial<Record<Method, number>> = {};
  const state = { faults, calls } as const;
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'faults' || prop === 'calls') return state[prop];
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const m = prop as Method;
      return (...args: unknown[]) => {
        calls[m] = (calls[m] ?? 0) + 1;
        const left = state.faults[m] ?? 0;
        if (left > 0) {
          state.faults[m] = left - 1;
          return Promise.reject(
            Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:1 (injected in ${String(m)})`), { code: 'ECONNREFUSED' }),
          );
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as FaultyBackend;
}

export async function enqueue(backend: Backend, inputs: EnqueueInput[]): Promise<Job[]> {
  const res = await backend.enqueue(inputs.map((i) => normalizeEnqueue(i)));
  return res.map((r) => r.job);
}

export async function job(backend: Backend, id: string): Promise<Job> {
  const j = await backend.getJob(id);
  if (!j) throw new Error(`job ${id} not found`);
  return j;
}

/** A job's log lines in write order (sorted by numeric seq here: checking the backend's own order is the conformance suite's job). */
export async function jobLogs(backend: Backend, jobId: string): Promise<LogLine[]> {
  const lines = (await backend.readLogs({ jobId, limit: 100_000 })).lines;
  return lines.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0));
}

/** Worker with fast test timings unless overridden. */
export function testWorker(backend: Backend, opts: Partial<WorkerOptions>): Worker {
  return createWorker({
    backend,
    name: `test-${Math.random().toString(36).slice(2, 8)}`,
    pollMs: 50,
    leaseMs: 5000,
    killGraceMs: 300,
    shutdownTimeoutMs: 2000,
    backoff: { baseMs: 20, maxMs: 40 },
    ...opts,
  } as WorkerOptions);
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Alive = exists and is not a zombie (PID 1 here may not reap orphans promptly). */
export { pidAlive as isAlive } from '../e2e/helpers.js';
