/**
 * `jobctl --version` and `--help` must not load any database driver (backends are imported
 * lazily): a module hook makes importing one fail, and the control shows the hook works.
 * A finished command exits even when something (e.g. a socket still closing) would keep the
 * event loop alive.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'jobctl-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'hooks.mjs'),
  `export async function resolve(specifier, context, next) {
  if (/^(pg|ioredis|better-sqlite3|@nats-io\\/)/.test(specifier)) throw new Error('driver loaded: ' + specifier);
  return next(specifier, context);
}
`,
);
writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);

const jobctl = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('startup', () => {
  it('--version, --help and a command help load no database driver', () => {
    for (const args of [['--version'], ['--help'], ['work', '--help'], ['stats', '--help']]) {
      const r = jobctl(...args);
      expect(r.stderr, args.join(' ')).not.toMatch(/driver loaded/);
      expect(r.status, args.join(' ')).toBe(0);
    }
  });

  it('control: a command that opens the sqlite backend does load its driver (the hook works)', () => {
    const r = jobctl('stats');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/driver loaded: better-sqlite3/);
  });

  it('a finished command exits within about a second even when a handle keeps the event loop alive', () => {
    // a ref'd timer stands in for a connection whose close the server is slow to finish
    writeFileSync(join(dir, 'linger.mjs'), 'setInterval(() => {}, 60_000);\n');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', join(dir, 'linger.mjs'), BIN, 'stats', '--json'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal).toBeNull(); // not killed by the 20 s timeout
    expect(r.status).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(10_000);
    // no database here: the error, as JSON
    expect(r.stdout).toMatch(/"error"/);
    const ok = spawnSync(process.execPath, ['--import', join(dir, 'linger.mjs'), BIN, '--version'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(ok.signal).toBeNull();
    expect(ok.status).toBe(0);
  });
});
