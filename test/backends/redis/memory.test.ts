/**
 * The memory warning `jobctl work` prints at start and `jobctl doctor` lists (checkMemory): at
 * maxmemory, with noeviction, every write fails with OOM. Uses a throwaway redis-server: the
 * shared one must keep its unlimited maxmemory for every other test.
 */
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { open } from '../../../src/backends/redis/index.js';
import { destroyAllServers, startServer } from '../../reliability/servers.js';

afterAll(() => destroyAllServers());

const usedMemory = async (r: Redis) => Number(/^used_memory:(\d+)/m.exec(await r.info('memory'))![1]);

it('warns when used_memory reaches 90% of maxmemory, and not below', async () => {
  const srv = await startServer('redis');
  const r = new Redis(srv.url);
  const b = await open({ url: srv.url, namespace: 'mem', autoMigrate: true });
  const memoryWarnings = async () => (await b.warnings()).filter((w) => /maxmemory \(/.test(w));
  try {
    expect(await memoryWarnings()).toEqual([]); // maxmemory 0: no limit
    await r.config('SET', 'maxmemory', String((await usedMemory(r)) * 4));
    expect(await memoryWarnings()).toEqual([]); // ~25 %
    await r.config('SET', 'maxmemory', String(Math.ceil((await usedMemory(r)) / 0.95)));
    const [w] = await memoryWarnings();
    expect(w).toMatch(
      /^redis: memory is (9\d|100)% of maxmemory \(\d+(\.\d MB| KB) of \d+(\.\d MB| KB)\): at the limit writes fail with OOM/,
    );
  } finally {
    await r.config('SET', 'maxmemory', '0');
    r.disconnect();
    await b.close();
  }
}, 60_000);
