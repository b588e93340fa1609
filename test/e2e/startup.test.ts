/**
 * `jobctl --version` and `--help` must not load any database driver (backends are imported
 * lazily): module hooks make loading a driver, or a backend module (dist/backends/ or, in the
 * bundle, dist/app/backends/, where the drivers are bundled in), fail, whether by import (an ES
 * module resolve hook) or by require (the bundle is CommonJS: a wrapper of Module._resolveFilename),
 * and the controls show the hooks work. Loading pg must not make Node 20 load its fetch implementation (the
 * navigator shim of the pg backend). A finished command exits even when something (e.g. a
 * socket still closing) would keep the event loop alive.
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
  const r = await next(specifier, context);
  if (/\\/dist\\/(app\\/)?backends\\//.test(r.url)) throw new Error('backend loaded: ' + r.url);
  return r;
}
`,
);
writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
writeFileSync(
  join(dir, 'hooks.cjs'),
  `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (/^(pg|ioredis|better-sqlite3|@nats-io\\/)/.test(request)) throw new Error('driver loaded: ' + request);
  const r = resolve.call(this, request, ...rest);
  if (/\\/dist\\/(app\\/)?backends\\//.test(r)) throw new Error('backend loaded: ' + r);
  return r;
};
`,
);

const jobctl = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), '--require', join(dir, 'hooks.cjs'), BIN, ...args], {
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

  it('controls: a command that opens a backend does load it (the hook works)', () => {
    const r = jobctl('stats');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/(backend|driver) loaded: \S*(sqlite|better-sqlite3)/);
    const pg = jobctl('stats', '--backend', 'pg', '--url', 'postgres://127.0.0.1:1/none');
    expect(pg.status).not.toBe(0);
    expect(pg.stderr).toMatch(/(backend|driver) loaded: \S*(postgres|pg)/);
  });

  it("loading the pg driver does not load Node 20's fetch implementation, nor node:crypto (password auth only)", () => {
    writeFileSync(
      join(dir, 'fetch-check.mjs'),
      "process.on('exit', () => { if (process.moduleLoadList.some((m) => m.includes('undici'))) process.stderr.write('fetch loaded\\n'); " +
        "if (process.moduleLoadList.includes('NativeModule crypto')) process.stderr.write('crypto loaded\\n'); });\n",
    );
    // nothing listens on port 1: pg is loaded, the connection is refused. NODE_ENV as a user has
    // it: vitest sets "test", where oclif tries to register ts-node/tsx (development only).
    const r = spawnSync(
      process.execPath,
      ['--import', join(dir, 'fetch-check.mjs'), BIN, 'stats', '--backend', 'pg', '--url', 'postgres://127.0.0.1:1/none'],
      { cwd: dir, encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_ENV: '' } },
    );
    expect(r.stderr).toMatch(/cannot reach/);
    expect(r.stderr).not.toMatch(/fetch loaded/);
    expect(r.stderr).not.toMatch(/crypto loaded/);
  });

  it('a start does not build an ICU collator (no localeCompare: 15-20 ms of CPU)', () => {
    writeFileSync(
      join(dir, 'collator-check.mjs'),
      "const o = String.prototype.localeCompare;\nString.prototype.localeCompare = function (...a) { process.stderr.write('localeCompare called\\n'); return o.apply(this, a); };\n",
    );
    for (const args of [['--version'], ['stats', '--json']]) {
      const r = spawnSync(process.execPath, ['--import', join(dir, 'collator-check.mjs'), BIN, ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.stderr, args.join(' ')).not.toMatch(/localeCompare called/);
    }
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
