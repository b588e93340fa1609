// Build step after the bundle: fills dist/code-cache/ with V8's code cache for dist/app/
// (src/cli/code-cache.ts). Training runs of bin/run.js with JOBCTL_CODE_CACHE=write, one after
// another, each starting from the cache the previous ones left and saving, at exit, the
// bytecode of every function that has run so far. They take the paths a read command takes:
// oclif's start, help, the commands and their rendering on an embedded SQLite database in a
// temporary directory, and the start of each network backend (its module and driver, then a
// refused connection: nothing listens on port 1). No server is needed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const cacheDir = fileURLToPath(new URL('../dist/code-cache/', import.meta.url));
rmSync(cacheDir, { recursive: true, force: true });
const dir = mkdtempSync(join(tmpdir(), 'jobctl-code-cache-'));
const runs = [
  ['--version'],
  ['--help'],
  ['stats', '--help'],
  ['migrate'],
  ['trigger', 'q', 'job', '--json'],
  ['stats'],
  ['stats', '--json'],
  ['failed', '--limit', '50'],
  ['failed', '--limit', '50', '--json'],
  ['stats', '--json', '--backend', 'pg', '--url', 'postgres://127.0.0.1:1/none'],
  ['failed', '--limit', '50', '--json', '--backend', 'pg', '--url', 'postgres://127.0.0.1:1/none'],
  ['stats', '--json', '--backend', 'redis', '--url', 'redis://127.0.0.1:1'],
  ['stats', '--json', '--backend', 'nats', '--url', 'nats://127.0.0.1:1'],
];
try {
  for (const args of runs) {
    const r = spawnSync(process.execPath, [bin, ...args], {
      cwd: dir,
      env: { ...process.env, JOBCTL_CODE_CACHE: 'write', JOBCTL_URL: '', JOBCTL_BACKEND: '', JOBCTL_NAMESPACE: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.error || r.signal) throw new Error(`code cache: jobctl ${args.join(' ')}: ${r.error ?? r.signal}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const count = (d) =>
  readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : 1), 0);
console.error(`dist/code-cache: ${count(cacheDir)} files`);
