import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadHandlers } from '../../src/worker/index.js';
import { enqueue, job, jobLogs, sqliteEnv, testWorker, until, type TestEnv } from './helpers.js';

let env: TestEnv;
beforeEach(async () => {
  env = await sqliteEnv();
});
afterEach(async () => {
  await env.cleanup();
});

describe('worker with module handlers (sqlite)', () => {
  it('runs jobs to completion, stores results, logs lifecycle events and ctx.log lines', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 30 }, (_, i) => ({ name: 'double', payload: { n: i } })),
    );
    const w = testWorker(env.backend, {
      drain: true,
      concurrency: 4,
      handlers: {
        double: async (p: { n: number }, ctx) => {
          ctx.log('doubling %d', p.n);
          await ctx.progress({ pct: 50 });
          return { v: p.n * 2 };
        },
      },
    });
    await w.start();
    const s = await w.done;
    expect(s).toEqual({ completed: 30, failed: 0, retried: 0, released: 0, lost: 0 });
    const j = await job(env.backend, jobs[7]!.id);
    expect(j.state).toBe('completed');
    expect(j.result).toEqual({ v: 14 });
    expect(j.progress).toEqual({ pct: 50 });
    const logs = await jobLogs(env.backend, jobs[7]!.id);
    expect(logs.map((l) => `${l.stream}:${l.message.split(' ')[0]}`)).toEqual([
      'event:claimed',
      'log:doubling',
      'event:completed',
    ]);
    expect(logs[1]!.message).toBe('doubling 7');
    expect(logs.every((l) => l.worker === w.name && l.queue === 'default')).toBe(true);
    const workerEvents = (await env.backend.readLogs({ worker: w.name, limit: 1000 })).lines
      .filter((l) => l.jobId === null)
      .map((l) => l.message.split(/[ :]/)[0]);
    expect(workerEvents).toEqual(['started', 'shutting', 'stopped']);
    expect(await env.backend.listWorkers()).toEqual([]);
  });

  it('ctx.log and ctx.progress work when taken off ctx; sync results and throws are outcomes too', async () => {
    const [a, b, c] = await enqueue(env.backend, [
      { name: 'destructured', payload: { n: 3 } },
      { name: 'sync', payload: { n: 4 } },
      { name: 'throws', maxAttempts: 1 },
    ]);
    const w = testWorker(env.backend, {
      drain: true,
      handlers: {
        destructured: async (p: { n: number }, { log, progress, attempt, job: j }) => {
          log('n is %d', p.n);
          await progress({ n: p.n });
          return { attempt, id: j.id };
        },
        sync: (p: { n: number }, ctx) => {
          ctx.log('sync');
          return p.n + 1;
        },
        throws: () => {
          throw new Error('sync boom');
        },
      },
    });
    await w.start();
    expect(await w.done).toEqual({ completed: 2, failed: 1, retried: 0, released: 0, lost: 0 });
    const ja = await job(env.backend, a!.id);
    expect(ja.result).toEqual({ attempt: 1, id: a!.id });
    expect(ja.progress).toEqual({ n: 3 });
    expect((await jobLogs(env.backend, a!.id)).map((l) => l.message.split(' ')[0])).toEqual(['claimed', 'n', 'completed']);
    expect((await job(env.backend, b!.id)).result).toBe(5);
    expect((await jobLogs(env.backend, b!.id)).map((l) => l.message.split(' ')[0])).toEqual(['claimed', 'sync', 'completed']);
    const jc = await job(env.backend, c!.id);
    expect(jc.state).toBe('failed');
    expect(jc.lastError).toContain('sync boom');
  });

  it('retries a failing job with back-off, then fails it with the error and stack kept', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'flaky', maxAttempts: 3 }]);
    const starts: number[] = [];
    const w = testWorker(env.backend, {
      backoff: { baseMs: 100, maxMs: 200 },
      handlers: {
        flaky: async () => {
          starts.push(Date.now());
          throw new Error('boom');
        },
      },
    });
    const failed: { retry: boolean }[] = [];
    w.on('failed', (_j, _e, info: { retry: boolean }) => failed.push(info));
    await w.start();
    await until(() => failed.length === 3, 10_000, 'three attempts');
    await w.stop();
    expect(failed.map((f) => f.retry)).toEqual([true, true, false]);
    expect(w.summary).toMatchObject({ retried: 2, failed: 1, completed: 0 });
    // attempt n waits in [base·2^(n-1)/2, base·2^(n-1)]
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(45);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(95);
    const j = await job(env.backend, a!.id);
    expect(j.state).toBe('failed');
    expect(j.attempts).toBe(3);
    expect(j.errors).toHaveLength(3);
    expect(j.lastError).toMatch(/^Error: boom\n\s+at /);
    const events = (await jobLogs(env.backend, a!.id)).filter((l) => l.stream === 'event').map((l) => l.message.split(/[ :]/)[0]);
    expect(events).toEqual(['claimed', 'retried', 'claimed', 'retried', 'claimed', 'failed']);
  });

  it('an unknown job name is a failed attempt with a clear error', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'nope', maxAttempts: 1 }]);
    const w = testWorker(env.backend, { drain: true, handlers: { other: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ failed: 1 });
    expect((await job(env.backend, a!.id)).lastError).toBe('no handler for job "nope" in this worker (handlers: other)');
  });

  it('a result that cannot be stored fails the attempt', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'bad', maxAttempts: 1 }]);
    const w = testWorker(env.backend, { drain: true, handlers: { bad: () => ({ big: 10n }) } });
    await w.start();
    await w.done;
    expect((await job(env.backend, a!.id)).lastError).toMatch(/not JSON-serialisable/);
  });

  it('aborts a handler past its timeout and records the failed attempt without waiting for it', async () => {
    const [slow, other] = await enqueue(env.backend, [
      { name: 'hang', timeoutMs: 200, maxAttempts: 1 },
      { name: 'quick', maxAttempts: 1 },
    ]);
    let aborted: unknown = null;
    const w = testWorker(env.backend, {
      concurrency: 1,
      drain: true,
      handlers: {
        // ignores the abort: never settles
        hang: (_p, ctx) => {
          ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
          return new Promise(() => {});
        },
        quick: () => 'ok',
      },
    });
    const t0 = Date.now();
    await w.start();
    const s = await w.done;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(s).toMatchObject({ completed: 1, failed: 1 });
    expect(String(aborted)).toMatch(/timed out after 200ms/);
    expect((await job(env.backend, slow!.id)).lastError).toMatch(/^timed out after 200ms/);
    expect((await job(env.backend, other!.id)).state).toBe('completed');
  });

  it('a lost lease (job cancelled while running) aborts the handler and records nothing', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'long' }]);
    let signal: AbortSignal | null = null;
    const w = testWorker(env.backend, {
      leaseMs: 1000,
      heartbeatMs: 50,
      handlers: {
        long: (_p, ctx) => {
          signal = ctx.signal;
          // pretends to finish successfully after the abort: must not be recorded
          return new Promise((res) => ctx.signal.addEventListener('abort', () => setTimeout(() => res('late'), 20)));
        },
      },
    });
    const lost: string[] = [];
    w.on('lost', (j: { id: string }) => lost.push(j.id));
    await w.start();
    await until(() => signal !== null, 5000, 'handler start');
    await env.backend.cancel({ ids: [a!.id] });
    await until(() => lost.length === 1, 5000, 'lost');
    expect(signal!.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    const s = await w.stop();
    expect(s).toMatchObject({ lost: 1, completed: 0, released: 0 });
    const j = await job(env.backend, a!.id);
    expect(j.state).toBe('cancelled');
    expect(j.result ?? null).toBeNull();
    expect((await jobLogs(env.backend, a!.id)).some((l) => l.message.startsWith('lost claim'))).toBe(true);
  });

  it('loads ESM named exports, an ESM default object and CommonJS modules', async () => {
    const esm = join(env.dir, 'h.mjs');
    writeFileSync(
      esm,
      'export async function a() { return 1 }\nexport default { b: async () => 2, a: () => 0 };\nexport const notFn = 3;\n',
    );
    const cjs = join(env.dir, 'h.cjs');
    writeFileSync(cjs, 'module.exports = { c: async () => 3 };\n');
    const h1 = await loadHandlers(esm);
    expect(Object.keys(h1).sort()).toEqual(['a', 'b']);
    expect(await h1.a!(null, {} as never)).toBe(1);
    expect(Object.keys(await loadHandlers(cjs))).toEqual(['c']);
    writeFileSync(join(env.dir, 'empty.mjs'), 'export const x = 1;\n');
    await expect(loadHandlers(join(env.dir, 'empty.mjs'))).rejects.toThrow(/exports no job handlers/);
    await expect(loadHandlers(join(env.dir, 'missing.mjs'))).rejects.toThrow(/not found/);
  });
});
