/**
 * The claim's hot path on NATS (docs/architecture.md, "Fast path"): what an idle worker's claim
 * waits for, and what happens when a light claim's running marker cannot be stored.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Ctx } from '../../../src/backends/nats/context.js';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { NATS_URL, cleanupNamespaces, consumerState, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = () => normalizeEnqueue({ name: 'send', payload: { a: 1 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The handle's internals (what the claim sends goes through ctx.w, the marker through ctx.store). */
const ctxOf = (b: Backend): Ctx => (b as unknown as { ctx: Ctx }).ctx;

describe('nats claim hot path', () => {
  it('a message delivered to an idle worker is checked on arrival: its claim sends no record read, and no pull when nothing else was pending', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const b = await openFresh(ns);
    const claim = (limit = 10) => a.claim({ workerId: 'w', queues: ['default'], limit, leaseMs: 30_000 });
    await b.enqueue([job()]); // the queue's consumer exists
    const [j0] = await claim();
    expect(await claim()).toEqual([]);
    const w = ctxOf(a).w;
    const waiting = a.waitForWork(['default'], 5000);
    await sleep(50);
    const j1 = (await b.enqueue([job()]))[0]!.job;
    await waiting;
    await sleep(50); // the record check sent on arrival has been answered
    const gets = vi.spyOn(w, 'directGet');
    const pulls = vi.spyOn(w, 'pull');
    expect((await claim()).map((j) => [j.id, j.attempt])).toEqual([[j1.id, 1]]);
    expect(gets).not.toHaveBeenCalled();
    expect(pulls).not.toHaveBeenCalled();
    gets.mockRestore();
    pulls.mockRestore();
    // a record written before the delivery (around jobctl) is still honoured: the check on arrival sees it
    const j2 = (await b.enqueue([job()]))[0]!.job;
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    await (await new Kvm(nc).open(`jc_${ns}_jobs`)).put(j2.id, Buffer.from(`{"v":1,"id":"${j2.id}", broken`));
    await nc.close();
    await a.waitForWork(['default'], 5000);
    expect(await claim()).toEqual([]);
    expect((await b.getJob(j2.id))!).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/damaged/) });
    await a.complete([j0!, j1].map((j) => ({ id: j.id, attempt: 1, workerId: 'w' })));
    expect((await consumerState(ns, 'default')).ackPending).toBe(0);
    await a.close();
    await b.close();
  });

  it('a light claim whose running marker could not be stored is lost: the heartbeat reports it, its outcome is refused, it runs again after AckWait', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const [j] = (await a.enqueue([job()])).map((r) => r.job);
    const store = ctxOf(a).store;
    const write = vi.spyOn(store, 'writeRunBatch').mockImplementationOnce(() => Promise.reject(new Error('stream full')));
    // the claim returns before the marker's write is confirmed: the job starts
    const got = await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 600 });
    expect(got.map((x) => [x.id, x.attempt])).toEqual([[j!.id, 1]]);
    write.mockRestore();
    await sleep(20);
    const res = await a.complete([{ id: j!.id, attempt: 1, workerId: 'w' }]);
    expect(res[0]).toMatchObject({ ok: false, reason: expect.stringMatching(/running marker was not stored/) });
    const ext = await a.extendLeases({ workerId: 'w', leaseMs: 600, jobs: [{ id: j!.id, attempt: 1 }] });
    expect(ext.lost).toEqual([j!.id]);
    expect((await a.getJob(j!.id))!.state).toBe('queued');
    // nothing was acked or nak'ed: the message comes back after AckWait (lowered to the lease)
    expect((await consumerState(ns, 'default')).ackPending).toBe(1);
    let again: Awaited<ReturnType<typeof a.claim>> = [];
    for (let i = 0; i < 40 && again.length === 0; i++) {
      await sleep(100);
      again = await a.claim({ workerId: 'w2', queues: ['default'], limit: 1, leaseMs: 5000 });
    }
    expect(again.map((x) => x.id)).toEqual([j!.id]);
    expect((await a.complete([{ id: j!.id, attempt: again[0]!.attempt, workerId: 'w2' }]))[0]!.ok).toBe(true);
    expect((await a.getJob(j!.id))!.state).toBe('completed');
    await a.close();
  });
});
