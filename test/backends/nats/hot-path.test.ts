/**
 * The claim's hot path on NATS (docs/architecture.md, "Fast path"): what an idle worker's claim
 * waits for, and what happens when a light claim's running marker cannot be stored.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import type { Ctx } from '../../../src/backends/nats/context.js';
import { decodeRec, encodeRec, encodeRecText, toClaimed, toJob } from '../../../src/backends/nats/record.js';
import { newRecord } from '../../../src/backends/nats/work.js';
import { EventBatches } from '../../../src/backends/nats/side.js';
import { cleanupNamespaces, consumerState, openFresh, randomNs } from './helpers.js';

afterAll(cleanupNamespaces);

const job = (o: { maxAttempts?: number } = {}) => normalizeEnqueue({ name: 'send', payload: { a: 1 }, ...o });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The handle's internals (what the claim sends goes through ctx.w, the marker through ctx.store). */
const ctxOf = (b: Backend): Ctx => (b as unknown as { ctx: Ctx }).ctx;

describe('nats claim hot path', () => {
  it('a message delivered to an idle worker is claimed without a record read, and no pull when nothing else was pending', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const b = await openFresh(ns);
    const claim = (limit = 10) => a.claim({ workerId: 'w', queues: ['default'], limit, leaseMs: 30_000 });
    await b.enqueue([job()]); // the queue's consumer exists
    const [j0] = await claim();
    expect(await claim()).toEqual([]);
    const w = ctxOf(a).w;
    const gets = vi.spyOn(w, 'directGet');
    const waiting = a.waitForWork(['default'], 5000);
    await sleep(50);
    const j1 = (await b.enqueue([job()]))[0]!.job;
    await waiting;
    const pulls = vi.spyOn(w, 'pull');
    expect((await claim()).map((j) => [j.id, j.attempt])).toEqual([[j1.id, 1]]);
    expect(gets).not.toHaveBeenCalled();
    expect(pulls).not.toHaveBeenCalled();
    gets.mockRestore();
    pulls.mockRestore();
    await a.complete([j0!, j1].map((j) => ({ id: j.id, attempt: 1, workerId: 'w' })));
    expect((await consumerState(ns, 'default')).ackPending).toBe(0);
    await a.close();
    await b.close();
  });

  it('a first delivery is claimed without reading its record (pulled: no direct get at all)', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const jobs = (await a.enqueue([job(), job(), job()])).map((r) => r.job.id).sort();
    const gets = vi.spyOn(ctxOf(a).w, 'directGet');
    const got = await a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    expect(got.map((j) => j.id)).toEqual(jobs);
    expect(gets).not.toHaveBeenCalled();
    gets.mockRestore();
    expect((await a.complete(got.map((j) => ({ id: j.id, attempt: 1, workerId: 'w' })))).every((r) => r.ok)).toBe(true);
    await a.close();
  });

  it('a parked message cancelled while it waited (the job looked queued) is checked when a claim takes it late, and does not run', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const op = await openFresh(ns);
    const claim = () => a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    await op.enqueue([job()]);
    const [j0] = await claim();
    expect(await claim()).toEqual([]);
    const waiting = a.waitForWork(['default'], 5000);
    await sleep(50);
    const j1 = (await op.enqueue([job()]))[0]!.job;
    await waiting; // delivered to a's long-poll and parked: nobody has claimed it
    expect((await op.getJob(j1.id))!.state).toBe('queued');
    expect((await op.cancel({ ids: [j1.id] })).changed).toEqual([j1.id]);
    await sleep(150); // later than a fresh parked message
    expect(await claim()).toEqual([]);
    expect((await op.getJob(j1.id))!.state).toBe('cancelled');
    await a.complete([{ id: j0!.id, attempt: 1, workerId: 'w' }]);
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await a.close();
    await op.close();
  });

  it('cancel of a never-delivered job deletes its message before writing its record: a claim racing the write finds nothing', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const op = await openFresh(ns);
    const [j] = (await op.enqueue([job()])).map((r) => r.job);
    const store = ctxOf(op).store;
    const cas = store.cas.bind(store);
    let raced: Awaited<ReturnType<typeof a.claim>> | undefined;
    // a worker claims right when the cancel writes the record
    const spy = vi.spyOn(store, 'cas').mockImplementation(async (...args) => {
      raced ??= await a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
      return cas(...args);
    });
    expect((await op.cancel({ ids: [j!.id] })).changed).toEqual([j!.id]);
    spy.mockRestore();
    expect(raced).toEqual([]);
    expect((await op.getJob(j!.id))!.state).toBe('cancelled');
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    expect((await op.stats({})).queues.map((q) => [q.queued, q.running, q.cancelled])).toEqual([[0, 0, 1]]);
    await a.close();
    await op.close();
  });

  it('a cancel that deleted the message of a job a worker had just claimed retries until the job is finished (never left queued without a message)', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const op = await openFresh(ns);
    const [j] = (await op.enqueue([job({ maxAttempts: 3 })])).map((r) => r.job);
    // the claim lands after the cancel read the job (queued); its holder fails the attempt with
    // retries left (record: queued again) just before the cancel writes: the cancel's first
    // compare-and-set fails, and the message it deleted is the job's only one
    const store = ctxOf(op).store;
    const del = store.deleteSeq.bind(store);
    let once = true;
    const dels = vi.spyOn(store, 'deleteSeq').mockImplementation(async (...args) => {
      if (once) {
        once = false;
        const got = await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
        expect(got.map((x) => x.id)).toEqual([j!.id]);
        expect((await a.fail([{ id: j!.id, attempt: 1, workerId: 'w', error: 'x', retryDelayMs: 0 }]))[0]!.ok).toBe(true);
      }
      return del(...args);
    });
    const cas = vi.spyOn(store, 'cas');
    expect((await op.cancel({ ids: [j!.id] })).changed).toEqual([j!.id]);
    expect(cas.mock.calls.length).toBe(2);
    dels.mockRestore();
    cas.mockRestore();
    expect((await op.getJob(j!.id))!).toMatchObject({ state: 'cancelled', attempts: 1 });
    await sleep(100);
    expect(await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 })).toEqual([]);
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await a.close();
    await op.close();
  });

  it('the outcomes of a batch of held light claims are one outcome batch and one commit in their running marker (no record per job), and their acks one write', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const op = await openFresh(ns);
    const ids = (await a.enqueue([job(), job(), job(), job()])).map((r) => r.job.id).sort();
    const got = await a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    const w = ctxOf(a).w;
    await sleep(20);
    expect((await op.cancel({ ids: [ids[1]!] })).changed).toEqual([ids[1]]);
    const publish = vi.spyOn(w, 'publish');
    const sends = vi.spyOn(w, 'sendMany');
    const res = await a.complete(got.map((j) => ({ id: j.id, attempt: 1, workerId: 'w' })));
    // the cancelled one was taken in the marker: not committed, refused by the per-job path
    expect(res.map((r) => [r.id, r.ok])).toEqual(ids.map((id) => [id, id !== ids[1]]));
    const subjects = publish.mock.calls.map(([subj]) => String(subj));
    expect(subjects.filter((x) => x.includes('_jobs.'))).toEqual([expect.stringContaining(ids[1]!)]);
    // its outcome batch, then written again without the refused job (stats count the batch)
    expect(subjects.filter((x) => x.includes(`.f.completed-b.`)).length).toBe(2);
    // the commit met the cancel's mark: read the marker, written again without the taken job
    expect(subjects.filter((x) => x.includes('.a.rb.')).length).toBe(2);
    // the acks but the last (confirmed) one are one write
    expect(sends.mock.calls.some(([msgs]) => msgs.length === 2 && msgs.every((m) => m.data === '+ACK'))).toBe(true);
    publish.mockRestore();
    sends.mockRestore();
    for (const id of ids) expect((await op.getJob(id))!.state).toBe(id === ids[1] ? 'cancelled' : 'completed');
    expect((await op.stats({})).queues.map((q) => [q.completed, q.cancelled])).toEqual([[3, 1]]);
    const st = await consumerState(ns, 'default');
    expect([st.ackPending, st.pending, st.streamMessages]).toEqual([0, 0, 0]);
    await a.close();
    await op.close();
  });

  it('the outcomes of a batch of claims through their records are one batch of compare-and-sets (one promise, no publish per record)', async () => {
    const ns = randomNs();
    const a = await openFresh(ns);
    const ids = (await a.enqueue([job(), job(), job(), job()])).map((r) => r.job.id).sort();
    const first = await a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 });
    await a.fail(first.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'w', error: 'x', retryDelayMs: 0 })));
    const got: Awaited<ReturnType<Backend['claim']>> = [];
    for (let i = 0; i < 50 && got.length < 4; i++) {
      got.push(...(await a.claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 30_000 })));
      if (got.length < 4) await sleep(20);
    }
    expect(got.map((j) => j.attempt)).toEqual([2, 2, 2, 2]);
    const w = ctxOf(a).w;
    const publish = vi.spyOn(w, 'publish');
    const many = vi.spyOn(w, 'requestMany');
    const res = await a.complete(got.map((j) => ({ id: j.id, attempt: 2, workerId: 'w' })));
    expect(res.map((r) => r.ok)).toEqual([true, true, true, true]);
    expect(many).toHaveBeenCalledTimes(1);
    expect(many.mock.calls[0]![0].length).toBe(4);
    expect(publish.mock.calls.filter(([subj]) => String(subj).includes('_jobs.')).length).toBe(0);
    publish.mockRestore();
    many.mockRestore();
    for (const id of ids) expect((await a.getJob(id))!).toMatchObject({ state: 'completed', attempts: 2 });
    // a message over max_payload in a batch is refused by the client (the rest of the connection keeps working)
    await expect(
      w.requestMany([
        { subject: 'x.y', data: 'z' },
        { subject: 'x.y', data: 'z'.repeat(2 * 1024 * 1024) },
      ]),
    ).rejects.toThrow(/max_payload|payload/);
    expect((await a.getJob(ids[0]!))!.state).toBe('completed');
    await a.close();
  });

  it('a batch written as one buffer is byte for byte the protocol text of its messages (replies numbered, multi-byte payloads, one over max_payload sent on its own)', async () => {
    const a = await openFresh(randomNs());
    const w = ctxOf(a).w;
    const proto = (ctxOf(a).w as unknown as { nc: { protocol: { sendCommand(b: Uint8Array): void } } }).nc.protocol;
    const written: string[] = [];
    const send = vi
      .spyOn(proto, 'sendCommand')
      .mockImplementation((b: Uint8Array) => void written.push(Buffer.from(b).toString('utf8')));
    const publish = vi
      .spyOn((w as unknown as { nc: { publish(...a: unknown[]): void } }).nc, 'publish')
      .mockImplementation(() => {});
    const hdr = 'NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 12345\r\n\r\n';
    const msgs = Array.from({ length: 12 }, (_, i) => ({
      subject: `x.s${i}`,
      ...(i % 2 === 0 ? { hdr } : {}),
      data: i === 3 ? '' : `{"p":"é€😀 ${i}"}`,
    }));
    const big = { subject: 'x.big', data: 'z'.repeat(2 * 1024 * 1024) };
    const text = (m: { subject: string; hdr?: string; data: string }, reply?: string) => {
      const len = (m.hdr?.length ?? 0) + Buffer.byteLength(m.data);
      const to = reply === undefined ? '' : ` ${reply}`;
      return m.hdr === undefined
        ? `PUB ${m.subject}${to} ${len}\r\n${m.data}\r\n`
        : `HPUB ${m.subject}${to} ${m.hdr.length} ${len}\r\n${m.hdr}${m.data}\r\n`;
    };
    w.sendMany(msgs, '_INBOX.abc.k-');
    w.sendMany([...msgs.slice(0, 2), big, ...msgs.slice(2, 3)]);
    expect(written).toEqual([
      msgs.map((m, i) => text(m, `_INBOX.abc.k-${i}`)).join(''),
      msgs
        .slice(0, 2)
        .map((m) => text(m))
        .join(''),
      text(msgs[2]!),
    ]);
    // the one over max_payload went through publish (which refuses it), between the two runs
    expect(publish.mock.calls.map((c) => c[0])).toEqual(['x.big']);
    send.mockRestore();
    publish.mockRestore();
    await a.close();
  });

  it('a record decoded from its work message re-encodes its unchanging fields from the message text, byte for byte as a full encode', async () => {
    const now = Date.now();
    const tricky = normalizeEnqueue({
      name: 'send',
      payload: { t: ',"s":"running"', u: 'é\u2028"\\' },
      priority: -3,
      uniqueKey: 'k"1',
    });
    for (const j of [job(), tricky]) {
      const r = newRecord(j, now);
      const fromMsg = decodeRec(encodeRec(r), true);
      expect(fromMsg.head).toBeDefined();
      const done = { ...fromMsg, state: 'completed' as const, attempts: 1, finishedAt: now + 5, result: { ok: ',"s":"x"' } };
      const plain = { ...done, head: undefined };
      expect(encodeRecText(done)).toBe(encodeRecText(plain));
      expect(decodeRec(Buffer.from(encodeRecText(done)))).toMatchObject({
        payload: r.payload,
        state: 'completed',
        uniqueKey: r.uniqueKey,
      });
    }
    // the head is what the encode uses (not the fields it stands for)
    const fromMsg = decodeRec(encodeRec(newRecord(job(), now)), true);
    expect(encodeRecText({ ...fromMsg, head: '{"v":2,"i":"HEAD"' })).toMatch(/^\{"v":2,"i":"HEAD","s":"queued",/);
    // a stored text with another field among the unchanging ones keeps no head (encoded in full)
    const r = newRecord(job(), now);
    const text = new TextDecoder().decode(encodeRec(r)).replace(',"s":"queued"', ',"qb":"B1","s":"queued"');
    expect(decodeRec(Buffer.from(text), true).head).toBeUndefined();
    expect(decodeRec(Buffer.from(text.replace(',"n":', ',"x":1,"n":')), true).head).toBeUndefined();
    // nor does a text written around jobctl whose head would not stand for the decoded fields
    // (ids ending in either letter: the second id given must differ from the first)
    for (const rr of [r, { ...r, id: `${r.id.slice(0, -1)}Y` }, { ...r, id: `${r.id.slice(0, -1)}Z` }]) {
      const plainText = new TextDecoder().decode(encodeRec(rr));
      const other = `${rr.id.slice(0, -1)}${rr.id.endsWith('Z') ? 'Y' : 'Z'}`;
      for (const odd of [
        plainText.replace(',"s":"queued"', ', "s": "queued"'), // no exact state field
        plainText.replace(/\}$/, `,"i":"${other}"}`), // the id given twice: the last one counts
        plainText.replace('{"v":2,"i":', '{"v":2 ,"i":'),
      ]) {
        const d = decodeRec(Buffer.from(odd), true);
        expect(d.head).toBeUndefined();
        expect(decodeRec(Buffer.from(encodeRecText(d)))).toMatchObject({ id: d.id, queue: rr.queue, payload: rr.payload });
      }
    }
    // end to end: the outcome record of a light claim keeps the payload
    const ns = randomNs();
    const a = await openFresh(ns);
    const [e] = await a.enqueue([tricky]);
    const [c] = await a.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    expect((await a.complete([{ id: c!.id, attempt: 1, workerId: 'w', result: 1 }]))[0]!.ok).toBe(true);
    expect(await a.getJob(e!.job.id)).toMatchObject({
      state: 'completed',
      payload: { t: ',"s":"running"', u: 'é\u2028"\\' },
      priority: -3,
      result: 1,
    });
    await a.close();
  });

  it('event lines built from parts are the JSON text of the line objects (odd queue, worker and message text)', async () => {
    const a = await openFresh();
    const ctx = ctxOf(a);
    const items = [
      { id: '01JA', attempt: 1, workerId: 'w"1\\', events: { queue: 'q.a_b', lines: [{ ts: 5, message: 'done "x" \u2028 é' }] } },
      {
        id: '01JB',
        attempt: 1,
        workerId: 'w"1\\',
        events: {
          queue: 'q.a_b',
          lines: [
            { ts: 6, message: 'a' },
            { ts: 7, message: 'b' },
          ],
        },
      },
    ];
    const fire = vi.spyOn(ctx.w, 'fire').mockImplementation(() => undefined);
    new EventBatches(ctx, items).fire(ctx, new Set(['01JA', '01JB']));
    expect(fire).toHaveBeenCalledTimes(1);
    const expected = items.flatMap((it) =>
      it.events.lines.map((l) => ({
        ts: l.ts,
        jobId: it.id,
        worker: it.workerId,
        queue: it.events.queue,
        stream: 'event',
        message: l.message,
      })),
    );
    expect(new TextDecoder().decode(fire.mock.calls[0]![1] as Uint8Array)).toBe(JSON.stringify(expected));
    // only some outcomes recorded: their lines only; a message of one line is the line itself
    fire.mockClear();
    new EventBatches(ctx, items).fire(ctx, new Set(['01JB']));
    expect(new TextDecoder().decode(fire.mock.calls[0]![1] as Uint8Array)).toBe(JSON.stringify(expected.slice(1)));
    fire.mockClear();
    new EventBatches(ctx, items).fire(ctx, new Set(['01JA']));
    expect(new TextDecoder().decode(fire.mock.calls[0]![1] as Uint8Array)).toBe(JSON.stringify(expected[0]));
    fire.mockClear();
    new EventBatches(ctx, items).fire(ctx, new Set());
    expect(fire).not.toHaveBeenCalled();
    fire.mockRestore();
    await a.close();
  });

  it("a claimed job is the record's job with its attempt; a stored payload that is not JSON keeps payloadError after the payload", () => {
    const r = newRecord(job(), 1000);
    r.state = 'running';
    r.attempts = 2;
    const c = toClaimed(r, 2000);
    expect(c).toEqual({ ...toJob(r, 2000), attempt: 2 });
    expect(c.payload).toEqual({ a: 1 });
    expect('payloadError' in c).toBe(false);
    r.payload = '{not json';
    const bad = toClaimed(r, 2000);
    expect(Object.keys(bad).slice(0, 6)).toEqual(['id', 'queue', 'name', 'payload', 'payloadError', 'priority']);
    expect(bad).toMatchObject({ payload: '{not json', attempt: 2, state: 'running' });
    expect(bad.payloadError).toMatch(/not valid JSON/);
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
