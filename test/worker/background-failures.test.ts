/**
 * Failures of the worker's background tasks (rescue, heartbeat): a transient one (the backend
 * unreachable or a request timed out) is retried sooner and is a warning only when the retry
 * fails too; any other error is a warning at once (reliability scenario 7 on NATS: saturated
 * workers each warned about one timed-out rescue pass that the next pass did fine).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/backend.js';
import { UnavailableError } from '../../src/core/errors.js';
import { createWorker } from '../../src/worker/index.js';
import type { LogLevel, WorkerLogger } from '../../src/worker/logger.js';
import { enqueue, sqliteEnv, testWorker, until, type TestEnv } from './helpers.js';

let env: TestEnv;
beforeEach(async () => {
  env = await sqliteEnv();
});
afterEach(async () => {
  await env.cleanup();
});

type Line = { level: LogLevel; msg: string; fields: Record<string, unknown> };

function capture(): WorkerLogger & { lines: Line[] } {
  const lines: Line[] = [];
  return { lines, debugEnabled: true, log: (level, msg, fields = {}) => void lines.push({ level, msg, fields }) };
}

/** `backend` whose next calls of `method` reject with these errors, one per call; call times kept. */
function failing(
  backend: Backend,
  method: 'rescue' | 'heartbeatWorker' | 'claim' | 'complete',
  errors: Error[],
): Backend & { at: number[] } {
  const at: number[] = [];
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'at') return at;
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop !== method) return v.bind(target);
      return (...args: unknown[]) => {
        at.push(Date.now());
        const e = errors.shift();
        return e ? Promise.reject(e) : (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Backend & { at: number[] };
}

/** A worker that rescues every 10 s (lease 60 s) and runs nothing. */
const rescuing = (backend: Backend, name: string, logger: WorkerLogger) =>
  createWorker({ backend, name, handlers: { x: () => null }, leaseMs: 60_000, rescueIntervalMs: 10_000, logger });

const timedOut = () => new UnavailableError('NATS request timed out ($JS.API.CONSUMER.CREATE)');
const warnings = (l: { lines: Line[] }) => l.lines.filter((x) => x.level === 'warn' || x.level === 'error');

describe('rescue turns', () => {
  it('the rescuer offers its pass as a turn of half an interval and skips it when the backend says another worker ran one', async () => {
    const seen: unknown[] = [];
    const backend = new Proxy(env.backend, {
      get(target, prop, receiver) {
        if (prop === 'rescue')
          return (p: unknown) => {
            seen.push(p);
            return Promise.resolve({ requeued: [], failed: [], skipped: true });
          };
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const logger = capture();
    const w = rescuing(backend, 'r-turn', logger);
    await w.start();
    await w.stop();
    // one call for the pass (a skipped pass has no further rounds), the turn named after the worker
    expect(seen).toEqual([{ limit: 100, turn: { by: 'r-turn', withinMs: 5000 } }]);
    expect(warnings(logger)).toEqual([]);
  });
});

describe('background failures (sqlite)', () => {
  it('one timed-out rescue pass is retried within about a second and is not a warning', async () => {
    const b = failing(env.backend, 'rescue', [timedOut()]);
    const logger = capture();
    const w = rescuing(b, 'r1', logger);
    await w.start(); // the first pass (during start) fails
    await until(() => b.at.length >= 2, 3000, 'the retried rescue pass');
    // back-off after one failure: 0.8 s ± 25 %, not the 10 s interval
    expect(b.at[1]! - b.at[0]!).toBeLessThan(1500);
    await w.stop();
    expect(warnings(logger)).toEqual([]);
    const failed = logger.lines.filter((x) => x.msg.startsWith('rescuing orphaned jobs failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'debug', fields: { attempt: 1 } });
  });

  it('a rescue that keeps timing out is a warning from the second failure in a row, and its recovery is logged', async () => {
    const b = failing(env.backend, 'rescue', [timedOut(), timedOut(), timedOut()]);
    const logger = capture();
    const w = rescuing(b, 'r2', logger);
    await w.start();
    await until(() => logger.lines.some((x) => x.msg === 'rescuing orphaned jobs works again'), 8000, 'the rescue to recover');
    await w.stop();
    const failed = logger.lines.filter((x) => x.msg.startsWith('rescuing orphaned jobs failed'));
    expect(failed.map((x) => x.level)).toEqual(['debug', 'warn', 'warn']);
    expect(failed.map((x) => x.fields.attempt)).toEqual([1, 2, 3]);
    expect(b.at).toHaveLength(4);
  });

  it('a rescue failure that is not a transient one is a warning at once', async () => {
    const b = failing(env.backend, 'rescue', [new Error('record of job 7 is not valid JSON')]);
    const logger = capture();
    const w = rescuing(b, 'r3', logger);
    await w.start();
    await w.stop();
    expect(warnings(logger).map((x) => x.msg)).toEqual(['rescuing orphaned jobs failed; will retry']);
  });

  it('one timed-out heartbeat is retried and is not a warning; two in a row are', async () => {
    const b = failing(env.backend, 'heartbeatWorker', [timedOut()]);
    const logger = capture();
    const w = createWorker({ backend: b, name: 'h1', handlers: { x: () => null }, leaseMs: 3000, heartbeatMs: 100, logger });
    await w.start();
    await until(() => b.at.length >= 3, 3000, 'heartbeats after the failed one');
    expect(warnings(logger)).toEqual([]);
    expect(logger.lines.filter((x) => x.msg === 'heartbeat failed; retrying').map((x) => x.level)).toEqual(['debug']);
    await w.stop();

    const b2 = failing(env.backend, 'heartbeatWorker', [timedOut(), timedOut()]);
    const logger2 = capture();
    const w2 = createWorker({
      backend: b2,
      name: 'h2',
      handlers: { x: () => null },
      leaseMs: 3000,
      heartbeatMs: 100,
      logger: logger2,
    });
    await w2.start();
    await until(() => logger2.lines.some((x) => x.msg === 'heartbeat recovered'), 3000, 'the heartbeat to recover');
    await w2.stop();
    expect(logger2.lines.filter((x) => x.msg === 'heartbeat failed; retrying').map((x) => x.level)).toEqual(['debug', 'warn']);
  });

  it('one timed-out claim is retried and is not a warning; two in a row are', async () => {
    await enqueue(env.backend, [{ name: 'x' }, { name: 'x' }]);
    const logger = capture();
    const w = testWorker(failing(env.backend, 'claim', [timedOut()]), { drain: true, handlers: { x: () => null }, logger });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 2 });
    expect(warnings(logger)).toEqual([]);
    expect(logger.lines.filter((x) => x.msg === 'claiming jobs failed; retrying').map((x) => x.level)).toEqual(['debug']);

    await enqueue(env.backend, [{ name: 'x' }]);
    const logger2 = capture();
    const w2 = testWorker(failing(env.backend, 'claim', [timedOut(), timedOut()]), {
      drain: true,
      handlers: { x: () => null },
      logger: logger2,
    });
    await w2.start();
    expect(await w2.done).toMatchObject({ completed: 1 });
    expect(logger2.lines.filter((x) => x.msg === 'claiming jobs failed; retrying').map((x) => x.level)).toEqual([
      'debug',
      'warn',
    ]);
  });

  it.each([
    { what: 'outcome writes', method: 'complete' as const },
    { what: 'claims', method: 'claim' as const },
  ])(
    'failed $what are retried at least every quarter lease, however many failed',
    async ({ method }) => {
      // 7 failures in a row (an outage): the plain back-off would wait 0.1, 0.2, 0.4, 0.8, 1.6,
      // 3.2 s, so the 8th try would come 2.4-4 s after the 7th; with a 2 s lease the cap is 0.5 s
      // (± 25 %), so a backend that came back is written to and claimed from soon (reliability
      // scenario 4 on NATS: the job enqueued during the outage waited that long)
      await enqueue(env.backend, [{ name: 'x' }]);
      const b = failing(
        env.backend,
        method,
        Array.from({ length: 7 }, () => timedOut()),
      );
      const w = testWorker(b, { drain: true, handlers: { x: () => null }, leaseMs: 2000, logger: capture() });
      await w.start();
      expect(await w.done).toMatchObject({ completed: 1 });
      expect(b.at.length).toBeGreaterThanOrEqual(8);
      const gaps = b.at.slice(1, 8).map((t, i) => t - b.at[i]!);
      expect(Math.max(...gaps)).toBeLessThan(800);
    },
    15_000,
  );
});
