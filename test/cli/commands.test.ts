/**
 * The commands against a real SQLite database in a temp dir (JOBCTL_URL points at it): flags,
 * validation before writes, JSON shapes, exit codes, one-line errors. States are seeded through
 * real transitions on a second backend handle. (test/e2e runs the built CLI against every backend.)
 */
import { Errors, type Command } from '@oclif/core';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/backend.js';
import { open } from '../../src/backends/sqlite/index.js';
import type { Backend, LogInput } from '../../src/core/backend.js';
import { normalizeEnqueue, type ClaimedJob } from '../../src/core/job.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  result: unknown;
}

async function run(load: () => Promise<{ default: typeof Command }>, argv: string[]): Promise<RunResult> {
  const Cmd = (await load()).default as unknown as { run(argv: string[], root: string): Promise<unknown> };
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    const result = await Cmd.run(argv, ROOT);
    return { code: 0, stdout, stderr, result };
  } catch (e) {
    if (e instanceof Errors.ExitError) return { code: e.oclif.exit ?? 1, stdout, stderr, result: undefined };
    throw e;
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const trigger = () => import('../../src/commands/trigger.js');
const list = () => import('../../src/commands/jobs/list.js');
const show = () => import('../../src/commands/jobs/show.js');
const failed = () => import('../../src/commands/failed.js');
const requeue = () => import('../../src/commands/requeue.js');
const reset = () => import('../../src/commands/reset.js');
const cancel = () => import('../../src/commands/cancel.js');
const stats = () => import('../../src/commands/stats.js');
const logs = () => import('../../src/commands/logs.js');

let dir: string;
/** the database file the commands use (JOBCTL_URL) */
let dbPath: string;
/** a second, real handle on the same file for seeding and checking; opened on first use */
let handle: Backend | null;
/** pass-through spies: the real backend runs, the test sees how the commands open and use it */
let openSpy: MockInstance<typeof SqliteBackend.open>;
let closeSpy: MockInstance<SqliteBackend['close']>;
let enqueueSpy: MockInstance<SqliteBackend['enqueue']>;

/** open() calls made by the seeding handle, not by a command */
const seedingOpens = new Set<number>();
/** How the commands opened the backend (since the last forgetOpened()). */
let openedFrom = 0;
const opened = () =>
  openSpy.mock.calls
    .map(([o], i) => ({ i, name: 'sqlite', autoMigrate: o.autoMigrate ?? false }))
    .filter(({ i }) => i >= openedFrom && !seedingOpens.has(i))
    .map(({ name, autoMigrate }) => ({ name, autoMigrate }));
const forgetOpened = () => (openedFrom = openSpy.mock.calls.length);

async function db(): Promise<Backend> {
  if (!handle) {
    seedingOpens.add(openSpy.mock.calls.length);
    handle = await open({ url: dbPath, autoMigrate: true });
  }
  return handle;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jobctl-cli-'));
  dbPath = join(dir, 'jobs.db');
  handle = null;
  openedFrom = 0;
  seedingOpens.clear();
  delete process.env.JOBCTL_BACKEND;
  process.env.JOBCTL_URL = dbPath;
  openSpy = vi.spyOn(SqliteBackend, 'open');
  closeSpy = vi.spyOn(SqliteBackend.prototype, 'close');
  enqueueSpy = vi.spyOn(SqliteBackend.prototype, 'enqueue');
});
afterEach(async () => {
  vi.restoreAllMocks();
  await handle?.close();
  delete process.env.JOBCTL_URL;
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Claim exactly job `id` (claim order may hand out others first: those are given back untouched). */
async function claimJob(b: Backend, id: string, queue: string, workerId: string, leaseMs = 60_000): Promise<ClaimedJob> {
  const claimed = await b.claim({ workerId, queues: [queue], limit: 1000, leaseMs });
  const others = claimed.filter((c) => c.id !== id);
  if (others.length > 0)
    await b.release(others.map((c) => ({ id: c.id, attempt: c.attempt, workerId, reason: 'seeding', notStarted: true })));
  const mine = claimed.find((c) => c.id === id);
  if (!mine) throw new Error(`seeding: job ${id} was not claimable`);
  return mine;
}

type SeedState = 'queued' | 'running' | 'orphaned' | 'failed' | 'completed' | 'cancelled';

/** Jobs 1..n named "job" on queues a, b, a, …, each brought to its state through real transitions. */
async function seed(states: SeedState[], opts: { error?: string } = {}): Promise<void> {
  const b = await db();
  for (const [i, state] of states.entries()) {
    const queue = i % 2 ? 'b' : 'a';
    const [r] = await b.enqueue([normalizeEnqueue({ name: 'job', queue })]);
    const id = r!.job.id;
    if (state === 'queued') continue;
    if (state === 'cancelled') {
      await b.cancel({ ids: [id] });
      continue;
    }
    if (state === 'running') {
      // held by a live worker with a valid lease
      await b.registerWorker({ name: 'w1', host: 'h', pid: 1, queues: [queue], concurrency: 1, ttlMs: 60_000, version: 't' });
      await claimJob(b, id, queue, 'w1');
      continue;
    }
    if (state === 'orphaned') {
      // claimed by a worker that never registered, lease already expired
      await claimJob(b, id, queue, 'gone', 1);
      await sleep(5);
      continue;
    }
    const c = await claimJob(b, id, queue, 'seed');
    const ref = { id, attempt: c.attempt, workerId: 'seed' };
    const [o] =
      state === 'completed'
        ? await b.complete([ref])
        : await b.fail([{ ...ref, error: opts.error ?? 'boom', retryDelayMs: 0, final: true }]);
    expect(o).toMatchObject({ ok: true, state });
  }
}

async function appendLogs(lines: Omit<LogInput, 'worker' | 'queue' | 'stream'>[]): Promise<void> {
  await (await db()).appendLogs(lines.map((l) => ({ worker: 'w', queue: 'a', stream: 'stdout', ...l })));
}

async function stateOf(id: string): Promise<string | undefined> {
  return (await (await db()).getJob(id))?.state;
}

describe('trigger', () => {
  it('prints the id; --json prints the job; the sqlite schema is created on first write', async () => {
    const r = await run(trigger, ['hello', '--payload', '{"a":1}']);
    expect(r).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    expect(opened()[0]).toEqual({ name: 'sqlite', autoMigrate: true });
    expect(existsSync(dbPath)).toBe(true);
    const j = await run(trigger, [
      'hello',
      '--payload',
      '{"a":2}',
      '--queue',
      'q',
      '--priority',
      '-3',
      '--max-attempts',
      '2',
      '--timeout',
      '1m',
      '--json',
    ]);
    expect(JSON.parse(j.stdout)).toMatchObject({
      id: '2',
      name: 'hello',
      queue: 'q',
      payload: { a: 2 },
      priority: -3,
      maxAttempts: 2,
      timeoutMs: 60_000,
      state: 'queued',
    });
    // every backend a command opened was closed when it ended
    const instances = await Promise.all(openSpy.mock.results.map((r) => r.value as Promise<SqliteBackend>));
    expect(instances).toHaveLength(2);
    for (const b of instances) expect(closeSpy.mock.contexts).toContain(b);
    expect((await (await db()).getJob('1'))!.payload).toEqual({ a: 1 });
  });

  it('schedules with --delay', async () => {
    const r = await run(trigger, ['later', '--delay', '1h', '--json']);
    expect(JSON.parse(r.stdout).state).toBe('scheduled');
  });

  it('rejects bad input with exit 2, one line, nothing written and the backend never opened', async () => {
    for (const argv of [
      ['x', '--payload', '{bad'],
      ['x', '--queue', 'bad queue'],
      ['x', '--delay', 'soon'],
      ['x', '--run-at', 'not-a-time'],
      ['x', '--delay', '1s', '--run-at', '2030-01-01T00:00:00Z'],
      ['x', '--payload', '1', '--payload-file', 'p.json'],
      ['x', '--priority', '1.5'],
      ['x', '--max-attempts', '0'],
      ['x', '--bogus'],
      [],
    ]) {
      const r = await run(trigger, argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(/^jobctl: [^\n]+\n$/);
      expect(r.stdout).toBe('');
    }
    expect(opened()).toHaveLength(0);
    expect(existsSync(dbPath)).toBe(false);
  });

  it('keeps stdout valid JSON on error under --json', async () => {
    const r = await run(trigger, ['x', '--payload', '{bad', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 'invalid_input', message: expect.stringContaining('not valid JSON'), exitCode: 2 },
    });
  });

  it('returns the existing job for a matching unique key', async () => {
    await run(trigger, ['x', '--unique-key', 'k']);
    const r = await run(trigger, ['x', '--unique-key', 'k']);
    expect(r.stdout).toBe('1\n');
    expect(r.stderr).toContain('unique key matched');
  });

  it('maps an unreachable backend to exit 69 with the password masked', async () => {
    const r = await run(stats, ['--url', 'postgres://u:secret@127.0.0.1:1/db', '--json']);
    expect(r.code).toBe(69);
    expect(r.stderr).toBe(
      'jobctl: cannot reach postgres at postgres://u:***@127.0.0.1:1/db: connect ECONNREFUSED 127.0.0.1:1 (is it running? set --url or JOBCTL_URL)\n',
    );
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'unavailable', exitCode: 69 });
    expect(r.stdout + r.stderr).not.toContain('secret');
  });

  it('rejects an unknown backend with exit 2', async () => {
    const r = await run(stats, ['--backend', 'mongo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown backend "mongo"/);
  });
});

describe('list commands', () => {
  it('jobs list --json: { jobs, next } with keyset pages', async () => {
    await seed(['queued', 'failed', 'failed', 'completed', 'failed']);
    forgetOpened();
    const r = await run(list, ['--state', 'failed', '--limit', '2', '--json']);
    const page = JSON.parse(r.stdout);
    expect(page.jobs.map((j: { id: string }) => j.id)).toEqual(['2', '3']);
    expect(page.next).toBe('3');
    const r2 = await run(list, ['--state', 'failed', '--limit', '2', '--after', page.next, '--json']);
    expect(JSON.parse(r2.stdout)).toMatchObject({ jobs: [{ id: '5' }], next: null });
    expect(opened()).toHaveLength(2);
    expect(opened().every((o) => o.autoMigrate === false)).toBe(true);
    // reads never create a database
    const fresh = join(dir, 'fresh.db');
    const r3 = await run(list, ['--url', fresh, '--json']);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toMatch(/^jobctl: no jobctl database at [^\n]+\n$/);
    expect(existsSync(fresh)).toBe(false);
  });

  it('validates --state, --limit, --queue and --after (exit 2)', async () => {
    for (const argv of [
      ['--state', 'dead'],
      ['--limit', '0'],
      ['--limit', '1001'],
      ['--queue', 'a b'],
      ['--after', '-1'],
    ]) {
      expect((await run(list, argv)).code, argv.join(' ')).toBe(2);
    }
  });

  it('failed is jobs list --state failed, as a table', async () => {
    await seed(['queued', 'failed'], { error: 'boom\u001b[2J' });
    const r = await run(failed, []);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+QUEUE\s+NAME\s+STATE/);
    expect(r.stdout).toContain('boom\\x1b[2J');
    expect(r.stdout).not.toContain('\u001b');
    // only the failed job is listed
    const rows = r.stdout.trimEnd().split('\n').slice(1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^2\s+b\s+job\s+failed/);
  });

  it('jobs show: exit 3 for an unknown id, 2 for a malformed one', async () => {
    await db();
    expect((await run(show, ['99'])).code).toBe(3);
    expect((await run(show, ['abc'])).code).toBe(2);
    await seed(['failed']);
    await appendLogs([{ jobId: '1', message: 'hello' }]);
    const r = await run(show, ['1', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: '1', state: 'failed', logs: [{ message: 'hello' }] });
  });
});

describe('requeue / reset / cancel', () => {
  it('requeue by ids: changed and skipped; exit 3 only when no id exists', async () => {
    await seed(['failed', 'queued']);
    const r = await run(requeue, ['1', '2', '77', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      changed: ['1'],
      skipped: [
        { id: '77', reason: 'not found' },
        { id: '2', reason: 'queued: only failed, cancelled or completed jobs can be requeued' },
      ],
    });
    const missing = await run(requeue, ['77', '78']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('none of the 2 jobs was found');
  });

  it('a malformed id writes nothing (exit 2)', async () => {
    await seed(['failed']);
    const before = (await (await db()).getJob('1'))!;
    expect(before.state).toBe('failed');
    const r = await run(requeue, ['1', '1e3']);
    expect(r.code).toBe(2);
    expect(await (await db()).getJob('1')).toEqual(before);
  });

  it('--state needs --all unless --dry-run; --dry-run changes nothing', async () => {
    await seed(['failed', 'failed', 'completed']);
    const noAll = await run(requeue, ['--state', 'failed']);
    expect(noAll.code).toBe(2);
    expect(noAll.stderr).toMatch(/--all.*--dry-run/);
    const dry = await run(requeue, ['--state', 'failed', '--dry-run']);
    expect(dry.stdout).toBe('would requeue 2 jobs: 1, 2\n');
    expect(await stateOf('1')).toBe('failed');
    expect(await stateOf('2')).toBe('failed');
    const all = await run(requeue, ['--state', 'failed', '--all', '--json']);
    expect(JSON.parse(all.stdout)).toEqual({ changed: ['1', '2'], skipped: [] });
    expect(await stateOf('1')).toBe('queued');
    expect(await stateOf('3')).toBe('completed');
  });

  it('ids and selectors are exclusive; bad --state is exit 2', async () => {
    expect((await run(requeue, ['1', '--state', 'failed', '--all'])).code).toBe(2);
    expect((await run(requeue, ['--state', 'running', '--all'])).code).toBe(2);
    expect((await run(requeue, [])).code).toBe(2);
    expect((await run(reset, ['1', '--orphaned'])).code).toBe(2);
    expect((await run(reset, ['--orphaned', '--stuck'])).code).toBe(2);
    expect((await run(reset, [])).code).toBe(2);
    expect((await run(cancel, [])).code).toBe(2);
  });

  it('reset skips a job held by a live worker unless --force', async () => {
    await seed(['running']);
    const r = await run(reset, ['1', '--json']);
    expect(JSON.parse(r.stdout).skipped[0].reason).toMatch(/--force/);
    const forced = await run(reset, ['1', '--force', '--json']);
    expect(JSON.parse(forced.stdout).changed).toEqual(['1']);
    expect(await stateOf('1')).toBe('queued');
  });

  it('reset --orphaned puts back jobs whose worker is gone and leaves live ones alone', async () => {
    await seed(['orphaned', 'running']);
    const st = JSON.parse((await run(stats, ['--json'])).stdout) as { queues: { queue: string }[] };
    expect(st.queues.find((q) => q.queue === 'a')).toMatchObject({ running: 1, orphaned: 1 });
    expect(st.queues.find((q) => q.queue === 'b')).toMatchObject({ running: 1, orphaned: 0 });
    const r = await run(reset, ['--orphaned', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ changed: ['1'], skipped: [] });
    expect(await stateOf('1')).toBe('queued');
    expect(await stateOf('2')).toBe('running');
  });

  it('cancel', async () => {
    await seed(['queued', 'completed']);
    const r = await run(cancel, ['1', '2']);
    expect(r.stdout).toBe('cancelled 1 job: 1\nskipped 2: completed: already finished\n');
    expect((await run(cancel, ['99', '--json'])).code).toBe(3);
  });
});

describe('stats and logs', () => {
  it('stats --json has the documented shape', async () => {
    await seed(['queued', 'failed']);
    const r = await run(stats, ['--json']);
    const s = JSON.parse(r.stdout);
    expect(s.workers).toEqual({ alive: 0 });
    expect(Object.keys(s.queues[0]).sort()).toEqual(
      [
        'queue',
        'queued',
        'scheduled',
        'running',
        'stuck',
        'orphaned',
        'failed',
        'completed',
        'cancelled',
        'oldestQueuedAgeMs',
      ].sort(),
    );
  });

  it('logs prints time and job id per line and neutralises escapes unless --raw', async () => {
    await seed(['running']);
    await appendLogs([
      { jobId: '1', message: 'fine' },
      { jobId: '1', message: 'evil\u001b]0;x\u0007\r' },
    ]);
    const r = await run(logs, ['1']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z 1 fine$/);
    expect(lines[1]).toContain('evil\\x1b]0;x\\x07\\r');
    const raw = await run(logs, ['1', '--raw']);
    expect(raw.stdout).toContain('\u001b]0;x');
    const tail = await run(logs, ['1', '--tail', '1', '--json']);
    expect(JSON.parse(tail.stdout).lines).toHaveLength(1);
    expect((await run(logs, ['42'])).code).toBe(3);
  });

  it('logs -f follows new lines and stops cleanly on SIGINT', async () => {
    await seed(['running']);
    await appendLogs([{ jobId: '1', message: 'one' }]);
    const pending = run(logs, ['1', '-f', '--json']);
    await new Promise((r) => setTimeout(r, 60));
    await appendLogs([{ jobId: '1', message: 'two' }]);
    await new Promise((r) => setTimeout(r, 60));
    process.emit('SIGINT');
    const r = await pending;
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).message),
    ).toEqual(['one', 'two']);
  });
});

describe('trigger --wait and stats --watch', () => {
  /** As a worker would: once job 1 exists, claim it and after `ms` complete it or fail it for good. */
  const finishSoon = async (state: 'completed' | 'failed', ms = 80): Promise<void> => {
    const b = await db();
    const t0 = Date.now();
    while (!(await b.getJob('1'))) {
      if (Date.now() - t0 > 10_000) throw new Error('job 1 never appeared');
      await sleep(10);
    }
    const c = await claimJob(b, '1', 'default', 'w');
    await sleep(ms);
    const ref = { id: '1', attempt: c.attempt, workerId: 'w' };
    const [o] =
      state === 'completed' ? await b.complete([ref]) : await b.fail([{ ...ref, error: 'exit 3', retryDelayMs: 0, final: true }]);
    expect(o).toMatchObject({ ok: true, state });
  };

  it('exit 0 when the job completes; --json prints the final job only', async () => {
    const finishing = finishSoon('completed');
    const r = await run(trigger, ['x', '--wait', '--json']);
    await finishing;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: '1', state: 'completed' });
  });

  it('exit 1 when it fails, with a one-line reason', async () => {
    const finishing = finishSoon('failed');
    const r = await run(trigger, ['x', '--wait']);
    await finishing;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('1\n');
    expect(r.stderr).toMatch(/^jobctl: job 1 failed after 1 attempt: exit 3\n$/);
  });

  it('exit 124 when --wait-timeout passes; stdout stays valid JSON', async () => {
    const r = await run(trigger, ['x', '--wait', '--wait-timeout', '150ms', '--json']);
    expect(r.code).toBe(124);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'timeout', exitCode: 124 });
  });

  it('--wait-timeout needs --wait; --file excludes --wait', async () => {
    expect((await run(trigger, ['x', '--wait-timeout', '1s'])).code).toBe(2);
    expect((await run(trigger, ['--file', 'x.ndjson', '--wait'])).code).toBe(2);
  });

  it('stats --watch --json prints one JSON line per tick and stops on SIGINT', async () => {
    await seed(['queued']);
    const pending = run(stats, ['--watch', '--interval', '100ms', '--json']);
    await new Promise((r) => setTimeout(r, 250));
    process.emit('SIGINT');
    const r = await pending;
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(JSON.parse(l).queues[0].queued).toBe(1);
  });
});

describe('trigger --file', () => {
  it('enqueues every line in one batch, or nothing when a line is bad', async () => {
    const good = join(dir, 'good.ndjson');
    writeFileSync(good, '{"name":"a","payload":{"n":1}}\n\n{"name":"b","queue":"other"}\n');
    const r = await run(trigger, ['--file', good, '--queue', 'bulk', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).jobs.map((j: { queue: string }) => j.queue)).toEqual(['bulk', 'other']);
    expect(enqueueSpy).toHaveBeenCalledTimes(1);

    const bad = join(dir, 'bad.ndjson');
    writeFileSync(bad, '{"name":"a"}\n{"name":"b","queue":"no good"}\n');
    const b = await run(trigger, ['--file', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^jobctl: line 2: invalid queue name/);
    expect((await (await db()).listJobs({ limit: 100 })).jobs).toHaveLength(2);
    expect((await run(trigger, ['--file', join(dir, 'missing.ndjson')])).code).toBe(2);
    expect((await run(trigger, ['name', '--file', good])).code).toBe(2);
  });
});
