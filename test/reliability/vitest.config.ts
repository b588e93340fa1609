import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/** `npm run test:reliability`: the reliability suite (issue 6), apart from `npm test`. */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // real worker processes on a 2-core machine: one file, one scenario at a time
    fileParallelism: false,
  },
});
