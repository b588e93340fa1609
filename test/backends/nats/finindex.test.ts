/**
 * The finished index (format 4, src/backends/nats/finindex.ts): a keyset page or an operator
 * batch of a finished state reads the headers of the state's batch markers and the payloads of
 * only the markers its ids can come from; pages stay exact across markers with and without the
 * id-range headers, per-job markers and stale entries; older namespaces are migrated.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Backend } from '../../../src/core/backend.js';
import { open } from '../../../src/backends/nats/index.js';
import type { Store } from '../../../src/backends/nats/store.js';
import { decodeRec, encodeRec, fromOutcome } from '../../../src/backends/nats/record.js';
import { NATS_URL, cleanupNamespaces, countReads, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (over: Record<string, unknown> = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...over });
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Fail `n` jobs of queue `q` in outcome calls of `per` jobs (one finished-batch marker each); ids in enqueue order. */
async function failInBatches(b: Backend, q: string, n: number, per: number): Promise<string[]> {
  const ids = (await b.enqueue(Array.from({ length: n }, () => job({ queue: q, maxAttempts: 1 })))).map((x) => x.job.id);
  for (let left = n; left > 0;) {
    const got = await b.claim({ workerId: 'w', queues: [q], limit: Math.min(per, left), leaseMs: 60_000 });
    expect(got.length).toBeGreaterThan(0);
    const res = await b.fail(
      got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0, final: true })),
    );
    expect(res.every((r) => r.ok)).toBe(true);
    left -= got.length;
  }
  return ids;
}

/** Every id of a state through pages of `limit` (keyset `after`). */
async function pages(b: Backend, state: 'failed' | 'completed' | 'cancelled', limit: number, queue?: string): Promise<string[]> {
  const out: string[] = [];
  for (let after: string | undefined; ;) {
    const r = await b.listJobs({ states: [state], limit, after, queue });
    expect(r.jobs.every((j) => j.state === state)).toBe(true);
    out.push(...r.jobs.map((j) => j.id));
    if (r.next === null) break;
    after = r.next;
  }
  return out;
}

/**
 * Counts the finished-batch payloads a call reads (direct gets of a batch marker, or batch
 * markers delivered with their payload by a stream read), whatever the index they live in.
 */
function countBatchPayloads(): { n: () => number; restore: () => void } {
  const isBatch = (subject: string) => /\.(completed|failed|cancelled)-b\./.test(subject);
  return countReads((subject, data) => (isBatch(subject) && data.length > 0 ? 1 : 0));
}

async function raw(): Promise<{
  nc: NatsConnection;
  pub: (subject: string, data: string, h?: Record<string, string>) => Promise<void>;
}> {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  const { headers } = await import('@nats-io/transport-node');
  const pub = async (subject: string, data: string, h?: Record<string, string>) => {
    let hdrs;
    if (h) {
      hdrs = headers();
      for (const [k, v] of Object.entries(h)) hdrs.set(k, v);
    }
    const m = await nc.request(subject, enc(data), { headers: hdrs, timeout: 5000 });
    expect(dec(m.data)).toContain('"seq"');
  };
  return { nc, pub };
}

/**
 * The namespace's outcome batches as format 6 wrote them: each finished job's record of its own
 * (`<id>`), batch markers of ids under six-token subjects (`f.<state>-b.<q>.<batch>`); format 7
 * keeps the records of light claims in the batches (docs/architecture.md).
 */
async function asFormat6(ns: string): Promise<void> {
  const { nc, pub } = await raw();
  for (const s of await subjects(nc, `JC_${ns}_FIN`, `jc.${ns}.f.*.*.*.*`)) {
    const m = await nc.request(`$JS.API.DIRECT.GET.JC_${ns}_FIN`, enc(JSON.stringify({ last_by_subj: s })));
    const t = s.split('.');
    const batch = t[6]!;
    const recs = JSON.parse(dec(m.data)) as (string | Record<string, unknown>)[];
    const kv = (key: string) =>
      nc.request(`$JS.API.DIRECT.GET.KV_jc_${ns}_jobs`, enc(JSON.stringify({ last_by_subj: `$KV.jc_${ns}_jobs.${key}` })));
    for (const r of recs) {
      // claimed through its record: `<id>` is there, named after the batch; a light claim's
      // outcome is read over its initial record
      const rec =
        typeof r === 'string'
          ? { ...decodeRec((await kv(r)).data), fb: batch }
          : fromOutcome({ o: r, fb: batch }, decodeRec((await kv(`n.${String(r.i)}`)).data));
      await pub(`$KV.jc_${ns}_jobs.${rec.id}`, dec(encodeRec(rec)));
    }
    const ids = recs.map((r) => (typeof r === 'string' ? r : String(r.i))).sort();
    await pub(t.slice(0, 5).concat(batch).join('.'), JSON.stringify(ids), {
      'Jc-N': String(ids.length),
      'Jc-Min': ids[0]!,
      'Jc-Max': ids[ids.length - 1]!,
    });
    await nc.request(`$JS.API.STREAM.PURGE.JC_${ns}_FIN`, enc(JSON.stringify({ filter: s })));
  }
  await nc.close();
}

/** Stream messages whose subject matches a filter (stream info with subjects_filter). */
async function subjects(nc: NatsConnection, stream: string, filter: string): Promise<string[]> {
  const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, enc(JSON.stringify({ subjects_filter: filter })), {
    timeout: 5000,
  });
  return Object.keys((JSON.parse(dec(m.data)) as { state: { subjects?: Record<string, number> } }).state.subjects ?? {});
}

describe('nats finished index', () => {
  it('a page of a finished state reads only the batch markers its ids can come from', async () => {
    const b = await openFresh();
    // 300 outcome calls of 2 jobs: 300 batch markers
    const ids = await failInBatches(b, 'poison', 600, 2);
    const c = countBatchPayloads();
    try {
      const first = await b.listJobs({ states: ['failed'], limit: 50 });
      expect(first.jobs.map((j) => j.id)).toEqual([...ids].sort().slice(0, 50));
      // 25 markers hold the first 50 ids, the 26th's smallest id is after them (it read all 300)
      expect(c.n()).toBeLessThanOrEqual(26);
      const before = c.n();
      const mid = await b.listJobs({ states: ['failed'], limit: 10, after: [...ids].sort()[399] });
      expect(mid.jobs.map((j) => j.id)).toEqual([...ids].sort().slice(400, 410));
      expect(c.n() - before).toBeLessThanOrEqual(6);
      // an operator batch by state reads as little
      const before2 = c.n();
      const r = await b.requeue({ state: 'failed', queue: 'poison', limit: 10 });
      expect(r.changed).toEqual([...ids].sort().slice(0, 10));
      expect(c.n() - before2).toBeLessThanOrEqual(6 + 5); // read + the rewrite of the 5 markers
    } finally {
      c.restore();
    }
    expect((await b.stats({ queue: 'poison' })).queues[0]).toMatchObject({ failed: 590, queued: 10 });
    expect(await pages(b, 'failed', 37)).toEqual([...ids].sort().slice(10));
    await b.close();
  });

  it('pages stay exact across markers with and without the id-range headers, per-job markers and stale entries', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const a = await failInBatches(b, 'a', 40, 7); // batch markers with headers
    const q2 = await failInBatches(b, 'b.x', 30, 30); // one marker, rewritten below without headers
    const moved = await failInBatches(b, 'a', 12, 12); // listed by per-job markers instead
    await asFormat6(ns); // (records of their own: the per-job markers below need them)
    const { nc, pub } = await raw();
    // a marker as jobctl before format 4 wrote it: ids unsorted, no Jc-Min/Jc-Max
    const [sub2] = await subjects(nc, `JC_${ns}_FIN`, `jc.${ns}.f.failed-b.b_2Ex.*`);
    // a stale entry: a job that left the failed state (requeued) still listed
    const gone = a[3]!;
    await b.requeue({ ids: [gone] });
    await pub(sub2!, JSON.stringify([...q2].reverse().concat(gone)), { 'Jc-N': String(q2.length + 1) });
    // per-job markers (operator paths, a repaired index) for the last batch, its batch marker gone;
    // one job listed twice (per-job marker and a batch marker)
    let purged = 0;
    for (const s of await subjects(nc, `JC_${ns}_FIN`, `jc.${ns}.f.failed-b.a.*`)) {
      const m = await nc.request(`$JS.API.DIRECT.GET.JC_${ns}_FIN`, enc(JSON.stringify({ last_by_subj: s })));
      if (!dec(m.data).includes(moved[0]!)) continue;
      await nc.request(`$JS.API.STREAM.PURGE.JC_${ns}_FIN`, enc(JSON.stringify({ filter: s })));
      purged++;
    }
    expect(purged).toBe(1);
    for (const id of moved) await pub(`jc.${ns}.f.failed.a.${id}`, '');
    await pub(`jc.${ns}.f.failed.a.${a[5]!}`, '');
    // a stale per-job marker: a queued job
    const [waiting] = await b.enqueue([job({ queue: 'a' })]);
    await pub(`jc.${ns}.f.failed.a.${waiting!.job.id}`, '');
    await nc.close();

    const want = [...a.filter((id) => id !== gone), ...q2, ...moved].sort();
    for (const limit of [1, 5, 13, 100]) expect(await pages(b, 'failed', limit)).toEqual(want);
    expect(await pages(b, 'failed', 4, 'b.x')).toEqual([...q2].sort());
    expect(await pages(b, 'failed', 6, 'a')).toEqual([...a.filter((id) => id !== gone), ...moved].sort());
    // requeue by state, in small batches, takes every failed job exactly once
    const changed: string[] = [];
    for (let r; (r = await b.requeue({ state: 'failed', limit: 9 })).changed.length > 0;) changed.push(...r.changed);
    expect(changed.sort()).toEqual(want);
    expect(await pages(b, 'failed', 10)).toEqual([]);
    await b.close();
  });

  it('a page past many stale markers reads records in growing rounds, not one page size at a time', async () => {
    const b = await openFresh();
    // 300 jobs completed: their queued markers are superseded (kept: younger than a minute)
    await b.enqueue(Array.from({ length: 300 }, () => job()));
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 300, leaseMs: 60_000 });
    expect(got).toHaveLength(300);
    await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: null })));
    const fresh = (await b.enqueue(Array.from({ length: 5 }, () => job()))).map((x) => x.job.id);
    const store = (b as unknown as { ctx: { store: Store } }).ctx.store;
    const getMany = store.getMany.bind(store);
    let rounds = 0;
    store.getMany = async (...a) => {
      rounds++;
      return getMany(...a);
    };
    expect((await b.listJobs({ states: ['queued'], limit: 5 })).jobs.map((j) => j.id)).toEqual(fresh);
    store.getMany = getMany;
    // 5, 10, 20, … ids per round: 7 rounds for 305 markers (61 at 5 a round)
    expect(rounds).toBeLessThanOrEqual(7);
    await b.close();
  });

  it('a namespace of format 3 is migrated to 4: its finished markers move to the finished index and read the same', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const failed = await failInBatches(b, 'default', 25, 10);
    const [c1, c2] = await b.enqueue([job(), job()]);
    await b.cancel({ ids: [c1!.job.id, c2!.job.id] });
    await b.close();
    await asFormat6(ns); // format 3 kept every finished job's record of its own
    // what a format-3 jobctl left: the same markers in the waiting index, batch markers without the headers
    const { nc, pub } = await raw();
    const finSubjects = await subjects(nc, `JC_${ns}_FIN`, `jc.${ns}.f.>`);
    expect(finSubjects.length).toBe(5); // 3 batch markers, 2 per-job cancelled markers
    for (const s of finSubjects) {
      const m = await nc.request(`$JS.API.DIRECT.GET.JC_${ns}_FIN`, enc(JSON.stringify({ last_by_subj: s })));
      const ids = dec(m.data);
      const x = s.replace(`jc.${ns}.f.`, `jc.${ns}.x.`);
      if (s.includes('-b.'))
        await pub(x, JSON.stringify((JSON.parse(ids) as string[]).reverse()), { 'Jc-N': m.headers!.get('Jc-N') });
      else await pub(x, '');
    }
    await nc.request(`$JS.API.STREAM.DELETE.JC_${ns}_FIN`, enc(''));
    await pub(`$KV.jc_${ns}_jobs.meta.version`, JSON.stringify({ version: 3 }));

    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.stats({}).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/format version 3; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 3, to: 8 });
    expect(
      await subjects(nc, `JC_${ns}_IDX`, `jc.${ns}.x.*.*.*`).then((s) => s.filter((x) => /\.x\.(failed|cancelled)/.test(x))),
    ).toEqual([]);
    const s = (await m.stats({})).queues[0]!;
    expect(s).toMatchObject({ failed: 25, cancelled: 2 });
    expect(await pages(m, 'failed', 4)).toEqual([...failed].sort());
    expect(await pages(m, 'cancelled', 1)).toEqual([c1!.job.id, c2!.job.id].sort());
    // the moved batch markers carry the headers: a page reads one of them
    const c = countBatchPayloads();
    try {
      expect((await m.listJobs({ states: ['failed'], limit: 5 })).jobs.map((j) => j.id)).toEqual([...failed].sort().slice(0, 5));
      expect(c.n()).toBe(1);
    } finally {
      c.restore();
    }
    await nc.close();
    await m.close();
  });

  it('a redelivered finished job is repaired into its outcome batch marker, never counted twice when the batch writer comes later', async () => {
    const b = await openFresh();
    const ids = (await b.enqueue([job({ queue: 'rep' }), job({ queue: 'rep' }), job({ queue: 'rep' })])).map((x) => x.job.id);
    // claimed through their records (a retry first): their outcome writes their records, then the batch
    const first = await b.claim({ workerId: 'w', queues: ['rep'], limit: 3, leaseMs: 60_000 });
    await b.fail(first.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0 })));
    const got = await b.claim({ workerId: 'w', queues: ['rep'], limit: 3, leaseMs: 60_000 });
    expect(got).toHaveLength(3);
    const store = (b as unknown as { ctx: { store: Store } }).ctx.store;
    // the outcome writer records the three jobs, then stalls before its batch marker (a writer
    // whose lease ran out meanwhile: the messages are delivered again elsewhere)
    const writeFinBatch = store.writeOutcomeBatch.bind(store);
    const stalled: Parameters<Store['writeOutcomeBatch']>[] = [];
    store.writeOutcomeBatch = (...a) => {
      stalled.push(a);
      return Promise.resolve(1);
    };
    try {
      const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: null })));
      expect(res.every((r) => r.ok)).toBe(true);
    } finally {
      store.writeOutcomeBatch = writeFinBatch;
    }
    expect(stalled).toHaveLength(1);
    // two of the jobs are met again by claimers, which repair the index
    for (const id of ids.slice(0, 2)) await store.repairFinished((await store.get(id))!.rec);
    expect((await b.stats({ queue: 'rep' })).queues[0]).toMatchObject({ completed: 2 });
    await store.repairFinished((await store.get(ids[0]!))!.rec); // again: nothing changes
    expect((await b.stats({ queue: 'rep' })).queues[0]).toMatchObject({ completed: 2 });
    // the stalled writer goes on: its marker lists all three, once each
    await writeFinBatch(...stalled[0]!);
    expect((await b.stats({ queue: 'rep' })).queues[0]).toMatchObject({ completed: 3 });
    expect(await pages(b, 'completed', 10, 'rep')).toEqual([...ids].sort());
    await b.close();
  });
});

describe('nats: a listing leaves the index it read compacted', () => {
  it('stale batch entries a listing met are gone once its handle closed (stats count the jobs once)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((x) => x.job.id);
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 60_000 });
    expect((await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })))).map((r) => r.ok)).toEqual([
      true,
    ]);
    // a second batch listing the job: what an outcome stored by a holder killed before it was
    // refused leaves behind (its record names the other batch)
    const store = (b as unknown as { ctx: { store: Store } }).ctx.store;
    await store.writeFinBatch('completed', 'default', '01STALESTALESTALESTALESTAL', [id!]);
    expect((await b.stats({})).queues.map((q) => q.completed)).toEqual([2]);
    await b.close();
    const lister = await openFresh(ns);
    expect((await lister.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual([id]);
    await lister.close(); // at once, as a CLI command that printed its page exits
    const after = await openFresh(ns);
    expect((await after.stats({})).queues.map((q) => q.completed)).toEqual([1]);
    await after.close();
  });
});
