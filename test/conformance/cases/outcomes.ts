/** Outcomes fenced by (id, attempt, worker): complete, fail/retry, release, progress, leases, rescue. */
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/core/job.js';
import { claimOne, enqueueOne, liveWorker, randomQueue, running, sleep, type Ctx } from '../helpers.js';

export function outcomeCases(t: Ctx): void {
  describe('complete', () => {
    it('records the result and clears the claim; a second outcome for the same claim is refused', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w);
      const [r] = await t.b.complete([{ id: j.id, attempt: j.attempt, workerId: w, result: { sent: 3 } }]);
      expect(r).toMatchObject({ id: j.id, ok: true, state: 'completed' });
      const done = (await t.b.getJob(j.id))!;
      expect(done).toMatchObject({ state: 'completed', result: { sent: 3 }, workerId: null, leaseExpiresAt: null, attempts: 1 });
      expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt!);
      const again = await t.b.complete([{ id: j.id, attempt: j.attempt, workerId: w, result: 'other' }]);
      expect(again[0]).toMatchObject({ id: j.id, ok: false });
      const failAfter = await t.b.fail([{ id: j.id, attempt: j.attempt, workerId: w, error: 'late', retryDelayMs: 0 }]);
      expect(failAfter[0]!.ok).toBe(false);
      expect(await t.b.getJob(j.id)).toStrictEqual(done);
    });

    it('completes a batch in one call, refusing only the items whose claim is wrong', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      for (let i = 0; i < 3; i++) await enqueueOne(t.b, { name: 'b', queue });
      const got = await t.b.claim({ workerId: w, queues: [queue], limit: 3, leaseMs: 60_000 });
      const res = await t.b.complete([
        { id: got[0]!.id, attempt: got[0]!.attempt, workerId: w },
        { id: got[1]!.id, attempt: got[1]!.attempt + 1, workerId: w },
        { id: got[2]!.id, attempt: got[2]!.attempt, workerId: 'someone-else' },
      ]);
      expect(res.map((r) => r.ok)).toEqual([true, false, false]);
      expect((await t.b.getJob(got[1]!.id))!.state).toBe('running');
      expect((await t.b.getJob(got[2]!.id))!.state).toBe('running');
    });
  });

  describe('complete with event lines', () => {
    it('writes the event lines with the outcome, after the lines already in the log, and none for a lost claim', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const a = await running(t.b, queue, w);
      const b = await running(t.b, queue, w);
      await t.b.appendLogs([{ jobId: a.id, worker: w, queue, stream: 'stdout', message: 'output first' }]);
      const ev = (id: string) => ({
        queue,
        lines: [
          { ts: Date.now() - 5, message: `claimed ${id}` },
          { ts: Date.now(), message: `completed ${id}` },
        ],
      });
      const res = await t.b.complete([
        { id: a.id, attempt: a.attempt, workerId: w, events: ev(a.id) },
        { id: b.id, attempt: b.attempt + 1, workerId: w, events: ev(b.id) },
      ]);
      expect(res.map((r) => r.ok)).toEqual([true, false]);
      const linesA = (await t.b.readLogs({ jobId: a.id, limit: 100 })).lines;
      expect(linesA.map((l) => [l.stream, l.message, l.worker, l.queue])).toEqual([
        ['stdout', 'output first', w, queue],
        ['event', `claimed ${a.id}`, w, queue],
        ['event', `completed ${a.id}`, w, queue],
      ]);
      expect((await t.b.readLogs({ queue, limit: 100 })).lines.map((l) => l.message)).toEqual(linesA.map((l) => l.message));
      expect((await t.b.readLogs({ jobId: b.id, limit: 100 })).lines).toEqual([]);
    });

    it("one line per item (the worker's `completed` line) reads like any line, also after a requeue and a second run", async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const a = await running(t.b, queue, w);
      const b = await running(t.b, queue, w);
      await t.b.appendLogs([{ jobId: a.id, worker: w, queue, stream: 'stdout', message: 'a says hi' }]);
      const line = (id: string, n: number) => ({ queue, lines: [{ ts: Date.now(), message: `completed ${id} #${n}` }] });
      const before = Date.now();
      const res = await t.b.complete([
        { id: a.id, attempt: a.attempt, workerId: w, events: line(a.id, 1) },
        { id: b.id, attempt: b.attempt + 1, workerId: w, events: line(b.id, 1) },
      ]);
      expect(res.map((r) => r.ok)).toEqual([true, false]);
      await t.b.appendLogs([{ jobId: null, worker: w, queue, stream: 'event', message: 'after' }]);
      const byJob = (await t.b.readLogs({ jobId: a.id, limit: 100 })).lines;
      expect(byJob.map((l) => [l.stream, l.message, l.worker, l.queue, l.jobId])).toEqual([
        ['stdout', 'a says hi', w, queue, a.id],
        ['event', `completed ${a.id} #1`, w, queue, a.id],
      ]);
      expect(Math.abs(byJob[1]!.ts - before)).toBeLessThan(60_000);
      const all = ['a says hi', `completed ${a.id} #1`, 'after'];
      const text = (r: { lines: { message: string }[] }) => r.lines.map((l) => l.message);
      expect(text(await t.b.readLogs({ queue, limit: 100 }))).toEqual(all);
      expect(text(await t.b.readLogs({ worker: w, limit: 100 }))).toEqual(all);
      expect(text(await t.b.readLogs({ queue, tail: 2, limit: 100 }))).toEqual(all.slice(1));
      expect(text(await t.b.readLogs({ tail: 2, limit: 100 }))).toEqual(all.slice(1));
      expect((await t.b.readLogs({ jobId: b.id, limit: 100 })).lines).toEqual([]);
      // a follower pages through them one at a time with the cursor
      const paged: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 4; i++) {
        const r = await t.b.readLogs({ queue, limit: 1, ...(cursor !== null ? { after: cursor } : {}) });
        paged.push(...text(r));
        cursor = r.cursor;
      }
      expect(paged).toEqual(all);

      // requeued and completed again: both runs' lines stay, in order
      expect((await t.b.requeue({ ids: [a.id] })).changed).toEqual([a.id]);
      expect(text(await t.b.readLogs({ jobId: a.id, limit: 100 }))).toEqual(all.slice(0, 2));
      const again = await claimOne(t.b, queue, w);
      expect(again.id).toBe(a.id);
      expect((await t.b.complete([{ id: a.id, attempt: again.attempt, workerId: w, events: line(a.id, 2) }]))[0]!.ok).toBe(true);
      expect(text(await t.b.readLogs({ jobId: a.id, limit: 100 }))).toEqual([...all.slice(0, 2), `completed ${a.id} #2`]);
      expect(text(await t.b.readLogs({ after: cursor!, queue, limit: 100 }))).toEqual([`completed ${a.id} #2`]);
      expect(text(await t.b.readLogs({ queue, limit: 100 }))).toEqual([...all, `completed ${a.id} #2`]);
      // requeued by state: the line stays too
      const byState = await t.b.requeue({ state: 'completed', queue, limit: 10 });
      expect(byState.changed).toEqual([a.id]);
      expect(text(await t.b.readLogs({ jobId: a.id, limit: 100 }))).toEqual([...all.slice(0, 2), `completed ${a.id} #2`]);
    });
  });

  describe('fail and retry', () => {
    it('a failed attempt with attempts left is scheduled after the delay, then queued again', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w, { input: { maxAttempts: 3 } });
      const t0 = Date.now();
      const [r] = await t.b.fail([{ id: j.id, attempt: j.attempt, workerId: w, error: 'first error', retryDelayMs: 250 }]);
      expect(r).toMatchObject({ ok: true, state: 'scheduled' });
      const s = (await t.b.getJob(j.id))!;
      expect(s).toMatchObject({
        state: 'scheduled',
        attempts: 1,
        lastError: 'first error',
        workerId: null,
        leaseExpiresAt: null,
        finishedAt: null,
      });
      expect(s.errors).toHaveLength(1);
      expect(s.errors[0]).toMatchObject({ attempt: 1, message: 'first error' });
      expect(s.runAt).toBeGreaterThanOrEqual(t0 + 200);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 1, leaseMs: 60_000 })).toEqual([]);
      await sleep(300);
      expect((await t.b.getJob(j.id))!.state).toBe('queued');
      const again = await claimOne(t.b, queue, w);
      expect(again).toMatchObject({ id: j.id, attempt: 2, attempts: 2 });
    });

    it('fails for good when attempts are exhausted, keeping every error and the last one', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w, { input: { maxAttempts: 2 } });
      const [r1] = await t.b.fail([{ id: j.id, attempt: 1, workerId: w, error: 'e1', retryDelayMs: 0 }]);
      expect(r1).toMatchObject({ ok: true, state: 'queued' });
      const j2 = await claimOne(t.b, queue, w);
      expect(j2.attempt).toBe(2);
      const [r2] = await t.b.fail([{ id: j.id, attempt: 2, workerId: w, error: 'e2', retryDelayMs: 0 }]);
      expect(r2).toMatchObject({ ok: true, state: 'failed' });
      const f = (await t.b.getJob(j.id))!;
      expect(f).toMatchObject({ state: 'failed', attempts: 2, lastError: 'e2', workerId: null });
      expect(f.finishedAt).not.toBeNull();
      expect(f.errors.map((e) => [e.attempt, e.message])).toEqual([
        [1, 'e1'],
        [2, 'e2'],
      ]);
      expect(await t.b.claim({ workerId: w, queues: [queue], limit: 1, leaseMs: 60_000 })).toEqual([]);
    });

    it('final: true fails at once, attempts left or not', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w, { input: { maxAttempts: 10 } });
      const [r] = await t.b.fail([
        { id: j.id, attempt: j.attempt, workerId: w, error: 'bad payload', retryDelayMs: 1000, final: true },
      ]);
      expect(r).toMatchObject({ ok: true, state: 'failed' });
      expect((await t.b.getJob(j.id))!).toMatchObject({ state: 'failed', attempts: 1, lastError: 'bad payload' });
    });

    it(`keeps the last ${DEFAULTS.keptErrors} errors`, async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      await enqueueOne(t.b, { name: 'many', queue, maxAttempts: 30 });
      let id = '';
      for (let i = 1; i <= DEFAULTS.keptErrors + 3; i++) {
        const j = await claimOne(t.b, queue, w);
        id = j.id;
        await t.b.fail([{ id: j.id, attempt: j.attempt, workerId: w, error: `e${i}`, retryDelayMs: 0 }]);
      }
      const job = (await t.b.getJob(id))!;
      expect(job.errors).toHaveLength(DEFAULTS.keptErrors);
      expect(job.errors[0]!.message).toBe('e4');
      expect(job.errors.at(-1)!.message).toBe(`e${DEFAULTS.keptErrors + 3}`);
      expect(job.lastError).toBe(`e${DEFAULTS.keptErrors + 3}`);
    });
  });

  describe('release, progress, leases', () => {
    it('release puts a job back to queued with its attempt counted; on the last attempt it fails', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w, { input: { maxAttempts: 2 } });
      const [r] = await t.b.release([{ id: j.id, attempt: j.attempt, workerId: w, reason: 'shutting down' }]);
      expect(r).toMatchObject({ ok: true, state: 'queued' });
      expect((await t.b.getJob(j.id))!).toMatchObject({ state: 'queued', attempts: 1, workerId: null, leaseExpiresAt: null });
      const again = await claimOne(t.b, queue, w);
      expect(again.attempt).toBe(2);
      expect((await t.b.release([{ id: j.id, attempt: 1, workerId: w, reason: 'stale' }]))[0]!.ok).toBe(false);
      const [last] = await t.b.release([{ id: j.id, attempt: 2, workerId: w, reason: 'shutting down again' }]);
      expect(last).toMatchObject({ ok: true, state: 'failed' });
      expect((await t.b.getJob(j.id))!).toMatchObject({ state: 'failed', lastError: 'shutting down again' });
    });

    it('release with notStarted gives the attempt back, keeps the place, and never fails the job', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      // on its last attempt: a plain release would fail it
      const j = await running(t.b, queue, w, { input: { maxAttempts: 1 } });
      const before = (await t.b.getJob(j.id))!;
      const other = await enqueueOne(t.b, { name: 'later', queue });
      const [r] = await t.b.release([{ id: j.id, attempt: j.attempt, workerId: w, reason: 'prefetched', notStarted: true }]);
      expect(r).toMatchObject({ ok: true, state: 'queued' });
      const after = (await t.b.getJob(j.id))!;
      expect(after).toMatchObject({
        state: 'queued',
        attempts: 0,
        workerId: null,
        leaseExpiresAt: null,
        lastError: null,
        errors: [],
      });
      expect(after.runAt).toBe(before.runAt);
      // it is claimed again before the job enqueued after it, as attempt 1
      const again = await claimOne(t.b, queue, w);
      expect(again).toMatchObject({ id: j.id, attempt: 1 });
      // fenced like any release
      expect((await t.b.release([{ id: j.id, attempt: 0, workerId: w, reason: 'stale', notStarted: true }]))[0]!.ok).toBe(false);
      expect((await t.b.getJob(other.id))!.state).toBe('queued');
    });

    it('setProgress and extendLeases work for the holder only', async () => {
      const queue = randomQueue();
      const w = await liveWorker(t.b);
      const j = await running(t.b, queue, w, { leaseMs: 5_000 });
      expect(await t.b.setProgress({ id: j.id, attempt: j.attempt, workerId: w }, { pct: 50 })).toBe(true);
      expect((await t.b.getJob(j.id))!.progress).toEqual({ pct: 50 });
      expect(await t.b.setProgress({ id: j.id, attempt: j.attempt, workerId: 'other' }, { pct: 99 })).toBe(false);
      expect(await t.b.setProgress({ id: j.id, attempt: j.attempt + 1, workerId: w }, { pct: 99 })).toBe(false);
      expect((await t.b.getJob(j.id))!.progress).toEqual({ pct: 50 });
      const before = (await t.b.getJob(j.id))!.leaseExpiresAt!;
      const { lost } = await t.b.extendLeases({
        workerId: w,
        leaseMs: 60_000,
        jobs: [
          { id: j.id, attempt: j.attempt },
          { id: j.id, attempt: j.attempt + 1 },
        ],
      });
      expect(lost).toEqual([j.id]);
      expect((await t.b.getJob(j.id))!.leaseExpiresAt!).toBeGreaterThan(before + 30_000);
      expect(
        (await t.b.extendLeases({ workerId: 'other', leaseMs: 60_000, jobs: [{ id: j.id, attempt: j.attempt }] })).lost,
      ).toEqual([j.id]);
    });
  });

  describe('lease loss and rescue', () => {
    it('an expired lease is rescued; the old holder can record nothing, the new one can', async () => {
      const queue = randomQueue();
      const w1 = await liveWorker(t.b);
      const w2 = await liveWorker(t.b);
      const j = await running(t.b, queue, w1, { leaseMs: 1, input: { maxAttempts: 3 } });
      await sleep(15);
      const r = await t.b.rescue({ limit: 100 });
      expect(r.requeued).toContain(j.id);
      expect(r.failed).not.toContain(j.id);
      const rescued = (await t.b.getJob(j.id))!;
      expect(rescued).toMatchObject({ state: 'queued', attempts: 1, workerId: null });
      expect(rescued.errors.at(-1)!.message).toMatch(/lease expired/);
      const j2 = await claimOne(t.b, queue, w2);
      expect(j2).toMatchObject({ id: j.id, attempt: 2, workerId: w2 });
      const old = { id: j.id, attempt: j.attempt, workerId: w1 };
      expect((await t.b.complete([{ ...old, result: 'old' }]))[0]!.ok).toBe(false);
      expect((await t.b.fail([{ ...old, error: 'old', retryDelayMs: 0 }]))[0]!.ok).toBe(false);
      expect((await t.b.release([{ ...old, reason: 'old' }]))[0]!.ok).toBe(false);
      expect(await t.b.setProgress(old, 'old')).toBe(false);
      expect((await t.b.extendLeases({ workerId: w1, leaseMs: 60_000, jobs: [{ id: j.id, attempt: j.attempt }] })).lost).toEqual([
        j.id,
      ]);
      const held = (await t.b.getJob(j.id))!;
      expect(held).toMatchObject({ state: 'running', workerId: w2, attempts: 2 });
      expect((await t.b.complete([{ id: j.id, attempt: 2, workerId: w2, result: 'new' }]))[0]!.ok).toBe(true);
      expect((await t.b.getJob(j.id))!).toMatchObject({ state: 'completed', result: 'new' });
    });

    it('rescue fails an orphaned job on its last attempt, rescues dead and missing workers, and leaves healthy jobs alone', async () => {
      const queue = randomQueue();
      const live = await liveWorker(t.b);
      const dead = await liveWorker(t.b, undefined, { ttlMs: 1 });
      const last = await running(t.b, queue, live, { leaseMs: 1, input: { maxAttempts: 1 } });
      const ofDead = await running(t.b, queue, dead);
      const ofMissing = await running(t.b, queue, `never-registered-${queue}`);
      const healthy = await running(t.b, queue, live);
      const stuck = await running(t.b, queue, live, { input: { timeoutMs: 1 } });
      await sleep(15);
      const before = await Promise.all([healthy.id, stuck.id].map((id) => t.b.getJob(id)));
      const r = await t.b.rescue({ limit: 100 });
      expect(r.failed).toEqual([last.id]);
      expect([...r.requeued].sort()).toEqual([ofDead.id, ofMissing.id].sort());
      expect((await t.b.getJob(last.id))!).toMatchObject({ state: 'failed', attempts: 1 });
      expect((await t.b.getJob(last.id))!.lastError).toMatch(/lease expired/);
      expect(await Promise.all([healthy.id, stuck.id].map((id) => t.b.getJob(id)))).toStrictEqual(before);
      expect(await t.b.rescue({ limit: 100 })).toEqual({ requeued: [], failed: [] });
    });
  });
}
