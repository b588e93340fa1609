/**
 * The commands against an in-memory backend: flags, validation before writes, JSON shapes,
 * exit codes, one-line errors. (test/e2e runs the built CLI against real backends.)
 */
import { Errors, type Command } from '@oclif/core';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryBackend, type MemoryBackend } from './memory-backend.js';

let backend: MemoryBackend;
const opened: { name: string; autoMigrate?: boolean }[] = [];

vi.mock('../../src/core/registry.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/registry.js')>();
  return {
    ...real,
    openBackend: async (name: string, opts: { autoMigrate?: boolean; url: string }) => {
      if (opts.url.startsWith('postgres://')) {
        throw Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:1`), { code: 'ECONNREFUSED' });
      }
      opened.push({ name, autoMigrate: opts.autoMigrate });
      return backend;
    },
  };
});

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

beforeEach(() => {
  backend = memoryBackend();
  opened.length = 0;
  delete process.env.JOBCTL_URL;
  delete process.env.JOBCTL_BACKEND;
});
afterEach(() => vi.restoreAllMocks());

async function seed(states: string[]): Promise<void> {
  for (const [i, s] of states.entries()) {
    await run(trigger, ['job', '--queue', i % 2 ? 'b' : 'a']);
    backend.jobs.get(String(i + 1))!.state = s as never;
  }
}

describe('trigger', () => {
  it('prints the id; --json prints the job; the sqlite schema is created on first write', async () => {
    const r = await run(trigger, ['hello', '--payload', '{"a":1}']);
    expect(r).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    expect(opened[0]).toEqual({ name: 'sqlite', autoMigrate: true });
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
    expect(backend.closed).toBe(true);
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
    expect(opened).toHaveLength(0);
    expect(backend.calls).toEqual([]);
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
      'jobctl: cannot reach pg at postgres://u:***@127.0.0.1:1/db — is it running? set --url or JOBCTL_URL (connect ECONNREFUSED 127.0.0.1:1)\n',
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
    opened.length = 0;
    const r = await run(list, ['--state', 'failed', '--limit', '2', '--json']);
    const page = JSON.parse(r.stdout);
    expect(page.jobs.map((j: { id: string }) => j.id)).toEqual(['2', '3']);
    expect(page.next).toBe('3');
    const r2 = await run(list, ['--state', 'failed', '--limit', '2', '--after', page.next, '--json']);
    expect(JSON.parse(r2.stdout)).toMatchObject({ jobs: [{ id: '5' }], next: null });
    expect(opened.every((o) => o.autoMigrate === false)).toBe(true);
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
    await seed(['queued', 'failed']);
    backend.jobs.get('2')!.lastError = 'boom\u001b[2J';
    const r = await run(failed, []);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+QUEUE\s+NAME\s+STATE/);
    expect(r.stdout).toContain('boom\\x1b[2J');
    expect(r.stdout).not.toContain('\u001b');
    expect(backend.calls).toContain('list:failed');
  });

  it('jobs show: exit 3 for an unknown id, 2 for a malformed one', async () => {
    expect((await run(show, ['99'])).code).toBe(3);
    expect((await run(show, ['abc'])).code).toBe(2);
    await seed(['failed']);
    await backend.appendLogs([{ jobId: '1', worker: 'w', queue: 'a', stream: 'stdout', message: 'hello' }]);
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
        { id: '2', reason: 'is queued' },
        { id: '77', reason: 'not found' },
      ],
    });
    const missing = await run(requeue, ['77', '78']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('none of the 2 jobs was found');
  });

  it('a malformed id writes nothing (exit 2)', async () => {
    await seed(['failed']);
    const r = await run(requeue, ['1', '1e3']);
    expect(r.code).toBe(2);
    expect(backend.jobs.get('1')!.state).toBe('failed');
    expect(backend.calls.filter((c) => c.startsWith('requeue'))).toEqual([]);
  });

  it('--state needs --all unless --dry-run; --dry-run changes nothing', async () => {
    await seed(['failed', 'failed', 'completed']);
    const noAll = await run(requeue, ['--state', 'failed']);
    expect(noAll.code).toBe(2);
    expect(noAll.stderr).toMatch(/--all.*--dry-run/);
    const dry = await run(requeue, ['--state', 'failed', '--dry-run']);
    expect(dry.stdout).toBe('would requeue 2 jobs: 1, 2\n');
    expect(backend.jobs.get('1')!.state).toBe('failed');
    const all = await run(requeue, ['--state', 'failed', '--all', '--json']);
    expect(JSON.parse(all.stdout)).toEqual({ changed: ['1', '2'], skipped: [] });
    expect(backend.jobs.get('3')!.state).toBe('completed');
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
    backend.jobs.get('1')!.workerId = 'w1';
    const r = await run(reset, ['1', '--json']);
    expect(JSON.parse(r.stdout).skipped[0].reason).toMatch(/--force/);
    const forced = await run(reset, ['1', '--force', '--json']);
    expect(JSON.parse(forced.stdout).changed).toEqual(['1']);
  });

  it('cancel', async () => {
    await seed(['queued', 'completed']);
    const r = await run(cancel, ['1', '2']);
    expect(r.stdout).toBe('cancelled 1 job: 1\nskipped 2: already completed\n');
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
    await backend.appendLogs([
      { jobId: '1', worker: 'w', queue: 'a', stream: 'stdout', message: 'fine' },
      { jobId: '1', worker: 'w', queue: 'a', stream: 'stdout', message: 'evil\u001b]0;x\u0007\r' },
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
    await backend.appendLogs([{ jobId: '1', worker: 'w', queue: 'a', stream: 'stdout', message: 'one' }]);
    const pending = run(logs, ['1', '-f', '--json']);
    await new Promise((r) => setTimeout(r, 60));
    await backend.appendLogs([{ jobId: '1', worker: 'w', queue: 'a', stream: 'stdout', message: 'two' }]);
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
  const finishSoon = (state: 'completed' | 'failed', ms = 80) =>
    setTimeout(() => Object.assign(backend.jobs.get('1')!, { state, lastError: state === 'failed' ? 'exit 3' : null }), ms);

  it('exit 0 when the job completes; --json prints the final job only', async () => {
    finishSoon('completed');
    const r = await run(trigger, ['x', '--wait', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: '1', state: 'completed' });
  });

  it('exit 1 when it fails, with a one-line reason', async () => {
    finishSoon('failed');
    const r = await run(trigger, ['x', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('1\n');
    expect(r.stderr).toMatch(/^jobctl: job 1 failed after 0 attempts: exit 3\n$/);
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
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'jobctl-file-'));
    const good = join(dir, 'good.ndjson');
    writeFileSync(good, '{"name":"a","payload":{"n":1}}\n\n{"name":"b","queue":"other"}\n');
    const r = await run(trigger, ['--file', good, '--queue', 'bulk', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).jobs.map((j: { queue: string }) => j.queue)).toEqual(['bulk', 'other']);
    expect(backend.calls.filter((c) => c === 'enqueue')).toHaveLength(1);

    const bad = join(dir, 'bad.ndjson');
    writeFileSync(bad, '{"name":"a"}\n{"name":"b","queue":"no good"}\n');
    const b = await run(trigger, ['--file', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^jobctl: line 2: invalid queue name/);
    expect(backend.jobs.size).toBe(2);
    expect((await run(trigger, ['--file', join(dir, 'missing.ndjson')])).code).toBe(2);
    expect((await run(trigger, ['name', '--file', good])).code).toBe(2);
  });
});
