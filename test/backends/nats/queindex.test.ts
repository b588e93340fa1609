/**
 * The queued index (format 6, src/backends/nats/queindex.ts): queued jobs are listed by one
 * queued-batch marker per enqueue or requeue call and queue (`JC_<ns>_QUE`, id-range headers), so
 * a `list` page of the queued state, or of every state, reads about the page and stops — not one
 * marker per waiting job of the whole backlog; pages stay exact across batch markers, per-job
 * markers (release, retry, unique keys) and stale entries (claimed, cancelled, requeued jobs);
 * stale entries are compacted; a namespace of format 5 is migrated, also after a migration cut
 * short.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Backend } from '../../../src/core/backend.js';
import { open } from '../../../src/backends/nats/index.js';
import { MarkerWalk } from '../../../src/backends/nats/finindex.js';
import type { Ctx } from '../../../src/backends/nats/context.js';
import { NATS_URL, cleanupNamespaces, countReads, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (over: Record<string, unknown> = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...over });
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const rawNc = () => connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
const ctxOf = (b: Backend) => (b as unknown as { ctx: Ctx }).ctx;

/** Subjects of a stream matching a filter (stream info with subjects_filter). */
async function subjects(nc: NatsConnection, stream: string, filter: string): Promise<string[]> {
  const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, enc(JSON.stringify({ subjects_filter: filter })), {
    timeout: 5000,
  });
  const r = JSON.parse(dec(m.data)) as { state?: { subjects?: Record<string, number> } };
  return Object.keys(r.state?.subjects ?? {}).sort();
}

/**
 * What a call reads from the server: every message (stream reads: each message delivered; direct
 * gets), and every id in the payload of a batch marker it reads (a marker of 1,000 ids counts 1,000).
 */
const countAll = () =>
  countReads(
    (subject, data) => 1 + (/\.q\.|-b\./.test(subject) && data.length > 0 ? (JSON.parse(dec(data)) as string[]).length : 0),
  );

/** What a reader two minutes from now compacts: every queued listing walked, stale entries dropped. */
async function compactLater(b: Backend, queue?: string): Promise<void> {
  const ctx = ctxOf(b);
  const taken = await (await MarkerWalk.open(ctx, ['queued'], queue)).take(100_000);
  const recs = await ctx.store.getMany(taken.map(([id]) => id));
  const byId = new Map(taken.map(([id], k) => [id, recs[k]?.rec ?? null]));
  await ctx.store.compactBatches(new Map(taken), byId, Date.now() + 120_000);
}

/** Every id of a state filter through pages of `limit` (keyset `after`). */
async function pages(b: Backend, states: ('queued' | 'failed')[] | undefined, limit: number, queue?: string): Promise<string[]> {
  const out: string[] = [];
  for (let after: string | undefined; ;) {
    const r = await b.listJobs({ states, limit, after, queue });
    out.push(...r.jobs.map((j) => j.id));
    if (r.next === null) break;
    after = r.next;
  }
  return out;
}

describe('nats queued index', () => {
  it('a page of queued jobs (or of every state) reads about the page, not the backlog', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const N = 20_000;
    const ids: string[] = [];
    for (let i = 0; i < N; i += 2000)
      ids.push(...(await b.enqueue(Array.from({ length: 2000 }, () => job({ queue: 'backlog' })))).map((x) => x.job.id));
    ids.sort();
    const nc = await rawNc();
    // one marker per enqueue chunk of 1,000, none per job
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toHaveLength(N / 1000);
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toEqual([]);
    await nc.close();
    const c = countAll();
    try {
      const at = (limit: number, after?: string, states?: 'queued'[]) => {
        const before = c.n();
        return b.listJobs({ states, limit, after, queue: 'backlog' }).then((r) => ({ r, read: c.n() - before }));
      };
      for (const [after, states] of [
        [undefined, ['queued']],
        [ids[12_345], ['queued']],
        [ids[12_345], undefined], // every state
        [ids[N - 30], undefined],
      ] as const) {
        const { r, read } = await at(50, after, states as 'queued'[] | undefined);
        const from = after === undefined ? 0 : ids.indexOf(after) + 1;
        expect(r.jobs.map((j) => j.id)).toEqual(ids.slice(from, from + 50));
        expect(r.jobs.every((j) => j.state === 'queued')).toBe(true);
        // the headers of 20 markers, the payloads of one or two (1,000 ids each), two direct gets
        // per record (no record yet: the initial one); every marker (or every payload) is 20,000
        expect(read).toBeLessThan(2500);
      }
    } finally {
      c.restore();
    }
    expect(await pages(b, ['queued'], 1500)).toEqual(ids);
    await b.close();
  });

  it('pages stay exact across batch markers, per-job markers and stale entries; stale entries are compacted', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const a1 = (await b.enqueue(Array.from({ length: 30 }, () => job({ queue: 'a' })))).map((x) => x.job.id);
    const b1 = (await b.enqueue(Array.from({ length: 20 }, () => job({ queue: 'b.x' })))).map((x) => x.job.id);
    const keyed = (await b.enqueue([job({ queue: 'a', uniqueKey: 'k1' })])).map((x) => x.job.id); // a per-job marker
    const a2 = (await b.enqueue(Array.from({ length: 25 }, () => job({ queue: 'a', maxAttempts: 1 })))).map((x) => x.job.id);
    // claimed from the first batch of a: 5 completed, 3 released (per-job markers), 2 retried now
    // (per-job markers), 4 still running
    const got = await b.claim({ workerId: 'w', queues: ['a'], limit: 14, leaseMs: 60_000 });
    expect(got.map((j) => j.id)).toEqual(a1.slice(0, 14));
    const ref = (j: (typeof got)[number]) => ({ id: j.id, attempt: j.attempt, workerId: 'w' });
    await b.complete(got.slice(0, 5).map((j) => ({ ...ref(j), result: null })));
    await b.release(got.slice(5, 8).map((j) => ({ ...ref(j), reason: 'test', notStarted: true })));
    await b.fail(got.slice(8, 10).map((j) => ({ ...ref(j), error: 'x', retryDelayMs: 0 })));
    // cancelled while waiting
    await b.cancel({ ids: [a1[20]!, b1[3]!] });
    // the second batch of a failed for good, then 10 of them requeued by state (a new batch marker)
    const got2: typeof got = [];
    for (let g; (g = await b.claim({ workerId: 'w', queues: ['a'], limit: 100, leaseMs: 60_000 })).length > 0;) got2.push(...g);
    const fails = got2.filter((j) => a2.includes(j.id));
    expect(fails).toHaveLength(25);
    await b.fail(fails.map((j) => ({ ...ref(j), error: 'x', retryDelayMs: 0, final: true })));
    await b.release(got2.filter((j) => !a2.includes(j.id)).map((j) => ({ ...ref(j), reason: 'test', notStarted: true })));
    const rq = await b.requeue({ state: 'failed', queue: 'a', limit: 10 });
    expect(rq.changed).toEqual([...a2].sort().slice(0, 10));

    const running = new Set(got.slice(10, 14).map((j) => j.id));
    const done = new Set([...got.slice(0, 5).map((j) => j.id), a1[20]!, b1[3]!, ...a2]);
    for (const id of rq.changed) done.delete(id);
    const queued = [...a1, ...b1, ...keyed, ...a2].filter((id) => !running.has(id) && !done.has(id)).sort();
    expect((await b.stats({})).queues.reduce((n, q) => n + q.queued, 0)).toBe(queued.length);
    for (const limit of [1, 7, 50, 1000]) expect(await pages(b, ['queued'], limit)).toEqual(queued);
    expect(await pages(b, ['queued'], 4, 'b.x')).toEqual(b1.filter((id) => id !== b1[3]).sort());
    const everything = [...a1, ...b1, ...keyed, ...a2].filter((id) => id !== a1[20] && id !== b1[3]).sort();
    // every state: cancelled jobs too
    expect(await pages(b, undefined, 9)).toEqual([...everything, a1[20]!, b1[3]!].sort());

    // a reader a minute later drops the stale entries (claimed, cancelled, requeued by another
    // batch, failed) from the queued-batch markers: what is left lists only queued jobs
    await compactLater(b);
    const nc = await rawNc();
    const listed: string[] = [];
    for (const s of await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)) {
      const m = await nc.request(`$JS.API.DIRECT.GET.JC_${ns}_QUE`, enc(JSON.stringify({ last_by_subj: s })), { timeout: 5000 });
      const inMarker = JSON.parse(dec(m.data)) as string[];
      expect(m.headers!.get('Jc-N')).toBe(String(inMarker.length));
      expect(m.headers!.get('Jc-Min')).toBe([...inMarker].sort()[0]);
      listed.push(...inMarker);
    }
    await nc.close();
    // each queued job listed once by a batch (released and retried ones also by their per-job
    // markers), except the one with a unique key (a per-job marker only)
    expect(listed.sort()).toEqual(queued.filter((id) => id !== keyed[0]));
    expect(await pages(b, ['queued'], 6)).toEqual(queued);
    await b.close();
  });

  it('a namespace of format 5 is migrated to 6, also when a first migration was cut short', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const qa = (await b.enqueue(Array.from({ length: 2500 }, () => job({ queue: 'a' })))).map((x) => x.job.id).sort();
    const qb = (await b.enqueue(Array.from({ length: 40 }, () => job({ queue: 'b' })))).map((x) => x.job.id).sort();
    await b.close();
    // what a format-5 jobctl left: one queued marker per job in the waiting index, records
    // without a queued batch (`qb`), no JC_<ns>_QUE
    const nc = await rawNc();
    const asFormat5 = async () => {
      await Promise.all(
        [...qa.map((id) => ['a', id]), ...qb.map((id) => ['b', id])].map(async ([q, id]) => {
          const r = await nc.request(`jc.${ns}.x.queued.${q}.${id}`, enc(''), { timeout: 5000 });
          expect(dec(r.data)).toContain('"seq"');
        }),
      );
      await nc.request(`$KV.jc_${ns}_jobs.meta.version`, enc(JSON.stringify({ version: 5 })), { timeout: 5000 });
    };
    await Promise.all(
      [...qa, ...qb].map(async (id) => {
        const key = `$KV.jc_${ns}_jobs.n.${id}`;
        const m = await nc.request(`$JS.API.DIRECT.GET.KV_jc_${ns}_jobs`, enc(JSON.stringify({ last_by_subj: key })), {
          timeout: 5000,
        });
        const o = JSON.parse(dec(m.data)) as Record<string, unknown>;
        expect(o.qb).toBeTypeOf('string');
        delete o.qb;
        await nc.request(key, enc(JSON.stringify(o)), { timeout: 5000 });
      }),
    );
    await nc.request(`$JS.API.STREAM.DELETE.JC_${ns}_QUE`, enc(''), { timeout: 5000 });
    await asFormat5();

    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.stats({}).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/format version 5; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 5, to: 8 });
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toEqual([]);
    const folded = await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`);
    expect(folded).toHaveLength(3 + 1); // a: 1,000 + 1,000 + 500, b: 40
    // cut short: the per-job markers were copied but not purged; run again: the same batches
    await asFormat5();
    expect(await m.migrate()).toEqual({ from: 5, to: 8 });
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toEqual(folded);
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toEqual([]);
    expect(await pages(m, ['queued'], 300)).toEqual([...qa, ...qb].sort());
    expect(await pages(m, ['queued'], 7, 'b')).toEqual(qb);
    const c = countAll();
    try {
      const r = await m.listJobs({ states: ['queued'], limit: 20, after: qa[1700], queue: 'a' });
      expect(r.jobs.map((j) => j.id)).toEqual(qa.slice(1701, 1721));
      expect(c.n()).toBeLessThan(1100); // 4 headers, one payload of 1,000 ids, 20 records
    } finally {
      c.restore();
    }
    // the migrated records still work: claimed, completed, no longer listed after compaction
    const got = await m.claim({ workerId: 'w', queues: ['b'], limit: 40, leaseMs: 60_000 });
    expect(got.map((j) => j.id)).toEqual(qb);
    await m.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: null })));
    expect(await pages(m, ['queued'], 1000, 'b')).toEqual([]);
    await compactLater(m, 'b');
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.*.b.*`)).toEqual([]);
    await nc.close();
    await m.close();
  });

  it('a walk folds many small queued listings (per-job markers, small batches) into batches of up to 1,000', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const keyed: string[] = [];
    for (let i = 0; i < 200; i++) keyed.push((await b.enqueue([job({ queue: 'u', uniqueKey: `k${i}` })]))[0]!.job.id);
    const single: string[] = [];
    for (let i = 0; i < 80; i++) single.push((await b.enqueue([job({ queue: i % 2 ? 'u' : 'v' })]))[0]!.job.id);
    const big = (await b.enqueue(Array.from({ length: 500 }, () => job({ queue: 'u' })))).map((x) => x.job.id);
    const all = [...keyed, ...single, ...big].sort();
    const nc = await rawNc();
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toHaveLength(200);
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toHaveLength(81);
    const ctx = ctxOf(b);
    // a walk now: the markers are younger than a minute, nothing is folded
    await MarkerWalk.open(ctx, ['queued'], undefined);
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toHaveLength(81);
    // a walk two minutes later folds them: 200 + 80 small listings (≥ 256) → one marker per queue
    const walk = await MarkerWalk.open(ctx, ['queued'], undefined, undefined, Date.now() + 120_000);
    expect((await walk.take(10_000)).map(([id]) => id)).toEqual(all);
    expect(await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.>`)).toEqual([]);
    const que = await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`);
    expect(que.map((s) => s.split('.')[4]).sort()).toEqual(['u', 'u', 'v']); // the 500-job batch stays
    for (const limit of [1, 33, 1000]) expect(await pages(b, ['queued'], limit)).toEqual(all);
    const c = countAll();
    try {
      const r = await b.listJobs({ states: ['queued'], limit: 10, after: all[400] });
      expect(r.jobs.map((j) => j.id)).toEqual(all.slice(401, 411));
      expect(c.n()).toBeLessThan(1100); // 3 headers, one or two payloads, 10 records (not 280 markers)
    } finally {
      c.restore();
    }
    // the folded jobs still leave the index when claimed (entries judged by state: their records
    // name their old batches, or none)
    const got: string[] = [];
    for (let g; (g = await b.claim({ workerId: 'w', queues: ['u', 'v'], limit: 500, leaseMs: 60_000 })).length > 0;) {
      await b.complete(g.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: null })));
      got.push(...g.map((j) => j.id));
    }
    expect(got.sort()).toEqual(all);
    expect(await pages(b, ['queued'], 100)).toEqual([]);
    await compactLater(b);
    expect(await subjects(nc, `JC_${ns}_QUE`, `jc.${ns}.q.>`)).toEqual([]);
    await nc.close();
    await b.close();
  });
});
