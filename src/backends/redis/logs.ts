/**
 * Logs in Redis Streams, trimmed with MAXLEN ~ (and every 100th append with MINID ~ for age):
 *   job stream    {<prefix>:<queue>}:log:<id>   (deleted with the job)
 *   queue stream  {<prefix>:<queue>}:logs
 *   worker stream {<prefix>}:worker-log:<name>
 *   global stream {<prefix>}:logs                (every line: reads without a filter)
 * A line goes to every stream it belongs to. One appendLogs call adds ONE entry per stream it
 * touches, holding that stream's lines of the call: fields `n` (count) and `lines`, a JSON array
 * of [ts, jobId, worker, queue, stream, message] — so a worker's per-job events cost one XADD per
 * stream per flush, not one per line. A line's `seq` is `<entry id>:<index>`, ordered within the
 * stream read. A read uses the most specific stream of the query (job > worker > queue > global)
 * and filters the rest in memory. Followers block in XREAD on `{<prefix>}:log-tick`, a MAXLEN-1
 * stream bumped after each append.
 */
import type { LogInput, LogLine, LogQuery, LogReadResult, LogStream } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import type { Client } from './connection.js';
import { duplicate } from './connection.js';
import { APPEND_LOGS_KEYS, type Ctx } from './context.js';
import { assertQueueName, parseId } from './keys.js';

/** Entries (append batches) kept per stream. */
const MAXLEN = { job: 2_000, queue: 20_000, worker: 10_000, global: 20_000 };
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'log', 'event'];
const SEQ_RE = /^(\d{1,20}-\d{1,20}):(\d{1,9})$/;
const PAGE = 200;

type Entry = [string, string[]];
type Row = [number, string, string, string, string, string];

export class Logs {
  private blocking: Client | null = null;
  private lastTick = '$';
  private appends = 0;

  constructor(private readonly ctx: Ctx) {}

  /**
   * One script call per slot: the queue slots (job and queue streams) first, then the registry
   * slot (worker and global streams, and the tick that wakes followers after the lines exist).
   */
  async append(lines: LogInput[]): Promise<void> {
    if (lines.length === 0) return;
    const { keys } = this.ctx;
    const minId = this.appends++ % 100 === 0 ? `${Date.now() - MAX_AGE_MS}-0` : '';
    const registry = new SlotBatch();
    const queues = new Map<string, SlotBatch>();
    const slot = (q: string) => queues.get(q) ?? queues.set(q, new SlotBatch()).get(q)!;
    for (const line of lines) {
      if (!STREAMS.includes(line.stream)) throw new ValidationError(`invalid log stream ${JSON.stringify(line.stream)}`);
      const jobQueue = line.jobId ? (this.ctx.cachedQueueOfId(line.jobId) ?? (await this.ctx.queueOfId(line.jobId))) : null;
      const queue = line.queue ?? jobQueue;
      if (queue) assertQueueName(queue);
      const row: Row = [
        line.ts ?? Date.now(),
        line.jobId ?? '',
        line.worker ?? '',
        queue ?? '',
        line.stream,
        String(line.message),
      ];
      if (line.jobId && jobQueue) slot(jobQueue).add(keys.jobLog(jobQueue, line.jobId), MAXLEN.job, row);
      if (queue) slot(queue).add(keys.queueLog(queue), MAXLEN.queue, row);
      if (line.worker) registry.add(keys.workerLog(line.worker), MAXLEN.worker, row);
      registry.add(keys.globalLog, MAXLEN.global, row);
    }
    await Promise.all([...queues.values()].map((b) => b.send(this.ctx, minId)));
    registry.add(keys.logTick, 1, null);
    await registry.send(this.ctx, minId);
  }

  private async streamFor(q: LogQuery): Promise<string | null> {
    const keys = this.ctx.keys;
    if (q.jobId) {
      if (!parseId(q.jobId)) throw new ValidationError(`invalid job id ${JSON.stringify(q.jobId)}`);
      const queue = await this.ctx.queueOfId(q.jobId);
      return queue ? keys.jobLog(queue, q.jobId) : null;
    }
    if (q.worker) return keys.workerLog(q.worker);
    if (q.queue) return keys.queueLog(assertQueueName(q.queue));
    return keys.globalLog;
  }

  async read(q: LogQuery): Promise<LogReadResult> {
    const after = q.after === undefined ? null : SEQ_RE.exec(q.after);
    if (q.after !== undefined && !after) throw new ValidationError(`invalid log cursor ${JSON.stringify(q.after)}`);
    const limit = Math.max(1, Math.floor(q.limit));
    // the tick id first: a line appended after it wakes the next waitForLogs
    const tick = await this.ctx.cmd(this.ctx.client.xrevrange(this.ctx.keys.logTick, '+', '-', 'COUNT', 1));
    this.lastTick = tick[0]?.[0] ?? '0-0';
    const key = await this.streamFor(q);
    if (!key) return { lines: [], cursor: q.after ?? null };
    const match = (l: LogLine) =>
      (!q.jobId || l.jobId === q.jobId) &&
      (!q.worker || l.worker === q.worker) &&
      (!q.queue || l.queue === q.queue) &&
      (q.sinceMs === undefined || l.ts >= q.sinceMs);
    const { client } = this.ctx;
    const lines: LogLine[] = [];
    let scanned: string | null = null;

    if (!after && q.tail !== undefined) {
      const want = Math.min(Math.max(0, Math.floor(q.tail)), limit);
      let end = '+';
      while (lines.length < want) {
        const page = (await this.ctx.cmd(client.xrevrange(key, end, '-', 'COUNT', PAGE))) as Entry[];
        if (page.length === 0) break;
        let older = false;
        for (const e of page) {
          const entryLines = expand(e);
          scanned ??= entryLines.at(-1)?.seq ?? null;
          for (let i = entryLines.length - 1; i >= 0 && lines.length < want; i--)
            if (match(entryLines[i]!)) lines.push(entryLines[i]!);
          if (q.sinceMs !== undefined && Number(e[0].split('-')[0]) < q.sinceMs - 60_000) older = true;
          if (lines.length >= want || older) break;
        }
        if (page.length < PAGE || older) break;
        end = `(${page.at(-1)![0]}`;
      }
      lines.reverse();
      return { lines, cursor: scanned };
    }

    let start = after ? after[1]! : q.sinceMs !== undefined ? `${Math.max(0, Math.floor(q.sinceMs) - 60_000)}-0` : '-';
    const skipThrough = after ? { entry: after[1]!, index: Number(after[2]) } : null;
    for (;;) {
      const page = (await this.ctx.cmd(client.xrange(key, start, '+', 'COUNT', PAGE))) as Entry[];
      for (const e of page) {
        for (const l of expand(e)) {
          if (skipThrough && e[0] === skipThrough.entry && Number(l.seq.split(':')[1]) <= skipThrough.index) continue;
          if (lines.length >= limit) return { lines, cursor: scanned ?? q.after ?? null };
          scanned = l.seq;
          if (match(l)) lines.push(l);
        }
      }
      if (page.length < PAGE) break;
      start = `(${page.at(-1)![0]}`;
    }
    return { lines, cursor: scanned ?? q.after ?? null };
  }

  async wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || timeoutMs <= 0) return;
    const conn = (this.blocking ??= duplicate(this.ctx.client, this.ctx.url, this.ctx.debug, false, true));
    const onAbort = () => {
      if (this.blocking === conn) this.blocking = null;
      conn.disconnect();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = (await conn.xread(
        'BLOCK',
        Math.max(1, Math.round(timeoutMs)),
        'STREAMS',
        this.ctx.keys.logTick,
        this.lastTick,
      )) as [string, Entry[]][] | null;
      const last = res?.[0]?.[1]?.at(-1)?.[0];
      if (last) this.lastTick = last;
    } catch (e) {
      if (!signal?.aborted) throw this.ctx.error(e, 'waiting for logs');
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    const b = this.blocking;
    this.blocking = null;
    b?.disconnect();
  }
}

/** Entries for the streams of one slot, sent as append-logs calls of up to APPEND_LOGS_KEYS streams. */
class SlotBatch {
  private readonly rows = new Map<string, { maxlen: number; rows: Row[] | null }>();

  /** rows null: an entry without lines (the tick) */
  add(key: string, maxlen: number, row: Row | null): void {
    const cur = this.rows.get(key) ?? this.rows.set(key, { maxlen, rows: row ? [] : null }).get(key)!;
    if (row) cur.rows!.push(row);
  }

  async send(ctx: Ctx, minId: string): Promise<void> {
    const all = [...this.rows];
    const calls: Promise<unknown>[] = [];
    for (let s = 0; s < all.length; s += APPEND_LOGS_KEYS) {
      const group = all.slice(s, s + APPEND_LOGS_KEYS);
      const keys = group.map(([k]) => k);
      const args: (string | number)[] = [minId];
      group.forEach(([, v], i) => args.push(i + 1, v.maxlen, v.rows ? v.rows.length : 0, v.rows ? JSON.stringify(v.rows) : '[]'));
      while (keys.length < APPEND_LOGS_KEYS) keys.push(keys[0]!);
      calls.push(ctx.run('appendLogs', keys, args, ctx.bulk));
    }
    await Promise.all(calls);
  }
}

/** The lines of one stream entry. */
function expand([id, f]: Entry): LogLine[] {
  let text = '[]';
  for (let i = 0; i < f.length; i += 2) if (f[i] === 'lines') text = f[i + 1]!;
  let rows: Row[];
  try {
    rows = JSON.parse(text) as Row[];
  } catch {
    return [];
  }
  return rows.map((r, i) => ({
    seq: `${id}:${i}`,
    ts: Number(r[0]),
    jobId: r[1] || null,
    worker: r[2] || null,
    queue: r[3] || null,
    stream: (STREAMS as readonly string[]).includes(r[4]) ? (r[4] as LogStream) : 'log',
    message: String(r[5] ?? ''),
  }));
}
