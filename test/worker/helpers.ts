import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, LogLine } from '../../src/core/backend.js';
import { normalizeEnqueue, type EnqueueInput, type Job } from '../../src/core/job.js';
import { createWorker, type Worker, type WorkerOptions } from '../../src/worker/index.js';

export interface TestEnv {
  dir: string;
  backend: Backend;
  cleanup(): Promise<void>;
}

/** A real SQLite backend on a fresh file in a temp dir. */
export async function sqliteEnv(): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'jobctl-worker-'));
  if (process.env.WORKER_TEST_MEMORY === '1') {
    const { MemoryBackend } = await import('./memory-backend.js');
    const backend = new MemoryBackend();
    (backend as unknown as { enqueue: unknown }).enqueue = async (
      jobs: {
        name: string;
        payloadJson: string;
        queue: string;
        maxAttempts: number;
        timeoutMs: number;
        runAt: number | null;
        priority: number;
      }[],
    ) =>
      jobs.map((j) => ({
        job: backend.add({ ...j, payload: JSON.parse(j.payloadJson), runAt: j.runAt ?? undefined }),
        created: true,
      }));
    return { dir, backend, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const { open } = (await import('../../src/backends/sqlite/index.js')) as {
    open: (o: { url: string; autoMigrate?: boolean }) => Promise<Backend>;
  };
  const backend = await open({ url: join(dir, 'jobs.db'), autoMigrate: true });
  return {
    dir,
    backend,
    async cleanup() {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
