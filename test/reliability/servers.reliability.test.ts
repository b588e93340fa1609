/**
 * The throwaway servers (servers.ts) themselves: each starts on a free loopback port, keeps an
 * accepted job across a kill -9 and a restart on the same port and data dir (Postgres also
 * across `pg_ctl stop -m immediate`), and a paused server answers again after SIGCONT.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { sandbox } from './harness.js';
import { destroyAllServers, startServer, type ServerKind } from './servers.js';

const KINDS: ServerKind[] = ['pg', 'redis', 'nats'];

describe.each(KINDS)('throwaway %s server', (kind) => {
  afterAll(() => destroyAllServers());

  it('starts on a free loopback port, survives kill -9 + restart with its data, pauses and resumes', async () => {
    const s = await startServer(kind);
    expect(s.url).toMatch(/127\.0\.0\.1:\d+/);
    expect(s.url).not.toMatch(/:(5432|6379|4222)\b/);
    const box = sandbox(kind, s.url);
    try {
      const r = await box.run(['trigger', 'rel', '--payload', '{"ms":1}']);
      expect(r.code, r.stderr).toBe(0);
      const id = r.stdout.trim();

      const pid = s.pid;
      if (kind === 'pg') await s.stop('immediate');
      else await s.kill9();
      expect(s.running).toBe(false);
      await s.start();
      expect(s.pid).not.toBe(pid);
      const job = await box.json<{ id: string; state: string }>(['jobs', 'show', id]);
      expect(job).toMatchObject({ id, state: 'queued' });

      s.pause();
      s.resume();
      expect((await box.json<{ id: string }>(['jobs', 'show', id])).id).toBe(id);
    } finally {
      box.cleanup();
    }
  });
});
