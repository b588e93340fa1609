/**
 * `jobctl requeue --state failed --all` on Postgres works in batches (each one atomic) and can be
 * re-run: killed half-way, the batches already committed stay requeued, and running it again
 * requeues exactly the rest. Runs the real CLI as a subprocess (CI-sized: 30,000 jobs; the 1M
 * run is in docs/benchmarks.md).
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BATCH_SIZE } from '../../src/cli/mutation-command.js';
import { BIN } from '../e2e/helpers.js';
import { admin, dropSchemas, openPg, PG_URL } from './postgres/helpers.js';
import type { PgBackend } from '../../src/backends/postgres/index.js';

afterAll(dropSchemas);

const N = 30_000;

function cli(schema: string, args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, JOBCTL_BACKEND: 'pg', JOBCTL_URL: PG_URL, JOBCTL_NAMESPACE: schema, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

describe('pg: requeue --state failed --all in batches', () => {
  it('killed half-way, then re-run: every failed job is requeued exactly once', async () => {
    const b = (await openPg()) as PgBackend;
    const schema = b.schema;
    await b.close();
    await admin(
      `INSERT INTO "${schema}".jobs (queue, name, state, attempts, max_attempts, finished_at, last_error)
       SELECT 'rq', 'j', 'failed', 5, 5, now(), 'boom' FROM generate_series(1, $1::int)`,
      [N],
    );
    const watch = new pg.Client({ connectionString: PG_URL });
    await watch.connect();
    const count = async (state: string) =>
      Number((await watch.query(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state = $1`, [state])).rows[0].n);
    try {
      // first run: killed (SIGKILL, no chance to clean up) once some batches have committed
      const first = cli(schema, ['requeue', '--state', 'failed', '--all', '--json']);
      let exited = false;
      void first.done.then(() => (exited = true));
      let queued = 0;
      while (!exited && queued === 0) {
        await new Promise((r) => setTimeout(r, 5));
        queued = await count('queued');
      }
      expect(exited, 'the first run must still be running when it is killed').toBe(false);
      first.child.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      queued = await count('queued');
      expect(queued).toBeGreaterThan(0);
      expect(queued).toBeLessThan(N);
      expect(queued % BATCH_SIZE).toBe(0); // whole batches only: each one is atomic

      // the re-run finishes the rest
      const second = await cli(schema, ['requeue', '--state', 'failed', '--all', '--json']).done;
      expect(second.stderr).toBe('');
      expect(second.code).toBe(0);
      const out = JSON.parse(second.stdout) as { changed: string[]; skipped: unknown[] };
      expect(out.changed).toHaveLength(N - queued);
      expect(await count('failed')).toBe(0);
      expect(await count('queued')).toBe(N);
      // requeued once each: one more attempt granted, never two
      const r = await watch.query(`SELECT max_attempts, count(*)::int AS n FROM "${schema}".jobs GROUP BY 1`);
      expect(r.rows).toEqual([{ max_attempts: 6, n: N }]);
      // and stats agrees (the counters followed every batch, also the killed run's)
      const s = await cli(schema, ['stats', '--json']).done;
      expect(JSON.parse(s.stdout).queues).toMatchObject([{ queue: 'rq', queued: N, failed: 0 }]);
    } finally {
      await watch.end();
    }
  }, 90_000);
});
