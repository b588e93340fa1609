/**
 * NATS-only: deliveries that must not run a job again, and how a reader asks for a work message
 * (reliability scenario 1 at full size, session 16: workers killed every 2 s on a loaded
 * machine). A claim is handed a delivery here by replacing its pull with a stub, so that what
 * the server did under load happens every time.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import type { Backend } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Ctx } from '../../../src/backends/nats/context.js';
import type { RawMsg } from '../../../src/backends/nats/wire.js';
import { open } from '../../../src/backends/nats/index.js';
import { NATS_URL, cleanupNamespaces, consumerState, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = () => normalizeEnqueue({ name: 'send', payload: { a: 1 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ctxOf = (b: Backend): Ctx => (b as unknown as { ctx: Ctx }).ctx;
const worker = (name: string) => ({ name, host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' });
const claimOne = (b: Backend, workerId: string) => b.claim({ workerId, queues: ['default'], limit: 1, leaseMs: 30_000 });

/** Record the messages a handle's pulls return; `inject` makes its next pull return these instead. */
function tapPulls(b: Backend): { seen: RawMsg[]; inject: (m: RawMsg) => void } {
  const w = ctxOf(b).w;
  const pull = w.pull.bind(w);
  const seen: RawMsg[] = [];
  const queued: RawMsg[] = [];
  w.pull = async (...args: Parameters<typeof pull>) => {
    if (queued.length > 0) return queued.splice(0);
    const got = await pull(...args);
    seen.push(...got);
    return got;
  };
  return { seen, inject: (m) => queued.push({ ...m, rec: undefined, parkedAt: undefined }) };
}

/** The same delivery with another delivery count (`$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`). */
function withDeliveries(m: RawMsg, dc: number): RawMsg {
  const t = m.reply!.split('.');
  t[t.length - 5] = String(dc);
  return { ...m, reply: t.join('.') };
}

describe('nats: deliveries that must not run a job again', () => {
  it("a redelivery that crossed its holder's ack is acked and skipped, not taken for a queued job", async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const c = await openFresh(ns);
    const tap = tapPulls(b);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    const got = await claimOne(b, 'w');
    expect(got.map((j) => j.id)).toEqual([id]);
    const delivery = tap.seen.find((m) => m.reply !== undefined)!;
    // the holder commits, its ack is confirmed and its running marker deleted
    expect((await b.complete([{ id: id!, attempt: 1, workerId: 'w' }])).map((r) => r.ok)).toEqual([true]);
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0);
    // a redelivery of that message, sent before the ack was processed, reaches another worker
    tapPulls(c).inject(withDeliveries(delivery, 2));
    expect(await claimOne(c, 'x')).toEqual([]);
    expect(await c.getJob(id!)).toMatchObject({ state: 'completed', attempts: 1 });
    expect((await c.stats({})).queues.map((q) => q.completed)).toEqual([1]);
    await b.close();
    await c.close();
  });

  it("a second first delivery of a job its handle holds is decided on the job (nak'ed while the claim runs), not run twice", async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    await b.registerWorker(worker('w'));
    const tap = tapPulls(b);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    expect((await claimOne(b, 'w')).map((j) => [j.id, j.attempt])).toEqual([[id, 1]]);
    await sleep(20); // its running marker is stored
    // the server hands the same message out again as a first delivery (seen under load on 2.9)
    tap.inject(tap.seen.find((m) => m.reply !== undefined)!);
    expect(await claimOne(b, 'w')).toEqual([]);
    expect((await b.complete([{ id: id!, attempt: 1, workerId: 'w' }])).map((r) => r.ok)).toEqual([true]);
    expect((await b.stats({})).queues.map((q) => [q.running, q.completed])).toEqual([[0, 1]]);
    await b.close();
  });
});

describe('nats: is a work message still there', () => {
  it('asks the work stream by a direct get, and through the API on a stream made without direct gets', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    const ws = (await ctxOf(b).store.initial(id!))!.rec.wseq!;
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(`JC_${ns}_WORK`)).config.allow_direct).toBe(true);
    const store = ctxOf(b).store;
    expect(await store.workMessageExists(ws)).toBe(true);
    expect(await store.workMessageExists(ws + 1000)).toBe(false);
    // a namespace made before: its work stream does not answer direct gets
    const si = await jsm.streams.info(`JC_${ns}_WORK`);
    await jsm.streams.update(`JC_${ns}_WORK`, { ...si.config, allow_direct: false });
    const old = await open({ url: NATS_URL, namespace: ns });
    expect(await ctxOf(old).store.workMessageExists(ws)).toBe(true);
    expect(await ctxOf(old).store.workMessageExists(ws + 1000)).toBe(false);
    await old.close();
    // a migrate (the worker's open) allows them again
    const again = await openFresh(ns);
    expect((await jsm.streams.info(`JC_${ns}_WORK`)).config.allow_direct).toBe(true);
    await again.close();
    await nc.close();
    await b.close();
  });
});
