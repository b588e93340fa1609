import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, EnqueueResult } from '../../src/core/backend.js';
import { connect, createClient, waitForJob, type JobClient } from '../../src/core/client.js';
import { TimeoutError } from '../../src/core/errors.js';
import type { Job, NewJob } from '../../src/core/job.js';
import { makeJob } from './fixtures.js';

/** A backend that only knows getJob/enqueue/normalizeId, with a scripted job. */
function fakeBackend(states: Job['state'][]) {
  let calls = 0;
  const enqueued: NewJob[][] = [];
  const backend = {
    name: 'sqlite',
    normalizeId: (raw: string) => {
      if (!/^[1-9]\d*$/.test(raw)) throw Object.assign(new Error('bad id'), { exitCode: 2 });
      return raw;
    },
    async getJob(id: string) {
      if (id === '404') return null;
      const state = states[Math.min(calls, states.length - 1)]!;
      calls++;
      return makeJob({ id, state });
    },
    async enqueue(jobs: NewJob[]): Promise<EnqueueResult[]> {
      enqueued.push(jobs);
      return jobs.map((j, i) => ({ job: makeJob({ id: String(i + 1), name: j.name, queue: j.queue }), created: true }));
    },
    async close() {},
  } as unknown as Backend;
  return { backend, enqueued, calls: () => calls };
}

describe('client (fake backend)', () => {
  it('waitFor polls with back-off until the job is finished', async () => {
    const f = fakeBackend(['queued', 'running', 'running', 'completed']);
    const t = Date.now();
    const job = await createClient(f.backend).waitFor('7', { timeoutMs: 5000 });
    expect(job.state).toBe('completed');
    expect(f.calls()).toBe(4);
    // 20 + 30 + 45 ms of back-off
    expect(Date.now() - t).toBeGreaterThanOrEqual(80);
  });

  it('waitFor throws TimeoutError (exit 124) when the job is not finished in time', async () => {
    const f = fakeBackend(['running']);
    const t = Date.now();
    await expect(waitForJob(f.backend, '7', { timeoutMs: 150 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - t).toBeLessThan(1000);
    await expect(waitForJob(f.backend, '7', { timeoutMs: 50 })).rejects.toMatchObject({ exitCode: 124 });
  });

  it('waitFor backs off to at most 500 ms between polls', async () => {
    const f = fakeBackend(['running']);
    await expect(waitForJob(f.backend, '7', { timeoutMs: 2500 })).rejects.toBeInstanceOf(TimeoutError);
    // 20,30,45,68,102,153,230,345,500,500,... ≈ 11-12 polls in 2.5 s
    expect(f.calls()).toBeGreaterThanOrEqual(9);
    expect(f.calls()).toBeLessThanOrEqual(14);
  });

  it('waitFor stops on abort and on a missing job', async () => {
    const f = fakeBackend(['running']);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(waitForJob(f.backend, '7', { timeoutMs: 10_000, signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    await expect(waitForJob(f.backend, '404', { timeoutMs: 1000 })).rejects.toMatchObject({ exitCode: 3 });
  });

  it('enqueueMany validates every input before writing anything', async () => {
    const f = fakeBackend(['queued']);
    const client = createClient(f.backend);
    await expect(client.enqueueMany([{ name: 'ok' }, { name: 'bad', queue: 'no spaces' }])).rejects.toThrow(
      /^job 2: invalid queue name/,
    );
    expect(f.enqueued).toHaveLength(0);
    const jobs = await client.enqueueMany([{ name: 'a' }, { name: 'b', queue: 'q2' }]);
    expect(jobs.map((j) => j.name)).toEqual(['a', 'b']);
    expect(f.enqueued).toHaveLength(1);
    expect(f.enqueued[0]!.map((j) => j.payloadJson)).toEqual(['null', 'null']);
  });

  it('enqueue rejects invalid input with exit 2', async () => {
    const client = createClient(fakeBackend(['queued']).backend);
    await expect(client.enqueue({ name: 'x', payload: { big: 'x'.repeat(2 * 1024 * 1024) } })).rejects.toMatchObject({
      exitCode: 2,
    });
    await expect(client.enqueue({ name: '' })).rejects.toMatchObject({ exitCode: 2 });
  });
});

describe('client (sqlite backend)', () => {
  let dir: string;
  let client: JobClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('enqueues, reads and waits for a job a worker completes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'jobctl-client-'));
    client = await connect(join(dir, 'jobs.db'));
    const job = await client.enqueue({ name: 'hello', payload: { a: 1 }, queue: 'q1' });
    expect(job).toMatchObject({ name: 'hello', queue: 'q1', state: 'queued', payload: { a: 1 } });
    expect((await client.getJob(job.id))?.id).toBe(job.id);

    // act as a worker: claim and complete it a little later
    const backend = client.backend;
    setTimeout(async () => {
      const [claimed] = await backend.claim({ workerId: 'w1', queues: ['q1'], limit: 1, leaseMs: 30_000 });
      await backend.complete([{ id: claimed!.id, attempt: claimed!.attempt, workerId: 'w1', result: { ok: true } }]);
    }, 100);
    const done = await client.waitFor(job.id, { timeoutMs: 5000 });
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ ok: true });
  });

  it('times out on a job nobody runs', async () => {
    dir = mkdtempSync(join(tmpdir(), 'jobctl-client-'));
    client = await connect(join(dir, 'jobs.db'));
    const job = await client.enqueue({ name: 'never' });
    await expect(client.waitFor(job.id, { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('enqueueMany writes nothing when one input is invalid', async () => {
    dir = mkdtempSync(join(tmpdir(), 'jobctl-client-'));
    client = await connect(join(dir, 'jobs.db'));
    await expect(client.enqueueMany([{ name: 'a' }, { name: 'b', priority: 1.5 }])).rejects.toMatchObject({ exitCode: 2 });
    const list = await client.backend.listJobs({ limit: 10 });
    expect(list.jobs).toHaveLength(0);
    const jobs = await client.enqueueMany([{ name: 'a' }, { name: 'b' }]);
    expect(jobs).toHaveLength(2);
  });
});
