/**
 * JetStream storage used up: a write refused for it is an UnavailableError that says so (it was
 * a bare "resource limits exceeded for account", exit 1), and warnings() (`jobctl work` at start,
 * `jobctl doctor`) says when an account nears its limit. A throwaway nats-server whose account has
 * a 256 KB file-storage limit; the shared server has none.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { open, storageWarnings } from '../../../src/backends/nats/index.js';
import { UnavailableError } from '../../../src/core/errors.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { freePort } from '../../reliability/servers.js';

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

async function limitedServer(maxFile: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'jobctl-nats-limit-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nats.conf'),
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n` +
      `accounts { APP: { jetstream: { max_file: ${maxFile}, max_mem: 1MB }, users: [{ user: app, password: pw }] } }\n`,
  );
  const child = spawn('/usr/sbin/nats-server', ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
  cleanups.push(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const c = tcp(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => (c.destroy(), r(false)));
    });
    if (up) break;
    if (i > 100) throw new Error('nats-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return `nats://app:pw@127.0.0.1:${port}`;
}

it('a full account: warnings() says so, and an enqueue fails with an UnavailableError that names the cause', async () => {
  const url = await limitedServer('256KB');
  const b = await open({ url, namespace: 'full', autoMigrate: true });
  try {
    expect(await b.warnings()).toEqual([]);
    const batch = () => Array.from({ length: 100 }, () => normalizeEnqueue({ name: 'x', payload: { pad: 'p'.repeat(200) } }));
    let refused: unknown = null;
    for (let i = 0; i < 50 && refused === null; i++) await b.enqueue(batch()).catch((e: unknown) => (refused = e));
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(String((refused as Error).message)).toBe(
      'NATS JetStream refused a write: resource limits exceeded for account (its storage is full)',
    );
    expect((refused as UnavailableError).hint).toMatch(/raise the account's JetStream limits/);
    const [w, ...more] = await b.warnings();
    expect(more).toEqual([]);
    expect(w).toMatch(
      /^NATS JetStream storage of this account is (9\d|100)% used \(2\d\d KB of 256 KB\): at the limit every write is refused/,
    );
  } finally {
    await b.close();
  }
}, 60_000);

it('storageWarnings: only for a limit the account has, from 90% of it', () => {
  const limits = { max_storage: 1000, max_memory: -1 };
  expect(storageWarnings({ storage: 899, memory: 5, limits })).toEqual([]);
  expect(storageWarnings({ storage: 900, memory: 5, limits })[0]).toMatch(/^NATS JetStream storage of this account is 90% used/);
  expect(storageWarnings({ storage: 10 ** 9, memory: 10 ** 9, limits: { max_storage: -1, max_memory: -1 } })).toEqual([]);
  expect(storageWarnings({ storage: 0, memory: 95, limits: { max_storage: -1, max_memory: 100 } })[0]).toMatch(
    /^NATS JetStream memory of this account is 95% used/,
  );
});
