/** Claiming: order, batches, limits, queues, one active claim under concurrency, wake-ups. */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/core/backend.js';
import { enqueue, enqueueOne, ids, liveWorker, randomQueue, sleep, type Ctx } from '../helpers.js';

export function claimCases(t: Ctx): void {
  describe('claim', () => {
    it('claims by priority, then run_at, then id; never a job whose run_at is in the future', async () => {
      const queue = randomQueue();
      const now = Date.now();
      const jobs = await enqueue(t.b, [
        { name: 'p5', queue, priority: 5, runAt: now - 5000 },
        { name: 'p0-late', queue, priority: 0, runAt: now - 1000 },
        { name: 'p0-early', queue, priority: 0, runAt: now - 3000 },
        { name: 'p0-early-2', queue, priority: 0, runAt: now - 3000 },
        { name: 'neg', queue, priority: -1, runAt: now - 10 },
        { name: 'future', queue, priority: -100, runAt: now + 60_000 },
      ]);
      const w = await liveWorker(t.b);
      const order = ['neg', 'p0-early', 'p0-early-2', 'p0-late', 'p5'];
      // one at a time: the order decides which job a small claim gets
      const single: string[] = [];
      for (let i = 0; i < 5; i++)
        single.push((await t.b.claim({ workerId: w, queues: [queue], limit: 1, leaseMs: 60_000 }))[0]!.name);
      expect(single).toEqual(order);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 10, leaseMs: 60_000 })).toEqual([]);
      expect((await t.b.getJob(jobs[5]!.id))!.state).toBe('scheduled');
      // a batch comes back in the same order
      const again = await enqueue(t.b, [
        { name: 'b2', queue, priority: 2, runAt: now - 5000 },
        { name: 'b1', queue, priority: 1, runAt: now - 1000 },
        { name: 'b0', queue, priority: 1, runAt: now - 2000 },
      ]);
      const batch = await t.b.claim({ workerId: w, queues: [queue], limit: 10, leaseMs: 60_000 });
      expect(batch.map((j) => j.name)).toEqual(['b0', 'b1', 'b2']);
      expect(again).toHaveLength(3);
    });

    it('fills up to limit, marks each job running with attempt, worker, lease and start time', async () => {
      const queue = randomQueue();
      await enqueue(
        t.b,
        Array.from({ length: 30 }, (_, i) => ({ name: 'b', queue, payload: { i } })),
      );
      const w = await liveWorker(t.b);
      const t0 = Date.now();
      const first = await t.b.claim({ workerId: w, queues: [queue], limit: 24, leaseMs: 45_000 });
      const t1 = Date.now();
      expect(first).toHaveLength(24);
      expect(first.map((j) => (j.payload as { i: number }).i)).toEqual(Array.from({ length: 24 }, (_, i) => i));
      for (const j of first) {
        expect(j).toMatchObject({ state: 'running', attempt: 1, attempts: 1, workerId: w });
        expect(j.leaseExpiresAt).toBeGreaterThanOrEqual(t0 + 45_000 - 1000);
        expect(j.leaseExpiresAt).toBeLessThanOrEqual(t1 + 45_000 + 1000);
        expect(j.startedAt).toBeGreaterThanOrEqual(t0 - 1000);
      }
      const stored = (await t.b.getJob(first[0]!.id))!;
      expect(stored).toMatchObject({ state: 'running', attempts: 1, workerId: w });
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 24, leaseMs: 45_000 })).toHaveLength(6);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 24, leaseMs: 45_000 })).toHaveLength(0);
    });

    it('takes queues in the order given and leaves other queues alone', async () => {
      const [qa, qb, qc] = [randomQueue('a'), randomQueue('b'), randomQueue('c')];
      await enqueue(t.b, [
        ...Array.from({ length: 2 }, () => ({ name: 'a', queue: qa })),
        ...Array.from({ length: 5 }, () => ({ name: 'b', queue: qb })),
        ...Array.from({ length: 3 }, () => ({ name: 'c', queue: qc })),
      ]);
      const w = await liveWorker(t.b);
      const got = await t.b.claim({ workerId: w, queues: [qa, qb], limit: 4, leaseMs: 60_000 });
      expect(got.map((j) => j.queue)).toEqual([qa, qa, qb, qb]);
      const rev = await t.b.claim({ workerId: w, queues: [qc, qb], limit: 4, leaseMs: 60_000 });
      expect(rev.map((j) => j.queue)).toEqual([qc, qc, qc, qb]);
      expect(await t.b.claim({ workerId: w, queues: [randomQueue('empty')], limit: 4, leaseMs: 60_000 })).toEqual([]);
    });

    it('a scheduled job becomes claimable once its run_at passes', async () => {
      const queue = randomQueue();
      const job = await enqueueOne(t.b, { name: 's', queue, runAt: Date.now() + 250 });
      const w = await liveWorker(t.b);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 5, leaseMs: 60_000 })).toEqual([]);
      await sleep(300);
      expect((await t.b.getJob(job.id))!.state).toBe('queued');
      expect(ids(await t.b.claim({ workerId: w, queues: [queue], limit: 5, leaseMs: 60_000 }))).toEqual([job.id]);
    });

    it('one active claim: many concurrent claimers on several handles never get the same job', async () => {
      const queue = randomQueue();
      const N = 300;
      await enqueue(
        t.b,
        Array.from({ length: N }, () => ({ name: 'c', queue })),
      );
      const handles: Backend[] = [t.b, await t.another(), await t.another()];
      const workers = await Promise.all(handles.map((h, i) => liveWorker(h, `cc_${i}_${queue}`)));
      const seen: string[] = [];
      const deadline = Date.now() + 5000;
      const claimer = async (h: Backend, w: string) => {
        while (seen.length < N && Date.now() < deadline) {
          const got = await h.claim({ workerId: w, queues: [queue], limit: 7, leaseMs: 60_000 });
          for (const j of got) seen.push(j.id);
          if (got.length === 0) await sleep(1);
        }
      };
      await Promise.all(handles.flatMap((h, i) => Array.from({ length: 6 }, () => claimer(h, workers[i]!))));
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toHaveLength(N);
      expect(await t.b.claim({ workerId: workers[0]!, queues: [queue], limit: 7, leaseMs: 60_000 })).toEqual([]);
      const stats = await t.b.stats({ queue });
      expect(stats.queues[0]).toMatchObject({ queue, queued: 0, running: N });
    });
  });

  describe('waitForWork', () => {
    it('resolves after the timeout when there is nothing to do', async () => {
      const t0 = Date.now();
      await t.b.waitForWork([randomQueue()], 60);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(40);
      expect(took).toBeLessThan(1000);
    });

    it('resolves at once when aborted, before or during the wait', async () => {
      const queue = randomQueue();
      const pre = new AbortController();
      pre.abort();
      let t0 = Date.now();
      await t.b.waitForWork([queue], 5000, pre.signal);
      expect(Date.now() - t0).toBeLessThan(500);
      const ac = new AbortController();
      t0 = Date.now();
      setTimeout(() => ac.abort(), 30);
      await t.b.waitForWork([queue], 5000, ac.signal);
      expect(Date.now() - t0).toBeLessThan(1000);
    });

    it('resolves soon after an enqueue on the same handle', async () => {
      const queue = randomQueue();
      const t0 = Date.now();
      const waiting = t.b.waitForWork([queue], 5000);
      await sleep(20);
      await enqueueOne(t.b, { name: 'wake', queue });
      await waiting;
      expect(Date.now() - t0).toBeLessThan(1000);
    });

    it('resolves after an enqueue on another handle (within ms with push-wakeups, else by the timeout)', async () => {
      const queue = randomQueue();
      const other = await t.another();
      const push = t.b.capabilities.has('push-wakeups');
      const t0 = Date.now();
      const waiting = t.b.waitForWork([queue], push ? 5000 : 400);
      await sleep(20);
      await enqueueOne(other, { name: 'wake', queue });
      await waiting;
      expect(Date.now() - t0).toBeLessThan(1000);
      const w = await liveWorker(t.b);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 1, leaseMs: 60_000 })).toHaveLength(1);
    });
  });
}
