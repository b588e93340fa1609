/**
 * Human output: tables (cli-table3), colours (chalk; the base command turns colour off for
 * --no-color, NO_COLOR and non-terminals), relative times. Every piece of job-provided text goes
 * through sanitize/oneLine before it is printed.
 */
import chalk from 'chalk';
import Table from 'cli-table3';
import type { LogLine, MutationResult, QueueStats, Stats, WorkerRecord } from '../core/backend.js';
import { formatDuration } from '../core/durations.js';
import type { Job, JobState } from '../core/job.js';
import { oneLine, sanitize } from './sanitize.js';

/** A borderless table with a bold header. */
export function table(head: string[], rows: (string | number)[][], opts: { align?: ('left' | 'right')[] } = {}): string {
  const t = new Table({
    head: head.map((h) => chalk.bold(h)),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
    ...(opts.align ? { colAligns: opts.align } : {}),
  });
  for (const r of rows) t.push(r.map((c) => (typeof c === 'number' ? String(c) : c)));
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

const STATE_COLOURS: Record<string, (s: string) => string> = {
  queued: chalk.cyan,
  scheduled: chalk.blue,
  running: chalk.yellow,
  completed: chalk.green,
  failed: chalk.red,
  cancelled: chalk.gray,
  stuck: chalk.magenta,
  orphaned: chalk.magenta,
};

export function colorState(state: JobState | string): string {
  const f = STATE_COLOURS[state];
  return f ? f(state) : state;
}

/** "5m ago", "in 30s", "-" for null. */
export function relativeTime(t: number | null | undefined, now: number = Date.now()): string {
  if (t === null || t === undefined) return '-';
  const d = t - now;
  if (Math.abs(d) < 1000) return 'now';
  return d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} ago`;
}

export function isoTime(t: number | null | undefined): string {
  return t === null || t === undefined ? '-' : new Date(t).toISOString();
}

/** Age of a job, or when it will run if it is scheduled. */
export function jobWhen(job: Job, now: number = Date.now()): string {
  if (job.state === 'scheduled' || (job.state === 'queued' && job.runAt > now)) return `runs ${relativeTime(job.runAt, now)}`;
  return formatDuration(now - job.createdAt);
}

export function jobsTable(jobs: Job[], now: number = Date.now()): string {
  if (jobs.length === 0) return chalk.dim('no jobs');
  return table(
    ['ID', 'QUEUE', 'NAME', 'STATE', 'ATTEMPTS', 'AGE/RUN', 'WORKER', 'LAST ERROR'],
    jobs.map((j) => [
      j.id,
      oneLine(j.queue, 30),
      oneLine(j.name, 30),
      colorState(j.state),
      `${j.attempts}/${j.maxAttempts}`,
      jobWhen(j, now),
      oneLine(j.workerId ?? '-', 24),
      oneLine(j.lastError ?? '', 60),
    ]),
  );
}

const STAT_COLUMNS: (keyof QueueStats)[] = [
  'queued',
  'scheduled',
  'running',
  'stuck',
  'orphaned',
  'failed',
  'completed',
  'cancelled',
];

export function statsTable(stats: Stats): string {
  const header = ['QUEUE', ...STAT_COLUMNS.map((c) => c.toUpperCase()), 'OLDEST QUEUED'];
  const rows = stats.queues.map((q) => [
    oneLine(q.queue, 40),
    ...STAT_COLUMNS.map((c) => {
      const n = q[c] as number;
      if (n > 0 && (c === 'failed' || c === 'stuck' || c === 'orphaned')) return chalk.red(String(n));
      return n === 0 ? chalk.dim('0') : String(n);
    }),
    q.oldestQueuedAgeMs === null ? '-' : formatDuration(q.oldestQueuedAgeMs),
  ]);
  const align: ('left' | 'right')[] = ['left', ...STAT_COLUMNS.map(() => 'right' as const), 'right'];
  const body = rows.length ? table(header, rows, { align }) : chalk.dim('no jobs');
  return `${body}\n\nworkers alive: ${stats.workers.alive}`;
}

/** The --json shape of a worker record. */
export function toPublicWorker(w: WorkerRecord) {
  return {
    name: w.name,
    host: w.host,
    pid: w.pid,
    queues: w.queues,
    concurrency: w.concurrency,
    runningJobs: w.runningJobs,
    startedAt: isoTime(w.startedAt),
    lastHeartbeatAt: isoTime(w.lastHeartbeatAt),
    ttlMs: w.ttlMs,
    alive: w.alive,
    version: w.version,
  };
}
export type PublicWorker = ReturnType<typeof toPublicWorker>;

export function workersTable(workers: WorkerRecord[], now: number = Date.now()): string {
  if (workers.length === 0) return chalk.dim('no workers registered');
  return table(
    ['NAME', 'HOST', 'PID', 'QUEUES', 'CONCURRENCY', 'RUNNING', 'STARTED', 'LAST HEARTBEAT', 'STATUS'],
    workers.map((w) => [
      oneLine(w.name, 40),
      oneLine(w.host, 30),
      w.pid,
      oneLine(w.queues.join(','), 40),
      w.concurrency,
      w.runningJobs,
      relativeTime(w.startedAt, now),
      relativeTime(w.lastHeartbeatAt, now),
      w.alive ? chalk.green('alive') : chalk.red('dead'),
    ]),
  );
}

/** The --json shape of a log line (time as ISO-8601). */
export type PublicLogLine = Omit<LogLine, 'ts'> & { ts: string };
export const toPublicLogLine = (l: LogLine): PublicLogLine => ({ ...l, ts: new Date(l.ts).toISOString() });

/** One log line for the terminal: time, job id, stream, message. */
export function formatLogLine(line: LogLine, opts: { raw?: boolean } = {}): string {
  const id = line.jobId ?? '-';
  const stream = line.stream === 'stdout' ? '' : `${line.stream === 'stderr' ? chalk.red('stderr') : chalk.dim(line.stream)} `;
  const who = line.jobId === null && line.worker ? `${oneLine(line.worker, 40)} ` : '';
  const msg = opts.raw ? line.message : sanitize(line.message);
  return `${chalk.dim(isoTime(line.ts))} ${chalk.cyan(id)} ${stream}${who}${msg}`;
}

/** JSON for people: one line when short, indented otherwise. */
function json(value: unknown): string {
  try {
    const compact = JSON.stringify(value) ?? 'null';
    return compact.length <= 100 ? compact : (JSON.stringify(value, null, 2) ?? 'null');
  } catch {
    return String(value);
  }
}

/** Every field of one job, its attempt errors and (optionally) its last log lines. */
export function jobDetail(job: Job, logs: LogLine[] | null, now: number = Date.now()): string {
  const field = (k: string, v: string) => `${chalk.bold(k.padEnd(14))} ${v}`;
  const t = (x: number | null) => (x === null ? '-' : `${isoTime(x)} (${relativeTime(x, now)})`);
  const block = (text: string, indent = 15) => sanitize(text, { keepNewlines: true }).replace(/\n/g, `\n${' '.repeat(indent)}`);
  const out = [
    field('id', job.id),
    field('queue', oneLine(job.queue)),
    field('name', oneLine(job.name)),
    field('state', colorState(job.state)),
    field('priority', String(job.priority)),
    field('attempts', `${job.attempts}/${job.maxAttempts}`),
    field('run at', t(job.runAt)),
    field('timeout', formatDuration(job.timeoutMs)),
    field('unique key', job.uniqueKey === null ? '-' : oneLine(job.uniqueKey)),
    field('worker', job.workerId === null ? '-' : oneLine(job.workerId)),
    field('lease expires', t(job.leaseExpiresAt)),
    field('created', t(job.createdAt)),
    field('started', t(job.startedAt)),
    field('finished', t(job.finishedAt)),
    field('updated', t(job.updatedAt)),
    field('payload', block(job.payloadError ? String(job.payload) : json(job.payload))),
  ];
  if (job.payloadError) out.push(field('payload error', chalk.red(oneLine(job.payloadError))));
  if (job.result !== null && job.result !== undefined) out.push(field('result', block(json(job.result))));
  if (job.progress !== null && job.progress !== undefined) out.push(field('progress', block(json(job.progress))));
  out.push(field('last error', job.lastError === null ? '-' : chalk.red(block(job.lastError))));
  if (job.errors.length > 0) {
    out.push('', chalk.bold('errors'));
    for (const e of job.errors) out.push(`  attempt ${e.attempt} at ${isoTime(e.at)}: ${block(e.message, 4)}`);
  }
  if (logs !== null) {
    out.push('', chalk.bold(`last ${logs.length} log lines`));
    if (logs.length === 0) out.push(chalk.dim('  (none)'));
    for (const l of logs) out.push(`  ${formatLogLine(l)}`);
  }
  return out.join('\n');
}

/** Summary of requeue/reset/cancel: what changed and what was skipped, and why. */
export function mutationSummary(result: MutationResult, verb: string, dryRun: boolean): string {
  const n = result.changed.length;
  const lines = [dryRun ? `would ${verb} ${n} job${n === 1 ? '' : 's'}` : `${pastTense(verb)} ${n} job${n === 1 ? '' : 's'}`];
  if (n > 0 && n <= 50) lines[0] += `: ${result.changed.join(', ')}`;
  for (const s of result.skipped.slice(0, 50)) lines.push(chalk.yellow(`skipped ${s.id}: ${oneLine(s.reason, 120)}`));
  if (result.skipped.length > 50) lines.push(chalk.yellow(`… and ${result.skipped.length - 50} more skipped`));
  return lines.join('\n');
}

function pastTense(verb: string): string {
  if (verb === 'reset') return 'reset';
  if (verb === 'cancel') return 'cancelled';
  return verb.endsWith('e') ? `${verb}d` : `${verb}ed`;
}
