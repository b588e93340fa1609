import chalk from 'chalk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatLogLine,
  jobDetail,
  jobsTable,
  mutationSummary,
  relativeTime,
  statsTable,
  table,
  workersTable,
} from '../../src/cli/render.js';
import { makeJob } from './fixtures.js';

const ESC = '\u001b';
const T0 = Date.parse('2025-01-01T00:00:00Z');

describe('render', () => {
  let level: typeof chalk.level;
  beforeEach(() => {
    level = chalk.level;
    chalk.level = 0;
  });
  afterEach(() => {
    chalk.level = level;
  });

  it('relativeTime', () => {
    expect(relativeTime(T0 - 5 * 60_000, T0)).toBe('5m ago');
    expect(relativeTime(T0 + 30_000, T0)).toBe('in 30s');
    expect(relativeTime(T0 + 200, T0)).toBe('now');
    expect(relativeTime(null, T0)).toBe('-');
  });

  it('table aligns columns without borders', () => {
    const out = table(
      ['A', 'BB'],
      [
        ['x', 'yyyy'],
        ['zzz', 1],
      ],
    );
    const lines = out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^A\s+BB$/);
    expect(lines[1]!.indexOf('yyyy')).toBe(lines[0]!.indexOf('BB'));
  });

  it('jobsTable shows attempts, age and a sanitised, truncated last error', () => {
    const job = makeJob({
      id: '42',
      state: 'failed',
      attempts: 5,
      lastError: `boom\n${ESC}]0;pwned${String.fromCharCode(7)}${'x'.repeat(200)}`,
    });
    const out = jobsTable([job], T0 + 90_000);
    expect(out).toContain('42');
    expect(out).toContain('5/5');
    expect(out).toContain('1m 30s');
    expect(out).toContain('\\x1b]0;pwned');
    expect(out).not.toContain(ESC);
    expect(out).not.toContain('x'.repeat(100));
    expect(out.split('\n')).toHaveLength(2);
  });

  it('jobsTable shows when a scheduled job runs', () => {
    expect(jobsTable([makeJob({ state: 'scheduled', runAt: T0 + 60_000 })], T0)).toContain('runs in 1m');
    expect(jobsTable([], T0)).toBe('no jobs');
  });

  it('never lets job text through even with colours on', () => {
    chalk.level = 1;
    const out = jobsTable([makeJob({ name: `n${ESC}[2J`, queue: 'q', lastError: `\r${ESC}[1A` })], T0);
    expect(out).not.toContain(`${ESC}[2J`);
    expect(out).not.toContain(`${ESC}[1A`);
    expect(out).not.toContain('\r');
  });

  it('statsTable', () => {
    const out = statsTable({
      queues: [
        {
          queue: 'emails',
          queued: 3,
          scheduled: 1,
          running: 2,
          stuck: 1,
          orphaned: 0,
          failed: 4,
          completed: 10,
          cancelled: 0,
          oldestQueuedAgeMs: 65_000,
        },
      ],
      workers: { alive: 2 },
    });
    expect(out).toMatch(/emails\s+3\s+1\s+2\s+1\s+0\s+4\s+10\s+0\s+1m 5s/);
    expect(out).toContain('workers alive: 2');
  });

  it('workersTable', () => {
    const out = workersTable(
      [
        {
          name: 'w1',
          host: 'h',
          pid: 7,
          queues: ['a', 'b'],
          concurrency: 4,
          ttlMs: 30_000,
          version: '0.1.0',
          startedAt: T0 - 3_600_000,
          lastHeartbeatAt: T0 - 2000,
          runningJobs: 3,
          alive: true,
        },
      ],
      T0,
    );
    expect(out).toMatch(/w1\s+h\s+7\s+a,b\s+4\s+3\s+1h ago\s+2s ago\s+alive/);
  });

  it('formatLogLine prefixes time and job id and neutralises escapes unless raw', () => {
    const line = {
      seq: '1',
      ts: T0,
      jobId: '42',
      worker: 'w1',
      queue: 'q',
      stream: 'stdout' as const,
      message: `hi${ESC}[31m\rfake`,
    };
    expect(formatLogLine(line)).toBe('2025-01-01T00:00:00.000Z 42 hi\\x1b[31m\\rfake');
    expect(formatLogLine(line, { raw: true })).toContain(`${ESC}[31m`);
    expect(formatLogLine({ ...line, jobId: null, stream: 'event', message: 'started' })).toBe(
      '2025-01-01T00:00:00.000Z - event w1 started',
    );
  });

  it('jobDetail shows every field, attempt errors and logs, sanitised', () => {
    const job = makeJob({
      id: '9',
      state: 'failed',
      attempts: 2,
      maxAttempts: 2,
      lastError: `second${ESC}[2J`,
      errors: [
        { attempt: 1, at: T0, message: 'first' },
        { attempt: 2, at: T0 + 1000, message: `second${ESC}[2J` },
      ],
    });
    const out = jobDetail(
      job,
      [{ seq: '1', ts: T0, jobId: '9', worker: 'w', queue: 'default', stream: 'stderr', message: 'oops' }],
      T0,
    );
    for (const s of [
      'id',
      'queue',
      'payload',
      'a@example.com',
      'attempt 1',
      'attempt 2',
      'last 1 log lines',
      'stderr oops',
      'timeout',
      '30m',
    ])
      expect(out).toContain(s);
    expect(out).not.toContain(ESC);
    expect(jobDetail(job, null, T0)).not.toContain('log lines');
  });

  it('mutationSummary', () => {
    expect(mutationSummary({ changed: ['1', '2'], skipped: [{ id: '3', reason: 'not found' }] }, 'requeue', false)).toBe(
      'requeued 2 jobs: 1, 2\nskipped 3: not found',
    );
    expect(mutationSummary({ changed: ['1'], skipped: [] }, 'requeue', true)).toBe('would requeue 1 job: 1');
    expect(mutationSummary({ changed: [], skipped: [] }, 'cancel', false)).toBe('cancelled 0 jobs');
    expect(mutationSummary({ changed: ['5'], skipped: [] }, 'reset', false)).toBe('reset 1 job: 5');
  });
});
