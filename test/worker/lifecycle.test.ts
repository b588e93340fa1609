import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { emptyQueueStats, type Backend, type Stats } from '../../src/core/backend.js';
import type { WorkerOptions } from '../../src/worker/index.js';
import { UnavailableError, UsageError } from '../../src/core/errors.js';
import { DRAIN_RECHECK_MS } from '../../src/worker/producer.js';
import { createWorker } from '../../src/worker/index.js';
import Database from 'better-sqlite3';
import { enqueue, faulty, job, sqliteEnv, testWorker, until, type TestEnv } from './helpers.js';

let env: TestEnv;

/** `backend` whose first `n` claims come back empty. */
function hideClaims<B extends Backend>(backend: B, n: number): B {
  let hidden = n;
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop !== 'claim') return v.bind(target);
      return (...args: unknown[]) =>
        hidden-- > 0 ? Promise.resolve([]) : (v as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
}
beforeEach(async () => {
  env = await sqliteEnv();
});
afterEach(async () => {
  await env.cleanup();
});

describe('worker lifecycle (sqlite)', () => {
  it('drain on empty queues exits at once with a zero summary', async () => {
    const w = testWorker(env.backend, { drain: true, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toEqual({ completed: 0, failed: 0, retried: 0, released: 0, lost: 0 });
  });

  it('drain: an empty claim while stats still show a ready job does not end it (NATS pull windows)', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'x' }]);
    // the first two claims come back empty although the job is ready, as when its message sits
    // in another worker's pull window for a moment
    const backend = hideClaims(env.backend, 2);
    const w = testWorker(backend, { drain: true, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect((await job(env.backend, a!.id)).state).toBe('completed');
  });

  it('drain: while stats show ready jobs, empty claims are retried every poll interval but stats is asked only every few seconds', async () => {
    // reliability scenario 7 on NATS: 16 draining workers whose claims came back empty under
    // load each asked stats (several ephemeral consumers) every second and saturated the server
    const [a] = await enqueue(env.backend, [{ name: 'x' }]);
    const hideUntil = Date.now() + 1500;
    const calls = { claim: 0, stats: 0 };
    const backend = new Proxy(env.backend, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'stats') calls.stats++;
        if (prop === 'claim') {
          calls.claim++;
          if (Date.now() < hideUntil) return () => Promise.resolve([]);
        }
        return v.bind(target);
      },
    });
    const w = testWorker(backend, { drain: true, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect((await job(env.backend, a!.id)).state).toBe('completed');
    expect(calls.claim).toBeGreaterThanOrEqual(10);
    // one check while the job was hidden, one after the last (empty) claim
    expect(calls.stats).toBeLessThanOrEqual(3);
  });

  it('drain: keeps going while the ready count goes down elsewhere or stats times out; ends with a warning once the count stays unchanged for 30 s', async () => {
    const realNow = Date.now.bind(Date);
    let offset = 0; // fake time: each empty claim takes a second, each stats call six
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      let ready = 100;
      let statsCalls = 0;
      const backend = new Proxy(env.backend, {
        get(target, prop, receiver) {
          const v: unknown = Reflect.get(target, prop, receiver);
          if (prop === 'claim')
            return () => {
              offset += 1000;
              return Promise.resolve([]);
            };
          if (prop === 'stats')
            return (): Promise<Stats> => {
              offset += 6000;
              // other workers finish 5 jobs between the first eight checks; then the server does
              // not answer for four checks (> 30 s); then nobody makes progress
              if (++statsCalls <= 8) ready -= 5;
              else if (statsCalls <= 12) return Promise.reject(new UnavailableError('NATS request timed out'));
              return Promise.resolve({ queues: [{ ...emptyQueueStats('default'), queued: ready }], workers: { alive: 1 } });
            };
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }) as Backend;
      const lines: { level: string; msg: string }[] = [];
      const w = testWorker(backend, {
        drain: true,
        handlers: { x: () => 1 },
        logger: { debugEnabled: false, log: (level, msg) => void lines.push({ level, msg }) },
      });
      const t0 = Date.now();
      await w.start();
      expect(await w.done).toMatchObject({ completed: 0 });
      // not ended while the count went down (8 checks, ≥ 10 s apart) nor while stats timed out
      // (4 checks), then ≥ 30 s unchanged
      expect(statsCalls).toBeGreaterThanOrEqual(8 + 4 + 2);
      expect(Date.now() - t0).toBeGreaterThan(12 * DRAIN_RECHECK_MS + 30_000);
      expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
        'drain: claims came back empty while jobs stayed queued; ending the drain',
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it('drain: a stats call that fails after an empty claim does not end it (the job is claimed next time)', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'x' }]);
    const b = faulty(env.backend, { stats: 1 });
    const backend = hideClaims(b, 1);
    const w = testWorker(backend, { drain: true, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect((await job(env.backend, a!.id)).state).toBe('completed');
    expect(b.calls.stats).toBeGreaterThanOrEqual(2);
  });

  it('drain: a backend with readyJobs is asked that instead of stats (NATS: stats is several ephemeral consumers)', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'x' }]);
    const calls = { stats: 0, ready: [] as string[][] };
    // the first claim comes back empty while the job is ready (it sits in another pull window)
    const hidden = hideClaims(env.backend, 1);
    const backend = new Proxy(hidden, {
      get(target, prop, receiver) {
        if (prop === 'readyJobs')
          return async (queues: string[]) => {
            calls.ready.push(queues);
            return (await env.backend.stats({})).queues.reduce((n, q) => n + (queues.includes(q.queue) ? q.queued : 0), 0);
          };
        if (prop === 'stats') calls.stats++;
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const w = testWorker(backend, { drain: true, queues: 'default,other', handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect((await job(env.backend, a!.id)).state).toBe('completed');
    expect(calls.stats).toBe(0);
    // asked after the hidden claim (1 ready) and after the last empty claim (0)
    expect(calls.ready).toEqual([
      ['default', 'other'],
      ['default', 'other'],
    ]);
  });

  it('drain leaves scheduled jobs alone', async () => {
    const [later] = await enqueue(env.backend, [{ name: 'x', runAt: Date.now() + 60_000 }]);
    await enqueue(env.backend, [{ name: 'x' }]);
    const w = testWorker(env.backend, { drain: true, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect((await job(env.backend, later!.id)).state).toBe('scheduled');
  });

  it('claims from every listed queue, weighted', async () => {
    await enqueue(env.backend, [
      ...Array.from({ length: 10 }, () => ({ name: 'x', queue: 'critical' })),
      ...Array.from({ length: 10 }, () => ({ name: 'x', queue: 'default' })),
      { name: 'x', queue: 'ignored' },
    ]);
    const seen: string[] = [];
    const w = testWorker(env.backend, {
      drain: true,
      concurrency: 1,
      // one job per claim, so each claim is one weighted draw: with the default prefetch (limit 5)
      // a single default-first claim among the first two put 5 default jobs in the first 10 (~20% flaky)
      prefetch: 0,
      queues: 'critical:10,default:1',
      handlers: { x: (_p, ctx) => void seen.push(ctx.job.queue) },
    });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 20 });
    expect(seen.filter((q) => q === 'critical')).toHaveLength(10);
    // critical goes first in most claims
    expect(seen.slice(0, 10).filter((q) => q === 'critical').length).toBeGreaterThanOrEqual(6);
  });

  it('maxJobs stops after that many jobs', async () => {
    await enqueue(
      env.backend,
      Array.from({ length: 10 }, () => ({ name: 'x' })),
    );
    const w = testWorker(env.backend, { maxJobs: 3, concurrency: 2, handlers: { x: () => 1 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 3 });
  });

  it('graceful stop: running jobs that finish in time complete, the rest are released with the attempt counted', async () => {
    const [fast, slow] = await enqueue(env.backend, [
      { name: 'fast', priority: 0 },
      { name: 'slow', priority: 1 },
    ]);
    let started = 0;
    const w = testWorker(env.backend, {
      concurrency: 2,
      shutdownTimeoutMs: 300,
      handlers: {
        fast: async () => {
          started++;
          await new Promise((r) => setTimeout(r, 100));
          return 'done';
        },
        slow: (_p, ctx) => {
          started++;
          return new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason)));
        },
      },
    });
    await w.start();
    await until(() => started === 2, 5000, 'both started');
    const t0 = Date.now();
    const s = await w.stop({ graceful: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(s).toMatchObject({ completed: 1, released: 1 });
    expect((await job(env.backend, fast!.id)).state).toBe('completed');
    const j = await job(env.backend, slow!.id);
    expect(j.state).toBe('queued');
    expect(j.attempts).toBe(1);
    expect(j.workerId).toBeNull();
    expect(await env.backend.listWorkers()).toEqual([]);
  });

  it('stop() claims nothing more and a forced stop releases at once', async () => {
    await enqueue(env.backend, [{ name: 'slow' }, { name: 'slow' }]);
    let started = 0;
    const w = testWorker(env.backend, {
      concurrency: 1,
      prefetch: 0, // with prefetch the second job is claimed too (see prefetch.test.ts)
      shutdownTimeoutMs: 30_000,
      handlers: { slow: () => (started++, new Promise(() => {})) },
    });
    await w.start();
    await until(() => started === 1, 5000, 'start');
    const graceful = w.stop({ graceful: true });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const forced = w.stop({ graceful: false });
    expect(await forced).toMatchObject({ released: 1 });
    expect(await graceful).toMatchObject({ released: 1 });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(started).toBe(1);
  });

  it('a worker name held by a live worker is refused', async () => {
    const a = testWorker(env.backend, { name: 'same', handlers: { x: () => 1 } });
    await a.start();
    const b = testWorker(env.backend, { name: 'same', handlers: { x: () => 1 } });
    await expect(b.start()).rejects.toThrow();
    await a.stop();
  });

  it('validates options', () => {
    const backend = env.backend;
    expect(() => createWorker({ backend })).toThrow(UsageError);
    expect(() => createWorker({ backend, exec: 'x', handlers: {} })).toThrow(/exactly one/);
    expect(() => createWorker({ backend, exec: 'x', queues: 'a b' })).toThrow(UsageError);
    expect(() => createWorker({ backend, exec: 'x', concurrency: 0 })).toThrow(UsageError);
  });
});

describe('worker against faults (sqlite behind a fault-injecting proxy)', () => {
  it('survives backend errors in claim, outcome, heartbeat and log writes', async () => {
    const ids = (
      await enqueue(
        env.backend,
        Array.from({ length: 20 }, () => ({ name: 'x' })),
      )
    ).map((j) => j.id);
    const b = faulty(env.backend, { claim: 3, complete: 2, extendLeases: 2, heartbeatWorker: 1, appendLogs: 2 });
    const errors: string[] = [];
    const w = createWorker({
      backend: b,
      handlers: { x: async () => new Promise((r) => setTimeout(r, 5)) },
      drain: true,
      leaseMs: 2000,
      heartbeatMs: 30,
      pollMs: 20,
      concurrency: 3,
    });
    w.on('backend-error', (where: string) => errors.push(where));
    await w.start();
    const s = await w.done;
    expect(s).toMatchObject({ completed: 20, lost: 0 });
    for (const id of ids) expect((await job(env.backend, id)).state).toBe('completed');
    expect(errors).toContain('claim');
    expect(b.faults.claim).toBe(0);
    const logs = (await env.backend.readLogs({ limit: 100_000 })).lines;
    expect(logs.some((l) => l.message.startsWith('completed'))).toBe(true);
  });

  it('a job whose stored payload is not JSON fails at once without running the handler', async () => {
    const [j] = await enqueue(env.backend, [{ name: 'x', maxAttempts: 5, payload: { a: 1 } }]);
    // no API stores a payload that is not JSON: write the row as someone else might have
    const raw = new Database(env.dbPath);
    raw.prepare("UPDATE jobs SET payload = '{broken' WHERE id = ?").run(BigInt(j!.id));
    raw.close();
    expect((await job(env.backend, j!.id)).payloadError).toMatch(/not valid JSON/);
    let ran = false;
    const w = createWorker({ backend: env.backend, drain: true, handlers: { x: () => (ran = true) } });
    await w.start();
    expect(await w.done).toMatchObject({ failed: 1 });
    expect(ran).toBe(false);
    const after = await job(env.backend, j!.id);
    expect(after.state).toBe('failed');
    expect(after.attempts).toBe(1);
  });

  it('claims nothing while its heartbeat is stale (the backend would count it dead), and again once written', async () => {
    // reliability scenario 6: after a server pause, claims made before the first heartbeat got
    // through were rescued at once as orphaned by other workers and ran twice at the same time
    const b = faulty(env.backend);
    const w = createWorker({ backend: b, name: 'stale', handlers: { x: () => null }, leaseMs: 300, heartbeatMs: 30, pollMs: 20 });
    await w.start();
    b.faults.heartbeatWorker = 1_000_000;
    await new Promise((r) => setTimeout(r, 150)); // > workerTtl - heartbeat = 60 ms without a heartbeat
    const [j] = await enqueue(env.backend, [{ name: 'x' }]);
    const claimsBefore = b.calls.claim ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    expect((await job(env.backend, j!.id)).state).toBe('queued');
    expect(b.calls.claim ?? 0).toBe(claimsBefore);
    b.faults.heartbeatWorker = 0;
    await until(async () => (await job(env.backend, j!.id)).state === 'completed', 8000, 'claim after the heartbeat recovered');
    await w.stop();
  });

  it("a claim that took a third of the lease has its jobs' leases extended at once, not at the next heartbeat", async () => {
    // reliability scenario 1 on NATS under load: claims of a dead worker's jobs took 1–2.6 s of a
    // 2 s lease; the next regular heartbeat came too late and the jobs were taken and run again
    const [j] = await enqueue(env.backend, [{ name: 'x' }]);
    let returnedAt = 0;
    const extendedAt: number[] = [];
    const b = new Proxy(env.backend, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'claim')
          return async (...args: unknown[]) => {
            const got = (await (v as (...a: unknown[]) => Promise<unknown[]>).apply(target, args)) as unknown[];
            if (got.length > 0) {
              await new Promise((r) => setTimeout(r, 700)); // > leaseMs / 3
              returnedAt = Date.now();
            }
            return got;
          };
        if (prop === 'extendLeases')
          return (...args: unknown[]) => {
            if ((args[0] as { jobs: unknown[] }).jobs.length > 0) extendedAt.push(Date.now());
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        return v.bind(target);
      },
    });
    const w = createWorker({
      backend: b,
      name: 'slow-claim',
      handlers: { x: () => new Promise((r) => setTimeout(() => r('done'), 1200)) },
      leaseMs: 1500,
      heartbeatMs: 1400,
      pollMs: 20,
    });
    await w.start();
    await until(async () => (await job(env.backend, j!.id)).state === 'completed', 8000, 'job completed');
    expect(returnedAt).toBeGreaterThan(0);
    const first = extendedAt.find((t) => t >= returnedAt);
    expect(first).toBeDefined();
    expect(first! - returnedAt).toBeLessThan(300);
    expect(w.summary.lost).toBe(0);
    await w.stop();
  });

  /** A promise the test opens. */
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };
  /** `backend` whose calls of `method` first wait for what `hold` returns for their argument (if anything). */
  const holding = (backend: Backend, method: 'complete' | 'extendLeases', hold: (arg: unknown) => Promise<void> | undefined) =>
    new Proxy(backend, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop !== method) return v.bind(target);
        return async (...args: unknown[]) => {
          await hold(args[0]);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  /**
   * One job and a worker whose first outcome write (attempt 1's) waits for `firstWrite`, and whose
   * attempt 2 runs until `second` opens. The test gives the job out again (as a rescue after an
   * outage does) while attempt 1 is being recorded: this worker claims attempt 2 of it.
   */
  const claimedAgain = async (b: (backend: Backend) => Backend, extra: Partial<WorkerOptions>) => {
    const [j] = await enqueue(env.backend, [{ name: 'x', maxAttempts: 5 }]);
    const firstWrite = gate();
    const second = gate();
    let completes = 0;
    const backend = holding(b(env.backend), 'complete', () => (completes++ === 0 ? firstWrite.p : undefined));
    const w = testWorker(backend, {
      concurrency: 1,
      prefetch: 0,
      heartbeatMs: 100,
      rescueIntervalMs: 60_000,
      handlers: { x: async (_p: unknown, ctx: { attempt: number }) => (ctx.attempt === 1 ? 'one' : second.p.then(() => 'two')) },
      ...extra,
    });
    await w.start();
    await until(() => completes === 1, 5000, "attempt 1's outcome being written");
    const giveOut = async () => {
      await env.backend.reset({ ids: [j!.id], force: true });
      await until(async () => (await job(env.backend, j!.id)).attempts === 2, 5000, 'attempt 2 claimed');
    };
    const finish = async () => {
      second.open();
      await until(() => w.summary.completed === 1 || w.summary.lost > 1, 5000, 'attempt 2 completed');
      expect(await w.stop()).toMatchObject({ completed: 1, lost: 1 });
      expect((await job(env.backend, j!.id)).result).toBe('two');
    };
    return { j: j!, w, firstWrite, giveOut, finish };
  };

  it('a job this worker claims again while its earlier attempt is being recorded keeps its lease when that write is refused', async () => {
    // reliability scenario 4 on NATS: after an outage a worker claimed jobs again (rescued) whose
    // earlier attempt's outcome it was still retrying; the refused write then dropped the new
    // attempt from the worker's runs, so the heartbeat stopped extending its lease
    const t = await claimedAgain((b) => b, { leaseMs: 600 });
    await t.giveOut();
    t.firstWrite.open(); // refused: the job is held by attempt 2
    await until(() => t.w.summary.lost === 1, 5000, 'attempt 1 lost');
    await new Promise((r) => setTimeout(r, 1500)); // 2.5 leases
    const now = await job(env.backend, t.j.id);
    expect(now.state).toBe('running');
    expect(now.attempts).toBe(2);
    expect(now.leaseExpiresAt!).toBeGreaterThan(Date.now());
    await t.finish();
  });

  it("a lease extension refused for an earlier attempt does not abort this worker's later attempt of the same job", async () => {
    // the heartbeat asked about attempt 1 (its outcome still being written); by the answer, this
    // worker held attempt 2 of the same job: the answer's job id must not abort attempt 2
    const extend = gate();
    let asked = false;
    const t = await claimedAgain(
      (b) =>
        holding(b, 'extendLeases', (arg) => {
          if (asked || !(arg as { jobs: { attempt: number }[] }).jobs.some((x) => x.attempt === 1)) return undefined;
          asked = true;
          return extend.p; // answered once attempt 2 is claimed
        }),
      { leaseMs: 3000, workerTtlMs: 10_000 },
    );
    await until(() => asked, 5000, 'a lease extension asked for attempt 1 while its outcome is being written');
    await t.giveOut();
    extend.open(); // lost: the job is held by attempt 2
    t.firstWrite.open(); // refused too
    await until(() => t.w.summary.lost >= 1, 5000, 'attempt 1 lost');
    await new Promise((r) => setTimeout(r, 300));
    await t.finish();
  });

  it('re-registers when the backend lost the worker record', async () => {
    const b = faulty(env.backend);
    const w = createWorker({ backend: b, name: 'rereg', exec: 'true', leaseMs: 300, heartbeatMs: 30, pollMs: 20 });
    await w.start();
    expect((await env.backend.listWorkers()).map((r) => r.name)).toEqual(['rereg']);
    expect(b.calls.registerWorker).toBe(1);
    // the record disappears (as when pruned as dead)
    const raw = new Database(env.dbPath);
    expect(raw.prepare('DELETE FROM workers WHERE name = ?').run('rereg').changes).toBe(1);
    raw.close();
    await until(async () => (await env.backend.listWorkers()).length === 1, 2000, 're-register');
    expect(b.calls.registerWorker).toBe(2);
    await w.stop();
    expect(await env.backend.listWorkers()).toEqual([]);
  });

  it('claims in batches and never busy-loops when idle', async () => {
    await enqueue(
      env.backend,
      Array.from({ length: 50 }, () => ({ name: 'x' })),
    );
    const b = faulty(env.backend);
    const w = createWorker({ backend: b, handlers: { x: () => 1 }, concurrency: 10, pollMs: 200 });
    await w.start();
    await until(() => w.summary.completed === 50, 5000, 'all done');
    const claims = b.calls.claim!;
    expect(claims).toBeLessThanOrEqual(12);
    await new Promise((r) => setTimeout(r, 500));
    // idle: each claim waits on waitForWork (up to pollMs, or until a write wakes it)
    expect(b.calls.claim! - claims).toBeLessThanOrEqual(30);
    await w.stop();
  });
});
