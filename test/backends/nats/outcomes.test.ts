/**
 * NATS storage format 7 (docs/architecture.md, "Format 7"): a light claim's outcome has no record
 * of its own. It is stored in its outcome batch (a finished-batch marker named by the jobs' id
 * bucket, carrying their records) and committed through the claim's running marker (`d`); anyone
 * else who changes such a job first marks it taken there (`t`), which fences the holder.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type { Backend } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Ctx } from '../../../src/backends/nats/context.js';
import { idBucket } from '../../../src/backends/nats/names.js';
import { decodeRec, encodeRec, encodeRecText, fromOutcome, outcomeEntry } from '../../../src/backends/nats/record.js';
import { open } from '../../../src/backends/nats/index.js';
import { NATS_URL, cleanupNamespaces, consumerState, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (o: { maxAttempts?: number } = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...o });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ctxOf = (b: Backend): Ctx => (b as unknown as { ctx: Ctx }).ctx;
const worker = (name: string) => ({ name, host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' });
const text = (d: Uint8Array) => new TextDecoder().decode(d);

/** The messages of one stream of a namespace (subject, payload), oldest first. */
async function streamMessages(ns: string, stream: string): Promise<{ subject: string; data: string }[]> {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(`JC_${ns}_${stream}`);
  const out: { subject: string; data: string }[] = [];
  for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(`JC_${ns}_${stream}`, { seq }).catch(() => null);
    if (m) out.push({ subject: m.subject, data: text(m.data) });
  }
  await nc.close();
  return out;
}

async function recordsOf(ns: string) {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  const kv = await new Kvm(nc).open(`jc_${ns}_jobs`);
  return {
    has: async (id: string) => (await kv.get(id))?.operation === 'PUT',
    close: () => nc.close(),
  };
}

describe('nats format 7: outcomes in their outcome batch', () => {
  it("a light claim's outcome is stored in its outcome batch and committed in its running marker, with no record of its own; every reader finds it", async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    const ids = (await b.enqueue([job(), job(), job()])).map((r) => r.job.id).sort();
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 30_000 });
    const publish = vi.spyOn(ctxOf(b).w, 'publish');
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: { n: j.id } })));
    expect(res.map((r) => r.ok)).toEqual([true, true, true]);
    // one outcome batch and one compare-and-set of the running marker; no record written
    const subjects = publish.mock.calls.map(([s]) => String(s));
    publish.mockRestore();
    expect(subjects.filter((s) => s.includes('_jobs.'))).toEqual([]);
    expect(subjects.filter((s) => s.startsWith(`jc.${ns}.f.`))).toEqual([
      expect.stringMatching(new RegExp(`^jc\\.${ns}\\.f\\.completed-b\\.default\\.${idBucket(ids[0]!)}\\.[0-9A-Z]{26}$`)),
    ]);
    expect(subjects.filter((s) => s.startsWith(`jc.${ns}.a.rb.`)).length).toBe(1);
    const kv = await recordsOf(ns);
    expect(await Promise.all(ids.map(kv.has))).toEqual([false, false, false]);
    await kv.close();
    // the batch carries the records
    const fin = await streamMessages(ns, 'FIN');
    expect(fin.length).toBe(1);
    expect((JSON.parse(fin[0]!.data) as { i: string; s: string }[]).map((e) => [e.i, e.s])).toEqual(
      ids.map((id) => [id, 'completed']),
    );
    // every reader
    for (const id of ids) expect(await op.getJob(id)).toMatchObject({ id, state: 'completed', attempts: 1, result: { n: id } });
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual(ids);
    expect((await op.listJobs({ states: ['running', 'queued'], limit: 10 })).jobs).toEqual([]);
    expect((await op.stats({})).queues.map((q) => [q.queued, q.running, q.completed])).toEqual([[0, 0, 3]]);
    // acked, and the claim's running marker deleted once all of its jobs finished
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await sleep(50);
    expect((await streamMessages(ns, 'ACT')).filter((m) => m.subject.includes('.rb.'))).toEqual([]);
    // a redelivery of a finished job's message is acked and skipped (idempotency): a requeue then runs it again
    expect((await op.requeue({ ids: [ids[0]!] })).changed).toEqual([ids[0]]);
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 30_000 });
    expect(again.map((j) => [j.id, j.attempt])).toEqual([[ids[0], 2]]);
    await b.complete(again.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect(await op.getJob(ids[0]!)).toMatchObject({ state: 'completed', attempts: 2 });
    expect((await op.stats({})).queues.map((q) => q.completed)).toEqual([3]);
    // purge: the records leave with their batch
    expect((await op.purge({ states: ['completed'], olderThanMs: 0, limit: 100 })).deleted).toBe(3);
    expect(await op.getJob(ids[1]!)).toBeNull();
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs).toEqual([]);
    expect(await streamMessages(ns, 'FIN')).toEqual([]);
    await b.close();
    await op.close();
  });

  it('a job another takes first is not committed by its holder: cancel and reset mark it taken, the holder is refused, the taker stands', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    await op.registerWorker(worker('w'));
    const ids = (await b.enqueue([job(), job(), job()])).map((r) => r.job.id).sort();
    const [a, c, d] = ids as [string, string, string];
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 30_000 });
    expect((await op.cancel({ ids: [a] })).changed).toEqual([a]);
    expect((await op.reset({ ids: [c], force: true })).changed).toEqual([c]);
    const rb = (await streamMessages(ns, 'ACT')).filter((m) => m.subject.includes('.rb.'));
    expect(rb.length).toBe(1);
    expect((JSON.parse(rb[0]!.data) as { t?: string[] }).t?.sort()).toEqual([a, c]);
    // readers: a and c by their records, d still running by its entry
    expect((await op.getJob(a))!.state).toBe('cancelled');
    expect((await op.getJob(c))!.state).toBe('queued');
    expect((await op.getJob(d))!.state).toBe('running');
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect(res.map((r) => [r.id, r.ok])).toEqual([
      [a, false],
      [c, false],
      [d, true],
    ]);
    expect((await op.getJob(a))!.state).toBe('cancelled');
    expect((await op.getJob(d))!.state).toBe('completed');
    // the reset job runs again through its record
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 30_000 });
    expect(again.map((j) => [j.id, j.attempt])).toEqual([[c, 2]]);
    await b.complete(again.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect((await op.stats({})).queues.map((q) => [q.running, q.completed, q.cancelled])).toEqual([[0, 2, 1]]);
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await b.close();
    await op.close();
  });

  it('a heartbeat that meets a taken entry reports the job lost (before the taker wrote its record too)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids = (await b.enqueue([job(), job()])).map((r) => r.job.id).sort();
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 30_000 });
    await sleep(20); // the claim's marker is stored
    // another handle marks the entry taken and has not written the record yet
    const ctx = ctxOf(b);
    const subject = `jc.${ns}.a.rb.default.${[...ctx.batchOf.values()][0]!.id}`;
    const cur = (await ctx.w.directGet(`JC_${ns}_ACT`, subject))!;
    const m = JSON.parse(text(cur.data)) as { t?: string[] };
    m.t = [ids[0]!];
    expect(await ctx.w.publish(subject, JSON.stringify(m), { expectSeq: cur.seq })).not.toBeNull();
    // the taker writes the record: the heartbeat's per-job path fails, the claim is lost
    const other = await openFresh(ns);
    expect((await other.cancel({ ids: [ids[0]!] })).changed).toEqual([ids[0]]);
    const ext = await b.extendLeases({
      workerId: 'w',
      leaseMs: 30_000,
      jobs: got.map((j) => ({ id: j.id, attempt: j.attempt })),
    });
    expect(ext.lost).toEqual([ids[0]]);
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect(res.map((r) => [r.id, r.ok])).toEqual([
      [ids[0], false],
      [ids[1], true],
    ]);
    expect((await other.getJob(ids[0]!))!.state).toBe('cancelled');
    expect((await other.getJob(ids[1]!))!.state).toBe('completed');
    await other.close();
    await b.close();
  });

  it('an outcome stored but not committed is not shown; whoever takes the job then adopts it (a holder that died between the two)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    await op.registerWorker({ ...worker('w'), ttlMs: 60_000 });
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 600 });
    expect(got.map((j) => j.id)).toEqual([id]);
    await sleep(20);
    // the holder stores the outcome batch and dies before its commit: write the batch as it would
    const ctx = ctxOf(b);
    const held = ctx.held.get(id!)!.rec;
    const done = {
      ...held,
      state: 'completed' as const,
      finishedAt: Date.now(),
      result: 'kept',
      leaseExpiresAt: null,
      ackSubj: null,
      msgSeq: null,
      mk: 'completed' as const,
      fb: `${idBucket(id!)}.${'0'.repeat(26)}`,
      head: undefined,
    };
    await ctx.store.writeOutcomeBatch('completed', 'default', done.fb, [outcomeEntry(done, true)]);
    await b.close(); // (its in-progress acks stop)
    expect((await op.getJob(id!))!.state).toBe('running');
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs).toEqual([]);
    // its lease runs out: the rescue takes the job, finds the stored outcome and writes it as the record
    await sleep(700);
    expect(await op.rescue({ limit: 10 })).toEqual({ requeued: [], failed: [] });
    expect(await op.getJob(id!)).toMatchObject({ state: 'completed', result: 'kept' });
    const kv = await recordsOf(ns);
    expect(await kv.has(id!)).toBe(true);
    await kv.close();
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual([id]);
    // the message comes back after AckWait: acked and skipped
    await sleep(800);
    expect(await op.claim({ workerId: 'x', queues: ['default'], limit: 5, leaseMs: 5000 })).toEqual([]);
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0);
    await op.close();
  });

  it('a holder whose stored outcome a taker wrote as the record (its commit came second) has it confirmed; the job stays listed and counted', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    await sleep(20); // the claim's marker is stored
    // right after the holder stored its outcome batch, before its commit: another handle takes
    // the job (a cancel here; a rescue or a redelivery's claim when the holder looks dead or
    // late), finds that outcome and writes it as the record
    const store = ctxOf(b).store;
    const write = store.writeOutcomeBatch.bind(store);
    let took: unknown = null;
    store.writeOutcomeBatch = async (...args: Parameters<typeof write>) => {
      const seq = await write(...args);
      took = await op.cancel({ ids: [id!] });
      return seq;
    };
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: 'mine' })));
    // (the cancel changed nothing: the job it met was finished by then)
    expect((took as { changed: string[] }).changed).toEqual([]);
    const kv = await recordsOf(ns);
    expect(await kv.has(id!)).toBe(true); // the taker wrote the stored outcome as `<id>`
    await kv.close();
    expect(res.map((r) => [r.id, r.ok])).toEqual([[id, true]]);
    expect(await op.getJob(id!)).toMatchObject({ state: 'completed', result: 'mine' });
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual([id]);
    expect((await op.stats({})).queues.map((q) => [q.running, q.completed, q.cancelled])).toEqual([[0, 1, 0]]);
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0); // acked
    await b.close();
    await op.close();
  });

  it('an outcome batch whose write failed (a timeout under load) is written again, merged with what a repair wrote meanwhile: the jobs are counted and acked', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    // two jobs: one claimed light, one through its record (a redelivery after a nak)
    const ids = (await b.enqueue([job(), job()])).map((r) => r.job.id).sort();
    const first = await b.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 30_000 });
    const released = await b.release([
      { id: ids[1]!, attempt: first.find((j) => j.id === ids[1])!.attempt, workerId: 'w', reason: 'test' },
    ]);
    expect(released[0]!.ok).toBe(true);
    await sleep(50);
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 30_000 });
    expect(again.map((j) => j.id)).toEqual([ids[1]]);
    const w = ctxOf(b).w;
    const publish = w.publish.bind(w);
    let failed = 0;
    w.publish = ((subject: string, ...rest: unknown[]) => {
      if (subject.includes('.f.completed-b.') && failed === 0) {
        failed++;
        // meanwhile a claimer met the record-claimed job redelivered and created the batch with
        // that job alone (repairFinished), then the write's answer timed out
        return (publish as (...a: unknown[]) => Promise<number | null>)(subject, JSON.stringify([ids[1]])).then(() =>
          Promise.reject(new Error('NATS request timed out (injected)')),
        );
      }
      return (publish as (...a: unknown[]) => Promise<number | null>)(subject, ...rest);
    }) as typeof w.publish;
    const res = await b.complete([
      { id: ids[0]!, attempt: first.find((j) => j.id === ids[0])!.attempt, workerId: 'w' },
      { id: ids[1]!, attempt: again[0]!.attempt, workerId: 'w' },
    ]);
    expect(failed).toBe(1);
    expect(res.map((r) => r.ok)).toEqual([true, true]);
    expect((await op.stats({})).queues.map((q) => q.completed)).toEqual([2]);
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual(ids);
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0); // acked
    await b.close();
    await op.close();
  });

  it('a record written around jobctl before the first delivery (damaged, or a queued record edited by hand) is superseded by the outcome the claim commits', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    const [bad, edited, good] = (await b.enqueue([job(), job(), job()])).map((r) => r.job.id) as [string, string, string];
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const kv = await new Kvm(nc).open(`jc_${ns}_jobs`);
    await kv.put(bad, `{"v":1,"id":"${bad}", broken`);
    const initial = JSON.parse(text((await kv.get(`n.${edited}`))!.value)) as Record<string, unknown>;
    await kv.put(edited, JSON.stringify({ ...initial, p: '{"hand":1}' }));
    // while the messages are there, readers show those records (and look at no batch)
    const heads = vi.spyOn(ctxOf(op).store, 'outcomeHeads');
    expect(await op.getJob(bad)).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/damaged/) });
    expect(await op.getJob(edited)).toMatchObject({ state: 'queued', payload: { hand: 1 } });
    expect(heads).not.toHaveBeenCalled();
    // the delivery is the claim: all three run from their messages' copies, and nothing is read before
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    expect(got.map((j) => [j.id, j.payload])).toEqual([bad, edited, good].sort().map((id) => [id, { a: 1 }]));
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: j.id })));
    expect(res.map((r) => r.ok)).toEqual([true, true, true]);
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    // the records still stand as written, but their messages are gone: the committed outcome of
    // that very message is what every reader shows
    expect((await kv.get(edited))!.value.length).toBeGreaterThan(0);
    for (const id of [bad, edited, good])
      expect(await op.getJob(id)).toMatchObject({ id, state: 'completed', attempts: 1, result: id, payload: { a: 1 } });
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual([bad, edited, good].sort());
    expect((await op.listJobs({ states: ['queued', 'failed', 'running'], limit: 10 })).jobs).toEqual([]);
    expect((await op.stats({})).queues.map((q) => [q.queued, q.running, q.completed, q.failed])).toEqual([[0, 0, 3, 0]]);
    // a change writes over the record: requeued, run again through the record, completed
    expect((await op.requeue({ ids: [edited, bad] })).changed.sort()).toEqual([bad, edited].sort());
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    expect(again.map((j) => [j.attempt, j.payload])).toEqual([
      [2, { a: 1 }],
      [2, { a: 1 }],
    ]);
    await b.complete(again.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    for (const id of [bad, edited]) {
      expect(await op.getJob(id)).toMatchObject({ state: 'completed', attempts: 2 });
      expect(decodeRec((await kv.get(id))!.value)).toMatchObject({ state: 'completed', attempts: 2 });
    }
    heads.mockRestore();
    await nc.close();
    await b.close();
    await op.close();
  });

  it('a record written around jobctl is not superseded by an outcome that is stored and not committed, nor while its message is there', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id) as [string];
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    expect(got.map((j) => j.id)).toEqual([id]);
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const kv = await new Kvm(nc).open(`jc_${ns}_jobs`);
    const initial = JSON.parse(text((await kv.get(`n.${id}`))!.value)) as Record<string, unknown>;
    await kv.put(id, JSON.stringify({ ...initial, p: '{"hand":1}' }));
    // the holder stores its outcome batch (and has not committed it)
    const ctx = ctxOf(b);
    const held = ctx.held.get(id)!.rec;
    const done = { ...held, state: 'completed' as const, finishedAt: Date.now(), result: 'stored', leaseExpiresAt: null };
    const fb = `${idBucket(id)}.${'0'.repeat(26)}`;
    await ctx.store.writeOutcomeBatch('completed', 'default', fb, [outcomeEntry({ ...done, ackSubj: null, msgSeq: null }, true)]);
    // its message is still there: the record stands
    expect(await op.getJob(id)).toMatchObject({ state: 'queued', payload: { hand: 1 } });
    // the message gone (acked around jobctl), the entry still running: not committed, the record stands
    nc.publish(held.ackSubj!, '+ACK');
    await nc.flush();
    for (let i = 0; i < 20 && (await consumerState(ns, 'default')).streamMessages > 0; i++) await sleep(20);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0);
    expect(await op.getJob(id)).toMatchObject({ state: 'queued', payload: { hand: 1 } });
    await nc.close();
    await b.close();
    await op.close();
  });

  it('an outcome call with big results splits its outcome batches under max_payload (results of 3-byte characters too)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids = (await b.enqueue(Array.from({ length: 8 }, () => job()))).map((r) => r.job.id).sort();
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 8, leaseMs: 30_000 });
    expect(got).toHaveLength(8);
    // 90,000 characters of 3 bytes each: 270 KB per result, 2.1 MB for the call
    const big = (id: string) => `${id}:${'€'.repeat(90_000)}`;
    const res = await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: big(j.id) })));
    expect(res.map((r) => r.ok)).toEqual(Array(8).fill(true));
    const fin = await streamMessages(ns, 'FIN');
    expect(fin.length).toBeGreaterThanOrEqual(3);
    for (const m of fin) expect(Buffer.byteLength(m.data)).toBeLessThan(1024 * 1024);
    for (const id of ids) expect((await b.getJob(id))!.result).toBe(big(id));
    expect((await b.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual(ids);
    await b.close();
  });

  it('messages of light claims already finished (a requeue killed before its records) are acked and skipped without reading their batch again per message', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids = (await b.enqueue(Array.from({ length: 20 }, () => job({ maxAttempts: 1 })))).map((r) => r.job.id);
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 20, leaseMs: 30_000 });
    await b.fail(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0, final: true })));
    expect((await streamMessages(ns, 'FIN')).length).toBe(1);
    // a requeue publishes each job's message, then writes its record: killed in between
    const ctx = ctxOf(b);
    const now = Date.now();
    for (const id of ids) {
      const v = (await ctx.store.get(id))!;
      expect(v.rec.state).toBe('failed');
      const next = {
        ...v.rec,
        state: 'queued' as const,
        finishedAt: null,
        updatedAt: now,
        mk: 'queued' as const,
        head: undefined,
      };
      expect(await ctx.w.publish(ctx.n.workSubject('default', next.priority), encodeRec(next))).not.toBeNull();
    }
    const gets = vi.spyOn(ctx.w, 'directGet');
    expect(await b.claim({ workerId: 'w', queues: ['default'], limit: 50, leaseMs: 30_000 })).toEqual([]);
    // the batch is read once for the claim (its records), not once more per message
    expect(gets.mock.calls.filter(([stream]) => stream === ctx.n.fin).length).toBe(1);
    gets.mockRestore();
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0);
    for (const id of ids) expect((await b.getJob(id))!.state).toBe('failed');
    await b.close();
  });

  it('a lookup by id reads only the outcome batches of its queue and id bucket', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) {
      ids.push(...(await b.enqueue([job(), job()])).map((r) => r.job.id));
      await sleep(70); // the next ids are in another bucket (32.8 ms each)
    }
    expect(new Set(ids.map(idBucket)).size).toBe(3);
    // one claim (first deliveries only: light claims), one outcome call: a batch per bucket
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 6, leaseMs: 30_000 });
    expect(got.length).toBe(6);
    await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect((await streamMessages(ns, 'FIN')).length).toBe(3);
    const op = await openFresh(ns);
    const heads = vi.spyOn(ctxOf(op).store, 'outcomeHeads');
    const reads = vi.spyOn(ctxOf(op).store, 'outcomeRecords');
    expect((await op.getJob(ids[3]!))!.state).toBe('completed');
    // the headers of its bucket's batches, then the one batch whose id range holds it
    expect(heads.mock.calls).toEqual([['default', idBucket(ids[3]!)]]);
    expect(reads.mock.calls.length).toBe(1);
    expect(reads.mock.calls[0]![0]).toMatch(new RegExp(`^jc\\.${ns}\\.f\\.completed-b\\.default\\.${idBucket(ids[3]!)}\\.`));
    // a job whose message is still there (queued) has no outcome: its read looks at no batch
    const [queued] = (await b.enqueue([job()])).map((r) => r.job.id);
    heads.mockClear();
    reads.mockClear();
    expect((await op.getJob(queued!))!.state).toBe('queued');
    expect(heads).not.toHaveBeenCalled();
    expect(reads).not.toHaveBeenCalled();
    heads.mockRestore();
    reads.mockRestore();
    await op.close();
    await b.close();
  });

  it('a namespace of format 6 must be migrated to 7 (a jobctl of 6 refuses 7); its jobs read the same', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    await b.close();
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    nc.publish(`$KV.jc_${ns}_jobs.meta.version`, JSON.stringify({ version: 6 }));
    await nc.flush();
    await nc.close();
    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.getJob(id!).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/format version 6; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 6, to: 8 });
    expect((await m.getJob(id!))!.state).toBe('queued');
    await m.close();
  });

  it('a namespace of format 7 (outcome batches of whole records) must be migrated to 8; its finished jobs read the same', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids = (await b.enqueue([job(), job()])).map((r) => r.job.id).sort();
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 30_000 });
    await b.complete(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', result: { r: j.id } })));
    // format 8 stores what the run changed (v 3), about half of the whole record
    const [batch] = await streamMessages(ns, 'FIN');
    const entries = JSON.parse(batch!.data) as Record<string, unknown>[];
    expect(entries.map((e) => [e.v, e.i, e.q, e.p])).toEqual(ids.map((id) => [3, id, undefined, undefined]));
    // the batch as format 7 wrote it: whole records
    const ctx = ctxOf(b);
    const whole = await Promise.all(
      entries.map(async (e) => {
        const first = (await ctx.store.initial(String(e.i)))!.rec;
        return fromOutcome({ o: e, fb: batch!.subject.split('.').slice(-2).join('.') }, first);
      }),
    );
    await ctx.store.purge(`JC_${ns}_FIN`, batch!.subject);
    const fb = whole[0]!.fb!;
    expect(
      await ctx.store.writeOutcomeBatch(
        'completed',
        'default',
        fb,
        whole.map((r) => ({ id: r.id, text: encodeRecText(r) })),
      ),
    ).not.toBeNull();
    expect(batch!.data.length).toBeLessThan((await streamMessages(ns, 'FIN'))[0]!.data.length * 0.7);
    await b.close();
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    nc.publish(`$KV.jc_${ns}_jobs.meta.version`, JSON.stringify({ version: 7 }));
    await nc.flush();
    await nc.close();
    const m = await open({ url: NATS_URL, namespace: ns });
    expect(String(((await m.getJob(ids[0]!).catch((e: unknown) => e)) as Error).message)).toMatch(
      /format version 7; this jobctl needs 8/,
    );
    expect(await m.migrate()).toEqual({ from: 7, to: 8 });
    for (const id of ids)
      expect(await m.getJob(id)).toMatchObject({ id, state: 'completed', attempts: 1, result: { r: id }, payload: { a: 1 } });
    expect((await m.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual(ids);
    expect((await m.stats({})).queues.map((q) => q.completed)).toEqual([2]);
    expect((await m.purge({ states: ['completed'], olderThanMs: 0, limit: 100 })).deleted).toBe(2);
    expect(await streamMessages(ns, 'FIN')).toEqual([]);
    await m.close();
  });

  it('outcome batches of format 6 (id lists, records of their own) are still read, listed and purged', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((r) => r.job.id);
    // through its record: a retry, then the second claim is a record claim
    const first = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    await b.fail(first.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0, final: false })));
    const second = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    await b.complete(second.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    // its batch as format 6 wrote it: the ids only, six tokens
    const ctx = ctxOf(b);
    const fin = await streamMessages(ns, 'FIN');
    expect(fin.length).toBe(1);
    await ctx.store.purge(`JC_${ns}_FIN`, fin[0]!.subject);
    // (a job claimed through its record is listed by its id: its `<id>` holds the outcome)
    expect(JSON.parse(fin[0]!.data)).toEqual([id]);
    const old = `${'1'.repeat(10)}${'A'.repeat(16)}`;
    await ctx.store.writeFinBatch('completed', 'default', old, [id!]);
    const kv = await recordsOf(ns);
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const bucket = await new Kvm(nc).open(`jc_${ns}_jobs`);
    await bucket.put(id!, JSON.stringify({ ...JSON.parse(text((await bucket.get(id!))!.value)), fb: old }));
    await nc.close();
    const op = await openFresh(ns);
    expect(await op.getJob(id!)).toMatchObject({ state: 'completed', attempts: 2 });
    expect((await op.listJobs({ states: ['completed'], limit: 10 })).jobs.map((j) => j.id)).toEqual([id]);
    expect((await op.stats({})).queues.map((q) => q.completed)).toEqual([1]);
    expect((await op.purge({ states: ['completed'], olderThanMs: 0, limit: 100 })).deleted).toBe(1);
    expect(await kv.has(id!)).toBe(false);
    expect(await streamMessages(ns, 'FIN')).toEqual([]);
    await kv.close();
    await op.close();
    await b.close();
  });
});
