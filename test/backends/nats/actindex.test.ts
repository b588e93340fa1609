/**
 * The active index (format 5, src/backends/nats/actindex.ts): running-batch and scheduled markers
 * live in `JC_<ns>_ACT`, so stats, rescue, the orphaned list and readyJobs send no request to the
 * waiting index (one marker per queued job, whose wildcard reads cost the server time in
 * proportion to all of its subjects on 2.9), nor a wildcard read of the jobs bucket; a namespace
 * of format 4 is migrated, also after a migration cut short.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Backend } from '../../../src/core/backend.js';
import { open } from '../../../src/backends/nats/index.js';
import type { Store } from '../../../src/backends/nats/store.js';
import type { Rec } from '../../../src/backends/nats/record.js';
import { NATS_URL, cleanupNamespaces, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (over: Record<string, unknown> = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...over });
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rawNc = () => connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });

/** Subjects of a stream matching a filter (stream info with subjects_filter). */
async function subjects(nc: NatsConnection, stream: string, filter: string): Promise<string[]> {
  const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, enc(JSON.stringify({ subjects_filter: filter })), {
    timeout: 5000,
  });
  const r = JSON.parse(dec(m.data)) as { state?: { subjects?: Record<string, number> } };
  return Object.keys(r.state?.subjects ?? {}).sort();
}

/**
 * 3 light claims of a worker nobody knows (lease 100 ms: orphaned), 2 jobs scheduled an hour
 * ahead, `queued` waiting jobs. Returns the claimed ids.
 */
async function seed(b: Backend, queued: number): Promise<string[]> {
  await b.enqueue([job(), job(), job()]);
  const claimed = (await b.claim({ workerId: 'gone', queues: ['default'], limit: 3, leaseMs: 100 })).map((j) => j.id);
  expect(claimed).toHaveLength(3);
  await b.enqueue([job({ runAt: Date.now() + 3600_000 }), job({ runAt: Date.now() + 3600_000 })]);
  await b.enqueue(Array.from({ length: queued }, () => job()));
  await sleep(150);
  return claimed.sort();
}

/** stats, the orphaned list, rescue: what a namespace seeded by seed() must answer. */
async function checkSeeded(b: Backend, claimed: string[], queued: number): Promise<void> {
  const stats = async () => (await b.stats({})).queues.find((q) => q.queue === 'default');
  expect(await stats()).toMatchObject({ queued, scheduled: 2, running: 3, orphaned: 3 });
  expect((await b.listJobs({ states: ['orphaned'], limit: 10 })).jobs.map((j) => j.id).sort()).toEqual(claimed);
  const r = await b.rescue({ limit: 10 });
  expect(r.requeued.sort()).toEqual(claimed);
  expect(await stats()).toMatchObject({ queued: queued + 3, scheduled: 2, running: 0, orphaned: 0 });
}

describe('nats active index', () => {
  it('keeps running-batch and scheduled markers out of the waiting index: stats, orphaned, readyJobs and rescue never read it', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const claimed = await seed(b, 40);
    // a queue whose only jobs are scheduled and were met by a claim (delayed naks): readyJobs
    // then reads the running and scheduled markers
    await b.enqueue([
      job({ queue: 'later', runAt: Date.now() + 3600_000 }),
      job({ queue: 'later', runAt: Date.now() + 3600_000 }),
    ]);
    expect(await b.claim({ workerId: 'x', queues: ['later'], limit: 5, leaseMs: 60_000 })).toEqual([]);
    const nc = await rawNc();
    // queued jobs are listed by one queued-batch marker per enqueue call (format 6), none per job
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toEqual([]);
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toHaveLength(2);
    expect(
      await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.*.*.*`).then((s) => s.filter((x) => /\.x\.(rb|scheduled)\./.test(x))),
    ).toEqual([]);
    expect((await subjects(nc, `JC_${ns}_ACT`, `jc.${ns}.a.*.default.*`)).map((s) => s.split('.')[3])).toEqual([
      'rb',
      'scheduled',
      'scheduled',
    ]);
    // every JetStream request naming the waiting index (consumer create/info/next, direct get, delete)
    let idx = 0;
    const seen: string[] = [];
    nc.subscribe('$JS.API.>', {
      callback: (_e, m) => {
        seen.push(m.subject);
        if (m.subject.includes(`.JC_${ns}_IDX`)) idx++;
      },
    });
    await nc.flush();
    expect(await b.readyJobs!(['later'])).toBe(0);
    await checkSeeded(b, claimed, 40);
    await nc.flush();
    expect(seen.some((s) => s.includes(`.JC_${ns}_ACT`))).toBe(true);
    expect(seen.filter((s) => s.includes(`.JC_${ns}_IDX`) || s.includes(`.JC_${ns}_QUE`))).toEqual([]);
    expect(idx).toBe(0);
    // nor the jobs bucket by wildcard (two keys per job): the queues come from the work consumers
    expect(seen.filter((s) => s.startsWith(`$JS.API.CONSUMER.CREATE.KV_jc_${ns}_jobs`))).toEqual([]);
    await nc.close();
    await b.close();
  });

  it('a namespace of format 4 is migrated to 5, also when a first migration was cut short: stats, orphaned, rescue stay right', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const claimed = await seed(b, 4);
    await b.close();
    // what a format-4 jobctl left: the running-batch and scheduled markers in the waiting index
    // (`x.`); a migration cut short copied them to JC_<ns>_ACT but purged only the scheduled ones
    const nc = await rawNc();
    const moved = await subjects(nc, `JC_${ns}_ACT`, `jc.${ns}.a.>`);
    expect(moved).toHaveLength(3);
    for (const s of moved) {
      const m = await nc.request(`$JS.API.DIRECT.GET.JC_${ns}_ACT`, enc(JSON.stringify({ last_by_subj: s })), { timeout: 5000 });
      const r = await nc.request(s.replace(`jc.${ns}.a.`, `jc.${ns}.x.`), m.data, { timeout: 5000 });
      expect(dec(r.data)).toContain('"seq"');
    }
    await nc.request(`$JS.API.STREAM.PURGE.JC_${ns}_ACT`, enc(JSON.stringify({ filter: `jc.${ns}.a.scheduled.>` })), {
      timeout: 5000,
    });
    await nc.request(`$KV.jc_${ns}_jobs.meta.version`, enc(JSON.stringify({ version: 4 })), { timeout: 5000 });

    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.stats({}).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/format version 4; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 4, to: 8 });
    expect(await m.migrate()).toEqual({ from: 8, to: 8 });
    expect(
      await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.*.*.*`).then((s) => s.filter((x) => /\.x\.(rb|scheduled)\./.test(x))),
    ).toEqual([]);
    expect(await subjects(nc, `JC_${ns}_ACT`, `jc.${ns}.a.>`)).toEqual(moved);
    // the moved scheduled markers have new sequences (the records still name the old ones): a
    // compaction pass a minute later must keep them
    const store = (m as unknown as { ctx: { store: Store } }).ctx.store;
    const { ids } = await store.markerIdsWithBatches(['scheduled']);
    const recs = new Map<string, Rec | null>();
    for (const id of ids.keys()) recs.set(id, (await store.get(id))?.rec ?? null);
    expect([...recs.values()].every((r) => r !== null && r.mseq != null && r.mseq !== ids.get(r.id)!.seq)).toBe(true);
    store.compactStale(ids, recs, Date.now() + 120_000);
    await sleep(200);
    expect(await subjects(nc, `JC_${ns}_ACT`, `jc.${ns}.a.scheduled.>`)).toHaveLength(2);
    await checkSeeded(m, claimed, 4);
    expect((await m.listJobs({ states: ['scheduled'], limit: 10 })).jobs).toHaveLength(2);
    await nc.close();
    await m.close();
  });
});
