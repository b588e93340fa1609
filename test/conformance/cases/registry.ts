/** Worker registry and logs. */
import { describe, expect, it } from 'vitest';
import type { LogInput } from '../../../src/core/backend.js';
import { JobctlError, NotSupportedError } from '../../../src/core/errors.js';
import { enqueueOne, liveWorker, randomQueue, sleep, workerInfo, type Ctx } from '../helpers.js';

export function registryCases(t: Ctx): void {
  describe('workers', () => {
    it('register, list, heartbeat, unregister', async () => {
      const name = `w-${randomQueue()}`;
      const t0 = Date.now();
      await t.b.registerWorker(workerInfo(name, { queues: ['a', 'b'], concurrency: 8, ttlMs: 30_000, pid: 77, host: 'box' }));
      const rec = (await t.b.listWorkers()).find((w) => w.name === name)!;
      expect(rec).toMatchObject({
        name,
        host: 'box',
        pid: 77,
        queues: ['a', 'b'],
        concurrency: 8,
        ttlMs: 30_000,
        version: '0.0.0-test',
        runningJobs: 0,
        alive: true,
      });
      expect(rec.startedAt).toBeGreaterThanOrEqual(t0 - 1000);
      expect(rec.lastHeartbeatAt).toBeGreaterThanOrEqual(t0 - 1000);
      await sleep(5);
      expect(await t.b.heartbeatWorker(name, 3)).toBe(true);
      const after = (await t.b.listWorkers()).find((w) => w.name === name)!;
      expect(after.runningJobs).toBe(3);
      expect(after.lastHeartbeatAt).toBeGreaterThanOrEqual(rec.lastHeartbeatAt);
      expect((await t.b.stats({})).workers.alive).toBe(1);
      await t.b.unregisterWorker(name);
      expect((await t.b.listWorkers()).find((w) => w.name === name)).toBeUndefined();
      expect(await t.b.heartbeatWorker(name, 0)).toBe(false);
    });

    it('a live name cannot be registered twice (conflict); a dead record is replaced', async () => {
      const name = `w-${randomQueue()}`;
      await t.b.registerWorker(workerInfo(name));
      const err = await t.b.registerWorker(workerInfo(name, { pid: 2 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobctlError);
      expect((err as JobctlError).code).toBe('conflict');
      expect((err as JobctlError).exitCode).toBe(1);
      const dead = `w-dead-${randomQueue()}`;
      await t.b.registerWorker(workerInfo(dead, { ttlMs: 1 }));
      await sleep(10);
      const listed = (await t.b.listWorkers()).find((w) => w.name === dead)!;
      expect(listed.alive).toBe(false);
      expect((await t.b.stats({})).workers.alive).toBe(1);
      await t.b.registerWorker(workerInfo(dead, { pid: 99, ttlMs: 60_000 }));
      expect((await t.b.listWorkers()).find((w) => w.name === dead)).toMatchObject({ pid: 99, alive: true });
    });
  });

  describe('logs', () => {
    const line = (over: Partial<LogInput>): LogInput => ({
      jobId: null,
      worker: null,
      queue: null,
      stream: 'log',
      message: 'm',
      ...over,
    });

    it('append and read by job, worker and queue; cursor, tail and since', async () => {
      if (!t.b.capabilities.has('logs')) {
        await expect(t.b.appendLogs([line({})])).rejects.toBeInstanceOf(NotSupportedError);
        await expect(t.b.readLogs({ limit: 10 })).rejects.toBeInstanceOf(NotSupportedError);
        return;
      }
      const queue = randomQueue();
      const job = await enqueueOne(t.b, { name: 'l', queue });
      const other = await enqueueOne(t.b, { name: 'l', queue: randomQueue('o') });
      const w = await liveWorker(t.b);
      const now = Date.now();
      await t.b.appendLogs([
        line({ worker: w, stream: 'event', message: 'started', ts: now - 60_000 }),
        line({ jobId: job.id, worker: w, queue, stream: 'event', message: 'claimed' }),
        line({ jobId: job.id, worker: w, queue, stream: 'stdout', message: 'out 1' }),
        line({ jobId: other.id, worker: 'someone', queue: other.queue, stream: 'stderr', message: 'other' }),
        line({ jobId: job.id, worker: w, queue, stream: 'stderr', message: 'err 1' }),
        line({ jobId: job.id, worker: w, queue, stream: 'event', message: 'completed' }),
      ]);
      const byJob = await t.b.readLogs({ jobId: job.id, limit: 100 });
      expect(byJob.lines.map((l) => l.message)).toEqual(['claimed', 'out 1', 'err 1', 'completed']);
      expect(byJob.lines[1]).toMatchObject({ jobId: job.id, worker: w, queue, stream: 'stdout' });
      expect(byJob.cursor).toBe(byJob.lines.at(-1)!.seq);
      expect((await t.b.readLogs({ worker: w, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'started',
        'claimed',
        'out 1',
        'err 1',
        'completed',
      ]);
      expect((await t.b.readLogs({ queue, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'claimed',
        'out 1',
        'err 1',
        'completed',
      ]);
      expect((await t.b.readLogs({ worker: w, sinceMs: now - 1000, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'claimed',
        'out 1',
        'err 1',
        'completed',
      ]);
      const tail = await t.b.readLogs({ jobId: job.id, tail: 2, limit: 100 });
      expect(tail.lines.map((l) => l.message)).toEqual(['err 1', 'completed']);
      const page = await t.b.readLogs({ jobId: job.id, limit: 2 });
      expect(page.lines.map((l) => l.message)).toEqual(['claimed', 'out 1']);
      const rest = await t.b.readLogs({ jobId: job.id, after: page.cursor!, limit: 100 });
      expect(rest.lines.map((l) => l.message)).toEqual(['err 1', 'completed']);
      const none = await t.b.readLogs({ jobId: job.id, after: rest.cursor!, limit: 100 });
      expect(none).toEqual({ lines: [], cursor: rest.cursor });
      await t.b.appendLogs([line({ jobId: job.id, worker: w, queue, message: 'later' })]);
      const more = await t.b.readLogs({ jobId: job.id, after: rest.cursor!, limit: 100 });
      expect(more.lines.map((l) => l.message)).toEqual(['later']);
      // order is by cursor, not by text: more than 10 lines
      const chatty = await enqueueOne(t.b, { name: 'chatty', queue });
      await t.b.appendLogs(
        Array.from({ length: 25 }, (_, i) => line({ jobId: chatty.id, queue, stream: 'stdout', message: `n${i}` })),
      );
      const names = Array.from({ length: 25 }, (_, i) => `n${i}`);
      expect((await t.b.readLogs({ jobId: chatty.id, limit: 100 })).lines.map((l) => l.message)).toEqual(names);
      expect((await t.b.readLogs({ jobId: chatty.id, tail: 12, limit: 100 })).lines.map((l) => l.message)).toEqual(
        names.slice(13),
      );
      const p1 = await t.b.readLogs({ jobId: chatty.id, limit: 11 });
      const p2 = await t.b.readLogs({ jobId: chatty.id, after: p1.cursor!, limit: 11 });
      const p3 = await t.b.readLogs({ jobId: chatty.id, after: p2.cursor!, limit: 11 });
      expect([...p1.lines, ...p2.lines, ...p3.lines].map((l) => l.message)).toEqual(names);
      expect((await t.b.readLogs({ tail: 3, limit: 100 })).lines.map((l) => l.message)).toEqual(names.slice(22));
      const nothing = await t.b.readLogs({ jobId: (await enqueueOne(t.b, { name: 'quiet', queue })).id, limit: 10 });
      expect(nothing).toEqual({ lines: [], cursor: null });
    });

    it('waitForLogs wakes on new lines (same handle; other handle within ms with push-wakeups), on timeout and on abort', async () => {
      if (!t.b.capabilities.has('logs')) return; // asserted above
      let t0 = Date.now();
      await t.b.waitForLogs(50);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
      const ac = new AbortController();
      t0 = Date.now();
      setTimeout(() => ac.abort(), 20);
      await t.b.waitForLogs(5000, ac.signal);
      expect(Date.now() - t0).toBeLessThan(1000);
      t0 = Date.now();
      const waiting = t.b.waitForLogs(5000);
      await sleep(20);
      await t.b.appendLogs([line({ message: 'wake' })]);
      await waiting;
      expect(Date.now() - t0).toBeLessThan(1000);
      const other = await t.another();
      t0 = Date.now();
      const waiting2 = t.b.waitForLogs(t.b.capabilities.has('push-wakeups') ? 5000 : 400);
      await sleep(20);
      await other.appendLogs([line({ message: 'wake from elsewhere' })]);
      await waiting2;
      expect(Date.now() - t0).toBeLessThan(2000);
    });
  });
}
