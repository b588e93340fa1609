/**
 * Redis backend: the shared conformance suite against the machine's server (127.0.0.1:6379,
 * each backend on its own random key prefix, deleted with SCAN afterwards), plus what is truly
 * Redis-specific: id format, error mapping, persistence warning, wake-ups, logs in streams.
 * The cluster smoke test lives in test/backends/redis/cluster.test.ts.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { open, type RedisBackend } from '../../src/backends/redis/index.js';
import { mapRedisError } from '../../src/backends/redis/errors.js';
import { Keys } from '../../src/backends/redis/keys.js';
import { JobctlError, SchemaError, UnavailableError, ValidationError } from '../../src/core/errors.js';
import { normalizeEnqueue } from '../../src/core/job.js';
import { runConformanceSuite } from '../conformance/suite.js';
import { REDIS_URL, cleanupPrefixes, randomPrefix } from './redis/helpers.js';

afterAll(() => cleanupPrefixes());

runConformanceSuite({
  name: 'redis',
  async open() {
    const namespace = randomPrefix();
    const backend = await open({ url: REDIS_URL, namespace, autoMigrate: true });
    return { backend, openAnother: () => open({ url: REDIS_URL, namespace }) };
  },
});

async function fresh(extra: Partial<Parameters<typeof open>[0]> = {}): Promise<RedisBackend> {
  return open({ url: REDIS_URL, namespace: randomPrefix(), autoMigrate: true, ...extra });
}

const job = (over: Parameters<typeof normalizeEnqueue>[0] = { name: 'n' }) => normalizeEnqueue(over);

describe('redis: ids', () => {
  it('accepts only canonical ids that encode a queue', async () => {
    const b = await fresh();
    try {
      const [r] = await b.enqueue([job()]);
      expect(b.normalizeId(r!.job.id)).toBe(r!.job.id);
      for (const bad of ['-1', '1e3', ' 7', '7 ', '007', '0', '100000', '1.5', '0x10', '9007199254740993', '', 'abc']) {
        expect(() => b.normalizeId(bad), bad).toThrow(ValidationError);
      }
      expect(await b.getJob('999900001')).toBeNull();
    } finally {
      await b.close();
    }
  });

  it('ids grow with creation across queues', async () => {
    const b = await fresh();
    try {
      const res = await b.enqueue([
        job({ name: 'a', queue: 'q1' }),
        job({ name: 'b', queue: 'q2' }),
        job({ name: 'c', queue: 'q1' }),
      ]);
      const ids = res.map((r) => Number(r.job.id));
      expect([...ids].sort((x, y) => x - y)).toEqual(ids);
      expect((await b.getJob(res[1]!.job.id))?.queue).toBe('q2');
    } finally {
      await b.close();
    }
  });
});

describe('redis: errors', () => {
  it('maps script replies to clean JobctlErrors', () => {
    const url = 'redis://u:s3cret@127.0.0.1:6379';
    expect(mapRedisError(new Error('JOBCTL_SCHEMA too new'), url)).toBeInstanceOf(SchemaError);
    expect(mapRedisError(new Error('JOBCTL_INVALID bad'), url)).toBeInstanceOf(ValidationError);
    expect(mapRedisError(new Error('JOBCTL_CONFLICT taken'), url).code).toBe('conflict');
    const wrong = mapRedisError(
      new Error(
        'WRONGTYPE Operation against a key holding the wrong kind of value script: 37df4df413367c4b19e0d18a348b4e33caf764e6, on @user_script:1.',
      ),
      url,
      'script claim',
    );
    expect(wrong).toBeInstanceOf(SchemaError);
    expect(wrong.message).not.toMatch(/user_script|37df4d/);
    const refused = mapRedisError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }), url);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused.message).toContain('redis://u:***@127.0.0.1:6379');
    expect(refused.message).not.toContain('s3cret');
    expect(mapRedisError(new Error('OOM command not allowed when used memory > maxmemory.'), url)).toBeInstanceOf(
      UnavailableError,
    );
    expect(mapRedisError(new Error('READONLY You cannot write against a read only replica.'), url)).toBeInstanceOf(
      UnavailableError,
    );
  });

  it('a foreign value under the prefix is a SchemaError, not a Lua stack', async () => {
    const prefix = randomPrefix();
    const b = await open({ url: REDIS_URL, namespace: prefix, autoMigrate: true });
    const r = new Redis(REDIS_URL);
    try {
      await r.set(new Keys(prefix).ready('default'), 'not a zset');
      const err = await b.enqueue([job()]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toMatch(/another application/);
      expect((err as Error).message).not.toMatch(/@user_script|script: [0-9a-f]{40}/);
    } finally {
      r.disconnect();
      await b.close();
    }
  });

  it('a newer key format is refused with a SchemaError', async () => {
    const prefix = randomPrefix();
    const r = new Redis(REDIS_URL);
    try {
      await r.hset(new Keys(prefix).meta, 'format', '99');
      await expect(open({ url: REDIS_URL, namespace: prefix })).rejects.toBeInstanceOf(SchemaError);
      await expect(open({ url: REDIS_URL, namespace: prefix, autoMigrate: true })).rejects.toThrow(/newer than this jobctl/);
    } finally {
      r.disconnect();
    }
  });

  it('an unreachable server fails fast with a masked UnavailableError', async () => {
    const t0 = Date.now();
    const err = await open({ url: 'redis://app:hunter2@127.0.0.1:1', namespace: randomPrefix() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain('redis://app:***@127.0.0.1:1');
    expect((err as Error).message).not.toContain('hunter2');
    expect(Date.now() - t0).toBeLessThan(6000);
  });

  it('a live worker name is a conflict; a malformed cursor is a ValidationError', async () => {
    const b = await fresh();
    try {
      const info = { name: 'w', host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' };
      await b.registerWorker(info);
      const err = await b.registerWorker(info).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobctlError);
      expect((err as JobctlError).code).toBe('conflict');
      await expect(b.listJobs({ limit: 10, after: '1e3' })).rejects.toBeInstanceOf(ValidationError);
      await expect(b.readLogs({ limit: 10, after: 'x' })).rejects.toBeInstanceOf(ValidationError);
    } finally {
      await b.close();
    }
  });
});

describe('redis: persistence check', () => {
  it('warns when the server keeps nothing (the shared test server runs without AOF/RDB)', async () => {
    const b = await fresh();
    const r = new Redis(REDIS_URL);
    try {
      const [, save] = (await r.config('GET', 'save')) as string[];
      const [, aof] = (await r.config('GET', 'appendonly')) as string[];
      const warning = await b.checkPersistence();
      if (save === '' && aof === 'no') expect(warning).toMatch(/neither AOF nor RDB/);
      else expect(warning ?? '').not.toMatch(/neither AOF nor RDB/);
      // the generic hook `jobctl work` and `jobctl doctor` print
      expect(await b.warnings()).toEqual(warning ? [warning] : []);
    } finally {
      r.disconnect();
      await b.close();
    }
  });
});

describe('redis: wake-ups and leases', () => {
  it('an idle waiter wakes within milliseconds of an enqueue from another connection', async () => {
    const prefix = randomPrefix();
    const worker = await open({ url: REDIS_URL, namespace: prefix, autoMigrate: true });
    const producer = await open({ url: REDIS_URL, namespace: prefix });
    try {
      expect(worker.capabilities.has('push-wakeups')).toBe(true);
      expect(await worker.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 5000 })).toEqual([]);
      await worker.waitForWork(['default'], 10, undefined); // subscribes
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        expect(await worker.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 5000 })).toEqual([]);
        const t0 = performance.now();
        const woke = worker.waitForWork(['default'], 5000).then(() => performance.now());
        await new Promise((r) => setTimeout(r, 20));
        const sent = performance.now();
        await producer.enqueue([job()]);
        waits.push((await woke) - sent);
        expect((await woke) - t0).toBeLessThan(1000);
        expect(await worker.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 5000 })).toHaveLength(1);
      }
      waits.sort((a, b) => a - b);
      expect(waits[2]!).toBeLessThan(20);
    } finally {
      await producer.close();
      await worker.close();
    }
  });

  it('a retry waiting out its back-off bounds the wait', async () => {
    const b = await fresh();
    try {
      await b.enqueue([job({ name: 'later', runAt: Date.now() + 150 })]);
      await b.waitForWork(['default'], 10);
      const t0 = Date.now();
      await b.waitForWork(['default'], 5000);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 5000 })).toHaveLength(1);
    } finally {
      await b.close();
    }
  });

  it('an expired lease is rescued by anyone and the old holder cannot record an outcome', async () => {
    const b = await fresh();
    try {
      await b.registerWorker({ name: 'w2', host: 'h', pid: 2, queues: ['default'], concurrency: 1, ttlMs: 60_000, version: 't' });
      const [r] = await b.enqueue([job({ name: 'x', maxAttempts: 3 })]);
      const [c] = await b.claim({ workerId: 'w2', queues: ['default'], limit: 1, leaseMs: 30 });
      await new Promise((res) => setTimeout(res, 60));
      const rescued = await b.rescue({ limit: 10 });
      expect(rescued.requeued).toEqual([r!.job.id]);
      const again = await b.rescue({ limit: 10 });
      expect(again.requeued).toEqual([]);
      const [o] = await b.complete([{ id: c!.id, attempt: c!.attempt, workerId: 'w2' }]);
      expect(o!.ok).toBe(false);
      const j = await b.getJob(r!.job.id);
      expect(j).toMatchObject({ state: 'queued', attempts: 1 });
      expect(j!.lastError).toMatch(/lease expired/);
    } finally {
      await b.close();
    }
  });
});

describe('redis: bulk scripts', () => {
  it('purges more jobs in one call than Lua can unpack at once (> 8000)', async () => {
    const b = await open({ url: REDIS_URL, namespace: randomPrefix(), autoMigrate: true });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 9; i++) {
        const res = await b.enqueue(Array.from({ length: 1000 }, () => job({ name: 'bulk', queue: 'bulk' })));
        ids.push(...res.map((r) => r.job.id));
      }
      for (let i = 0; i < ids.length; i += 1000) await b.cancel({ ids: ids.slice(i, i + 1000) });
      const { deleted } = await b.purge({ states: ['cancelled'], olderThanMs: 0, limit: 10_000 });
      expect(deleted).toBe(9000);
      expect(await b.getJob(ids[8999]!)).toBeNull();
    } finally {
      await b.close();
    }
  });
});

describe('redis: retention', () => {
  it('keeps at most keep_completed completed jobs (oldest deleted in bulk, with their logs)', async () => {
    const prefix = randomPrefix();
    const b = await open({ url: `${REDIS_URL}?keep_completed=5`, namespace: prefix, autoMigrate: true });
    const r = new Redis(REDIS_URL);
    try {
      await b.enqueue(Array.from({ length: 30 }, (_, i) => job({ name: `j${i}`, queue: 'ret' })));
      const claimed = await b.claim({ workerId: 'w', queues: ['ret'], limit: 30, leaseMs: 10_000 });
      await b.appendLogs([{ jobId: claimed[0]!.id, worker: 'w', queue: null, stream: 'stdout', message: 'x' }]);
      for (const c of claimed) {
        await b.complete([{ id: c.id, attempt: c.attempt, workerId: 'w' }]);
        await new Promise((res) => setTimeout(res, 2)); // distinct finish times: "oldest" is well defined
      }
      const s = await b.stats({ queue: 'ret' });
      expect(s.queues[0]!.completed).toBe(5);
      const kept = await b.listJobs({ states: ['completed'], queue: 'ret', limit: 100 });
      expect(kept.jobs.map((j) => j.name)).toEqual(['j25', 'j26', 'j27', 'j28', 'j29']);
      expect(await b.getJob(claimed[0]!.id)).toBeNull();
      const keys = new Keys(prefix);
      expect(await r.exists(keys.jobLog('ret', claimed[0]!.id), keys.job('ret', claimed[0]!.id))).toBe(0);
    } finally {
      r.disconnect();
      await b.close();
    }
  });
});

describe('redis: logs in streams', () => {
  it('reads by job with tail and cursor, and XREAD BLOCK wakes a follower', async () => {
    const b = await fresh();
    try {
      const [r] = await b.enqueue([job({ name: 'x', queue: 'logs' })]);
      const id = r!.job.id;
      await b.appendLogs(
        Array.from({ length: 5 }, (_, i) => ({
          jobId: id,
          worker: 'w',
          queue: null,
          stream: 'stdout' as const,
          message: `line ${i}`,
        })),
      );
      const tail = await b.readLogs({ jobId: id, tail: 2, limit: 100 });
      expect(tail.lines.map((l) => l.message)).toEqual(['line 3', 'line 4']);
      expect(tail.lines[0]!.queue).toBe('logs');
      const byQueue = await b.readLogs({ queue: 'logs', limit: 100 });
      expect(byQueue.lines).toHaveLength(5);
      const t0 = performance.now();
      const waiting = b.waitForLogs(5000);
      setTimeout(() => void b.appendLogs([{ jobId: id, worker: null, queue: null, stream: 'log', message: 'late' }]), 30);
      await waiting;
      expect(performance.now() - t0).toBeLessThan(1000);
      const more = await b.readLogs({ jobId: id, after: tail.cursor!, limit: 100 });
      expect(more.lines.map((l) => l.message)).toEqual(['late']);
      const ac = new AbortController();
      const aborted = b.waitForLogs(5000, ac.signal);
      ac.abort();
      await aborted;
    } finally {
      await b.close();
    }
  });
  it("a job whose only lines are its outcome events has no stream: a pending entry, moved into a stream by the job's next line", async () => {
    const prefix = randomPrefix();
    const b = await open({ url: REDIS_URL, namespace: prefix, autoMigrate: true });
    const r = new Redis(REDIS_URL);
    const keys = new Keys(prefix);
    try {
      const [a] = (await b.enqueue([job({ name: 'a', queue: 'pq' })])).map((x) => x.job);
      const [ca] = await b.claim({ workerId: 'w', queues: ['pq'], limit: 1, leaseMs: 10_000 });
      expect(ca!.id).toBe(a!.id);
      const events = (msgs: string[]) => ({ queue: 'pq', lines: msgs.map((message) => ({ ts: Date.now(), message })) });
      await b.complete([{ id: ca!.id, attempt: ca!.attempt, workerId: 'w', events: events(['claimed', 'completed']) }]);
      expect(await r.exists(keys.jobLog('pq', a!.id))).toBe(0);
      expect(await r.hexists(keys.pendingLog('pq'), a!.id)).toBe(1);
      const first = await b.readLogs({ jobId: a!.id, limit: 100 });
      expect(first.lines.map((l) => l.message)).toEqual(['claimed', 'completed']);
      expect(first.cursor).toBe(first.lines[1]!.seq);
      const page = await b.readLogs({ jobId: a!.id, limit: 1 });
      expect((await b.readLogs({ jobId: a!.id, after: page.cursor!, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'completed',
      ]);
      expect((await b.readLogs({ jobId: a!.id, tail: 1, limit: 100 })).lines.map((l) => l.message)).toEqual(['completed']);
      expect((await b.readLogs({ jobId: a!.id, after: first.cursor!, limit: 100 })).lines).toEqual([]);
      // run again: its next line moves the pending entry into a new stream, under the same id
      await b.requeue({ ids: [a!.id] });
      const [again] = await b.claim({ workerId: 'w', queues: ['pq'], limit: 1, leaseMs: 10_000 });
      expect(again!.id).toBe(a!.id);
      await b.appendLogs([{ jobId: a!.id, worker: 'w', queue: 'pq', stream: 'stdout', message: 'second run' }]);
      expect(await r.hget(keys.pendingLog('pq'), a!.id)).toBe('S');
      expect(await r.xlen(keys.jobLog('pq', a!.id))).toBe(2);
      const all = await b.readLogs({ jobId: a!.id, limit: 100 });
      expect(all.lines.map((l) => [l.seq, l.message])).toEqual([
        ...first.lines.map((l) => [l.seq, l.message]),
        [all.lines[2]!.seq, 'second run'],
      ]);
      expect((await b.readLogs({ jobId: a!.id, after: first.cursor!, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'second run',
      ]);
      await b.complete([{ id: again!.id, attempt: again!.attempt, workerId: 'w', events: events(['completed again']) }]);
      expect((await b.readLogs({ jobId: a!.id, limit: 100 })).lines.map((l) => l.message)).toEqual([
        'claimed',
        'completed',
        'second run',
        'completed again',
      ]);
      // deleting jobs deletes their streams and pending entries
      const [bj] = (await b.enqueue([job({ name: 'b', queue: 'pq' })])).map((x) => x.job);
      const [cb] = await b.claim({ workerId: 'w', queues: ['pq'], limit: 1, leaseMs: 10_000 });
      expect(cb!.id).toBe(bj!.id);
      await b.complete([{ id: cb!.id, attempt: cb!.attempt, workerId: 'w', events: events(['done b']) }]);
      expect(await r.hexists(keys.pendingLog('pq'), bj!.id)).toBe(1);
      await new Promise((res) => setTimeout(res, 5)); // purge takes jobs finished strictly before now
      await b.purge({ states: ['completed'], olderThanMs: 0, limit: 100 });
      expect(await r.exists(keys.jobLog('pq', a!.id), keys.pendingLog('pq'))).toBe(0);
    } finally {
      r.disconnect();
      await b.close();
    }
  });

  it('streams keep about a number of lines, however they are batched (MAXLEN ~ per entry = budget / its lines)', async () => {
    const prefix = randomPrefix();
    const b = await open({ url: REDIS_URL, namespace: prefix, autoMigrate: true });
    const r = new Redis(REDIS_URL);
    try {
      const [j] = (await b.enqueue([job({ name: 'chatty', queue: 'lb' })])).map((x) => x.job);
      const batch = (k: number) =>
        Array.from({ length: 10_000 }, (_, i) => ({
          jobId: j!.id,
          worker: 'w',
          queue: null,
          stream: 'stdout' as const,
          message: `${k}.${i}`,
        }));
      for (let k = 0; k < 4; k++) await b.appendLogs(batch(k));
      const keys = new Keys(prefix);
      // 20,000 lines per job stream: entries of 10,000 lines are trimmed to about 2
      expect(await r.xlen(keys.jobLog('lb', j!.id))).toBeLessThanOrEqual(3);
      expect((await b.readLogs({ jobId: j!.id, tail: 1, limit: 10 })).lines.map((l) => l.message)).toEqual(['3.9999']);
    } finally {
      r.disconnect();
      await b.close();
    }
  });

  it('a worker and everything are views merged from the queue streams, with a position per stream', async () => {
    const prefix = randomPrefix();
    const b = await open({ url: REDIS_URL, namespace: prefix, autoMigrate: true });
    const r = new Redis(REDIS_URL);
    const keys = new Keys(prefix);
    try {
      await b.enqueue([job({ name: 'a', queue: 'qa' }), job({ name: 'b', queue: 'qb' })]);
      const [ja] = await b.claim({ workerId: 'w', queues: ['qa'], limit: 1, leaseMs: 10_000 });
      const [jb] = await b.claim({ workerId: 'w', queues: ['qb'], limit: 1, leaseMs: 10_000 });
      await b.appendLogs([{ jobId: null, worker: 'w', queue: null, stream: 'event', message: 'started' }]);
      await b.appendLogs([{ jobId: ja!.id, worker: 'w', queue: 'qa', stream: 'stdout', message: 'a out' }]);
      const first = await b.readLogs({ worker: 'w', limit: 100 });
      expect(first.lines.map((l) => l.message)).toEqual(['started', 'a out']);
      // the outcome's event lines are written by the complete script, in the queue's slot only
      const done = await b.complete([
        {
          id: jb!.id,
          attempt: jb!.attempt,
          workerId: 'w',
          events: { queue: 'qb', lines: [{ ts: Date.now(), message: 'b done' }] },
        },
      ]);
      expect(done[0]!.ok).toBe(true);
      const next = await b.readLogs({ worker: 'w', after: first.cursor!, limit: 100 });
      expect(next.lines.map((l) => [l.message, l.queue, l.jobId])).toEqual([['b done', 'qb', jb!.id]]);
      expect((await b.readLogs({ worker: 'someone else', limit: 100 })).lines).toEqual([]);
      // an entry whose id sorts before the last line of another stream is still read after the cursor
      const lastB = next.lines[0]!.seq.split(':')[0]!;
      const [ms] = lastB.split('-').map(Number) as [number];
      const lastA = first.lines[1]!.seq.split(':')[0]!;
      const between = `${Math.max(ms - 1, Number(lastA.split('-')[0]))}-${Number(lastA.split('-')[1]) + 1}`;
      const row = JSON.stringify([Date.now(), ja!.id, 'w', 'qa', 'stdout', 'late a']);
      await r.xadd(keys.queueLog('qa'), between, 'n', '1', 'lines', `[${row}]`);
      const late = await b.readLogs({ after: next.cursor!, limit: 100 });
      expect(late.lines.map((l) => l.message)).toEqual(['late a']);
      expect((await b.readLogs({ after: late.cursor!, limit: 100 })).lines).toEqual([]);
      // a read from the start orders by entry id (ms), so there it comes first
      expect((await b.readLogs({ tail: 2, limit: 100 })).lines.map((l) => l.message)).toEqual(['late a', 'b done']);
      // nothing of a queue is copied to registry streams
      expect(await r.xlen(keys.workerLog)).toBe(1);
      await expect(b.readLogs({ worker: 'w', after: '1-0:0', limit: 10 })).rejects.toBeInstanceOf(ValidationError);
    } finally {
      r.disconnect();
      await b.close();
    }
  });
});
