/**
 * NATS least privilege: the three users of the README's "NATS: least privilege" configuration
 * (taken from the README itself, so the documented permissions are the tested ones) on a
 * throwaway nats-server. The worker user runs every writing command but cannot migrate; the
 * read-only user runs every reading command, also when a listing would do upkeep on the side
 * (folding small queued listings), and every write it tries fails at once with a PermissionError
 * naming the subject — before, the server's refusal was only seen as a 10 s request timeout that
 * blamed an overloaded server (exit 69).
 */
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { open } from '../../../src/backends/nats/index.js';
import { Wire } from '../../../src/backends/nats/wire.js';
import { PermissionError } from '../../../src/core/errors.js';
import { normalizeEnqueue } from '../../../src/core/job.js';
import { AsUsers, readmeBlock } from '../least-privilege.js';
import { configuredServer } from './server.js';

const PASSWORDS = {
  JOBCTL_ADMIN_PASSWORD: 'admin-secret-1',
  JOBCTL_WORKER_PASSWORD: 'worker-secret-2',
  JOBCTL_READONLY_PASSWORD: 'readonly-secret-3',
};
type User = 'admin' | 'worker' | 'readonly';

let stop = () => {};
let port = 0;
const url = (user: string) =>
  `nats://jobctl_${user}:${PASSWORDS[`JOBCTL_${user.toUpperCase() as 'ADMIN' | 'WORKER' | 'READONLY'}_PASSWORD`]}@127.0.0.1:${port}`;
const cli = new AsUsers('nats', url);
const as = (user: User, args: string[]) => cli.run(user, args);
const ok = (user: User, args: string[]) => cli.ok(user, args);

const readmeConf = () => readmeBlock('### NATS: least privilege', 'conf');
/** The README's configuration without the worker's ack permission. */
function withoutAcks(conf: string): string {
  const c = conf.replace(/"\$JS\.ACK\.JC_jobctl_WORK\.>",\s*/, '');
  expect(c).not.toBe(conf);
  return c;
}
/** Another throwaway server with `conf`, and the CLI as its users (stop it and clean the sandbox). */
async function ownServer(conf: string) {
  const srv = await configuredServer(conf, PASSWORDS);
  const urlOf = (user: string) => url(user).replace(`:${port}`, `:${srv.port}`);
  return { srv, urlOf, cli: new AsUsers('nats', urlOf) };
}

beforeAll(async () => {
  const s = await configuredServer(readmeConf(), PASSWORDS);
  stop = s.stop;
  port = s.port;
}, 30_000);
afterAll(() => {
  cli.sandbox.cleanup();
  stop();
});

describe('the README configuration', () => {
  it('the worker user cannot migrate; the admin user can', async () => {
    const r = await as('worker', ['migrate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^jobctl: this NATS user may not publish to \$JS\.API\.STREAM\.CREATE\.\S+/);
    expect(r.stderr).not.toContain(PASSWORDS.JOBCTL_WORKER_PASSWORD);
    expect(await ok('admin', ['migrate'])).toMatch(/from version 0 to \d+/);
  }, 60_000);

  it('the worker user runs the writing commands', () => cli.writingCommands('worker'), 120_000);

  it('the read-only user runs every reading command', () => cli.readingCommands('readonly', 'admin'), 120_000);

  it('the read-only user follows the logs', () => cli.followsLogs('readonly', 'worker'), 60_000);

  it(
    'every write of the read-only user fails at once, naming what it may not do',
    () => cli.writesRefused('readonly', 'admin', /this NATS user may not publish to \S+/, PASSWORDS.JOBCTL_READONLY_PASSWORD),
    120_000,
  );

  it('a refused batch of records and a refused pull fail at once with a PermissionError', async () => {
    const nc = await connect({ servers: `127.0.0.1:${port}`, user: 'jobctl_readonly', pass: PASSWORDS.JOBCTL_READONLY_PASSWORD });
    const w = new Wire(nc);
    try {
      const t0 = Date.now();
      const batch = w.publishMany([
        { subject: '$KV.jc_jobctl_jobs.a', data: '{}', expectSeq: 0 },
        { subject: '$KV.jc_jobctl_jobs.b', data: '{}', expectSeq: 0 },
      ]);
      await expect(batch).rejects.toBeInstanceOf(PermissionError);
      await expect(batch).rejects.toThrow('this NATS user may not publish to $KV.jc_jobctl_jobs.a');
      const pull = w.pull('JC_jobctl_WORK', 'w_default_L1000000', 10, { noWait: true });
      await expect(pull).rejects.toThrow(/may not publish to \$JS\.API\.CONSUMER\.MSG\.NEXT\.JC_jobctl_WORK\./);
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      w.close();
      await nc.close();
    }
  }, 30_000);

  it('a listing that would fold small queued listings still answers for the read-only user; the worker user folds', async () => {
    await (await open({ url: url('admin'), namespace: 'jobctl', autoMigrate: true })).close(); // (runs alone too)
    const worker = await open({ url: url('worker'), namespace: 'jobctl' });
    const reader = await open({ url: url('readonly'), namespace: 'jobctl' });
    try {
      // 300 enqueue calls of one job each: 300 small queued-batch markers, more than a walk folds at
      const ids = (
        await Promise.all(
          Array.from({ length: 300 }, (_, i) =>
            worker.enqueue([normalizeEnqueue({ name: 'one', queue: 'fold', payload: { i } })]),
          ),
        )
      ).map((r) => r[0]!.job.id);
      const markers = async () => {
        const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
        return (await jsm.streams.info('JC_jobctl_QUE')).state.messages;
      };
      const nc = await connect({ servers: `127.0.0.1:${port}`, user: 'jobctl_admin', pass: PASSWORDS.JOBCTL_ADMIN_PASSWORD });
      const before = await markers();
      expect(before).toBeGreaterThanOrEqual(300);
      // markers are folded once they are a minute old (younger ones may be writes in flight)
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61_000);
      const listAll = async (b: typeof reader) => {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await b.listJobs({ states: ['queued'], queue: 'fold', limit: 120, after });
          seen.push(...page.jobs.map((j) => j.id));
          if (!page.next) return seen;
          after = page.next;
        }
      };
      expect((await listAll(reader)).sort()).toEqual([...ids].sort());
      expect(await markers()).toBe(before); // the reader folded nothing
      expect((await listAll(worker)).sort()).toEqual([...ids].sort());
      expect(await markers()).toBeLessThan(before - 250); // the worker folded them
      await nc.close();
    } finally {
      vi.useRealTimers();
      await worker.close();
      await reader.close();
    }
  }, 60_000);

  it('a worker user that may not ack is refused at start: no job runs unacknowledged', async () => {
    // the README's configuration without the worker's ack permission (a plausible slip: acks are
    // fire-and-forget publishes, so nothing else would ever show it)
    const { srv: noAck, cli: cliNoAck } = await ownServer(withoutAcks(readmeConf()));
    try {
      await cliNoAck.ok('admin', ['migrate']);
      const id = (await cliNoAck.ok('worker', ['trigger', 'hello'])).trim();
      const t0 = Date.now();
      const r = await cliNoAck.run('worker', ['work', '--handlers', cliNoAck.handlers, '--drain'], 40_000);
      // before: the worker ran the job, recorded it completed, exited 0 after its drain gave up
      // (30 s), and the message stayed: `stats` counted the job queued and completed at once
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(
          /^jobctl: this NATS user may not publish to \$JS\.ACK\.JC_jobctl_WORK\.> \(acknowledge work messages\)/,
        ),
      });
      expect(r.stderr).not.toContain(PASSWORDS.JOBCTL_WORKER_PASSWORD);
      expect(Date.now() - t0).toBeLessThan(5_000);
      const job = JSON.parse(await cliNoAck.ok('worker', ['jobs', 'show', id, '--json'])) as { state: string; attempts: number };
      expect(job).toMatchObject({ state: 'queued', attempts: 0 });
    } finally {
      cliNoAck.sandbox.cleanup();
      noAck.stop();
    }
  }, 90_000);

  it('a worker whose ack permission is taken away while it runs stops claiming and says why; given back, it recovers', async () => {
    const readme = readmeConf();
    const noAckConf = withoutAcks(readme);
    const { srv, urlOf, cli: cli2 } = await ownServer(readme);
    const state = async (id: string) =>
      (JSON.parse(await cli2.ok('worker', ['jobs', 'show', id, '--json'])) as { state: string }).state;
    const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    let worker: ReturnType<typeof cli2.sandbox.start> | undefined;
    const stderr = () => worker?.err.join('') ?? '';
    try {
      await cli2.ok('admin', ['migrate']);
      // lease 3 s: a heartbeat every second, a worker record fresh for 2 s
      worker = cli2.sandbox.start(['work', '--handlers', cli2.handlers, '--lease', '3s'], {
        env: { JOBCTL_URL: urlOf('worker') },
      });
      const a = (await cli2.ok('worker', ['trigger', 'hello'])).trim();
      await until('job a', async () => (await state(a)) === 'completed');
      srv.reload(noAckConf);
      await new Promise((r) => setTimeout(r, 500));
      // its ack is refused (recorded, not acknowledged); the next heartbeat asks and fails
      const b = (await cli2.ok('worker', ['trigger', 'hello'])).trim();
      await until('the warning', () =>
        /may not publish to \$JS\.ACK\.JC_jobctl_WORK\.> \(acknowledge work messages\)/.test(stderr()),
      );
      expect(stderr()).toMatch(/level=warn msg="heartbeat failed; retrying"/);
      expect(await state(b)).toBe('completed');
      await new Promise((r) => setTimeout(r, 2_500)); // the worker record is no longer fresh: no claims
      const c = (await cli2.ok('worker', ['trigger', 'hello'])).trim();
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await state(c)).toBe('queued');
      srv.reload(readme);
      await until('job c', async () => (await state(c)) === 'completed');
      expect(stderr()).toMatch(/heartbeat recovered/);
      // b's message came back after its AckWait (the lease) and was acked: nothing counts as queued
      await until('no job queued', async () =>
        (JSON.parse(await cli2.ok('worker', ['stats', '--json'])) as { queues: { queued: number }[] }).queues.every(
          (q) => q.queued === 0,
        ),
      );
      expect(stderr()).not.toContain(PASSWORDS.JOBCTL_WORKER_PASSWORD);
    } finally {
      if (worker) {
        worker.kill('SIGTERM');
        await cli2.sandbox.wait(worker, 10_000).catch(() => undefined);
      }
      cli2.sandbox.cleanup();
      srv.stop();
    }
  }, 90_000);

  it('a user that may not receive replies (no _INBOX subscription) is told so at once, not after 10 s', async () => {
    const deaf = await configuredServer(
      'accounts { APP: { jetstream: enabled, users: [{ user: deaf, password: deaf-secret, permissions: { subscribe: { deny: ["_INBOX.>"] } } }] } }',
    );
    try {
      const deafUrl = `nats://deaf:deaf-secret@127.0.0.1:${deaf.port}`;
      const t0 = Date.now();
      await expect(open({ url: deafUrl, namespace: 'jobctl', autoMigrate: true })).rejects.toThrow(
        /^this NATS user may not subscribe to _INBOX\./,
      );
      // jobctl's own request path (Wire): every request fails once the inbox was refused
      const nc = await connect({ servers: `127.0.0.1:${deaf.port}`, user: 'deaf', pass: 'deaf-secret' });
      const w = new Wire(nc);
      try {
        const first = w.request('$JS.API.INFO', '');
        await expect(first).rejects.toBeInstanceOf(PermissionError);
        await expect(w.directGet('KV_jc_jobctl_jobs', '$KV.jc_jobctl_jobs.x')).rejects.toThrow(/may not subscribe to _INBOX\./);
        expect(Date.now() - t0).toBeLessThan(3_000);
      } finally {
        w.close();
        await nc.close();
      }
    } finally {
      deaf.stop();
    }
  }, 30_000);
});
