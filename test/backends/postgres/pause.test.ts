/**
 * Regression (reliability scenario 6): a Postgres server that keeps its connections open but
 * answers nothing (SIGSTOPped) must not hang a command or a worker call for as long as the TCP
 * connection lives. Before the client-side query timeout (connection.ts QUERY_TIMEOUT_MS) a query
 * sent on a pooled connection waited for the server however long it was paused: this test's
 * stats/claim never settled. Uses a throwaway PostgreSQL (never the shared one).
 */
import { afterAll, expect, it } from 'vitest';
import { open } from '../../../src/backends/postgres/index.js';
import { mapPgError, POOL_MAX, QUERY_TIMEOUT_MS } from '../../../src/backends/postgres/connection.js';
import { UnavailableError } from '../../../src/core/errors.js';
import { destroyAllServers, startServer } from '../../reliability/servers.js';

afterAll(() => destroyAllServers());

const settleWithin = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      (v) => ({ status: 'fulfilled' as const, value: v }),
      (e: unknown) => ({ status: 'rejected' as const, reason: e }),
    ),
    new Promise<{ status: 'pending' }>((r) => setTimeout(() => r({ status: 'pending' }), ms).unref()),
  ]);

it('a paused server: calls on open connections fail with a one-line UnavailableError in bounded time; the backend works after SIGCONT', async () => {
  const srv = await startServer('pg');
  const b = await open({ url: srv.url, namespace: 'pause', autoMigrate: true });
  try {
    await b.migrate();
    await b.enqueue([
      { name: 'x', payloadJson: '{}', queue: 'q', priority: 0, runAt: null, maxAttempts: 3, timeoutMs: 60_000, uniqueKey: null },
    ]);
    // warm several pooled connections so that the calls below go to connections already open
    await Promise.all([b.stats({}), b.stats({}), b.stats({})]);
    srv.pause();
    const t0 = Date.now();
    const bound = 20_000; // a literal: without a client-side timeout the calls are still pending then
    // more calls than the pool has connections: the last ones wait for a free connection and
    // give up after the connect timeout (pg-pool's 'timeout exceeded when trying to connect')
    const [command, claim, ...waiting] = await Promise.all([
      settleWithin(b.stats({}), bound),
      settleWithin(b.claim({ workerId: 'w-pause', queues: ['q'], limit: 1, leaseMs: 5000 }), bound),
      ...Array.from({ length: POOL_MAX + 1 }, () => settleWithin(b.getJob('1'), bound)),
    ]);
    const took = Date.now() - t0;
    for (const r of [command, claim, ...waiting]) {
      expect(r.status, 'the call settled while the server was paused').toBe('rejected');
      const e = (r as { reason: Error }).reason;
      expect(e).toBeInstanceOf(UnavailableError);
      // a call that had to open a connection to the paused server fails on the connect timeout
      expect(e.message).toMatch(r === command || r === claim ? /did not answer in time/ : /did not answer in time|cannot reach/);
      expect(e.message).not.toContain('\n');
    }
    expect(took).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 500);
    expect(
      waiting.map((r) => (r as { reason: Error }).reason.message).filter((m) => /pooled connections stayed busy/.test(m)).length,
    ).toBeGreaterThan(0);
    srv.resume();
    const t1 = Date.now();
    // the claim sent before the pause may have been carried out after the SIGCONT (its answer
    // was given up on): the job is then running under that claim's lease, else still queued
    for (;;) {
      const stats = await b.stats({}).catch(() => null);
      if (stats) {
        const q = stats.queues.find((x) => x.queue === 'q');
        expect((q?.queued ?? 0) + (q?.running ?? 0)).toBe(1);
        break;
      }
      if (Date.now() - t1 > 10_000) throw new Error('no answer 10 s after SIGCONT');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    srv.resume();
    await b.close();
  }
}, 90_000);

it("a paused server: a producer's close gives up its count fold after 2 s, not the driver's query timeout", async () => {
  const srv = await startServer('pg');
  const b = await open({ url: srv.url, namespace: 'pausefold', autoMigrate: true });
  let closing: Promise<void> | null = null;
  try {
    await b.migrate();
    // a write shorter-lived than the periodic fold: the handle folds when it closes
    await b.enqueue([
      { name: 'x', payloadJson: '{}', queue: 'q', priority: 0, runAt: null, maxAttempts: 3, timeoutMs: 60_000, uniqueKey: null },
    ]);
    srv.pause();
    const t0 = Date.now();
    closing = b.close();
    const r = await settleWithin(closing, 20_000);
    const took = Date.now() - t0;
    expect(r.status, 'close settled while the server was paused').toBe('fulfilled');
    expect(took).toBeGreaterThanOrEqual(1500); // it waited for the fold, up to its own bound
    expect(took).toBeLessThan(QUERY_TIMEOUT_MS - 4000);
  } finally {
    srv.resume();
    if (!closing) await b.close();
  }
}, 60_000);

it('a statement cancelled by statement_timeout is a one-line UnavailableError', () => {
  const e = mapPgError(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }), {
    url: 'postgres://u:secret@h/db',
    schema: 'jobctl',
  });
  expect(e).toBeInstanceOf(UnavailableError);
  expect(e.message).toMatch(/statement_timeout/);
  expect(e.message).not.toContain('secret');
});
