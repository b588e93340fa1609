/**
 * Walking one queue or one state in id order on a jobs table without statistics (bulk loaded,
 * autovacuum behind or off): every keyset page of `listJobs({ queue })` and every batch of
 * `requeue({ state })` must be an ordered index scan that stops after the page, not a scan of the
 * whole table, queue or state followed by a sort (scenario 14 at 1,000,000 + 1,000,000 jobs:
 * seconds per page, 0.5–1.5 s per batch of 1,000).
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { PgBackend } from '../../../src/backends/postgres/index.js';
import { buildStatements } from '../../../src/backends/postgres/connection.js';
import { ORDERED_WALK_SETTINGS } from '../../../src/backends/postgres/operators.js';
import { admin, dropSchemas, openPg, PG_URL } from './helpers.js';

afterAll(dropSchemas);

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe('pg: ordered walks', () => {
  it('pages of one queue and batches of requeue by state are ordered index scans on a table without statistics', async () => {
    const b = (await openPg()) as PgBackend;
    try {
      const schema = b.schema;
      await admin(`ALTER TABLE "${schema}".jobs SET (autovacuum_enabled = false)`);
      await admin(`DELETE FROM pg_statistic WHERE starelid = '"${schema}".jobs'::regclass`);
      // 20,000 failed jobs of queue a, then 20,000 queued of queue b
      await admin(
        `INSERT INTO "${schema}".jobs (queue, name, state, attempts, max_attempts, finished_at)
         SELECT 'a', 'j', 'failed', 1, 1, now() FROM generate_series(1, 20000)`,
      );
      await admin(`INSERT INTO "${schema}".jobs (queue, name) SELECT 'b', 'j' FROM generate_series(1, 20000)`);

      const st = buildStatements(schema);
      const allStates = [true, false, false, false, false, false, false, false, false];
      const plan = async (text: string, values: unknown[]) => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          await c.query(`BEGIN; ${ORDERED_WALK_SETTINGS}`);
          const r = await c.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${text}`, values);
          await c.query('ROLLBACK');
          return nodes(r.rows[0]!['QUERY PLAN'][0].Plan);
        } finally {
          await c.end();
        }
      };
      const explain = (queue: string, after: string) => plan(st.listJobs.text, [after, 5000, queue, null, ...allStates]);
      for (const [queue, after] of [
        ['a', '0'],
        ['a', '15000'],
        ['b', '0'],
      ] as const) {
        const plan = await explain(queue, after);
        const onJobs = plan.filter((n) => n['Relation Name'] === 'jobs');
        expect(
          onJobs.filter((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Bitmap Heap Scan'),
          `${queue} after ${after}`,
        ).toEqual([]);
        expect(onJobs.some((n) => n['Index Name'] === 'jobs_queue_id_idx')).toBe(true);
        // the only sorts are of the (at most one page of) ids the branches returned
        expect(
          plan.filter((n) => n['Node Type'] === 'Sort' && (n.Plans ?? []).some((c) => c['Relation Name'] === 'jobs')),
        ).toEqual([]);
      }

      // and the pages themselves: every job of the queue once, in id order, nothing of the other
      const seen: string[] = [];
      for (let cursor: string | undefined; ;) {
        const r = await b.listJobs({ queue: 'a', limit: 5000, ...(cursor ? { after: cursor } : {}) });
        expect(r.jobs.every((j) => j.queue === 'a' && j.state === 'failed')).toBe(true);
        seen.push(...r.jobs.map((j) => j.id));
        if (!r.next) break;
        cursor = r.next;
      }
      expect(seen).toHaveLength(20000);
      expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((x, y) => x - y));
      expect(new Set(seen).size).toBe(20000);
      const queued = await b.listJobs({ queue: 'b', states: ['queued'], limit: 10 });
      expect(queued.jobs.map((j) => Number(j.id))).toEqual(Array.from({ length: 10 }, (_, i) => 20001 + i));
      expect((await b.listJobs({ queue: 'nope', limit: 10 })).jobs).toEqual([]);

      // requeue --state failed: each batch walks jobs_failed_idx in id order
      for (const queue of ['a', null]) {
        const rq = (await plan(st.requeueState.text, ['failed', false, queue, 1000, 'c'])).filter(
          (n) => n['Relation Name'] === 'jobs' && n['Node Type'] !== 'ModifyTable' && n['Index Name'] !== 'jobs_unique_key_idx',
        );
        expect(
          rq.filter((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Bitmap Heap Scan'),
          `requeue ${queue}`,
        ).toEqual([]);
        expect(rq.some((n) => n['Index Name'] === 'jobs_failed_idx')).toBe(true);
      }
      const requeued: string[] = [];
      for (;;) {
        const r = await b.requeue({ state: 'failed', queue: 'a', limit: 1000 });
        requeued.push(...r.changed);
        if (r.changed.length < 1000) break;
      }
      expect(requeued).toEqual(seen);
      expect((await b.stats({ queue: 'a' })).queues[0]).toMatchObject({ queued: 20000, failed: 0 });
    } finally {
      await b.close();
    }
  });
});
