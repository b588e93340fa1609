/** Reads: keyset pagination with filters, derived stuck/orphaned views, stats per queue. */
import { describe, expect, it } from 'vitest';
import type { Backend, ListParams } from '../../../src/core/backend.js';
import type { Job } from '../../../src/core/job.js';
import { enqueue, enqueueOne, finished, ids, liveWorker, randomQueue, running, sleep, type Ctx } from '../helpers.js';

/** Walk every page; check each full page's `next` and the last page's null. */
async function pages(b: Backend, params: Omit<ListParams, 'after'>): Promise<{ all: Job[]; count: number }> {
  const all: Job[] = [];
  let after: string | undefined;
  let count = 0;
  for (;;) {
    const page = await b.listJobs({ ...params, after });
    count++;
    all.push(...page.jobs);
    if (page.jobs.length === params.limit) expect(page.next).toBe(page.jobs.at(-1)!.id);
    else expect(page.next).toBeNull();
    if (page.next === null) return { all, count };
    after = page.next;
    if (count > 100) throw new Error('pagination does not end');
  }
}

/** The derived-state fixture: one job of each kind in one queue. */
async function seedDerived(b: Backend, queue: string) {
  const live = await liveWorker(b);
  const dead = await liveWorker(b, undefined, { ttlMs: 1 });
  const stuck = await running(b, queue, live, { input: { timeoutMs: 1 } });
  // orphaned jobs past their timeout too: orphaned wins, they are not stuck
  const leaseExpired = await running(b, queue, live, { leaseMs: 1, input: { timeoutMs: 1 } });
  const workerDead = await running(b, queue, dead, { input: { timeoutMs: 1 } });
  const workerMissing = await running(b, queue, `gone-${queue}`, { input: { timeoutMs: 1 } });
  const healthy = await running(b, queue, live);
  const queued = await enqueueOne(b, { name: 'queued', queue, runAt: Date.now() - 5000 });
  const scheduled = await enqueueOne(b, { name: 'scheduled', queue, runAt: Date.now() + 60_000 });
  await sleep(15);
  return { live, stuck, leaseExpired, workerDead, workerMissing, healthy, queued, scheduled };
}

export function inspectCases(t: Ctx): void {
  describe('listJobs', () => {
    it('pages by ascending id over more than two pages, with state, queue and name filters', async () => {
      const queue = randomQueue();
      const other = randomQueue('other');
      const jobs = await enqueue(t.b, [
        ...Array.from({ length: 23 }, (_, i) => ({ name: i % 2 ? 'odd' : 'even', queue })),
        ...Array.from({ length: 7 }, () => ({ name: 'odd', queue: other })),
      ]);
      const mine = ids(jobs.slice(0, 23));
      const { all, count } = await pages(t.b, { queue, limit: 10 });
      expect(count).toBe(3);
      expect(ids(all)).toEqual(mine);
      // exactly full last page: the next page is empty with next = null
      const full = await pages(t.b, { queue, limit: 23 });
      expect(full.count).toBe(2);
      expect((await pages(t.b, { limit: 7 })).all).toHaveLength(30);
      const odd = await pages(t.b, { queue, name: 'odd', limit: 4 });
      expect(ids(odd.all)).toEqual(mine.filter((_, i) => i % 2 === 1));
      expect(odd.count).toBe(3);
      // states: move some jobs to failed / completed, others stay queued
      const w = await liveWorker(t.b);
      const claimed = await t.b.claim({ workerId: w, queues: [queue], limit: 9, leaseMs: 60_000 });
      await t.b.fail(
        claimed.slice(0, 5).map((j) => ({ id: j.id, attempt: j.attempt, workerId: w, error: 'x', retryDelayMs: 0, final: true })),
      );
      await t.b.complete(claimed.slice(5, 7).map((j) => ({ id: j.id, attempt: j.attempt, workerId: w })));
      const failed = await pages(t.b, { states: ['failed'], queue, limit: 2 });
      expect(ids(failed.all)).toEqual(ids(claimed.slice(0, 5)));
      expect(failed.count).toBe(3);
      const mixed = await pages(t.b, { states: ['failed', 'queued'], queue, limit: 4 });
      expect(ids(mixed.all)).toEqual(mine.filter((id) => !ids(claimed.slice(5)).includes(id)));
      for (const j of mixed.all) expect(['failed', 'queued']).toContain(j.state);
      expect(ids((await pages(t.b, { states: ['running'], limit: 10 })).all)).toEqual(ids(claimed.slice(7)));
      // one queue in every state, the running jobs included, in id order across pages
      expect(ids((await pages(t.b, { queue, limit: 4 })).all)).toEqual(mine);
      expect((await pages(t.b, { states: ['completed'], queue: other, limit: 10 })).all).toEqual([]);
      const afterFirst = await t.b.listJobs({ queue, limit: 5, after: mine[20] });
      expect(ids(afterFirst.jobs)).toEqual(mine.slice(21));
      expect(afterFirst.next).toBeNull();
    });

    it('lists the derived views: scheduled vs queued, stuck vs orphaned', async () => {
      const queue = randomQueue();
      const s = await seedDerived(t.b, queue);
      const list = async (state: 'scheduled' | 'queued' | 'running' | 'stuck' | 'orphaned') =>
        ids((await t.b.listJobs({ states: [state], queue, limit: 50 })).jobs);
      expect(await list('scheduled')).toEqual([s.scheduled.id]);
      expect(await list('queued')).toEqual([s.queued.id]);
      expect(await list('stuck')).toEqual([s.stuck.id]);
      expect(await list('orphaned')).toEqual([s.leaseExpired.id, s.workerDead.id, s.workerMissing.id]);
      expect(await list('running')).toEqual([s.stuck.id, s.leaseExpired.id, s.workerDead.id, s.workerMissing.id, s.healthy.id]);
      const both = ids((await t.b.listJobs({ states: ['stuck', 'orphaned'], queue, limit: 50 })).jobs);
      expect(both).toEqual([s.stuck.id, s.leaseExpired.id, s.workerDead.id, s.workerMissing.id]);
      // derived views are not stored states
      expect((await t.b.getJob(s.stuck.id))!.state).toBe('running');
      expect((await t.b.getJob(s.workerMissing.id))!.state).toBe('running');
    });
  });

  describe('stats', () => {
    it('counts every state per queue, stuck and orphaned as subsets of running, and the oldest queued age', async () => {
      const queue = randomQueue();
      const s = await seedDerived(t.b, queue);
      await enqueueOne(t.b, { name: 'queued-2', queue, runAt: Date.now() - 1000 });
      await finished(t.b, randomQueue('side'), 'completed');
      const doneQ = randomQueue('done');
      await finished(t.b, doneQ, 'completed');
      await finished(t.b, doneQ, 'failed');
      await finished(t.b, doneQ, 'cancelled');
      const st = await t.b.stats({ queue });
      expect(st.queues).toHaveLength(1);
      const q = st.queues[0]!;
      expect(q).toMatchObject({
        queue,
        queued: 2,
        scheduled: 1,
        running: 5,
        stuck: 1,
        orphaned: 3,
        failed: 0,
        completed: 0,
        cancelled: 0,
      });
      expect(q.oldestQueuedAgeMs).toBeGreaterThanOrEqual(5000);
      expect(q.oldestQueuedAgeMs).toBeLessThan(15_000);
      expect(st.workers.alive).toBeGreaterThanOrEqual(1);
      const d = (await t.b.stats({ queue: doneQ })).queues[0]!;
      expect(d).toMatchObject({
        queue: doneQ,
        queued: 0,
        scheduled: 0,
        running: 0,
        stuck: 0,
        orphaned: 0,
        failed: 1,
        completed: 1,
        cancelled: 1,
        oldestQueuedAgeMs: null,
      });
      const everyQueue = await t.b.stats({});
      const names = everyQueue.queues.map((x) => x.queue);
      expect(names).toEqual(expect.arrayContaining([queue, doneQ]));
      expect(everyQueue.queues.find((x) => x.queue === queue)).toMatchObject({ ...q, oldestQueuedAgeMs: expect.any(Number) });
      expect(s.live).toBeTypeOf('string');
    });

    it('an empty or unknown queue reports zeros; all queues lists only queues with jobs', async () => {
      const empty = randomQueue('empty');
      const st = await t.b.stats({ queue: empty });
      expect(st.queues).toEqual([
        {
          queue: empty,
          queued: 0,
          scheduled: 0,
          running: 0,
          stuck: 0,
          orphaned: 0,
          failed: 0,
          completed: 0,
          cancelled: 0,
          oldestQueuedAgeMs: null,
        },
      ]);
      const busy = randomQueue('busy');
      await enqueueOne(t.b, { name: 'x', queue: busy });
      const all = await t.b.stats({});
      expect(all.queues.map((q) => q.queue)).toContain(busy);
      expect(all.queues.map((q) => q.queue)).not.toContain(empty);
      expect(all.workers.alive).toBe(0);
    });
  });
}
