/**
 * `jobctl --version` and `--help` must not load any database driver (backends are imported
 * lazily): a module hook makes importing one fail, and the control shows the hook works.
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
});
