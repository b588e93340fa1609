/**
 * NATS-only: what a rescue pass and a draining worker's check cost the server (reliability
 * scenario 7: 16 workers × 32 slots kept one nats-server 2.9 saturated). Workers take turns at
 * the rescue pass (one per namespace within half an interval), a pass reads the records of
 * suspect jobs only, and `readyJobs` answers a drain without the full stats.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import type { Backend, WorkerRecord } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { WorkerView, type Ctx } from '../../../src/backends/nats/context.js';
import type { Rec } from '../../../src/backends/nats/record.js';
import { NATS_URL, cleanupNamespaces, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = () => normalizeEnqueue({ name: 'send', payload: { a: 1 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const worker = (name: string) => ({ name, host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' });

/** Count the requests sent to `subject` (a core subscription). */
async function countRequests(subject: string): Promise<{ n: () => number; stop: () => Promise<void> }> {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  let n = 0;
  nc.subscribe(subject, { callback: () => void n++ });
  await nc.flush();
  return { n: () => n, stop: () => nc.close() };
}

describe('nats: rescue turns', () => {
  it('of two workers only one runs the pass within the turn; the other takes over when the rescuer dies', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const b = await openFresh(ns);
    const holder = await openFresh(ns);
    await holder.registerWorker(worker('h'));
    const withinMs = 1500;
    const t0 = Date.now();
    // `a` takes the turn (nothing to rescue yet)
    expect(await a.rescue({ limit: 10, turn: { by: 'a', withinMs } })).toEqual({ requeued: [], failed: [] });
    // an orphan: claimed with a short lease that nobody extends
    const [id] = (await holder.enqueue([job()])).map((x) => x.job.id);
    expect((await holder.claim({ workerId: 'h', queues: ['default'], limit: 1, leaseMs: 200 })).map((j) => j.id)).toEqual([id]);
    await sleep(300);
    // `b` skips: `a` ran a pass less than withinMs ago
    expect(await b.rescue({ limit: 10, turn: { by: 'b', withinMs } })).toEqual({ requeued: [], failed: [], skipped: true });
    expect((await b.getJob(id!))!.state).toBe('running');
    // `a` dies holding the turn; once it is withinMs old, `b` takes it and rescues
    await a.close();
    await sleep(Math.max(0, t0 + withinMs + 50 - Date.now()));
    expect(await b.rescue({ limit: 10, turn: { by: 'b', withinMs } })).toEqual({ requeued: [id], failed: [] });
    // now `b` holds it: its next round runs, another worker's pass is skipped
    expect(await b.rescue({ limit: 10, turn: { by: 'b', withinMs } })).toEqual({ requeued: [], failed: [] });
    const c = await openFresh(ns);
    expect((await c.rescue({ limit: 10, turn: { by: 'c', withinMs } })).skipped).toBe(true);
    // without a turn (an operator) the pass always runs
    expect((await c.rescue({ limit: 10 })).skipped).toBeUndefined();
    for (const h of [b, c, holder]) await h.close();
  });

  it('a pass reads the records of suspect jobs only, not of every running job', async () => {
    const ns = randomNs();
    const h = await openFresh(ns);
    await h.registerWorker(worker('h'));
    await h.enqueue(Array.from({ length: 40 }, job));
    // 39 healthy light claims of a live worker and one whose lease expires
    const healthy = await h.claim({ workerId: 'h', queues: ['default'], limit: 39, leaseMs: 60_000 });
    const [orphan] = await h.claim({ workerId: 'h', queues: ['default'], limit: 1, leaseMs: 200 });
    expect(healthy).toHaveLength(39);
    await sleep(300);
    const op = await openFresh(ns);
    const gets = await countRequests(`$JS.API.DIRECT.GET.KV_jc_${ns}_jobs`);
    expect(await op.rescue({ limit: 10 })).toEqual({ requeued: [orphan!.id], failed: [] });
    await sleep(100); // the counting connection has seen every request
    expect(gets.n()).toBeGreaterThan(0);
    // the orphan's record and initial record (read before the rescue writes its record); it was
    // two direct gets per running job (80)
    expect(gets.n()).toBeLessThanOrEqual(4);
    await gets.stop();
    for (const x of healthy) expect((await op.getJob(x.id))!.state).toBe('running');
    await h.close();
    await op.close();
  });
});

describe('nats: readyJobs (a draining worker asks instead of stats)', () => {
  it('counts queued jobs: never delivered ones from the consumer listing, delivered ones against the running markers', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    await b.enqueue(Array.from({ length: 3 }, job));
    expect(await b.readyJobs!(['default', 'other'])).toBe(3);
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 60_000 });
    expect(got).toHaveLength(3);
    // all delivered and running
    expect(await b.readyJobs!(['default'])).toBe(0);
    // one released: its message waits for redelivery (delivered, not acked)
    await b.release([{ id: got[0]!.id, attempt: got[0]!.attempt, workerId: 'w', reason: 'shutdown' }]);
    expect(await b.readyJobs!(['default'])).toBe(1);
    expect((await b.stats({ queue: 'default' })).queues[0]!.queued).toBe(1);
    await b.complete(got.slice(1).map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 60_000 });
    await b.complete(again.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect(await b.readyJobs!(['default'])).toBe(0);
    await b.close();
  });
});

describe('nats: a live worker the registry read missed', () => {
  // A rescue pass (or a reset of orphaned jobs) reads the worker registry before the records it
  // judges. A worker that registers and claims a job in between is not in that read: the job
  // would look orphaned (worker unknown) within its lease, and be taken from the live run.
  const cases = [
    ['rescue', (op: Backend) => op.rescue({ limit: 10 }).then((r) => r.requeued)],
    ['reset of orphaned jobs', (op: Backend) => op.reset({ which: 'orphaned', limit: 10 }).then((r) => r.changed)],
  ] as const;
  for (const [what, run] of cases)
    it(`${what} confirms on a registry read after the records, and leaves the new worker's run alone`, async () => {
      const ns = randomNs();
      const dead = await openFresh(ns);
      const op = await openFresh(ns);
      const fresh = await openFresh(ns);
      const [id] = (await dead.enqueue([job()])).map((x) => x.job.id);
      // a worker that never registered claims it with a short lease and vanishes
      expect((await dead.claim({ workerId: 'gone', queues: ['default'], limit: 1, leaseMs: 300 })).map((j) => j.id)).toEqual([
        id,
      ]);
      await sleep(20);
      await dead.close();
      await sleep(700); // its lease and the consumer's AckWait (lowered to 300 ms) are over
      // the pass's registry read: before it returns, a new worker registers and takes the job
      const ctx = (op as unknown as { ctx: Ctx }).ctx;
      const list = ctx.listWorkers;
      let first = true;
      ctx.listWorkers = async () => {
        const seen = await list();
        if (first) {
          first = false;
          await fresh.registerWorker(worker('new'));
          const got = await fresh.claim({ workerId: 'new', queues: ['default'], limit: 1, leaseMs: 30_000 });
          expect(got.map((j) => [j.id, j.attempt])).toEqual([[id, 2]]);
        }
        return seen;
      };
      expect(await run(op)).toEqual([]);
      expect(first).toBe(false); // the hook ran
      expect(await op.getJob(id!)).toMatchObject({ state: 'running', attempts: 2, workerId: 'new' });
      const res = await fresh.complete([{ id: id!, attempt: 2, workerId: 'new' }]);
      expect(res.map((r) => r.ok)).toEqual([true]);
      expect((await op.getJob(id!))!.state).toBe('completed');
      await op.close();
      await fresh.close();
    });
});

describe('nats: WorkerView', () => {
  it('shares one registry read while it began after the record it judges, and reads again for a later record', async () => {
    let reads = 0;
    const ctx = {
      listWorkers: async () => {
        reads++;
        return [{ name: 'w', alive: true } as WorkerRecord];
      },
    } as unknown as Ctx;
    const view = new WorkerView(ctx);
    const r = {
      state: 'running',
      workerId: 'w',
      leaseExpiresAt: Date.now() + 10_000,
      startedAt: Date.now(),
      timeoutMs: 60_000,
    } as Rec;
    const before = performance.now();
    expect(await view.derived(r, before, Date.now())).toBe(null);
    expect(await view.derived(r, before, Date.now())).toBe(null);
    expect(reads).toBe(1);
    const later = performance.now();
    expect(await view.derived({ ...r, workerId: 'other' }, later, Date.now())).toBe('orphaned');
    expect(reads).toBe(2);
    // an expired lease is orphaned without any read
    expect(await view.derived({ ...r, leaseExpiresAt: Date.now() - 1 }, performance.now(), Date.now())).toBe('orphaned');
    expect(reads).toBe(2);
  });
});

describe('nats: the fence under many takers', () => {
  it('a rescue of many light claims of one dead worker marks them in few writes of its running marker', async () => {
    const ns = randomNs();
    const dead = await openFresh(ns);
    const op = await openFresh(ns);
    const ids = (await dead.enqueue(Array.from({ length: 8 }, job))).map((r) => r.job.id).sort();
    const got = await dead.claim({ workerId: 'gone', queues: ['default'], limit: 8, leaseMs: 300 });
    expect(got.length).toBe(8);
    await sleep(20);
    await dead.close();
    await sleep(400);
    const writes = await countRequests(`jc.${ns}.a.rb.>`);
    const res = await op.rescue({ limit: 100 });
    expect(res.requeued).toEqual(ids);
    await sleep(50);
    // one compare-and-set marked all eight (each on its own: eight at least, more when they met)
    expect(writes.n()).toBeGreaterThanOrEqual(1);
    expect(writes.n()).toBeLessThanOrEqual(2);
    for (const id of ids) expect((await op.getJob(id))!.state).toBe('queued');
    await writes.stop();
    await op.close();
  });
});
