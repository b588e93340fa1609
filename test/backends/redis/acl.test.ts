/**
 * Redis least privilege: the two ACL users of the README's "Redis: least privilege" (taken from
 * the README itself, so the documented rules are the tested ones) on a throwaway redis-server.
 * The worker user runs every command, the read-only user every reading one, and each write it
 * tries fails at once with a PermissionError (before: `redis error in script …: ERR The user
 * executing the script can't run this command or subcommand`, a generic error).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../../src/backends/redis/index.js';
import { PermissionError } from '../../../src/core/errors.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { destroyAllServers, startServer } from '../../reliability/servers.js';
import { AsUsers, readmeBlock } from '../least-privilege.js';

/** The `user …` lines of the README's ACL block under "### Redis: least privilege". */
function readmeUsers(): string[][] {
  return readmeBlock('### Redis: least privilege', 'acl')
    .split('\n')
    .filter((l) => l.startsWith('user '))
    .map((l) => l.trim().split(/\s+/).slice(1));
}

const PASSWORD: Record<string, string> = { jobctl_worker: 'worker-secret-2', jobctl_readonly: 'readonly-secret-3' };
let base = '';
const urlOf = (user: string) => base.replace('redis://', `redis://${user}:${PASSWORD[user]}@`);
const cli = new AsUsers('redis', urlOf);

beforeAll(async () => {
  const srv = await startServer('redis');
  base = srv.url;
  const admin = new Redis(srv.url);
  try {
    for (const [name, ...rules] of readmeUsers())
      await admin.call('ACL', 'SETUSER', name!, ...rules.map((r) => (r.startsWith('>CHANGE-ME') ? `>${PASSWORD[name!]}` : r)));
    const users = ((await admin.call('ACL', 'USERS')) as string[]).filter((u) => u !== 'default');
    expect(users.sort()).toEqual(Object.keys(PASSWORD).sort());
  } finally {
    admin.disconnect();
  }
}, 30_000);
afterAll(async () => {
  cli.sandbox.cleanup();
  await destroyAllServers();
});

describe('the README ACL rules', () => {
  it('the worker user runs every writing command, migrate included', async () => {
    expect(await cli.ok('jobctl_worker', ['migrate'])).toMatch(/from version 0 to \d+/);
    await cli.writingCommands('jobctl_worker');
  }, 120_000);

  it('the read-only user runs every reading command, without warnings', async () => {
    await cli.readingCommands('jobctl_readonly', 'jobctl_worker');
    expect((await cli.run('jobctl_readonly', ['stats'])).stderr).toBe('');
  }, 120_000);

  it('the read-only user follows the logs', () => cli.followsLogs('jobctl_readonly', 'jobctl_worker'), 60_000);

  it('every write of the read-only user fails at once with a PermissionError', async () => {
    await cli.writesRefused(
      'jobctl_readonly',
      'jobctl_worker',
      /^jobctl: redis at redis:\/\/jobctl_readonly:\*\*\*@127\.0\.0\.1:\d+ denied this user a command/,
      PASSWORD.jobctl_readonly!,
    );
    const b = await open({ url: urlOf('jobctl_readonly'), namespace: 'jobctl' });
    try {
      await expect(b.enqueue([normalizeEnqueue({ name: 'x' })])).rejects.toBeInstanceOf(PermissionError);
    } finally {
      await b.close();
    }
  }, 120_000);
});
