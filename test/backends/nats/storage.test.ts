/**
 * JetStream storage used up: a write refused for it is an UnavailableError that says so (it was
 * a bare "resource limits exceeded for account", exit 1), and warnings() (`jobctl work` at start,
 * `jobctl doctor`) says when an account nears its limit. A throwaway nats-server whose account has
 * a 256 KB file-storage limit; the shared server has none.
 */
import { afterAll, expect, it } from 'vitest';
import { open, storageWarnings } from '../../../src/backends/nats/index.js';
import { UnavailableError } from '../../../src/core/errors.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { configuredServer } from './server.js';

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

async function limitedServer(maxFile: string): Promise<string> {
  const s = await configuredServer(
    `accounts { APP: { jetstream: { max_file: ${maxFile}, max_mem: 1MB }, users: [{ user: app, password: pw }] } }`,
  );
  cleanups.push(s.stop);
  return `nats://app:pw@127.0.0.1:${s.port}`;
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
