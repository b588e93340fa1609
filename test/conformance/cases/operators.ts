/**
 * Operator mutations: requeue, reset, cancel, purge — exactly the matching jobs change, dry
 * runs write nothing, a second run changes nothing, untouched jobs stay identical.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/core/backend.js';
import { NotSupportedError } from '../../../src/core/errors.js';
import type { Job } from '../../../src/core/job.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import {
  enqueueOne,
  finished,
  liveWorker,
  randomQueue,
  running,
  sleep,
  snapshot,
  sorted,
  unknownId,
  type Ctx,
} from '../helpers.js';

/** Every job of the namespace, by id (to check that a dry run wrote nothing). */
async function everything(b: Backend): Promise<Map<string, Job>> {
  const out = new Map<string, Job>();
  let after: string | undefined;
  for (;;) {
    const page = await b.listJobs({ limit: 500, after });
    for (const j of page.jobs) out.set(j.id, j);
    if (!page.next) return out;
    after = page.next;
  }
}

const skippedIds = (r: { skipped: { id: string }[] }) => sorted(r.skipped.map((s) => s.id));
const reasonOf = (r: { skipped: { id: string; reason: string }[] }, id: string) => r.skipped.find((s) => s.id === id)?.reason;

export function operatorCases(t: Ctx): void {
  describe('requeue', () => {
    it('puts failed, cancelled and completed jobs back; skips others with reasons; dry run writes nothing; idempotent', async () => {
      const queue = randomQueue();
      const other = randomQueue('other');
      const w = await liveWorker(t.b);
      const completed = await finished(t.b, queue, 'completed');
      const failed = await finished(t.b, queue, 'failed');
      const cancelled = await finished(t.b, queue, 'cancelled');
      const run = await running(t.b, queue, w);
      const queued = await enqueueOne(t.b, { name: 'q', queue });
      const otherFailed = await finished(t.b, other, 'failed');
      const missing = await unknownId(t.b, queued.id);
      const params = { ids: [completed.id, failed.id, cancelled.id, run.id, queued.id, missing] };

      const all = await everything(t.b);
      const dry = await t.b.requeue({ ...params, dryRun: true });
      expect(sorted(dry.changed)).toEqual(sorted([completed.id, failed.id, cancelled.id]));
      expect(skippedIds(dry)).toEqual(sorted([run.id, queued.id, missing]));
      expect(await everything(t.b)).toStrictEqual(all);

      const untouched = await snapshot(t.b, [run.id, queued.id, otherFailed.id]);
      const r = await t.b.requeue(params);
      expect(sorted(r.changed)).toEqual(sorted(dry.changed));
      expect(skippedIds(r)).toEqual(skippedIds(dry));
      expect(reasonOf(r, missing)).toMatch(/^not found/);
      expect(reasonOf(r, run.id)).toBeTruthy();
      for (const id of r.changed) {
        const j = (await t.b.getJob(id))!;
        expect(j).toMatchObject({ state: 'queued', workerId: null, leaseExpiresAt: null, finishedAt: null });
        expect(j.runAt).toBeLessThanOrEqual(Date.now());
      }
      // a job with no attempts left gets one more
      const f = (await t.b.getJob(failed.id))!;
      expect(f.attempts).toBe(1);
      expect(f.maxAttempts).toBe(2);
      expect(await snapshot(t.b, [run.id, queued.id, otherFailed.id])).toStrictEqual(untouched);

      const before = await everything(t.b);
      const second = await t.b.requeue(params);
      expect(second.changed).toEqual([]);
      expect(await everything(t.b)).toStrictEqual(before);
      // requeued jobs run again
      const again = await t.b.claim({ workerId: w, queues: [queue], limit: 10, leaseMs: 60_000 });
      expect(sorted(again.map((j) => j.id))).toEqual(sorted([...r.changed, queued.id]));
    });

    it('by state: batches of at most limit, only that state and queue; resetAttempts zeroes attempts', async () => {
      const queue = randomQueue();
      const other = randomQueue('other');
      const f = [
        await finished(t.b, queue, 'failed'),
        await finished(t.b, queue, 'failed'),
        await finished(t.b, queue, 'failed'),
      ];
      const done = await finished(t.b, queue, 'completed');
      const elsewhere = await finished(t.b, other, 'failed');
      const untouched = await snapshot(t.b, [done.id, elsewhere.id]);
      const dry = await t.b.requeue({ state: 'failed', queue, limit: 100, dryRun: true });
      expect(sorted(dry.changed)).toEqual(sorted(f.map((j) => j.id)));
      expect((await t.b.getJob(f[0]!.id))!.state).toBe('failed');
      const b1 = await t.b.requeue({ state: 'failed', queue, limit: 2, resetAttempts: true });
      expect(b1.changed).toHaveLength(2);
      const b2 = await t.b.requeue({ state: 'failed', queue, limit: 2, resetAttempts: true });
      expect(b2.changed).toHaveLength(1);
      expect((await t.b.requeue({ state: 'failed', queue, limit: 2 })).changed).toEqual([]);
      expect(sorted([...b1.changed, ...b2.changed])).toEqual(sorted(f.map((j) => j.id)));
      for (const j of f) expect((await t.b.getJob(j.id))!).toMatchObject({ state: 'queued', attempts: 0, maxAttempts: 1 });
      expect(await snapshot(t.b, [done.id, elsewhere.id])).toStrictEqual(untouched);
    });

    it('does not requeue a job whose unique key is now held by another unfinished job', async () => {
      const queue = randomQueue();
      if (!t.b.capabilities.has('unique-keys')) return; // asserted in the enqueue cases
      const old = await finished(t.b, queue, 'completed', { uniqueKey: `k-${queue}` });
      const [holder] = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: `k-${queue}` })]);
      expect(holder!.created).toBe(true);
      const r = await t.b.requeue({ ids: [old.id] });
      expect(r.changed).toEqual([]);
      expect(skippedIds(r)).toEqual([old.id]);
      expect((await t.b.getJob(old.id))!.state).toBe('completed');
    });
  });

  describe('reset', () => {
    it('by ids: running jobs back to queued; a live holder with a valid lease needs force', async () => {
      const queue = randomQueue();
      const live = await liveWorker(t.b);
      const held = await running(t.b, queue, live);
      const orphan = await running(t.b, queue, live, { leaseMs: 1 });
      const done = await finished(t.b, queue, 'completed');
      const queued = await enqueueOne(t.b, { name: 'q', queue });
      const missing = await unknownId(t.b, queued.id);
      await sleep(10);
      const ids = [held.id, orphan.id, queued.id, done.id, missing];

      const all = await everything(t.b);
      const dry = await t.b.reset({ ids, dryRun: true });
      expect(dry.changed).toEqual([orphan.id]);
      expect(await everything(t.b)).toStrictEqual(all);

      const untouched = await snapshot(t.b, [held.id, queued.id, done.id]);
      const r = await t.b.reset({ ids });
      expect(r.changed).toEqual([orphan.id]);
      expect(skippedIds(r)).toEqual(sorted([held.id, queued.id, done.id, missing]));
      expect(reasonOf(r, held.id)).toMatch(/live worker/);
      expect(reasonOf(r, held.id)).toMatch(/force/);
      expect(reasonOf(r, missing)).toMatch(/^not found/);
      expect(await snapshot(t.b, [held.id, queued.id, done.id])).toStrictEqual(untouched);
      expect((await t.b.getJob(orphan.id))!).toMatchObject({ state: 'queued', attempts: 1, workerId: null });
      expect((await t.b.complete([{ id: orphan.id, attempt: orphan.attempt, workerId: live }]))[0]!.ok).toBe(false);

      expect((await t.b.reset({ ids })).changed).toEqual([]);
      const forced = await t.b.reset({ ids: [held.id], force: true });
      expect(forced.changed).toEqual([held.id]);
      expect((await t.b.getJob(held.id))!).toMatchObject({ state: 'queued', attempts: 1 });
      expect(
        (await t.b.extendLeases({ workerId: live, leaseMs: 60_000, jobs: [{ id: held.id, attempt: held.attempt }] })).lost,
      ).toEqual([held.id]);
    });

    it('--orphaned and --stuck select by the derived views, per queue', async () => {
      const queue = randomQueue();
      const other = randomQueue('other');
      const live = await liveWorker(t.b);
      const dead = await liveWorker(t.b, undefined, { ttlMs: 1 });
      const orphanA = await running(t.b, queue, live, { leaseMs: 1 });
      const orphanB = await running(t.b, queue, dead);
      const stuck = await running(t.b, queue, live, { input: { timeoutMs: 1 } });
      const healthy = await running(t.b, queue, live);
      const otherOrphan = await running(t.b, other, live, { leaseMs: 1 });
      await sleep(15);
      const untouched = await snapshot(t.b, [stuck.id, healthy.id, otherOrphan.id]);

      const dry = await t.b.reset({ which: 'orphaned', queue, limit: 100, dryRun: true });
      expect(sorted(dry.changed)).toEqual(sorted([orphanA.id, orphanB.id]));
      const r = await t.b.reset({ which: 'orphaned', queue, limit: 100 });
      expect(sorted(r.changed)).toEqual(sorted([orphanA.id, orphanB.id]));
      expect(await snapshot(t.b, [stuck.id, healthy.id, otherOrphan.id])).toStrictEqual(untouched);
      expect((await t.b.reset({ which: 'orphaned', queue, limit: 100 })).changed).toEqual([]);

      const noForce = await t.b.reset({ which: 'stuck', queue, limit: 100 });
      expect(noForce.changed).toEqual([]);
      expect(skippedIds(noForce)).toEqual([stuck.id]);
      const forced = await t.b.reset({ which: 'stuck', queue, limit: 100, force: true });
      expect(forced.changed).toEqual([stuck.id]);
      expect((await t.b.getJob(healthy.id))!).toStrictEqual(untouched[1]);
      expect((await t.b.getJob(otherOrphan.id))!.state).toBe('running');
    });
  });

  describe('cancel', () => {
    it('cancels scheduled, queued and running jobs; the holder loses its claim; finished and unknown are skipped', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const done = await finished(t.b, queue, 'completed');
      const run = await running(t.b, queue, w);
      const queued = await enqueueOne(t.b, { name: 'q', queue });
      const scheduled = await enqueueOne(t.b, { name: 's', queue, runAt: Date.now() + 60_000 });
      const missing = await unknownId(t.b, queued.id);
      const ids = [run.id, queued.id, scheduled.id, done.id, missing];

      const all = await everything(t.b);
      const dry = await t.b.cancel({ ids, dryRun: true });
      expect(sorted(dry.changed)).toEqual(sorted([run.id, queued.id, scheduled.id]));
      expect(await everything(t.b)).toStrictEqual(all);

      const untouched = await snapshot(t.b, [done.id]);
      const r = await t.b.cancel({ ids });
      expect(sorted(r.changed)).toEqual(sorted([run.id, queued.id, scheduled.id]));
      expect(skippedIds(r)).toEqual(sorted([done.id, missing]));
      expect(reasonOf(r, missing)).toMatch(/^not found/);
      for (const id of r.changed) {
        const j = (await t.b.getJob(id))!;
        expect(j.state).toBe('cancelled');
        expect(j.finishedAt).not.toBeNull();
      }
      expect(await snapshot(t.b, [done.id])).toStrictEqual(untouched);
      expect(
        (await t.b.extendLeases({ workerId: w, leaseMs: 60_000, jobs: [{ id: run.id, attempt: run.attempt }] })).lost,
      ).toEqual([run.id]);
      expect((await t.b.complete([{ id: run.id, attempt: run.attempt, workerId: w }]))[0]!.ok).toBe(false);
      expect((await t.b.getJob(run.id))!.state).toBe('cancelled');
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 10, leaseMs: 60_000 })).toEqual([]);
      const second = await t.b.cancel({ ids });
      expect(second.changed).toEqual([]);
    });
  });

  describe('purge', () => {
    it('deletes finished jobs older than the bound, by state and queue, never unfinished ones', async () => {
      const queue = randomQueue();
      const other = randomQueue('other');
      if (!t.b.capabilities.has('purge')) {
        await expect(t.b.purge({ states: ['completed'], olderThanMs: 0, limit: 10 })).rejects.toBeInstanceOf(NotSupportedError);
        return;
      }
      const oldDone = await finished(t.b, queue, 'completed');
      const oldFailed = await finished(t.b, queue, 'failed');
      const oldOther = await finished(t.b, other, 'completed');
      await sleep(300);
      // the bound falls halfway into the 300 ms gap, measured from the time the test actually
      // reaches the purge (a fixed bound let a slow machine age the "new" job past it)
      const gapEnd = Date.now();
      const newDone = await finished(t.b, queue, 'completed');
      const queued = await enqueueOne(t.b, { name: 'q', queue });
      const w = await liveWorker(t.b);
      const q2 = randomQueue('run');
      const run = await running(t.b, q2, w);
      if (t.b.capabilities.has('logs'))
        await t.b.appendLogs([{ jobId: oldDone.id, worker: w, queue, stream: 'log', message: 'old line' }]);
      const untouched = await snapshot(t.b, [oldFailed.id, oldOther.id, newDone.id, queued.id, run.id]);

      const r = await t.b.purge({ states: ['completed'], queue, olderThanMs: Date.now() - (gapEnd - 150), limit: 100 });
      expect(r.deleted).toBe(1);
      expect(await t.b.getJob(oldDone.id)).toBeNull();
      expect(await snapshot(t.b, [oldFailed.id, oldOther.id, newDone.id, queued.id, run.id])).toStrictEqual(untouched);
      if (t.b.capabilities.has('logs')) expect((await t.b.readLogs({ jobId: oldDone.id, limit: 10 })).lines).toEqual([]);

      const all = await t.b.purge({ states: ['completed', 'failed', 'cancelled'], olderThanMs: 0, limit: 1 });
      expect(all.deleted).toBe(1);
      const rest = await t.b.purge({ states: ['completed', 'failed', 'cancelled'], olderThanMs: 0, limit: 100 });
      expect(rest.deleted).toBe(2);
      expect(await snapshot(t.b, [queued.id, run.id])).toStrictEqual(untouched.slice(3));
      expect((await t.b.purge({ states: ['completed', 'failed', 'cancelled'], olderThanMs: 0, limit: 100 })).deleted).toBe(0);
    });
  });
}
