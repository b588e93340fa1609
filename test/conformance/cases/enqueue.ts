/** Backend basics and enqueue: capabilities, migrate, ids, defaults, bulk, unique keys. */
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, type Capability } from '../../../src/core/backend.js';
import { createClient } from '../../../src/core/client.js';
import { NotSupportedError, ValidationError } from '../../../src/core/errors.js';
import { DEFAULTS, normalizeEnqueue } from '../../../src/core/job.js';
import { claimOne, enqueue, enqueueOne, finished, ids, liveWorker, randomQueue, unknownId, type Ctx } from '../helpers.js';

const KNOWN: Capability[] = ['push-wakeups', 'unique-keys', 'purge', 'logs', 'migrations'];

export function enqueueCases(t: Ctx): void {
  describe('backend basics', () => {
    it('has a known name and declares only known capabilities', () => {
      expect(BACKEND_NAMES).toContain(t.b.name);
      for (const c of t.b.capabilities) expect(KNOWN).toContain(c);
    });

    it('warnings() lists operator-facing risks as plain strings', async () => {
      const w = await t.b.warnings();
      expect(Array.isArray(w)).toBe(true);
      for (const s of w) expect(typeof s).toBe('string');
    });

    it('migrate is idempotent (or NotSupportedError without the capability)', async () => {
      if (!t.b.capabilities.has('migrations')) {
        await expect(t.b.migrate()).rejects.toBeInstanceOf(NotSupportedError);
        return;
      }
      await t.b.migrate();
      const again = await t.b.migrate();
      expect(again.from).toBe(again.to);
      expect(again.to).toBeGreaterThan(0);
    });

    it('normalizeId accepts its own ids and rejects malformed ones', async () => {
      const job = await enqueueOne(t.b, { name: 'x', queue: randomQueue() });
      expect(t.b.normalizeId(job.id)).toBe(job.id);
      const bad = [
        '',
        ' ',
        `${job.id} `,
        ` ${job.id}`,
        `0${job.id}`,
        `+${job.id}`,
        `-${job.id}`,
        '-1',
        '1e3',
        '1.5',
        '0x1f',
        'abc',
        '../etc',
        `${job.id}\n`,
        'x'.repeat(300),
      ];
      for (const raw of bad) expect(() => t.b.normalizeId(raw), JSON.stringify(raw)).toThrow(ValidationError);
    });

    it('getJob of an unknown id is null', async () => {
      const job = await enqueueOne(t.b, { name: 'x', queue: randomQueue() });
      expect(await t.b.getJob(await unknownId(t.b, job.id))).toBeNull();
    });
  });

  describe('enqueue', () => {
    it('stores a job with the defaults', async () => {
      const queue = randomQueue();
      const t0 = Date.now();
      const [r] = await t.b.enqueue([normalizeEnqueue({ name: 'send-email', queue, payload: { to: 'a@b.c', n: [1, 2] } })]);
      const t1 = Date.now();
      expect(r!.created).toBe(true);
      const job = r!.job;
      expect(job).toMatchObject({
        queue,
        name: 'send-email',
        payload: { to: 'a@b.c', n: [1, 2] },
        priority: 0,
        state: 'queued',
        attempts: 0,
        maxAttempts: DEFAULTS.maxAttempts,
        timeoutMs: DEFAULTS.timeoutMs,
        uniqueKey: null,
        workerId: null,
        leaseExpiresAt: null,
        lastError: null,
        errors: [],
        startedAt: null,
        finishedAt: null,
      });
      expect(job.payloadError).toBeUndefined();
      for (const at of [job.runAt, job.createdAt, job.updatedAt]) {
        expect(at).toBeGreaterThanOrEqual(t0 - 1000);
        expect(at).toBeLessThanOrEqual(t1 + 1000);
      }
      const got = await t.b.getJob(job.id);
      expect(got).toMatchObject(job);
      expect(got!.result ?? null).toBeNull();
      expect(got!.progress ?? null).toBeNull();
    });

    it('keeps explicit fields and every kind of JSON payload', async () => {
      const queue = randomQueue();
      const payloads = [null, 'text ✓ ünïcode', 42, [1, 'a', { b: null }], { deep: { deeper: [true, false] } }, {}];
      const jobs = await enqueue(
        t.b,
        payloads.map((payload, i) => ({ name: `n${i}`, queue, payload, priority: i - 2, maxAttempts: 7, timeoutMs: 1234 })),
      );
      for (const [i, job] of jobs.entries()) {
        const got = (await t.b.getJob(job.id))!;
        expect(got.payload).toEqual(payloads[i]);
        expect(got).toMatchObject({ name: `n${i}`, priority: i - 2, maxAttempts: 7, timeoutMs: 1234 });
      }
    });

    it('reports a job with run_at in the future as scheduled, a past one as queued', async () => {
      const queue = randomQueue();
      const [later, past] = await enqueue(t.b, [
        { name: 'later', queue, runAt: Date.now() + 60_000 },
        { name: 'past', queue, runAt: Date.now() - 60_000 },
      ]);
      expect(later!.state).toBe('scheduled');
      expect(past!.state).toBe('queued');
      expect((await t.b.getJob(later!.id))!.state).toBe('scheduled');
      expect((await t.b.getJob(past!.id))!.state).toBe('queued');
    });

    it('enqueues 1,000 jobs in one call, ids unique and sortable in enqueue order', async () => {
      const queue = randomQueue();
      const inputs = Array.from({ length: 1000 }, (_, i) => normalizeEnqueue({ name: 'bulk', queue, payload: { i } }));
      const results = await t.b.enqueue(inputs);
      expect(results).toHaveLength(1000);
      expect(results.every((r) => r.created)).toBe(true);
      const got = ids(results.map((r) => r.job));
      expect(new Set(got).size).toBe(1000);
      const listed = await t.b.listJobs({ queue, limit: 1000 });
      expect(ids(listed.jobs)).toEqual(got);
      expect(listed.jobs.map((j) => (j.payload as { i: number }).i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });

    it('validates a whole batch before writing anything (core client)', async () => {
      const queue = randomQueue();
      const client = createClient(t.b, { ownsBackend: false });
      await expect(
        client.enqueueMany([
          { name: 'ok', queue },
          { name: 'bad', queue: 'bad queue!' },
        ]),
      ).rejects.toBeInstanceOf(ValidationError);
      expect((await t.b.listJobs({ queue, limit: 10 })).jobs).toEqual([]);
    });
  });

  describe('unique keys', () => {
    it('returns the unfinished job holding a key instead of a duplicate, until it finishes', async () => {
      const queue = randomQueue();
      if (!t.b.capabilities.has('unique-keys')) {
        await expect(t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: 'k' })])).rejects.toBeInstanceOf(
          NotSupportedError,
        );
        return;
      }
      const key = `key-${queue}`;
      const [first] = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key, payload: 1 })]);
      expect(first!.created).toBe(true);
      expect(first!.job.uniqueKey).toBe(key);
      // same batch and a later call: both get the first job back
      const again = await t.b.enqueue([
        normalizeEnqueue({ name: 'u', queue, uniqueKey: key, payload: 2 }),
        normalizeEnqueue({ name: 'u', queue, uniqueKey: `${key}-other` }),
        normalizeEnqueue({ name: 'u', queue, uniqueKey: `${key}-other` }),
      ]);
      expect(again[0]!.created).toBe(false);
      expect(again[0]!.job.id).toBe(first!.job.id);
      expect(again[0]!.job.payload).toBe(1);
      expect(again[1]!.created).toBe(true);
      expect(again[2]).toMatchObject({ created: false, job: { id: again[1]!.job.id } });
      // still held while running
      const w = await liveWorker(t.b);
      const claimed = await claimOne(t.b, queue, w);
      expect(claimed.id).toBe(first!.job.id);
      const whileRunning = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key })]);
      expect(whileRunning[0]).toMatchObject({ created: false, job: { id: first!.job.id } });
      // freed once finished
      await t.b.complete([{ id: claimed.id, attempt: claimed.attempt, workerId: w }]);
      const after = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key })]);
      expect(after[0]!.created).toBe(true);
      expect(after[0]!.job.id).not.toBe(first!.job.id);
      expect((await t.b.listJobs({ queue, limit: 10 })).jobs.filter((j) => j.uniqueKey === key)).toHaveLength(2);
    });

    it('holds a key while scheduled; cancelled and failed jobs free it', async () => {
      const queue = randomQueue();
      if (!t.b.capabilities.has('unique-keys')) return; // asserted in the test above
      const key = `sched-${queue}`;
      const [s] = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key, runAt: Date.now() + 60_000 })]);
      expect(s!.job.state).toBe('scheduled');
      const dup = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key })]);
      expect(dup[0]).toMatchObject({ created: false, job: { id: s!.job.id } });
      await t.b.cancel({ ids: [s!.job.id] });
      const next = await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key })]);
      expect(next[0]!.created).toBe(true);
      await t.b.cancel({ ids: [next[0]!.job.id] });
      const failed = await finished(t.b, queue, 'failed', { uniqueKey: key });
      expect(failed.state).toBe('failed');
      expect((await t.b.enqueue([normalizeEnqueue({ name: 'u', queue, uniqueKey: key })]))[0]!.created).toBe(true);
    });
  });
}
