/**
 * Regression (reliability scenario 6): a Redis server that accepts connections but never answers
 * (SIGSTOPped) must not hang a CLI command or a worker call forever. Before the fix `jobctl stats`
 * waited for the whole pause (the handshake after the TCP connect had no timeout), and a command
 * on an open connection waited for the server to answer, however long. Uses a throwaway
 * redis-server (never the shared one).
 */
import { afterAll, expect, it } from 'vitest';
import { open } from '../../../src/backends/redis/index.js';
import { COMMAND_TIMEOUT_MS } from '../../../src/backends/redis/connection.js';
import { UnavailableError } from '../../../src/core/errors.js';
import { destroyAllServers, startServer } from '../../reliability/servers.js';

afterAll(() => destroyAllServers());

it('a paused server: opening and commands fail with UnavailableError in bounded time; the backend works after SIGCONT', async () => {
  const srv = await startServer('redis');
  const b = await open({ url: srv.url, namespace: 'pause', autoMigrate: true });
  try {
    await b.migrate();
    srv.pause();
    const t0 = Date.now();
    const [opening, command] = await Promise.allSettled([
      open({ url: srv.url, namespace: 'pause', autoMigrate: false }),
      b.stats({}),
    ]);
    const took = Date.now() - t0;
    expect(opening.status).toBe('rejected');
    expect((opening as PromiseRejectedResult).reason).toBeInstanceOf(UnavailableError);
    expect(command.status).toBe('rejected');
    expect((command as PromiseRejectedResult).reason).toBeInstanceOf(UnavailableError);
    expect(took).toBeLessThan(COMMAND_TIMEOUT_MS + 3000);
    srv.resume();
    const t1 = Date.now();
    for (;;) {
      const ok = await b.stats({}).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() - t1 > 10_000) throw new Error('no answer 10 s after SIGCONT');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    srv.resume();
    await b.close();
  }
}, 40_000);
