/**
 * Completions' NOTIFY of the logs channel (context.ts logsChannelNow / notifyLogsLater): a handle
 * sends at most one per LOGS_NOTIFY_EVERY_MS from its completion statements, and a skipped one is
 * sent later, after the lines it stands for are committed, so a follower woken by it reads them.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { channelNames } from '../../../src/backends/postgres/connection.js';
import { LOGS_NOTIFY_EVERY_MS } from '../../../src/backends/postgres/context.js';
import type { Backend } from '../../../src/core/backend.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { dropSchemas, openPg, PG_URL, randomSchema } from './helpers.js';

afterAll(dropSchemas);

async function listen(channel: string): Promise<{ client: pg.Client; seen: number[] }> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const seen: number[] = [];
  client.on('notification', (n) => {
    if (n.channel === channel) seen.push(Date.now());
  });
  await client.query(`LISTEN "${channel}"`);
  return { client, seen };
}

async function completeOne(b: Backend, queue: string, line: string | null): Promise<void> {
  const [c] = await b.claim({ workerId: 'w', queues: [queue], limit: 1, leaseMs: 60_000 });
  const events = line === null ? undefined : { queue, lines: [{ ts: Date.now(), message: line }] };
  expect(await b.complete([{ id: c!.id, attempt: c!.attempt, workerId: 'w', ...(events ? { events } : {}) }])).toMatchObject([
    { ok: true },
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pg: logs NOTIFY of completions', () => {
  it('spaces them out per handle and sends the skipped one after its lines are committed', async () => {
    const schema = randomSchema('jct_ln');
    const b = await openPg({ schema });
    const { client, seen } = await listen(channelNames(schema).logs);
    try {
      await b.enqueue([1, 2, 3, 4, 5].map((i) => normalizeEnqueue({ name: 't', queue: 'q', payload: { i } })));
      const t0 = Date.now();
      await completeOne(b, 'q', 'completed in 1ms (attempt 1 of 5)');
      await completeOne(b, 'q', 'completed in 1ms (attempt 1 of 5)');
      await completeOne(b, 'q', 'completed in 1ms (attempt 1 of 5)');
      const tDone = Date.now();
      // the owed NOTIFY's timer is due within the spacing; a loaded machine may deliver it later
      const until = Date.now() + 2_000;
      while (seen.length < 2 && Date.now() < until) await sleep(10);
      await sleep(LOGS_NOTIFY_EVERY_MS * 2); // and no extra one comes
      // the first completion notified at once, the two others (within the spacing) by one later
      // NOTIFY (on a slow machine the third may come after the spacing and notify itself)
      if (tDone - t0 < LOGS_NOTIFY_EVERY_MS) expect(seen.length).toBe(2);
      else expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.length).toBeLessThanOrEqual(3);
      expect(seen.at(-1)! - tDone).toBeLessThan(LOGS_NOTIFY_EVERY_MS * 10);
      // ... sent after the lines were committed: a follower woken by it reads all three
      const lines = await b.readLogs({ queue: 'q', limit: 10 });
      expect(lines.lines.map((l) => l.message)).toEqual(Array(3).fill('completed in 1ms (attempt 1 of 5)'));
      // a completion without lines owes nothing
      const before = seen.length;
      await completeOne(b, 'q', null);
      await completeOne(b, 'q', null);
      await sleep(LOGS_NOTIFY_EVERY_MS * 3);
      expect(seen.length).toBe(before);
    } finally {
      await client.end();
      await b.close();
    }
  });

  it('close sends a NOTIFY still owed', async () => {
    const schema = randomSchema('jct_ln');
    const b = await openPg({ schema });
    const { client, seen } = await listen(channelNames(schema).logs);
    try {
      await b.enqueue([1, 2].map((i) => normalizeEnqueue({ name: 't', queue: 'q', payload: { i } })));
      const t0 = Date.now();
      await completeOne(b, 'q', 'completed in 1ms (attempt 1 of 5)');
      await completeOne(b, 'q', 'completed in 1ms (attempt 1 of 5)');
      await b.close(); // before the owed NOTIFY's timer, on all but a very slow machine
      // the owed timer is due no earlier than t0 + the spacing; a close that returned before then
      // sent the NOTIFY itself (a timer firing after close finds the pool ended: no NOTIFY). On a
      // slow machine (close returning later) the count is still 2 but does not tell which sent it.
      const closedBeforeTimer = Date.now() - t0 < LOGS_NOTIFY_EVERY_MS;
      const until = Date.now() + 2_000;
      while (seen.length < 2 && Date.now() < until) await sleep(10);
      await sleep(LOGS_NOTIFY_EVERY_MS * 2); // and no third one comes
      expect(seen.length, `close returned before the timer was due: ${closedBeforeTimer}`).toBe(2);
    } finally {
      await client.end();
      await b.close();
    }
  });
});
