/** Test helpers for the Redis backend: random key prefixes and cleanup by SCAN. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Keys } from '../../../src/backends/redis/keys.js';

export const REDIS_URL = process.env.JOBCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const used = new Set<string>();

export function randomPrefix(): string {
  const p = `jt_${randomBytes(5).toString('hex')}`;
  used.add(p);
  return p;
}

/** Have cleanupPrefixes delete this prefix too (e.g. one a spawned CLI used). */
export function trackPrefix(p: string): void {
  used.add(p);
}

/** Delete every key of the prefixes handed out by randomPrefix (SCAN, never KEYS). */
export async function cleanupPrefixes(url = REDIS_URL): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let deleted = 0;
  try {
    for (const p of used) {
      let cursor = '0';
      do {
        const [next, batch] = await r.scan(cursor, 'MATCH', new Keys(p).allPattern, 'COUNT', 1000);
        cursor = next;
        if (batch.length) deleted += await r.unlink(...batch);
      } while (cursor !== '0');
    }
    used.clear();
  } finally {
    r.disconnect();
  }
  return deleted;
}
