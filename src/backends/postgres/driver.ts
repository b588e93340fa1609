/**
 * The `pg` driver, loaded once for the backend. When pg loads it checks whether it runs in a
 * Cloudflare Worker; on Node 20 (no `navigator` global) that check touches the global `Response`,
 * which makes Node load its whole fetch implementation: 20-45 ms of every pg command's start
 * (`jobctl stats` has a 200 ms budget end to end). A `navigator` global present only during that
 * synchronous load answers the check first and is removed right after; Node 21+ has its own
 * `navigator` and is left alone.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';

const require = createRequire(import.meta.url);

function load(): typeof pg {
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return require('pg') as typeof pg;
  g.navigator = { userAgent: 'Node.js' };
  try {
    return require('pg') as typeof pg;
  } finally {
    delete g.navigator;
  }
}

export const driver: typeof pg = load();
