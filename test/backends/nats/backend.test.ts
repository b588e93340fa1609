/** NATS-only behaviour (the shared behaviour is in test/conformance, wired in ../nats.test.ts). */
import { afterAll, describe, expect, it } from 'vitest';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { open } from '../../../src/backends/nats/index.js';
import { Names, newId, queueToken, tokenToQueue } from '../../../src/backends/nats/names.js';
import { Store } from '../../../src/backends/nats/store.js';
import { Wire } from '../../../src/backends/nats/wire.js';
import { UnavailableError, ValidationError } from '../../../src/core/errors.js';
import { connect } from '@nats-io/transport-node';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Kvm } from '@nats-io/kv';
import { checkRecordsFit, RECORD_RESERVE_BYTES } from '../../../src/backends/nats/record.js';
import { NATS_URL, cleanupNamespaces, consumerState, openFresh, randomNs, trackNamespace } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (over: Record<string, unknown> = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...over });
const worker = (name: string) => ({ name, host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('nats names', () => {
  it('encodes queue names into one safe subject token, reversibly', () => {
    for (const q of ['default', 'a.b.c', 'x_y', 'A-1', '...', '_']) {
      const t = queueToken(q);
      expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(tokenToQueue(t)).toBe(q);
    }
    expect(queueToken('a.b')).not.toBe(queueToken('a_b'));
    expect(() => queueToken('a>b')).toThrow(ValidationError);
    expect(() => queueToken('a*')).toThrow(ValidationError);
    expect(() => new Names('bad.ns')).toThrow(ValidationError);
    expect(() => new Names('a>')).toThrow(ValidationError);
    expect(new Names('ns1').workSubject('a.b', -3)).toBe('jc.ns1.w.a_2Eb.L0999997');
  });
  it('makes strictly increasing ids', () => {
    const ids = Array.from({ length: 2000 }, () => newId());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('nats connection errors', () => {
  it('fails fast with a masked URL when the server is unreachable', async () => {
    const t0 = Date.now();
    const err = await open({ url: 'nats://alice:s3cret@127.0.0.1:4999', namespace: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(String((err as Error).message)).not.toContain('s3cret');
    expect(String((err as Error).message)).toContain('***');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
  it('a server that accepts the connection but never answers: open fails and leaves no socket open', async () => {
    // a busy/stalled server: TCP is accepted, no INFO is ever sent
    const accepted: Socket[] = [];
    const silent = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const err = await open({ url: `nats://127.0.0.1:${port}`, namespace: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(accepted.length).toBeGreaterThan(0);
      // the client closed its end (the library alone kept it open, and the process alive)
      const closed = await Promise.race([
        Promise.all(accepted.map((s) => (s.closed ? true : new Promise((r) => s.once('close', () => r(true)))))),
        sleep(2000).then(() => false),
      ]);
      expect(closed).not.toBe(false);
    } finally {
      for (const s of accepted) s.destroy();
      silent.close();
    }
  });
  it('a namespace of format 1 must be migrated (jobs written by 1 are still read)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    await b.close();
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const kv = `$KV.jc_${ns}_jobs`;
    const id = newId();
    const v1 = { v: 1, id, queue: 'default', name: 'send', payload: '{}', priority: 0, state: 'completed', attempts: 1 };
    const rec = { ...v1, maxAttempts: 5, runAt: 1, timeoutMs: 1000, uniqueKey: null, workerId: null, leaseExpiresAt: null };
    const full = { ...rec, lastError: null, errors: [], createdAt: 1, startedAt: 1, finishedAt: 2, updatedAt: 2 };
    nc.publish(`${kv}.meta.version`, JSON.stringify({ version: 1 }));
    nc.publish(`${kv}.${id}`, JSON.stringify({ ...full, msgSeq: null, ackSubj: null }));
    await nc.flush();
    await nc.close();
    // as `jobctl migrate` opens it: every call but migrate says what to do
    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.getJob(id).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('schema');
    expect(String((err as Error).message)).toMatch(/format version 1; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 1, to: 8 });
    expect((await m.getJob(id))!).toMatchObject({ state: 'completed', attempts: 1, finishedAt: 2 });
    await m.close();
  });
  it('a namespace of format 2 must be migrated to 4; its running records and id-list markers are still read', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [j] = await b.enqueue([job()]);
    await b.close();
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const id = j!.job.id;
    // what a format-2 worker leaves: the record says running (lease expired), the claim marker lists the id
    const now = Date.now();
    const running = { v: 2, i: id, q: 'default', n: 'send', p: '{"a":1}', pr: 0, s: 'running', a: 1, ma: 5, ra: now, to: 60000 };
    const rec = {
      ...running,
      w: 'gone',
      le: now - 1000,
      ca: now,
      sa: now - 2000,
      ua: now - 2000,
      ms: 1,
      ak: '$JS.ACK.x.y.1.1.1.1.0',
    };
    const pub = async (subject: string, data: string) => {
      const m = await nc.request(subject, new TextEncoder().encode(data));
      expect(new TextDecoder().decode(m.data)).toContain('"seq"');
    };
    await pub(`$KV.jc_${ns}_jobs.meta.version`, JSON.stringify({ version: 2 }));
    await pub(`$KV.jc_${ns}_jobs.${id}`, JSON.stringify(rec));
    await pub(`jc.${ns}.x.rb.default.${newId()}`, JSON.stringify([id]));
    await nc.close();
    const m = await open({ url: NATS_URL, namespace: ns });
    const err = await m.stats({}).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/format version 2; this jobctl needs 8/);
    expect(await m.migrate()).toEqual({ from: 2, to: 8 });
    const s = await m.stats({});
    expect(s.queues.map((q) => [q.queue, q.running, q.orphaned])).toEqual([['default', 1, 1]]);
    expect((await m.listJobs({ states: ['orphaned'], limit: 10 })).jobs.map((x) => x.id)).toEqual([id]);
    expect(await m.rescue({ limit: 10 })).toEqual({ requeued: [id], failed: [] });
    await m.close();
  });
  it('says to migrate when the namespace does not exist, and migrate creates it on that handle', async () => {
    const ns = randomNs();
    trackNamespace(ns);
    const b = await open({ url: 'nats://127.0.0.1:4222', namespace: ns });
    const err = await b.stats({}).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('schema');
    expect(await b.migrate()).toEqual({ from: 0, to: 8 });
    expect((await b.stats({})).queues).toEqual([]);
    await b.close();
  });
});

describe('nats backend', () => {
  it('claims in priority order across levels, then FIFO', async () => {
    const b = await openFresh();
    const r = await b.enqueue([job({ priority: 5 }), job({ priority: 1 }), job({ priority: 5 }), job({ priority: -2 })]);
    const ids = r.map((x) => x.job.id);
    const got: string[] = [];
    for (;;) {
      const c = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
      if (c.length === 0) break;
      got.push(c[0]!.id);
    }
    expect(got).toEqual([ids[3], ids[1], ids[0], ids[2]]);
    await b.close();
  });

  it('S0: a message is acked only after the outcome is recorded (complete, fail, hang, abandon)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    await b.registerWorker(worker('w1'));
    const [ok, boom, hang, lost] = (await b.enqueue([job(), job({ maxAttempts: 1 }), job(), job({ maxAttempts: 2 })])).map(
      (x) => x.job.id,
    );
    const claimed = await b.claim({ workerId: 'w1', queues: ['default'], limit: 10, leaseMs: 200 });
    expect(claimed.map((c) => c.id).sort()).toEqual([ok, boom, hang, lost].sort());
    let st = await consumerState(ns, 'default');
    expect(st.ackPending).toBe(4);
    expect(st.streamMessages).toBe(4);

    const by = (id: string) => claimed.find((c) => c.id === id)!;
    await b.complete([{ id: ok!, attempt: by(ok!).attempt, workerId: 'w1', result: 1 }]);
    await b.fail([{ id: boom!, attempt: 1, workerId: 'w1', error: 'boom', retryDelayMs: 0 }]);
    await sleep(50);
    st = await consumerState(ns, 'default');
    // exactly the two messages whose records are final are gone
    expect(st.streamMessages).toBe(2);
    expect((await b.getJob(ok!))!.state).toBe('completed');
    expect((await b.getJob(boom!))!.state).toBe('failed');
    expect((await b.getJob(hang!))!.state).toBe('running');

    // the hung and abandoned claims: never acked; visible as orphaned after the lease; rescued
    await sleep(250);
    const orphaned = await b.listJobs({ states: ['orphaned'], limit: 10 });
    expect(orphaned.jobs.map((j) => j.id).sort()).toEqual([hang, lost].sort());
    const rescued = await b.rescue({ limit: 10 });
    expect(rescued.requeued.sort()).toEqual([hang, lost].sort());
    // the old holder cannot record anything any more
    const late = await b.complete([{ id: hang!, attempt: 1, workerId: 'w1' }]);
    expect(late[0]!.ok).toBe(false);
    st = await consumerState(ns, 'default');
    expect(st.streamMessages).toBe(2);
    const again = await b.claim({ workerId: 'w1', queues: ['default'], limit: 10, leaseMs: 30_000 });
    expect(again.map((c) => [c.id, c.attempt]).sort()).toEqual(
      [
        [hang, 2],
        [lost, 2],
      ].sort(),
    );
    await b.complete(again.map((c) => ({ id: c.id, attempt: c.attempt, workerId: 'w1' })));
    await sleep(50);
    st = await consumerState(ns, 'default');
    expect(st.streamMessages).toBe(0);
    expect(st.ackPending).toBe(0);
    await b.close();
  });

  it('S0: a claim abandoned by a crashed handle is redelivered and re-run, never lost', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const [id] = (await a.enqueue([job()])).map((x) => x.job.id);
    const c1 = await a.claim({ workerId: 'dead', queues: ['default'], limit: 1, leaseMs: 100 });
    expect(c1[0]!.id).toBe(id);
    await a.close(); // "crash": connection gone, message never acked
    const b = await openFresh(ns);
    await sleep(150);
    const r = await b.rescue({ limit: 10 });
    expect(r.requeued).toEqual([id]);
    const c2 = await b.claim({ workerId: 'w2', queues: ['default'], limit: 1, leaseMs: 30_000 });
    expect(c2.map((c) => [c.id, c.attempt])).toEqual([[id, 2]]);
    expect((await b.complete([{ id: id!, attempt: 2, workerId: 'w2' }]))[0]!.ok).toBe(true);
    const j = await b.getJob(id!);
    expect(j!.state).toBe('completed');
    expect(j!.errors.map((e) => e.message)[0]).toMatch(/lease expired/);
    await b.close();
  });

  it('acks and skips a redelivered message whose job already finished (idempotency)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [id] = (await b.enqueue([job()])).map((x) => x.job.id);
    await b.cancel({ ids: [id!] });
    expect(await b.claim({ workerId: 'w', queues: ['default'], limit: 5, leaseMs: 1000 })).toEqual([]);
    await sleep(50);
    expect((await consumerState(ns, 'default')).streamMessages).toBe(0);
    await b.close();
  });

  it('retries with a delayed nak and runs the job again when due', async () => {
    const b = await openFresh();
    const [id] = (await b.enqueue([job()])).map((x) => x.job.id);
    const [c] = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 10_000 });
    const r = await b.fail([{ id: id!, attempt: c!.attempt, workerId: 'w', error: 'x', retryDelayMs: 300 }]);
    expect(r[0]).toMatchObject({ ok: true, state: 'scheduled' });
    expect(await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 10_000 })).toEqual([]);
    await sleep(400);
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 10_000 });
    expect(again.map((x) => [x.id, x.attempt])).toEqual([[id, 2]]);
    await b.close();
  });

  it('unique keys, stats, logs and workers', async () => {
    const b = await openFresh();
    const a1 = await b.enqueue([job({ uniqueKey: 'k1' })]);
    const a2 = await b.enqueue([job({ uniqueKey: 'k1' })]);
    expect(a2[0]!.created).toBe(false);
    expect(a2[0]!.job.id).toBe(a1[0]!.job.id);
    await b.enqueue([job({ queue: 'a.b', runAt: Date.now() + 3600_000 })]);
    const s = await b.stats({});
    expect(s.queues.map((q) => [q.queue, q.queued, q.scheduled])).toEqual([
      ['a.b', 0, 1],
      ['default', 1, 0],
    ]);
    await b.appendLogs([{ jobId: a1[0]!.job.id, worker: 'w', queue: 'default', stream: 'log', message: 'hello' }]);
    const logs = await b.readLogs({ jobId: a1[0]!.job.id, limit: 10 });
    expect(logs.lines.map((l) => l.message)).toEqual(['hello']);
    const waited = b.waitForLogs(5000);
    await b.appendLogs([{ jobId: null, worker: 'w', queue: null, stream: 'event', message: 'x' }]);
    await waited;
    const more = await b.readLogs({ worker: 'w', after: logs.cursor!, limit: 10 });
    expect(more.lines.map((l) => l.message)).toEqual(['x']);
    await b.registerWorker(worker('w.1 x'));
    await expect(b.registerWorker(worker('w.1 x'))).rejects.toMatchObject({ code: 'conflict' });
    expect((await b.listWorkers()).map((w) => [w.name, w.alive])).toEqual([['w.1 x', true]]);
    expect(await b.heartbeatWorker('w.1 x', 2)).toBe(true);
    await b.unregisterWorker('w.1 x');
    expect(await b.heartbeatWorker('w.1 x', 2)).toBe(false);
    await b.close();
  });

  it('index without per-job markers on the hot path: batch markers, stale markers verified, requeue unlists', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const ids = (await b.enqueue(Array.from({ length: 30 }, () => job()))).map((x) => x.job.id);
    const claimed = await b.claim({ workerId: 'w', queues: ['default'], limit: 30, leaseMs: 60_000 });
    expect(claimed).toHaveLength(30);
    // queued markers of claimed jobs are stale now: listing verifies them against the records
    expect((await b.listJobs({ states: ['queued'], limit: 50 })).jobs).toEqual([]);
    expect((await b.listJobs({ states: ['running'], limit: 50 })).jobs.map((j) => j.id)).toEqual(ids);
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ queued: 0, running: 30 });
    const ref = (j: { id: string; attempt: number }) => ({ id: j.id, attempt: j.attempt, workerId: 'w' });
    await b.complete(claimed.slice(0, 20).map(ref));
    await b.fail(claimed.slice(20, 25).map((j) => ({ ...ref(j), error: 'x', retryDelayMs: 0, final: true })));
    // the outcomes were acked with confirmation: the consumer no longer counts them
    expect((await consumerState(ns, 'default')).streamMessages).toBe(5);
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ queued: 0, running: 5, completed: 20, failed: 5 });
    expect((await b.listJobs({ states: ['completed'], limit: 50 })).jobs.map((j) => j.id)).toEqual(ids.slice(0, 20));
    // requeue takes a job out of its finished batch marker; finishing it again counts it once
    const rq = await b.requeue({ ids: [ids[3]!] });
    expect(rq.changed).toEqual([ids[3]]);
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ queued: 1, running: 5, completed: 19 });
    const [again] = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 60_000 });
    expect(again!.id).toBe(ids[3]);
    await b.complete([ref(again!)]);
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ queued: 0, completed: 20 });
    // purge removes finished jobs from the batch markers too
    expect((await b.purge({ states: ['failed'], olderThanMs: 0, limit: 100 })).deleted).toBe(5);
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ failed: 0, completed: 20 });
    // cancelling a waiting job removes its message, so it no longer counts as queued
    const [w2] = (await b.enqueue([job()])).map((x) => x.job.id);
    await b.cancel({ ids: [w2!] });
    expect((await b.stats({ queue: 'default' })).queues[0]).toMatchObject({ queued: 0, cancelled: 1 });
    await b.close();
  });

  it('requeue by state reads records only until its batch is full, not every job in the state', async () => {
    const b = await openFresh(randomNs());
    const N = 3000;
    await b.enqueue(Array.from({ length: N }, () => job({ queue: 'poison', maxAttempts: 1 })));
    const claimed = [];
    for (
      let got;
      claimed.length < N && (got = await b.claim({ workerId: 'w', queues: ['poison'], limit: N, leaseMs: 60_000 })).length > 0;
    )
      claimed.push(...got);
    expect(claimed).toHaveLength(N);
    await b.fail(claimed.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0, final: true })));
    const store = (b as unknown as { ctx: { store: Store } }).ctx.store;
    const getMany = store.getMany.bind(store);
    let read = 0;
    store.getMany = async (ids) => {
      read += ids.length;
      return getMany(ids);
    };
    const r = await b.requeue({ state: 'failed', queue: 'poison', limit: 10 });
    expect(r.changed).toEqual(
      claimed
        .map((j) => j.id)
        .sort()
        .slice(0, 10),
    );
    // one chunk of 1,000 records (it read all 3,000 for each batch: 1,000 batches of 1,000 jobs
    // each read every remaining failed job at 1,000,000)
    expect(read).toBeLessThanOrEqual(1000);
    store.getMany = getMany;
    expect((await b.stats({ queue: 'poison' })).queues[0]).toMatchObject({ failed: N - 10, queued: 10 });
    await b.close();
  });

  it('requeue by state of a big finished batch is resumable after a killed run (messages published, records changed, marker not rewritten)', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const N = 300;
    const ids = (await b.enqueue(Array.from({ length: N }, () => job({ queue: 'poison', maxAttempts: 1 })))).map((x) => x.job.id);
    const claimed = await b.claim({ workerId: 'w', queues: ['poison'], limit: N, leaseMs: 60_000 });
    expect(claimed).toHaveLength(N);
    // one fail call: one batch marker lists all N jobs
    await b.fail(claimed.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0, final: true })));
    const q = async () => (await b.stats({ queue: 'poison' })).queues[0]!;
    expect(await q()).toMatchObject({ failed: N, queued: 0 });
    const store = (b as unknown as { ctx: { store: Store } }).ctx.store;
    // a run killed after publishing its work messages, before its compare-and-sets
    const cas = store.cas.bind(store);
    store.cas = async () => null;
    expect((await b.requeue({ state: 'failed', queue: 'poison', limit: 100 })).changed).toEqual([]);
    store.cas = cas;
    expect(await q()).toMatchObject({ failed: N, queued: 100 });
    // a run killed after its compare-and-sets, before the batch marker was rewritten
    const unlistMany = store.unlistMany.bind(store);
    store.unlistMany = async (entries) => {
      if (entries.length > 0) store.unlistMany = unlistMany; // this rewrite is lost
    };
    expect((await b.requeue({ state: 'failed', queue: 'poison', limit: 100 })).changed).toHaveLength(100);
    expect(store.unlistMany).toBe(unlistMany);
    // the marker still lists the requeued jobs: stats counts them twice until it is compacted
    expect(await q()).toMatchObject({ failed: N, queued: 100 });
    // run again as `requeue --all` does (batches until one comes back short): it finishes the
    // rest — 100 jobs of one batch marker at a time, which used to contend with itself
    const again: string[] = [];
    for (;;) {
      const r = await b.requeue({ state: 'failed', queue: 'poison', limit: 100 });
      expect(r.skipped).toEqual([]);
      again.push(...r.changed);
      if (r.changed.length < 100) break;
    }
    expect(again).toHaveLength(N - 100);
    expect(await q()).toMatchObject({ failed: 0, queued: N });
    expect((await b.listJobs({ states: ['failed'], limit: 1000 })).jobs).toEqual([]);
    const queued = (await b.listJobs({ states: ['queued'], queue: 'poison', limit: 1000 })).jobs.map((j) => j.id);
    expect(queued.sort()).toEqual([...ids].sort());
    // each job has exactly one work message again: claiming drains exactly N
    const seen = new Set<string>();
    for (let got; (got = await b.claim({ workerId: 'w2', queues: ['poison'], limit: 100, leaseMs: 60_000 })).length > 0;)
      for (const j of got) {
        expect(seen.has(j.id)).toBe(false);
        seen.add(j.id);
      }
    expect(seen.size).toBe(N);
    await b.close();
  });

  it('the first claim creates the record from the message; a change before it (cancel) wins; purge leaves no initial record behind', async () => {
    const b = await openFresh();
    const [a, c] = (await b.enqueue([job(), job()])).map((x) => x.job.id);
    // never changed: read from the initial record enqueue wrote
    expect((await b.getJob(a!))!.state).toBe('queued');
    expect((await b.listJobs({ states: ['queued'], limit: 10 })).jobs.map((j) => j.id)).toEqual([a, c]);
    expect((await b.cancel({ ids: [a!] })).changed).toEqual([a]);
    const claimed = await b.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 10_000 });
    expect(claimed.map((x) => [x.id, x.attempt])).toEqual([[c, 1]]);
    expect((await b.getJob(a!))!.state).toBe('cancelled');
    expect((await b.getJob(c!))!).toMatchObject({ state: 'running', workerId: 'w', attempts: 1 });
    expect((await b.complete([{ id: c!, attempt: 1, workerId: 'w' }]))[0]!.ok).toBe(true);
    // purge takes jobs finished strictly before now - age (every backend): let a millisecond pass
    await new Promise((r) => setTimeout(r, 5));
    expect((await b.purge({ states: ['completed', 'cancelled'], olderThanMs: 0, limit: 10 })).deleted).toBe(2);
    expect(await b.getJob(a!)).toBeNull();
    expect(await b.getJob(c!)).toBeNull();
    await b.close();
  });

  it('a read of a KV bucket is complete when records are rewritten during it (the worker registry)', async () => {
    // 2.9, deliver last_per_subject: when the first record is rewritten after the read's consumer
    // was created, one record is delivered twice and the rewritten one only after the count
    // pending at the start; a read that stopped at that count missed a live worker, which the
    // rescuer took for dead (duplicate runs in the SIGKILL chaos scenario)
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const stream = `T_${randomNs()}`;
    let rewrite = async () => {};
    class HookedWire extends Wire {
      override async api<T>(subject: string, body: unknown = {}): Promise<T> {
        const r = await super.api<T>(subject, body);
        if (subject.startsWith(`$JS.API.CONSUMER.CREATE.${stream}`)) await rewrite();
        return r;
      }
    }
    const w = new HookedWire(nc);
    try {
      await w.api(`$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${stream}.>`], max_msgs_per_subject: 1 });
      for (let i = 0; i < 6; i++) await w.publish(`${stream}.k${i}`, 'v0');
      rewrite = async () => {
        rewrite = async () => {};
        await w.publish(`${stream}.k5`, 'v1');
        await w.publish(`${stream}.k0`, 'v1');
      };
      const store = new Store(w, new Names('x'));
      const items = await store.readAll(stream, `${stream}.>`, { lastPerSubject: true });
      const got = items.map((it) => `${it.subject.split('.').pop()}=${new TextDecoder().decode(it.data)}`).sort();
      expect(got).toEqual(['k0=v1', 'k1=v0', 'k2=v0', 'k3=v0', 'k4=v0', 'k5=v1']);
    } finally {
      await w.api(`$JS.API.STREAM.DELETE.${stream}`).catch(() => undefined);
      w.close();
      await nc.close();
    }
  });

  it('packs adjacent log lines of one job into one message; cursors address single lines', async () => {
    const b = await openFresh();
    const line = (jobId: string, message: string) => ({ jobId, worker: 'w', queue: 'default', stream: 'log' as const, message });
    const a = newId();
    const c = newId();
    await b.appendLogs([line(a, '1'), line(a, '2'), line(c, 'x'), line(a, '3')]);
    await b.appendLogs([line(a, '4'), line(a, '5')]);
    const all = await b.readLogs({ jobId: a, limit: 100 });
    expect(all.lines.map((l) => l.message)).toEqual(['1', '2', '3', '4', '5']);
    const p1 = await b.readLogs({ jobId: a, limit: 1 });
    const p2 = await b.readLogs({ jobId: a, after: p1.cursor!, limit: 3 });
    const p3 = await b.readLogs({ jobId: a, after: p2.cursor!, limit: 3 });
    expect([p1, p2, p3].map((p) => p.lines.map((l) => l.message))).toEqual([['1'], ['2', '3', '4'], ['5']]);
    expect((await b.readLogs({ jobId: a, after: p3.cursor!, limit: 3 })).lines).toEqual([]);
    expect((await b.readLogs({ jobId: a, tail: 2, limit: 100 })).lines.map((l) => l.message)).toEqual(['4', '5']);
    await b.close();
  });

  it('a first delivery is claimed without a record write: readers see it running through the batch marker; whoever writes the record first fences the holder', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const op = await openFresh(ns); // an operator's handle
    await op.registerWorker({ ...worker('w'), ttlMs: 60_000 });
    const ids = (await b.enqueue([job(), job(), job(), job()])).map((r) => r.job.id).sort();
    const t0 = Date.now();
    const got = await b.claim({ workerId: 'w', queues: ['default'], limit: 4, leaseMs: 1500 });
    expect(got.map((j) => [j.id, j.attempt, j.state])).toEqual(ids.map((id) => [id, 1, 'running']));
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const kv = await new Kvm(nc).open(`jc_${ns}_jobs`);
    const hasRecord = async (id: string) => (await kv.get(id)) !== null;
    expect(await Promise.all(ids.map(hasRecord))).toEqual([false, false, false, false]);
    const [a, c, d, e] = ids as [string, string, string, string];
    // every reader sees them running, held by w, with the lease
    const shown = (await op.getJob(a))!;
    expect(shown).toMatchObject({ state: 'running', attempts: 1, workerId: 'w' });
    expect(shown.leaseExpiresAt).toBeGreaterThanOrEqual(t0 + 1500);
    expect((await op.listJobs({ states: ['running'], limit: 10 })).jobs.map((j) => j.id)).toEqual(ids);
    expect((await op.listJobs({ states: ['queued'], limit: 10 })).jobs).toEqual([]);
    expect((await op.stats({})).queues.map((q) => [q.queued, q.running, q.orphaned])).toEqual([[0, 4, 0]]);
    // the heartbeat writes the batch marker again (no record): a later lease for everyone
    await sleep(50);
    const ext = await b.extendLeases({ workerId: 'w', leaseMs: 1500, jobs: got.map((j) => ({ id: j.id, attempt: j.attempt })) });
    expect(ext.lost).toEqual([]);
    expect((await op.getJob(a))!.leaseExpiresAt!).toBeGreaterThan(shown.leaseExpiresAt!);
    expect(await Promise.all(ids.map(hasRecord))).toEqual([false, false, false, false]);
    // cancel (another handle) writes the record: the holder's heartbeat reports it lost, its outcome is refused
    expect((await op.cancel({ ids: [a] })).changed).toEqual([a]);
    // reset --force of a live claim: same
    expect((await op.reset({ ids: [c], force: true })).changed).toEqual([c]);
    const ext2 = await b.extendLeases({ workerId: 'w', leaseMs: 1500, jobs: got.map((j) => ({ id: j.id, attempt: j.attempt })) });
    expect(ext2.lost.sort()).toEqual([a, c]);
    const res = await b.complete(got.filter((j) => j.id !== e).map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    expect(res.map((r) => [r.id, r.ok])).toEqual([
      [a, false],
      [c, false],
      [d, true],
    ]);
    expect((await op.getJob(a))!.state).toBe('cancelled');
    expect((await op.getJob(d))!).toMatchObject({ state: 'completed', attempts: 1 });
    // the reset job runs again (attempt 2, claimed through its record)
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 4, leaseMs: 5000 });
    expect(again.map((j) => [j.id, j.attempt])).toEqual([[c, 2]]);
    // e's holder stops beating: once its lease expired, rescue writes its record and requeues it
    await sleep(1600);
    expect((await op.listJobs({ states: ['orphaned'], limit: 10 })).jobs.map((j) => j.id)).toContain(e);
    const rescued = await op.rescue({ limit: 10 });
    expect(rescued.requeued).toContain(e);
    const late = await b.complete([{ id: e, attempt: 1, workerId: 'w' }]);
    expect(late[0]!.ok).toBe(false);
    const third = await b.claim({ workerId: 'w', queues: ['default'], limit: 4, leaseMs: 5000 });
    expect(third.map((j) => [j.id, j.attempt])).toEqual([[e, 2]]);
    expect((await op.getJob(e))!.errors.map((x) => x.message)).toEqual([expect.stringMatching(/lease expired/)]);
    await b.complete([...again, ...third].map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w' })));
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await nc.close();
    await op.close();
    await b.close();
  });

  it('a light claim redelivered after AckWait (holder gone) is claimed again with its attempt counted', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const [j] = await a.enqueue([job({ maxAttempts: 3 })]);
    const got = await a.claim({ workerId: 'dead', queues: ['default'], limit: 1, leaseMs: 300 });
    expect(got.map((x) => x.attempt)).toEqual([1]);
    await a.close(); // the holder vanishes: no heartbeat, no in-progress acks
    const b = await openFresh(ns);
    let next: Awaited<ReturnType<typeof b.claim>> = [];
    for (let i = 0; i < 40 && next.length === 0; i++) {
      await sleep(100);
      next = await b.claim({ workerId: 'w2', queues: ['default'], limit: 1, leaseMs: 5000 });
    }
    expect(next.map((x) => [x.id, x.attempt])).toEqual([[j!.job.id, 2]]);
    expect((await b.getJob(j!.job.id))!.errors.map((x) => x.message)).toEqual([
      expect.stringMatching(/lease expired \(worker dead\)/),
    ]);
    expect((await b.complete([{ id: j!.job.id, attempt: 2, workerId: 'w2' }]))[0]!.ok).toBe(true);
    await b.close();
  });

  it('the event lines of one outcome call are one log message; logs <job id> finds them through the record', async () => {
    const b = await openFresh();
    const ids = (await b.enqueue([job(), job(), job(), job({ queue: 'other' })])).map((r) => r.job.id);
    const got = [
      ...(await b.claim({ workerId: 'w', queues: ['default'], limit: 3, leaseMs: 10_000 })),
      ...(await b.claim({ workerId: 'w', queues: ['other'], limit: 1, leaseMs: 10_000 })),
    ];
    expect(got.map((j) => j.id).sort()).toEqual([...ids].sort());
    const [a, c, lost, o] = ids.map((id) => got.find((j) => j.id === id)!);
    await b.appendLogs([{ jobId: a!.id, worker: 'w', queue: 'default', stream: 'stdout', message: 'out a' }]);
    const ev = (j: typeof a, queue = 'default') => ({ queue, lines: [{ ts: Date.now(), message: `completed ${j!.id}` }] });
    const res = await b.complete([
      { id: a!.id, attempt: a!.attempt, workerId: 'w', events: ev(a) },
      { id: c!.id, attempt: c!.attempt, workerId: 'w', events: ev(c) },
      { id: lost!.id, attempt: lost!.attempt + 1, workerId: 'w', events: ev(lost) },
      { id: o!.id, attempt: o!.attempt, workerId: 'w', events: ev(o, 'other') },
    ]);
    expect(res.map((r) => r.ok)).toEqual([true, true, false, true]);
    const byJob = async (id: string) => (await b.readLogs({ jobId: id, limit: 100 })).lines.map((l) => l.message);
    expect(await byJob(a!.id)).toEqual(['out a', `completed ${a!.id}`]);
    expect(await byJob(c!.id)).toEqual([`completed ${c!.id}`]);
    expect(await byJob(lost!.id)).toEqual([]);
    expect(await byJob(o!.id)).toEqual([`completed ${o!.id}`]); // alone in its (queue, worker): its own subject
    // the two recorded lines of queue default share one stream message
    const q = (await b.readLogs({ queue: 'default', limit: 100 })).lines.filter((l) => l.stream === 'event');
    expect(q.map((l) => l.message)).toEqual([`completed ${a!.id}`, `completed ${c!.id}`]);
    expect(Math.floor(Number(q[0]!.seq) / 1000)).toBe(Math.floor(Number(q[1]!.seq) / 1000));
    expect((await b.readLogs({ worker: 'w', limit: 100 })).lines.map((l) => l.message)).toContain(`completed ${c!.id}`);
    expect((await b.readLogs({ jobId: c!.id, queue: 'other', limit: 100 })).lines).toEqual([]);
    // paging by job over both kinds of messages
    const p1 = await b.readLogs({ jobId: a!.id, limit: 1 });
    const p2 = await b.readLogs({ jobId: a!.id, after: p1.cursor!, limit: 10 });
    expect([...p1.lines, ...p2.lines].map((l) => l.message)).toEqual(['out a', `completed ${a!.id}`]);
    expect((await b.readLogs({ jobId: a!.id, after: p2.cursor!, limit: 10 })).lines).toEqual([]);
    // a second run (requeued) adds its batch: both runs' lines are found
    await b.requeue({ ids: [a!.id, c!.id] });
    const again = await b.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 10_000 });
    expect(again).toHaveLength(2);
    await b.complete(again.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', events: ev(j) })));
    expect(await byJob(a!.id)).toEqual(['out a', `completed ${a!.id}`, `completed ${a!.id}`]);
    expect((await b.readLogs({ jobId: a!.id, tail: 1, limit: 100 })).lines.map((l) => l.message)).toEqual([`completed ${a!.id}`]);
    await b.close();
  });

  it('waitForWork wakes on an enqueue from another handle', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const b = await openFresh(ns);
    expect(await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 1000 })).toEqual([]);
    const t0 = Date.now();
    const w = a.waitForWork(['default'], 5000);
    await sleep(20);
    await b.enqueue([job()]);
    await w;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 1000 })).length).toBe(1);
    await a.close();
    await b.close();
  });

  it('an idle worker long-polls: the message is delivered to it while it waits, claimed without a pull, given back on close', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const b = await openFresh(ns);
    const claim = (h: typeof a, limit = 10) => h.claim({ workerId: 'w', queues: ['default'], limit, leaseMs: 30_000 });
    await b.enqueue([job()]); // the queue's consumer exists (a new priority level wakes through the wake-up subject)
    expect(await claim(a)).toHaveLength(1);
    expect(await claim(a)).toEqual([]);
    const w = a.waitForWork(['default'], 5000);
    await sleep(50);
    const j1 = (await b.enqueue([job()]))[0]!.job;
    await w;
    // delivered to a's waiting pull (ack pending: the first job's and this one) before a claims it
    expect((await consumerState(ns, 'default')).ackPending).toBe(2);
    expect((await claim(a)).map((j) => j.id)).toEqual([j1.id]);
    // a burst while idle: the first message wakes the worker, the rest come with the next claims
    const w2 = a.waitForWork(['default'], 5000);
    await sleep(50);
    const burst = await b.enqueue(Array.from({ length: 5 }, () => job()));
    await w2;
    const got: string[] = [];
    for (let i = 0; i < 10 && got.length < 5; i++) {
      got.push(...(await claim(a)).map((j) => j.id));
      if (got.length < 5) await a.waitForWork(['default'], 1000);
    }
    expect(got.sort()).toEqual(burst.map((r) => r.job.id).sort());
    // a message parked by the long-poll and never claimed goes back when the handle closes
    const w3 = a.waitForWork(['default'], 5000);
    await sleep(50);
    const j2 = (await b.enqueue([job()]))[0]!.job;
    await w3;
    await a.close();
    const t0 = Date.now();
    let again: string[] = [];
    while (again.length === 0 && Date.now() - t0 < 5000) again = (await claim(b)).map((j) => j.id);
    expect(again).toEqual([j2.id]);
    expect(Date.now() - t0).toBeLessThan(2000); // not after AckWait (30 s)
    await b.close();
  });

  it('a job record that would not fit in one message is refused before anything is written', async () => {
    const b = await openFresh();
    const small = job();
    const big = normalizeEnqueue({ name: 'send', payload: 'x'.repeat(1024 * 1024 - 2) });
    const e = await b.enqueue([small, big]).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ValidationError);
    expect(String((e as Error).message)).toMatch(/^job 2 of 2: payload is 1048576 bytes .*max_payload 1048576 bytes/);
    expect((await b.listJobs({ limit: 10 })).jobs).toEqual([]);
    expect(() => checkRecordsFit([normalizeEnqueue({ name: 'a', payload: 'y'.repeat(700 * 1024) })], 1024 * 1024)).not.toThrow();
    // escaping counts: a quote is 2 bytes in the payload JSON and 4 inside the record (600 KiB → 1.2 MiB)
    const quotes = normalizeEnqueue({ name: 'a', payload: '"'.repeat(300 * 1024) });
    expect(() => checkRecordsFit([quotes], 1024 * 1024 + RECORD_RESERVE_BYTES)).toThrow(ValidationError);
    await b.close();
  });

  it('a damaged stored record is read as a failed job; the first claim rebuilds it from the message and the job runs', async () => {
    const ns = randomNs();
    const b = await openFresh(ns);
    const [bad, badUtf8, good] = await b.enqueue([
      job({ payload: { n: 1 } }),
      job({ payload: { n: 2 } }),
      job({ payload: { n: 3 } }),
    ]);
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
    const kv = await new Kvm(nc).open(`jc_${ns}_jobs`);
    // a job not yet claimed has only its initial record (key n.<id>)
    await kv.put(`n.${bad!.job.id}`, new TextEncoder().encode('{"v":1, broken'));
    const rec = new TextDecoder().decode((await kv.get(`n.${badUtf8!.job.id}`))!.value);
    await kv.put(`n.${badUtf8!.job.id}`, Buffer.concat([Buffer.from(rec.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]));
    await nc.close();
    for (const id of [bad!.job.id, badUtf8!.job.id]) {
      const shown = (await b.getJob(id))!;
      expect(shown.state).toBe('failed');
      expect(shown.lastError).toMatch(/stored job record is damaged/);
    }
    expect((await b.listJobs({ limit: 10 })).jobs.length).toBeGreaterThanOrEqual(1);
    expect((await b.stats({})).queues.length).toBe(1);
    // the first claim builds each job's record from its (intact) message, so the damaged initial
    // records are replaced and every job runs; nothing breaks on the way
    const claimed = await b.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    expect(claimed.map((c) => c.id).sort()).toEqual([bad!.job.id, badUtf8!.job.id, good!.job.id].sort());
    for (const c of claimed) {
      expect(c.payload).toEqual({ n: [bad, badUtf8, good].findIndex((x) => x!.job.id === c.id) + 1 });
      expect(await b.getJob(c.id)).toMatchObject({ state: 'running', queue: 'default', name: 'send', attempts: 1 });
    }
    await b.close();
  });

  it('log lines are packed into messages under max_payload (1,000 lines of 2 KB used to be refused, forever)', async () => {
    const b = await openFresh();
    const id = newId();
    const lines = Array.from({ length: 1000 }, (_, i) => ({
      jobId: id,
      worker: 'w',
      queue: 'default',
      stream: 'stdout' as const,
      message: `${i} ${'z'.repeat(2000)}`,
    }));
    await b.appendLogs(lines);
    const all = await b.readLogs({ jobId: id, limit: 2000 });
    expect(all.lines.map((l) => l.message)).toEqual(lines.map((l) => l.message));
    // cursors still page through the packed messages
    const p1 = await b.readLogs({ jobId: id, limit: 300 });
    const p2 = await b.readLogs({ jobId: id, after: p1.cursor!, limit: 1000 });
    expect([...p1.lines, ...p2.lines].map((l) => l.message)).toEqual(lines.map((l) => l.message));
    await b.close();
  });
});
