/**
 * The plain enqueue statement (enqueue-jobs-plain.sql, batches without unique keys): ids come
 * back as a range when the sequence handed out consecutive ids and as a list otherwise, exact
 * beyond 2^53; the wake-ups are decided from the parameters, with a one-element array standing
 * for every row.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { PgBackend } from '../../../src/backends/postgres/index.js';
import { idRange } from '../../../src/backends/postgres/jobs.js';
import { UnavailableError, ValidationError } from '../../../src/core/errors.js';
import { normalizeEnqueue, type EnqueueInput } from '../../../src/core/job.js';
import { admin, dropSchemas, openPg, PG_URL } from './helpers.js';

afterAll(dropSchemas);

const job = (input: Partial<EnqueueInput> = {}) => normalizeEnqueue({ name: 'test', ...input });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pg: enqueue ids', () => {
  it('idRange counts on exactly past 2^53', () => {
    expect(idRange('7', 3)).toEqual(['7', '8', '9']);
    expect(idRange('9007199254740990', 4)).toEqual([
      '9007199254740990',
      '9007199254740991',
      '9007199254740992',
      '9007199254740993',
    ]);
    expect(idRange('9223372036854775805', 3)).toEqual(['9223372036854775805', '9223372036854775806', '9223372036854775807']);
  });

  it('reports the stored ids when the sequence skips (ids not consecutive) and past 2^53', async () => {
    const b = (await openPg()) as PgBackend;
    try {
      const seq = `"${b.schema}".jobs_id_seq`;
      for (const setup of [
        `ALTER SEQUENCE ${seq} INCREMENT BY 3`,
        `ALTER SEQUENCE ${seq} INCREMENT BY 1; SELECT setval('${seq}', 9007199254740990)`,
      ]) {
        await admin(setup);
        const results = await b.enqueue(Array.from({ length: 5 }, (_, i) => job({ queue: 'ids', payload: { i } })));
        for (const [i, r] of results.entries()) {
          const stored = await admin<{ id: string; i: number }>(
            `SELECT id::text AS id, (payload->>'i')::int AS i FROM "${b.schema}".jobs WHERE id = $1`,
            [r.job.id],
          );
          expect(stored, setup).toEqual([{ id: r.job.id, i }]);
          expect(r.job.payload).toEqual({ i });
        }
      }
      const all = await admin<{ id: string }>(`SELECT id::text AS id FROM "${b.schema}".jobs ORDER BY id`);
      expect(all.map((r) => r.id).slice(-5)).toEqual([
        '9007199254740991',
        '9007199254740992',
        '9007199254740993',
        '9007199254740994',
        '9007199254740995',
      ]);
    } finally {
      await b.close();
    }
  });
});

describe('pg: enqueue connections', () => {
  it('gives its connection back after an error; a connection lost during the statement is reported, not a crash', async () => {
    const b = (await openPg()) as PgBackend;
    const pool = b.ctx.pool;
    const locker = new pg.Client({ connectionString: PG_URL });
    await locker.connect();
    try {
      // the statement fails on the server: a ValidationError, the client is not kept checked out
      const e = await b.enqueue([job(), job({ payload: { s: 'a\u0000b' } })]).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ValidationError);
      expect(pool.totalCount - pool.idleCount).toBe(0);
      expect(await b.enqueue([job({ queue: 'c' })])).toHaveLength(1);
      // the statement waits for a lock, and its connection is killed meanwhile
      await locker.query(`BEGIN; LOCK TABLE "${b.schema}".jobs IN EXCLUSIVE MODE`);
      const pending = b.enqueue([job({ queue: 'c' })]).catch((err: unknown) => err);
      let pid: number | undefined;
      for (let i = 0; i < 100 && pid === undefined; i++) {
        const rows = await admin<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [`jobctl:${b.schema}`],
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await sleep(20);
      }
      expect(pid).toBeDefined();
      await admin('SELECT pg_terminate_backend($1)', [pid]);
      expect(await pending).toBeInstanceOf(UnavailableError);
      await locker.query('ROLLBACK');
      expect(await b.enqueue([job({ queue: 'c' }), job({ queue: 'c' })])).toHaveLength(2);
      expect(pool.totalCount - pool.idleCount).toBe(0);
      expect((await b.stats({ queue: 'c' })).queues[0]).toMatchObject({ queue: 'c', queued: 3 });
    } finally {
      await locker.end();
      await b.close();
    }
  });
});

describe('pg: enqueue wake-ups', () => {
  it('one NOTIFY per queue with a job ready now, whichever columns are sent as one element', async () => {
    const b = (await openPg()) as PgBackend;
    const listener = new pg.Client({ connectionString: PG_URL });
    await listener.connect();
    const got: string[] = [];
    listener.on('notification', (m) => got.push(m.payload ?? ''));
    await listener.query(`LISTEN "${b.ctx.channels.work}"`);
    const later = Date.now() + 3_600_000;
    const past = Date.now() - 1000;
    const cases: [string, Partial<EnqueueInput>[], string[]][] = [
      ['one queue, all now', [{ queue: 'a' }, { queue: 'a' }], ['a']],
      ['one queue, now and later', [{ queue: 'a', runAt: later }, { queue: 'a' }], ['a']],
      [
        'one queue, all later',
        [
          { queue: 'a', runAt: later },
          { queue: 'a', runAt: later },
        ],
        [],
      ],
      [
        'two queues, all later',
        [
          { queue: 'a', runAt: later },
          { queue: 'b', runAt: later },
        ],
        [],
      ],
      [
        'two queues, all past',
        [
          { queue: 'a', runAt: past },
          { queue: 'b', runAt: past },
        ],
        ['a', 'b'],
      ],
      [
        'two queues, one ready',
        [{ queue: 'a', runAt: later }, { queue: 'b' }, { queue: 'b' }, { queue: 'c', runAt: later }],
        ['b'],
      ],
    ];
    try {
      for (const [what, inputs, expected] of cases) {
        got.length = 0;
        await b.enqueue(inputs.map((i) => job(i)));
        await sleep(expected.length ? 100 : 200);
        for (let i = 0; i < 20 && got.length < expected.length; i++) await sleep(20);
        expect([...got].sort(), what).toEqual(expected);
      }
    } finally {
      await listener.end();
      await b.close();
    }
  });
});
