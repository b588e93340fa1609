/**
 * The V8 code cache of the bundle (src/cli/code-cache.ts, built by scripts/code-cache.mjs): a
 * built checkout's starts take every file they load from the cache (JOBCTL_CODE_CACHE_TRACE=1
 * says so per file), and a cache that does not fit (another node, a rebuilt file, bad data, no
 * cache at all) is ignored: the command still works, compiled from source. The stale cases run
 * on a copy of the package, so that the checkout's own cache stays as built.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers.js';

const ROOT = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'jobctl-code-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jobctl = (bin: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    env: { ...process.env, JOBCTL_URL: '', JOBCTL_BACKEND: '', JOBCTL_CODE_CACHE_TRACE: '1', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });

/** file -> outcome, from the trace lines on stderr */
const outcomes = (stderr: string): Record<string, string> =>
  Object.fromEntries(
    stderr
      .split('\n')
      .filter((l) => l.startsWith('code-cache: '))
      .map((l) => l.slice('code-cache: '.length).split(' ').reverse()),
  );

describe('code cache', () => {
  it("a built checkout's starts use the cache for every file they load", () => {
    expect(jobctl(BIN, ['migrate']).status).toBe(0);
    for (const args of [['--version'], ['stats', '--json'], ['failed', '--limit', '50', '--json']]) {
      const r = jobctl(BIN, args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const seen = outcomes(r.stderr);
      expect(seen['run.js'], args.join(' ')).toBe('hit');
      expect(
        Object.values(seen).every((o) => o === 'hit'),
        JSON.stringify(seen),
      ).toBe(true);
      if (args[0] !== '--version') {
        expect(seen[`commands/${args[0]}.js`]).toBe('hit');
        expect(seen['backends/sqlite.js']).toBe('hit');
      }
    }
  });

  it('a cache that does not fit is ignored and the command still works', () => {
    const pkg = join(dir, 'pkg');
    for (const f of ['bin', 'dist', 'package.json', 'oclif.manifest.json'])
      cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    const bin = join(pkg, 'bin/run.js');
    const cache = join(pkg, 'dist/code-cache/run.js.bin');
    const good = readFileSync(cache);
    const nl = good.indexOf(10);
    const header = good.toString('latin1', 0, nl);
    const version = (env: Record<string, string> = {}) => {
      const r = jobctl(bin, ['--version'], env);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^jobctl\/\d/);
      return outcomes(r.stderr)['run.js'];
    };
    expect(version()).toBe('hit');

    // made by another node
    writeFileSync(cache, Buffer.concat([Buffer.from(header.replace(process.version, 'v0.0.1') + '\n'), good.subarray(nl + 1)]));
    expect(version()).toBe('stale');

    // for another build of the file (its trailer names another hash)
    writeFileSync(
      cache,
      Buffer.concat([Buffer.from(header.replace(/ \w+$/, ' 0123456789abcdef0123456789abcdef') + '\n'), good.subarray(nl + 1)]),
    );
    expect(version()).toBe('stale');

    // the right header over data V8 does not take (another file's cache)
    const other = readFileSync(join(pkg, 'dist/code-cache/commands/stats.js.bin'));
    writeFileSync(cache, Buffer.concat([good.subarray(0, nl + 1), other.subarray(other.indexOf(10) + 1)]));
    expect(version()).toBe('rejected');

    // none at all
    rmSync(join(pkg, 'dist/code-cache'), { recursive: true });
    expect(version()).toBe('miss');
    expect(jobctl(bin, ['stats', '--json']).status).toBe(0);

    // switched off: no cache is looked for
    const off = jobctl(bin, ['--version'], { JOBCTL_CODE_CACHE: 'off' });
    expect(off.status).toBe(0);
    expect(outcomes(off.stderr)).toEqual({});
  });
});
