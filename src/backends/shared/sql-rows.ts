/** Row shapes the SQL backends (sqlite, postgres) share, and their mapping to the interface types. */
import type { LogLine, LogStream } from '../../core/backend.js';

/** A `logs` row as both SQL schemas return it (seq as text, ts in epoch ms). */
export interface LogRow {
  seq: string;
  ts: number;
  job_id: string | null;
  worker: string | null;
  queue: string | null;
  stream: string;
  message: string;
}

export function toLogLine(r: LogRow): LogLine {
  return {
    seq: r.seq,
    ts: r.ts,
    jobId: r.job_id,
    worker: r.worker,
    queue: r.queue,
    stream: r.stream as LogStream,
    message: r.message,
  };
}
