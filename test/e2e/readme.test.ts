/**
 * The README's library example, run as written (with `import ... from 'jobctl'` resolved by the
 * package's own exports), against a fresh embedded database: the README must stay true.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

describe('README', () => {
  it('the library example runs and its job completes', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Library API'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code, 'a ```js block under "## Library API"').toBeTruthy();
    const dir = mkdtempSync(join(tmpdir(), 'jobctl-readme-'));
    // inside the package, so that `from 'jobctl'` resolves to this checkout's exports
    const file = join(ROOT, `.readme-example-${process.pid}.mjs`);
    try {
      writeFileSync(file, code!);
      const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      expect(out.trim()).toBe('completed { sent: true }');
    } finally {
      rmSync(file, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
