/** Worker registry and job logs. */
import type { LogInput, LogQuery, LogReadResult, WorkerInfo, WorkerRecord } from '../../core/backend.js';
import { JobctlError, ValidationError } from '../../core/errors.js';
import { toLogLine, type LogRow } from '../shared/sql-rows.js';
import { toWorker, type WorkerRow } from './rows.js';
import type { SqlName, Store } from './store.js';

export const LOG_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Records of workers dead this long are dropped (their jobs are orphaned either way). */
export const DEAD_WORKER_RETENTION_MS = 24 * 3600 * 1000;

export function registerWorker(s: Store, info: WorkerInfo): void {
  s.write(() => {
    const now = Date.now();
    const old = s.get<WorkerRow>('getWorker', { name: info.name });
    if (old && old.last_heartbeat_at + old.ttl_ms > now) {
      throw new JobctlError(
        `a live worker named ${JSON.stringify(info.name)} is already registered (pid ${old.pid} on ${old.host})`,
        {
          code: 'conflict',
          exitCode: 1,
          hint: 'give this worker another --name, or stop the other one first',
        },
      );
    }
    s.run('upsertWorker', {
      name: info.name,
      host: info.host,
      pid: info.pid,
      queues: JSON.stringify(info.queues),
      concurrency: info.concurrency,
      ttlMs: info.ttlMs,
      version: info.version,
      now,
    });
  });
}

export function heartbeatWorker(s: Store, name: string, runningJobs: number): boolean {
  return s.write(() => s.run('heartbeatWorker', { name, runningJobs, now: Date.now() }) === 1);
}

export function listWorkers(s: Store): WorkerRecord[] {
  const now = Date.now();
  return s.all<WorkerRow>('listWorkers').map((r) => toWorker(r, now));
}

export function unregisterWorker(s: Store, name: string): void {
  s.write(() => s.run('deleteWorker', { name }));
}

export function appendLogs(s: Store, lines: LogInput[]): void {
  if (lines.length === 0) return;
  const now = Date.now();
  s.write(() => {
    for (const l of lines) {
      s.run('insertLog', {
        ts: l.ts ?? now,
        jobId: l.jobId,
        worker: l.worker,
        queue: l.queue,
        stream: l.stream,
        message: l.message,
      });
    }
  });
}

export function readLogs(s: Store, q: LogQuery): LogReadResult {
  if (!Number.isSafeInteger(q.limit) || q.limit < 0) throw new ValidationError(`invalid limit ${q.limit}`);
  let after: bigint | null = null;
  if (q.after !== undefined) {
    if (!/^(0|[1-9][0-9]{0,18})$/.test(q.after))
      throw new ValidationError(`invalid log cursor ${JSON.stringify(q.after)}`, 'pass the cursor of a previous read');
    after = BigInt(q.after);
  }
  const lead = q.jobId !== undefined ? 'Job' : q.worker !== undefined ? 'Worker' : q.queue !== undefined ? 'Queue' : 'All';
  const filters = { jobId: q.jobId ?? null, worker: q.worker ?? null, queue: q.queue ?? null, since: q.sinceMs ?? null };
  let rows: LogRow[];
  if (after === null && q.tail !== undefined) {
    rows = s.all<LogRow>(`tailLogs${lead}` as SqlName, { ...filters, limit: Math.min(q.tail, q.limit) }).reverse();
  } else {
    rows = s.all<LogRow>(`readLogs${lead}` as SqlName, { ...filters, after: after ?? 0n, limit: q.limit });
  }
  const lines = rows.map(toLogLine);
  return { lines, cursor: lines.length ? lines[lines.length - 1]!.seq : (q.after ?? null) };
}

/** Retention, run now and then by rescue(): old log lines and long-dead worker records. */
export function housekeeping(s: Store): void {
  const now = Date.now();
  s.write(() => {
    s.run('trimLogs', { before: now - LOG_RETENTION_MS });
    s.run('pruneWorkers', { before: now - DEAD_WORKER_RETENTION_MS });
  });
}
