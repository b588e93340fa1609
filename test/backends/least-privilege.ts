/**
 * The CLI checks shared by the least-privilege tests of the server backends (pg has its own in
 * postgres.test.ts): one sandbox in the default namespace `jobctl` (the README's rules name it),
 * commands run as one of the README's users, the writing commands a worker user runs, the
 * reading commands a read-only user runs, and the writes it must be refused at once.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { Sandbox, type RunResult } from '../e2e/helpers.js';

/** The first fenced block in `lang` after the README heading `heading` (what the README documents is what is tested). */
export function readmeBlock(heading: string, lang: string): string {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const at = readme.indexOf(heading);
  const m = at < 0 ? null : new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(readme.slice(at));
  if (!m) throw new Error(`README: no \`\`\`${lang} block under "${heading}"`);
  return m[1]!;
}

export class AsUsers {
  readonly sandbox: Sandbox;
  readonly handlers: string;

  constructor(
    backend: 'redis' | 'nats',
    private readonly urlOf: (user: string) => string,
  ) {
    this.sandbox = new Sandbox({ name: backend, env: { JOBCTL_BACKEND: backend }, unreachableUrl: '' });
    this.sandbox.env.JOBCTL_NAMESPACE = 'jobctl';
    this.handlers = join(this.sandbox.dir, 'handlers.mjs');
    writeFileSync(this.handlers, `export default { hello: async () => 'hi', boom: async () => { throw new Error('boom'); } };\n`);
  }

  run(user: string, args: string[], timeoutMs?: number): Promise<RunResult> {
    return this.sandbox.run(args, { env: { JOBCTL_URL: this.urlOf(user) }, timeoutMs });
  }

  /** Run and expect exit 0 (and nothing on stderr but a worker's log lines); returns stdout. */
  async ok(user: string, args: string[]): Promise<string> {
    const r = await this.run(user, args);
    if (r.code !== 0) throw new Error(`${user}: jobctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * What a worker user does: enqueue, work (one job completes, one fails), cancel, requeue the
   * failed one and work it again, purge the cancelled one. Leaves one completed and one failed job.
   */
  async writingCommands(user: string): Promise<void> {
    await this.ok(user, ['trigger', 'hello', '--payload', '{"n":1}']);
    await this.ok(user, ['trigger', 'boom', '--max-attempts', '1']);
    const cancelMe = (await this.ok(user, ['trigger', 'hello', '--delay', '1h'])).trim();
    const w = await this.run(user, ['work', '--handlers', this.handlers, '--drain']);
    expect({ code: w.code, out: w.stdout + w.stderr }).toMatchObject({
      code: 1,
      out: expect.stringMatching(/: 1 completed, 1 failed/),
    });
    expect(await this.ok(user, ['cancel', cancelMe])).toMatch(/cancelled 1 job/);
    expect(await this.ok(user, ['requeue', '--state', 'failed', '--all'])).toMatch(/requeued 1 job/);
    expect((await this.run(user, ['work', '--handlers', this.handlers, '--drain'])).stdout).toMatch(/: 0 completed, 1 failed/);
    expect(await this.ok(user, ['purge', '--state', 'cancelled', '--older-than', '0s'])).toMatch(/deleted 1 job/);
    const stats = JSON.parse(await this.ok(user, ['stats', '--json'])) as { queues: { completed: number; failed: number }[] };
    expect(stats.queues[0]).toMatchObject({ completed: 1, failed: 1 });
  }

  /** What a read-only user reads, after writingCommands: the same answers as `writer` gets. */
  async readingCommands(reader: string, writer: string): Promise<void> {
    expect(JSON.parse(await this.ok(reader, ['stats', '--json']))).toEqual(
      JSON.parse(await this.ok(writer, ['stats', '--json'])),
    );
    const failed = JSON.parse(await this.ok(reader, ['failed', '--json'])) as { jobs: { id: string; lastError: string }[] };
    expect(failed.jobs).toHaveLength(1);
    expect(failed.jobs[0]!.lastError).toMatch(/boom/);
    const all = JSON.parse(await this.ok(reader, ['jobs', 'list', '--json'])) as { jobs: { state: string }[] };
    expect(all.jobs.map((j) => j.state).sort()).toEqual(['completed', 'failed']);
    expect(await this.ok(reader, ['jobs', 'show', failed.jobs[0]!.id])).toMatch(/boom/);
    expect(await this.ok(reader, ['logs', failed.jobs[0]!.id])).toMatch(/failed \(attempt 1 of 1, giving up\)/);
    expect(await this.ok(reader, ['workers'])).toMatch(/dead|alive|no workers/);
    expect(await this.ok(reader, ['stuck'])).toMatch(/no jobs/);
    expect(await this.ok(reader, ['orphaned'])).toMatch(/no jobs/);
    expect(await this.ok(reader, ['doctor'])).toMatch(/failed jobs/);
    expect(await this.ok(reader, ['requeue', '--state', 'failed', '--all', '--dry-run'])).toMatch(/would requeue 1 job/);
  }

  /** `logs -f` of the read-only user shows the lines of a job a worker runs after it started. */
  async followsLogs(reader: string, writer: string): Promise<void> {
    const follower = this.sandbox.start(['logs', '-f', '--queue', 'followed'], { env: { JOBCTL_URL: this.urlOf(reader) } });
    try {
      await new Promise((r) => setTimeout(r, 1_000)); // following from now on
      const id = (await this.ok(writer, ['trigger', 'hello', '--queue', 'followed'])).trim();
      await this.run(writer, ['work', '--queue', 'followed', '--handlers', this.handlers, '--drain']);
      const deadline = Date.now() + 15_000;
      while (!follower.out.join('').includes(`${id} event completed`) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect({ out: follower.out.join(''), err: follower.err.join('') }).toMatchObject({
        out: expect.stringContaining(`${id} event completed`),
        err: '',
      });
    } finally {
      follower.kill('SIGINT');
      await this.sandbox.wait(follower, 10_000);
    }
  }

  /**
   * Every write of the read-only user fails with exit 1 and `refused` on stderr, at once (not
   * after a request timeout), without the password; nothing changes.
   */
  async writesRefused(reader: string, writer: string, refused: RegExp, password: string): Promise<void> {
    const failed = JSON.parse(await this.ok(writer, ['failed', '--json'])) as { jobs: { id: string }[] };
    const id = failed.jobs[0]!.id;
    const later = (await this.ok(writer, ['trigger', 'hello', '--queue', 'later', '--delay', '1h'])).trim();
    const before = JSON.parse(await this.ok(writer, ['jobs', 'list', '--json'])) as unknown;
    for (const args of [
      ['trigger', 'hello'],
      ['requeue', id],
      ['requeue', '--state', 'failed', '--all'],
      ['cancel', later],
      ['purge', '--older-than', '0s'],
      ['work', '--handlers', this.handlers, '--drain'],
    ]) {
      const t0 = Date.now();
      const r = await this.run(reader, args, 20_000);
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(refused) });
      expect(r.stderr).not.toContain(password);
      expect(Date.now() - t0).toBeLessThan(5_000); // not a request timeout
    }
    expect(JSON.parse(await this.ok(writer, ['jobs', 'list', '--json']))).toEqual(before);
    await this.ok(writer, ['cancel', later]);
  }
}
