import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/reliability/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most test files wait on a server or a CLI subprocess, not on this process's CPU: vitest's
    // default (one file at a time on a 2-core machine: cores - 1) left the cores ~25 % busy and
    // took 326 s here; 2 at once took 195 s, 3 at once 177 s with every test ~30 % slower.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
