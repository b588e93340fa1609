/**
 * LogBuffer.barrier(): what an outcome write waits for before it is sent (a job's lines are stored
 * before its outcome), and what it does not wait for (worker lines such as `started`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, LogInput } from '../../src/core/backend.js';
import { LogBuffer } from '../../src/worker/log-buffer.js';
import { silentLogger } from '../../src/worker/logger.js';
import { sqliteEnv, type TestEnv } from './helpers.js';

/** The env's backend whose appendLogs waits while held (hold() / release()) before it writes. */
function gated(b: Backend): { backend: Backend; writes: LogInput[][]; hold(): void; release(): void } {
  let held = true;
  let waiters: (() => void)[] = [];
  const writes: LogInput[][] = [];
  const backend = new Proxy(b, {
    get(target, prop, receiver) {
      if (prop === 'appendLogs')
        return async (lines: LogInput[]) => {
          while (held) await new Promise<void>((r) => waiters.push(r));
          writes.push(lines.slice());
          return target.appendLogs(lines);
        };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return {
    backend,
    writes,
    hold() {
      held = true;
    },
    release() {
      held = false;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
  };
}

const worker = (message: string): LogInput => ({ jobId: null, worker: 'w', queue: null, stream: 'event', message });
const job = (id: string, message: string): LogInput => ({ jobId: id, worker: 'w', queue: 'q', stream: 'event', message });
const settled = async (p: Promise<unknown>, ms = 30): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('LogBuffer.barrier', () => {
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });

  it('does not wait for worker lines (the `started` line): a first outcome is not held for flushMs', async () => {
    env = await sqliteEnv();
    const g = gated(env.backend);
    const logs = new LogBuffer(g.backend, silentLogger, { flushMs: 10_000 });
    logs.push(worker('started: queues default, concurrency 24'));
    expect(await settled(logs.barrier())).toBe(true);
    expect(g.writes).toHaveLength(0); // nothing was forced out either
    g.release();
    await logs.close();
    expect(g.writes.flat().map((l) => l.message)).toEqual(['started: queues default, concurrency 24']);
  });

  it("waits for every job's line pushed before it, and so for the worker lines before those", async () => {
    env = await sqliteEnv();
    const g = gated(env.backend);
    const logs = new LogBuffer(g.backend, silentLogger, { flushMs: 10_000 });
    logs.push(worker('started'));
    logs.push(job('1', 'claimed (attempt 1 of 5)'));
    logs.push(worker('rescue pass: nothing to do'));
    const first = logs.barrier();
    logs.push(job('2', 'pushed after the barrier'));
    expect(await settled(first)).toBe(false); // its write is held
    g.release();
    await first;
    const written = () => g.writes.flat().map((l) => l.message);
    expect(written().slice(0, 3)).toEqual(['started', 'claimed (attempt 1 of 5)', 'rescue pass: nothing to do']);
    g.hold();
    logs.push(job('3', 'a later job line'));
    logs.push(worker('a worker line after it'));
    const second = logs.barrier();
    expect(await settled(second)).toBe(false); // job 3's line is not written yet
    g.release();
    await second;
    expect(written()).toContain('a later job line');
    await logs.close();
    expect(written()).toEqual([
      'started',
      'claimed (attempt 1 of 5)',
      'rescue pass: nothing to do',
      'pushed after the barrier',
      'a later job line',
      'a worker line after it',
    ]);
  });
});
