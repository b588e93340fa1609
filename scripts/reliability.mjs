#!/usr/bin/env node
// `npm run test:reliability [-- --full] [vitest args…]`: the reliability suite (test/reliability).
// --full runs the full sizes (RELIABILITY_FULL=1: 20,000-job chaos, 100,000-job double-claim
// race, 1,000,000-job backlogs): a person runs it (tens of minutes); without it, the CI sizes.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const full = args.includes('--full');
const rest = args.filter((a) => a !== '--full');
const env = { ...process.env, ...(full ? { RELIABILITY_FULL: '1' } : {}) };
const vitest = new URL('../node_modules/vitest/vitest.mjs', import.meta.url).pathname;
const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'test/reliability/vitest.config.ts', ...rest], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
