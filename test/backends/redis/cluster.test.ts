/**
 * Redis Cluster: a 3-master cluster started from the redis-server binary on loopback ports; a
 * smoke run of the backend through ioredis' Cluster client with queues spread over the masters,
 * then the whole conformance suite on the cluster. Every script touches one slot, or Redis would
 * answer CROSSSLOT.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../../src/backends/redis/index.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { runConformanceSuite } from '../../conformance/suite.js';
import { hasRedisBinaries, startCluster, type TestCluster } from './cluster.js';
import { randomPrefix } from './helpers.js';

if (!(await hasRedisBinaries())) throw new Error('redis-server and redis-cli are needed for the cluster test');

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe('redis cluster: smoke', () => {
  it('runs enqueue, claim, outcomes, operators, stats, lists, logs and workers across masters', async () => {
    const namespace = randomPrefix();
    const b = await open({ url: cluster.url, namespace, autoMigrate: true });
    const other = await open({ url: cluster.url, namespace });
    try {
      const queues = Array.from({ length: 8 }, (_, i) => `q${i}`);
      // the queues' hash tags land on different masters
      const probe = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
      const slots = await Promise.all(queues.map((q) => probe.cluster('KEYSLOT', `{${namespace}:${q}}`) as Promise<number>));
      await probe.quit();
      const owner = (slot: number) => Math.floor(slot / (16384 / 3));
      expect(new Set(slots.map(owner)).size).toBeGreaterThan(1);

      const enq = await b.enqueue(
        queues.flatMap((queue) => [
          normalizeEnqueue({ name: 'a', queue }),
          normalizeEnqueue({ name: 'b', queue, uniqueKey: 'u' }),
        ]),
      );
      expect(enq.every((r) => r.created)).toBe(true);
      const dup = await b.enqueue([normalizeEnqueue({ name: 'b', queue: 'q0', uniqueKey: 'u' })]);
      expect(dup[0]!.created).toBe(false);

      await b.registerWorker({ name: 'cw', host: 'h', pid: 1, queues, concurrency: 4, ttlMs: 30_000, version: 't' });
      expect(await b.heartbeatWorker('cw', 3)).toBe(true);
      const claimed = await b.claim({ workerId: 'cw', queues, limit: 100, leaseMs: 30_000 });
      expect(claimed).toHaveLength(16);
      const [c0, c1, c2, ...rest] = claimed;
      expect((await b.complete([{ id: c0!.id, attempt: c0!.attempt, workerId: 'cw', result: 1 }]))[0]!.ok).toBe(true);
      expect(
        (await b.fail([{ id: c1!.id, attempt: c1!.attempt, workerId: 'cw', error: 'boom', retryDelayMs: 0, final: true }]))[0]!
          .state,
      ).toBe('failed');
      expect((await b.release([{ id: c2!.id, attempt: c2!.attempt, workerId: 'cw', reason: 'bye' }]))[0]!.state).toBe('queued');
      expect(
        (await b.extendLeases({ workerId: 'cw', leaseMs: 30_000, jobs: rest.map((j) => ({ id: j.id, attempt: j.attempt })) }))
          .lost,
      ).toEqual([]);
      const cancelled = await b.cancel({ ids: rest.slice(0, 2).map((j) => j.id) });
      expect(cancelled.changed).toHaveLength(2);
      const requeued = await b.requeue({ ids: [c1!.id] });
      expect(requeued.changed).toEqual([c1!.id]);
      const reset = await b.reset({ ids: [rest[2]!.id], force: true });
      expect(reset.changed).toEqual([rest[2]!.id]);

      const s = await b.stats({});
      const sum = (k: 'queued' | 'running' | 'completed' | 'cancelled') => s.queues.reduce((n, q) => n + q[k], 0);
      expect([sum('queued'), sum('running'), sum('completed'), sum('cancelled')]).toEqual([3, 10, 1, 2]);
      expect(s.workers.alive).toBe(1);

      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await b.listJobs({ limit: 5, after });
        seen.push(...page.jobs.map((j) => j.id));
        if (!page.next) break;
        after = page.next;
      }
      expect(seen).toHaveLength(16);
      expect([...seen].sort((x, y) => Number(x) - Number(y))).toEqual(seen);

      await b.appendLogs([{ jobId: c0!.id, worker: 'cw', queue: null, stream: 'stdout', message: 'hello' }]);
      expect((await b.readLogs({ jobId: c0!.id, limit: 10 })).lines.map((l) => l.message)).toEqual(['hello']);
      expect((await b.readLogs({ worker: 'cw', limit: 10 })).lines).toHaveLength(1);

      // a wake-up published on one master reaches a subscriber connected anywhere
      await other.waitForWork(['q7'], 10);
      const t0 = performance.now();
      const woke = other.waitForWork(['q7'], 3000);
      setTimeout(() => void b.enqueue([normalizeEnqueue({ name: 'late', queue: 'q7' })]), 20);
      await woke;
      expect(performance.now() - t0).toBeLessThan(1000);

      expect((await b.listWorkers()).map((w) => w.name)).toEqual(['cw']);
      expect(await b.checkPersistence()).toMatch(/neither AOF nor RDB/);
      expect((await b.purge({ states: ['completed', 'failed', 'cancelled'], olderThanMs: 0, limit: 100 })).deleted).toBe(3);
    } finally {
      await other.close();
      await b.close();
    }
  });
});

runConformanceSuite({
  name: 'redis cluster',
  async open() {
    const namespace = randomPrefix();
    const backend = await open({ url: cluster.url, namespace, autoMigrate: true });
    return { backend, openAnother: () => open({ url: cluster.url, namespace }) };
  },
});
