import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveWorkerOptions } from '../../src/worker/index.js';
import { enqueue, job, jobLogs, sqliteEnv, testWorker, until, type TestEnv } from './helpers.js';

let env: TestEnv;
beforeEach(async () => {
  env = await sqliteEnv();
});
afterEach(async () => {
  await env.cleanup();
});

/** A gate handlers wait on. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

const runningCount = async (env: TestEnv) => {
  const s = await env.backend.stats({ queue: 'default' });
  return s.queues.find((q) => q.queue === 'default')?.running ?? 0;
};

describe('worker prefetch (sqlite)', () => {
  it('defaults and validation', () => {
    const base = { backend: env.backend, handlers: { x: () => 1 } };
    expect(resolveWorkerOptions({ ...base, concurrency: 4 }).prefetch).toBe(16);
    expect(resolveWorkerOptions({ ...base, concurrency: 1 }).prefetch).toBe(4);
    expect(resolveWorkerOptions({ ...base, concurrency: 100 }).prefetch).toBe(256);
    expect(resolveWorkerOptions({ ...base, concurrency: 1000 }).prefetch).toBe(256);
    // --exec jobs are long subprocesses: no prefetch unless asked for
    expect(resolveWorkerOptions({ backend: env.backend, exec: 'true', concurrency: 4 }).prefetch).toBe(0);
    expect(resolveWorkerOptions({ backend: env.backend, exec: 'true', concurrency: 4, prefetch: 8 }).prefetch).toBe(8);
    expect(resolveWorkerOptions({ ...base, prefetch: 0 }).prefetch).toBe(0);
    expect(resolveWorkerOptions(base).jobEvents).toBe(true);
    // the default may grow for short jobs; a given prefetch (or exec's 0) stays fixed
    expect(resolveWorkerOptions({ ...base, concurrency: 4 }).prefetchMax).toBe(48);
    expect(resolveWorkerOptions({ ...base, concurrency: 100 }).prefetchMax).toBe(512);
    expect(resolveWorkerOptions({ ...base, concurrency: 4, prefetch: 8 }).prefetchMax).toBe(8);
    expect(resolveWorkerOptions({ ...base, prefetch: 0 }).prefetchMax).toBe(0);
    expect(resolveWorkerOptions({ backend: env.backend, exec: 'true', concurrency: 4 }).prefetchMax).toBe(0);
    // a backend may let short jobs' claims grow further (pg: 80 per slot, at most 2,048)
    const big = {
      ...base,
      backend: Object.assign(Object.create(env.backend) as typeof env.backend, { shortJobPrefetch: { perSlot: 80, max: 2048 } }),
    };
    expect(resolveWorkerOptions({ ...big, concurrency: 4 }).prefetchMax).toBe(320);
    expect(resolveWorkerOptions({ ...big, concurrency: 24 }).prefetchMax).toBe(1920);
    expect(resolveWorkerOptions({ ...big, concurrency: 100 }).prefetchMax).toBe(2048);
    expect(resolveWorkerOptions({ ...big, concurrency: 4, prefetch: 8 }).prefetchMax).toBe(8);
    expect(() => resolveWorkerOptions({ ...base, prefetch: -1 })).toThrow(/prefetch/);
    expect(() => resolveWorkerOptions({ ...base, prefetch: 1.5 })).toThrow(/prefetch/);
  });

  it('claims ahead of free slots, and a graceful stop releases prefetched jobs without running them', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 6 }, () => ({ name: 'slow' })),
    );
    const g = gate();
    const ran: string[] = [];
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 3,
      shutdownTimeoutMs: 5000,
      handlers: { slow: async (_p, ctx) => (ran.push(ctx.job.id), g.p) },
    });
    await w.start();
    await until(() => ran.length === 1, 5000, 'first job');
    await until(async () => (await runningCount(env)) === 4, 5000, '1 running + 3 prefetched');
    const stopping = w.stop({ graceful: true });
    // prefetched jobs are back before the running one finishes
    await until(async () => (await runningCount(env)) === 1, 5000, 'prefetched released');
    g.open();
    const summary = await stopping;
    expect(summary).toEqual({ completed: 1, failed: 0, retried: 0, released: 3, lost: 0 });
    expect(ran).toHaveLength(1);
    const states = await Promise.all(jobs.map((j) => job(env.backend, j.id)));
    expect(states.filter((j) => j.state === 'completed').map((j) => j.id)).toEqual(ran);
    // released without running: their attempt was given back, like the 2 never claimed
    const queued = states.filter((j) => j.state === 'queued');
    expect(queued).toHaveLength(5);
    for (const j of queued) expect(j).toMatchObject({ attempts: 0, workerId: null });
    const releasedId = jobs[1]!.id;
    const ev = (await jobLogs(env.backend, releasedId)).filter((l) => l.stream === 'event').map((l) => l.message);
    expect(ev[0]).toMatch(/^claimed/);
    expect(ev[1]).toMatch(/^released, not started \(attempt given back\).*prefetched, not started/);
  });

  it('on a graceful stop, prefetched jobs on their last attempt go back unrun and are not failed', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 3 }, () => ({ name: 'slow', maxAttempts: 1 })),
    );
    const g = gate();
    const ran: string[] = [];
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 2,
      handlers: { slow: async (_p, ctx) => (ran.push(ctx.job.id), g.p) },
    });
    await w.start();
    await until(async () => ran.length === 1 && (await runningCount(env)) === 3, 5000, '1 running + 2 prefetched');
    const stopping = w.stop({ graceful: true });
    await new Promise((r) => setTimeout(r, 50));
    g.open();
    expect(await stopping).toMatchObject({ completed: 1, released: 2, failed: 0 });
    const states = await Promise.all(jobs.map((j) => job(env.backend, j.id)));
    expect(states.map((j) => j.state).sort()).toEqual(['completed', 'queued', 'queued']);
    for (const j of states.filter((x) => x.state === 'queued')) expect(j.attempts).toBe(0);
  });

  it('a forced stop releases prefetched jobs at once', async () => {
    await enqueue(
      env.backend,
      Array.from({ length: 4 }, () => ({ name: 'slow' })),
    );
    let started = 0;
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 3,
      handlers: { slow: () => (started++, new Promise(() => {})) },
    });
    await w.start();
    await until(async () => started === 1 && (await runningCount(env)) === 4, 5000, 'all claimed');
    expect(await w.stop({ graceful: false })).toMatchObject({ released: 4, completed: 0 });
    expect(started).toBe(1);
    expect(await runningCount(env)).toBe(0);
  });

  it('heartbeats extend the leases of prefetched jobs (they are not rescued while they wait)', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 3 }, () => ({ name: 'slow' })),
    );
    const g = gate();
    let started = 0;
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 2,
      leaseMs: 400,
      heartbeatMs: 80,
      rescueIntervalMs: 50,
      handlers: { slow: async () => (started++ === 0 ? g.p : undefined) },
    });
    await w.start();
    await until(async () => (await runningCount(env)) === 3, 5000, 'all claimed');
    const before = await Promise.all(jobs.map((j) => job(env.backend, j.id)));
    await new Promise((r) => setTimeout(r, 1200)); // three leases long
    const after = await Promise.all(jobs.map((j) => job(env.backend, j.id)));
    for (let i = 0; i < jobs.length; i++) {
      expect(after[i]!.state).toBe('running');
      expect(after[i]!.attempts).toBe(1);
      expect(after[i]!.leaseExpiresAt!).toBeGreaterThan(before[i]!.leaseExpiresAt! + 500);
      expect(after[i]!.leaseExpiresAt!).toBeGreaterThan(Date.now());
    }
    expect(started).toBe(1);
    g.open();
    await until(() => w.summary.completed === 3, 5000, 'all completed');
    expect(await w.stop()).toMatchObject({ completed: 3, lost: 0, released: 0 });
    for (const j of jobs) expect((await job(env.backend, j.id)).attempts).toBe(1);
  });

  it('a prefetched job cancelled while it waits is dropped as lost and never runs', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 2 }, () => ({ name: 'slow' })),
    );
    const g = gate();
    const ran: string[] = [];
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 1,
      heartbeatMs: 50,
      handlers: { slow: async (_p, ctx) => (ran.push(ctx.job.id), ran.length === 1 ? g.p : undefined) },
    });
    await w.start();
    await until(async () => ran.length === 1 && (await runningCount(env)) === 2, 5000, 'both claimed');
    const waiting = jobs.find((j) => j.id !== ran[0])!;
    await env.backend.cancel({ ids: [waiting.id] });
    await until(() => w.summary.lost === 1, 5000, 'lost');
    g.open();
    await until(() => w.summary.completed === 1, 5000, 'first completed');
    expect(await w.stop()).toMatchObject({ completed: 1, lost: 1, released: 0 });
    expect(ran).toEqual([jobs.find((j) => j.id !== waiting.id)!.id]);
    expect((await job(env.backend, waiting.id)).state).toBe('cancelled');
  });

  it('maxJobs stays exact with prefetch', async () => {
    const jobs = await enqueue(
      env.backend,
      Array.from({ length: 50 }, () => ({ name: 'x' })),
    );
    const w = testWorker(env.backend, { maxJobs: 7, concurrency: 2, prefetch: 10, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toEqual({ completed: 7, failed: 0, retried: 0, released: 0, lost: 0 });
    const states = await Promise.all(jobs.map((j) => job(env.backend, j.id)));
    expect(states.filter((j) => j.state === 'completed')).toHaveLength(7);
    expect(states.filter((j) => j.state === 'queued' && j.attempts === 0)).toHaveLength(43);
  });

  it('drain runs everything prefetched and stops exactly when the queues are empty', async () => {
    await enqueue(
      env.backend,
      Array.from({ length: 40 }, () => ({ name: 'x' })),
    );
    let n = 0;
    const w = testWorker(env.backend, {
      drain: true,
      concurrency: 3,
      prefetch: 10,
      handlers: { x: async () => (n++, new Promise((r) => setTimeout(r, 2))) },
    });
    await w.start();
    expect(await w.done).toEqual({ completed: 40, failed: 0, retried: 0, released: 0, lost: 0 });
    expect(n).toBe(40);
    expect(await runningCount(env)).toBe(0);
  });

  it('timeouts start when a prefetched job starts running, not when it was claimed', async () => {
    await enqueue(env.backend, [
      { name: 'wait', timeoutMs: 10_000 },
      { name: 'quick', timeoutMs: 300 },
    ]);
    const g = gate();
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 1,
      handlers: { wait: () => g.p, quick: () => new Promise((r) => setTimeout(() => r('ok'), 100)) },
    });
    await w.start();
    await until(async () => (await runningCount(env)) === 2, 5000, 'both claimed');
    await new Promise((r) => setTimeout(r, 500)); // longer than quick's timeout
    g.open();
    await until(() => w.summary.completed === 2, 5000, 'both completed');
    expect(await w.stop()).toMatchObject({ completed: 2, failed: 0, retried: 0 });
  });

  it('the claimed line of a long job reaches the backend while it runs (held back at most briefly)', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'slow' }]);
    const g = gate();
    const w = testWorker(env.backend, { handlers: { slow: () => g.p } });
    await w.start();
    await until(
      async () => (await jobLogs(env.backend, a!.id)).some((l) => l.stream === 'event' && l.message.startsWith('claimed')),
      2000,
      'claimed line',
    );
    g.open();
    await until(() => w.summary.completed === 1, 5000, 'completed');
    await w.stop();
    const ev = (await jobLogs(env.backend, a!.id)).filter((l) => l.stream === 'event').map((l) => l.message.split(' ')[0]);
    expect(ev).toEqual(['claimed', 'completed']);
  });

  it('the default prefetch grows while jobs are short and stays at its base for slower jobs', async () => {
    const claimLimits = async (ms: number, count: number) => {
      await enqueue(
        env.backend,
        Array.from({ length: count }, () => ({ name: 'job' })),
      );
      const limits: number[] = [];
      const claim = env.backend.claim.bind(env.backend);
      const backend = Object.create(env.backend) as typeof env.backend;
      backend.claim = (p) => (limits.push(p.limit), claim(p));
      const w = testWorker(backend, {
        drain: true,
        concurrency: 2,
        handlers: { job: () => (ms ? new Promise((r) => setTimeout(r, ms)) : undefined) },
      });
      await w.start();
      expect((await w.done).completed).toBe(count);
      return limits;
    };
    // base: 2 slots + 8 prefetched; short jobs: up to 2 + 24
    const fast = await claimLimits(0, 300);
    expect(Math.max(...fast)).toBeGreaterThan(10);
    expect(Math.max(...fast)).toBeLessThanOrEqual(26);
    // 40 ms jobs: a prefetched job would wait 40 ms × place / 2 slots: the base is kept
    const slow = await claimLimits(40, 30);
    expect(Math.max(...slow)).toBeLessThanOrEqual(10);
  });

  it('jobEvents: false leaves out the per-job claimed/completed lines, keeps the rest', async () => {
    const [a, b] = await enqueue(env.backend, [{ name: 'ok' }, { name: 'bad', maxAttempts: 1 }]);
    const w = testWorker(env.backend, {
      drain: true,
      jobEvents: false,
      handlers: { ok: () => 1, bad: () => Promise.reject(new Error('boom')) },
    });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1, failed: 1 });
    expect((await jobLogs(env.backend, a!.id)).filter((l) => l.stream === 'event')).toEqual([]);
    const ev = (await jobLogs(env.backend, b!.id)).filter((l) => l.stream === 'event').map((l) => l.message);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatch(/^failed/);
  });
});
