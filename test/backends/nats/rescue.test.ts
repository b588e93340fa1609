/**
 * NATS-only: what a rescue pass and a draining worker's check cost the server (reliability
 * scenario 7: 16 workers × 32 slots kept one nats-server 2.9 saturated). Workers take turns at
 * the rescue pass (one per namespace within half an interval), a pass reads the records of
 * suspect jobs only, and `readyJobs` answers a drain without the full stats.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { normalizeEnqueue } from '../../../src/core/job.js';
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
