import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:reliability`: the reliability suite (issue 6), apart from `npm test`.
 * Real worker processes on a 2-core machine: one file at a time by default. RELIABILITY_PARALLEL=2
 * (CI) runs two files at once: many scenarios mostly wait (pauses, restarts, kill intervals), so
 * two at once halve the wall time without starving each other.
 */
const parallel = Math.max(1, Number(process.env.RELIABILITY_PARALLEL ?? 1) || 1);

export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: parallel > 1,
    maxWorkers: parallel,
  },
});
