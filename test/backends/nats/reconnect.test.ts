/**
 * Regression (reliability scenario 4): after nats-server was killed, requests in flight and
 * requests made while the client reconnects must fail at once — not after the 10 s request
 * timeout — and the same backend object works again once the server is back. Before the fix a
 * worker's heartbeat, claim and rescue calls hung ~10 s after every restart, and a job enqueued
 * right after the restart waited that long. Uses a throwaway nats-server (never the shared one).
 */
import { afterAll, expect, it } from 'vitest';
import { open } from '../../../src/backends/nats/index.js';
import { startServer, destroyAllServers } from '../../reliability/servers.js';

afterAll(() => destroyAllServers());

it('fails fast while nats-server is down and recovers on the same connection when it is back', async () => {
  const srv = await startServer('nats');
  const b = await open({ url: srv.url, namespace: 'reconnect', autoMigrate: true });
  try {
    await b.migrate();
    await b.registerWorker({ name: 'w', host: 'h', pid: 1, queues: ['default'], concurrency: 1, ttlMs: 10_000, version: 't' });
    expect(await b.heartbeatWorker('w', 0)).toBe(true);

    await srv.kill9();
    const t0 = Date.now();
    await expect(b.heartbeatWorker('w', 0)).rejects.toThrow();
    await expect(b.heartbeatWorker('w', 0)).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    // an idle worker's wait (its long-polls need the level listing) still just waits out its timeout
    await new Promise((r) => setTimeout(r, 1100)); // the cached level listing is stale now
    const t2 = Date.now();
    await expect(b.waitForWork(['default'], 300)).resolves.toBeUndefined();
    expect(Date.now() - t2).toBeGreaterThanOrEqual(250);

    await srv.start();
    const t1 = Date.now();
    for (;;) {
      const ok = await b.heartbeatWorker('w', 0).then(
        (v) => v,
        () => null,
      );
      if (ok !== null) break;
      if (Date.now() - t1 > 8000) throw new Error('no answer 8 s after the restart');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - t1).toBeLessThan(5000);
  } finally {
    await b.close();
  }
});
