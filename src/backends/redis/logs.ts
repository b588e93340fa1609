/**
 * Logs in Redis Streams, trimmed to about LOG_LINES lines with MAXLEN ~ (and now and then with
 * MINID ~ for age: 7 days). Each line
 * is stored where one slot can write it:
 *   job stream    {<prefix>:<queue>}:log:<id>   every line of the job (deleted with the job)
 *   queue stream  {<prefix>:<queue>}:logs       every line of the queue (its jobs' lines)
 *   worker-log    {<prefix>}:worker-log         lines without a queue (worker lifecycle events)
 * A job's line is written to its job and queue streams, in its queue's slot: so `complete`
 * writes a job's `claimed`/`completed` events in the same Lua script as the outcome (jobs.ts),
 * and only when the outcome is recorded. The views of one worker and of everything are not
 * stored: they are merged at read time from worker-log and every queue stream (filtered by
 * worker), ordered by entry id (ms, then worker-log before queue streams, then the stream's own
 * order); their cursor holds one position per stream (`m:<base64url JSON>`), so a line written
 * later to any stream is never skipped.
 *
 * One write adds ONE entry per stream it touches, holding that stream's lines of the write:
 * fields `n` (count) and `lines`, a JSON array of rows [ts, jobId, worker, queue, stream, message].
 * A line's `seq` is `<entry id>:<index>` in the stream it was read from. Followers block in
 * XREAD on `{<prefix>}:log-tick`, a MAXLEN-1 stream bumped after each write of lines.
 */
import type { LogInput, LogLine, LogQuery, LogReadResult, LogStream } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import type { Client } from './connection.js';
import { duplicate } from './connection.js';
import { APPEND_LOGS_KEYS, type Ctx } from './context.js';
import { assertQueueName, parseId } from './keys.js';

/**
 * Lines kept per stream (about: MAXLEN ~ counts entries, so each write trims to
 * max(1, budget / its own line count) entries; a stream of similar writes keeps about this many
 * lines, whatever their batching).
 */
export const LOG_LINES = { job: 20_000, queue: 200_000, worker: 20_000 };

/** MAXLEN for an entry of `lines` lines in a stream keeping about `budget` lines. */
export function maxlenFor(budget: number, lines: number): number {
  return Math.max(1, Math.floor(budget / Math.max(1, lines)));
}
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'log', 'event'];
const SEQ_RE = /^(\d{1,20}-\d{1,20}):(\d{1,9})$/;
const MERGED_RE = /^m:([A-Za-z0-9_-]{0,100000})$/;
const PAGE = 200;

type Entry = [string, string[]];

/** One line as stored: JSON of [ts, jobId, worker, queue, stream, message]. */
export function encodeRow(ts: number, jobId: string, worker: string, queue: string, stream: LogStream, message: string): string {
  return JSON.stringify([ts, jobId, worker, queue, stream, message]);
}

/** The JSON text of `"worker","queue","stream"` last used by encodeRows (a worker's rows share it). */
const rowTail = { worker: '', queue: '', stream: '', text: '' };

/** Lines of one job as stored rows joined by ',' (what encodeRow gives for each, without the brackets). */
export function encodeRows(
  jobId: string,
  worker: string,
  queue: string,
  stream: LogStream,
  lines: readonly { ts: number; message: string }[],
): string {
  if (rowTail.worker !== worker || rowTail.queue !== queue || rowTail.stream !== stream || rowTail.text === '') {
    rowTail.text = JSON.stringify([worker, queue, stream]).slice(1, -1);
    rowTail.worker = worker;
    rowTail.queue = queue;
    rowTail.stream = stream;
  }
  const rest = `${JSON.stringify(jobId)},${rowTail.text}`;
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const ts = Number.isFinite(l.ts) ? String(l.ts) : 'null';
    out += `${i ? ',' : ''}[${ts},${rest},${JSON.stringify(String(l.message))}]`;
  }
  return out;
}

/** Every Nth write also trims by age (MINID ~): the MINID to pass, or ''. */
export class AgeTrim {
  private writes = 0;
  next(): string {
    return this.writes++ % 100 === 0 ? `${Date.now() - MAX_AGE_MS}-0` : '';
  }
}

/** A stream read for a query; `name` identifies it in a merged cursor ('' = worker-log, else the queue). */
interface Source {
  key: string;
  name: string;
  rank: number;
  /** next XRANGE start (forward) or XREVRANGE end (backward) */
  from: string;
  /** a cursor position inside an entry: skip its lines up to this index */
  skip: { entry: string; index: number } | null;
  /** the job's pending entry (not in the stream), read after the stream's last entry */
  pending: Entry | null;
  buf: Line[];
  at: number;
  exhausted: boolean;
  /** last line consumed (forward) or the stream's newest line (tail) */
  pos: string | null;
}

interface Line extends LogLine {
  ms: number;
  sq: number;
  idx: number;
  /** the source's place in the query's list (orders lines of equal ms) */
  rank: number;
}

export class Logs {
  private blocking: Client | null = null;
  private lastTick = '$';
  readonly ageTrim = new AgeTrim();

  constructor(private readonly ctx: Ctx) {}

  /**
   * One script call per slot. worker-log first (the merged views put it first within a ms), then
   * the queue slots, then the tick that wakes followers once the lines exist.
   */
  async append(lines: LogInput[]): Promise<void> {
    if (lines.length === 0) return;
    const { keys } = this.ctx;
    const minId = this.ageTrim.next();
    const registry = new SlotBatch(null);
    const queues = new Map<string, SlotBatch>();
    const slot = (q: string) => queues.get(q) ?? queues.set(q, new SlotBatch(keys.pendingLog(q))).get(q)!;
    for (const line of lines) {
      if (!STREAMS.includes(line.stream)) throw new ValidationError(`invalid log stream ${JSON.stringify(line.stream)}`);
      const jobQueue = line.jobId ? (this.ctx.cachedQueueOfId(line.jobId) ?? (await this.ctx.queueOfId(line.jobId))) : null;
      const queue = line.queue ?? jobQueue;
      if (queue) assertQueueName(queue);
      const row = encodeRow(
        line.ts ?? Date.now(),
        line.jobId ?? '',
        line.worker ?? '',
        queue ?? '',
        line.stream,
        String(line.message),
      );
      if (line.jobId && jobQueue) slot(jobQueue).add(keys.jobLog(jobQueue, line.jobId), LOG_LINES.job, row, line.jobId);
      if (queue) slot(queue).add(keys.queueLog(queue), LOG_LINES.queue, row);
      else registry.add(keys.workerLog, LOG_LINES.worker, row);
    }
    const bulk = this.ctx.bulk;
    await this.ctx.inOrder([
      () => registry.send(this.ctx, minId),
      () => Promise.all([...queues.values()].map((b) => b.send(this.ctx, minId))),
      () => this.ctx.cmd(bumpTick(this.ctx, bulk)),
    ]);
  }

  /**
   * The streams a query reads: one for a job (with its pending entry, read BEFORE the stream: an
   * entry moved into the stream meanwhile is then seen twice and kept once) or a queue;
   * worker-log and every queue stream otherwise.
   */
  private async sources(q: LogQuery): Promise<{ key: string; name: string; pending?: Entry | null }[] | null> {
    const keys = this.ctx.keys;
    if (q.jobId) {
      if (!parseId(q.jobId)) throw new ValidationError(`invalid job id ${JSON.stringify(q.jobId)}`);
      const queue = await this.ctx.queueOfId(q.jobId);
      if (!queue) return null;
      const held = await this.ctx.cmd(this.ctx.client.hget(keys.pendingLog(queue), q.jobId));
      return [{ key: keys.jobLog(queue, q.jobId), name: queue, pending: held === null ? null : pendingEntry(held) }];
    }
    if (q.queue) return [{ key: keys.queueLog(assertQueueName(q.queue)), name: q.queue }];
    const queues = await this.ctx.allQueues();
    return [{ key: keys.workerLog, name: '' }, ...queues.map((name) => ({ key: keys.queueLog(name), name }))];
  }

  async read(q: LogQuery): Promise<LogReadResult> {
    const limit = Math.max(1, Math.floor(q.limit));
    // the tick id first: a line written after it wakes the next waitForLogs
    const tick = await this.ctx.cmd(this.ctx.client.xrevrange(this.ctx.keys.logTick, '+', '-', 'COUNT', 1));
    this.lastTick = tick[0]?.[0] ?? '0-0';
    const found = await this.sources(q);
    const single = found !== null && found.length === 1;
    const after = q.after === undefined ? null : parseCursor(q.after, !q.jobId && !q.queue);
    if (!found) return { lines: [], cursor: q.after ?? null };
    const sinceStart = q.sinceMs !== undefined ? `${Math.max(0, Math.floor(q.sinceMs) - 60_000)}-0` : null;
    const tail = !after && q.tail !== undefined;
    const srcs: Source[] = found.map((s, rank) => {
      const p = after?.get(single ? null : s.name);
      const m = p ? SEQ_RE.exec(p) : null;
      return {
        ...s,
        rank,
        from: tail ? '+' : m ? m[1]! : (sinceStart ?? '-'),
        skip: m ? { entry: m[1]!, index: Number(m[2]) } : null,
        pending: s.pending ?? null,
        buf: [],
        at: 0,
        exhausted: false,
        pos: p ?? null,
      };
    });
    // a line of the query: cheap text checks before parsing an entry, then the exact match
    const needles = [q.jobId, q.worker].filter((x): x is string => !!x).map((x) => JSON.stringify(x));
    const match = (l: LogLine) =>
      (!q.jobId || l.jobId === q.jobId) &&
      (!q.worker || l.worker === q.worker) &&
      (!q.queue || l.queue === q.queue) &&
      (q.sinceMs === undefined || l.ts >= q.sinceMs);
    const lines: LogLine[] = [];
    const cursorOf = (): string | null => {
      if (single) return srcs[0]!.pos ?? q.after ?? null;
      const map: Record<string, string> = {};
      for (const [k, v] of after ?? []) if (k !== null) map[k] = v;
      for (const s of srcs) if (s.pos) map[s.name] = s.pos;
      if (Object.keys(map).length === 0) return q.after ?? null;
      return `m:${Buffer.from(JSON.stringify(map)).toString('base64url')}`;
    };

    if (tail) {
      const want = Math.min(Math.max(0, Math.floor(q.tail!)), limit);
      const oldest = q.sinceMs !== undefined ? q.sinceMs - 60_000 : -Infinity;
      const fill = (s: Source) => this.fill(s, false, needles, oldest);
      await Promise.all(srcs.map(fill));
      // the newest first across sources (every source's buffer holds its newest unconsumed lines)
      while (lines.length < want) {
        const s = pick(srcs, (a, b) => compare(a, b) > 0);
        if (!s) break;
        const l = s.buf[s.at++]!;
        if (match(l)) lines.push(strip(l));
        if (s.at >= s.buf.length) await fill(s);
      }
      lines.reverse();
      return { lines, cursor: cursorOf() };
    }

    const fill = (s: Source) => this.fill(s, true, needles, -Infinity);
    await Promise.all(srcs.map(fill));
    while (lines.length < limit) {
      const s = pick(srcs, (a, b) => compare(a, b) < 0);
      if (!s) break;
      const l = s.buf[s.at++]!;
      s.pos = l.seq;
      if (match(l)) lines.push(strip(l));
      if (s.at >= s.buf.length) await fill(s);
    }
    return { lines, cursor: cursorOf() };
  }

  /**
   * Refill a source's buffer with its next page (forward: oldest first; backward: newest first).
   * Entries whose text cannot hold a needle (the job id or worker name as JSON) are passed over
   * unparsed, except that their last line still moves the position on.
   */
  private async fill(s: Source, forward: boolean, needles: string[], oldestMs: number): Promise<void> {
    s.buf = [];
    s.at = 0;
    while (!s.exhausted && s.buf.length === 0) {
      const { client } = this.ctx;
      const from = s.from;
      const page = (await this.ctx.cmd(
        forward ? client.xrange(s.key, from, '+', 'COUNT', PAGE) : client.xrevrange(s.key, from, '-', 'COUNT', PAGE),
      )) as Entry[];
      if (page.length < PAGE) s.exhausted = true;
      if (page.length) s.from = `(${page.at(-1)![0]}`;
      const held = s.pending;
      if (held && (forward ? s.exhausted : from === '+')) {
        // the pending entry is newer than the stream's (it has no stream, or was just moved there)
        s.pending = null;
        const newest = forward ? page.at(-1)?.[0] : page[0]?.[0];
        const after = forward && from !== '-' ? from : null;
        const fresh = newest ? compareIds(held[0], newest) > 0 : true;
        const inRange =
          !after || (after.startsWith('(') ? compareIds(held[0], after.slice(1)) > 0 : compareIds(held[0], after) >= 0);
        if (fresh && inRange) {
          if (forward) page.push(held);
          else page.unshift(held);
        }
      }
      if (!forward && from === '+' && page.length) {
        // a tail goes on after the newest line of each stream, matching or not
        const n = countOf(page[0]!);
        if (n > 0) s.pos = `${page[0]![0]}:${n - 1}`;
      }
      for (const e of page) {
        const [ms, sq] = e[0].split('-').map(Number) as [number, number];
        if (!forward && ms < oldestMs) {
          s.exhausted = true;
          break;
        }
        const text = linesText(e);
        const lines = needles.every((n) => text.includes(n)) ? expand(e[0], text, ms, sq, s.rank) : [];
        if (lines.length === 0 && forward) {
          // nothing of interest: still a position to continue from
          const n = countOf(e);
          if (n > 0) s.pos = `${e[0]}:${n - 1}`;
          continue;
        }
        if (s.skip && e[0] === s.skip.entry) lines.splice(0, s.skip.index + 1);
        if (forward) s.buf.push(...lines);
        else for (let i = lines.length - 1; i >= 0; i--) s.buf.push(lines[i]!);
      }
    }
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

/** Wake log followers (XREAD BLOCK on the tick stream). */
export function bumpTick(ctx: Ctx, on: Client): Promise<unknown> {
  return on.xadd(ctx.keys.logTick, 'MAXLEN', '1', '*', 't', '1');
}

/** The pending entry of a job ("<entry id>\n<n>\n<lines>") as a stream entry. */
function pendingEntry(text: string): Entry | null {
  const a = text.indexOf('\n');
  const b = text.indexOf('\n', a + 1);
  if (a < 0 || b < 0) return null;
  return [text.slice(0, a), ['n', text.slice(a + 1, b), 'lines', text.slice(b + 1)]];
}

/** Order of two stream entry ids `<ms>-<seq>`. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || (as ?? 0) - (bs ?? 0);
}

/** `after` as positions: key null for a single stream's `<entry>:<index>`, else stream name -> position. */
function parseCursor(raw: string, merged: boolean): Map<string | null, string> {
  const bad = () => new ValidationError(`invalid log cursor ${JSON.stringify(raw.slice(0, 80))}`);
  if (!merged) {
    if (!SEQ_RE.test(raw)) throw bad();
    return new Map([[null, raw]]);
  }
  const m = MERGED_RE.exec(raw);
  if (!m) throw bad();
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw bad();
  const out = new Map<string | null, string>();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof v !== 'string' || !SEQ_RE.test(v)) throw bad();
    out.set(k, v);
  }
  return out;
}

/** The source whose next line comes first by `before` (null when all are consumed). */
function pick(srcs: Source[], before: (a: Line, b: Line) => boolean): Source | null {
  let best: Source | null = null;
  let bestLine: Line | null = null;
  for (const s of srcs) {
    if (s.at >= s.buf.length) continue;
    const l = s.buf[s.at]!;
    if (!bestLine || before(l, bestLine)) {
      best = s;
      bestLine = l;
    }
  }
  return best;
}

/** Order of lines across streams: entry ms, then stream rank, then the stream's own order. */
function compare(a: Line, b: Line): number {
  return a.ms - b.ms || a.rank - b.rank || a.sq - b.sq || a.idx - b.idx;
}

function strip(l: Line): LogLine {
  return { seq: l.seq, ts: l.ts, jobId: l.jobId, worker: l.worker, queue: l.queue, stream: l.stream, message: l.message };
}

function linesText(f: Entry): string {
  const fields = f[1];
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'lines') return fields[i + 1]!;
  return '[]';
}

function countOf(f: Entry): number {
  const fields = f[1];
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'n') return Number(fields[i + 1]) || 0;
  return 0;
}

/** The lines of one stream entry. */
function expand(id: string, text: string, ms: number, sq: number, rank: number): Line[] {
  let rows: unknown[][];
  try {
    rows = JSON.parse(text) as unknown[][];
  } catch {
    return [];
  }
  return rows.map((r, i) => ({
    seq: `${id}:${i}`,
    ms,
    sq,
    idx: i,
    rank,
    ts: Number(r[0]),
    jobId: (r[1] as string) || null,
    worker: (r[2] as string) || null,
    queue: (r[3] as string) || null,
    stream: (STREAMS as readonly unknown[]).includes(r[4]) ? (r[4] as LogStream) : 'log',
    message: String(r[5] ?? ''),
  }));
}

/**
 * Entries for the streams of one slot, sent as append-logs calls of up to APPEND_LOGS_KEYS - 1
 * streams (KEYS[1] is the slot's pending-log hash, or for the registry slot any key of it).
 */
class SlotBatch {
  private readonly rows = new Map<string, { budget: number; rows: string[]; jobId: string }>();

  constructor(private readonly firstKey: string | null) {}

  add(key: string, budget: number, row: string, jobId = ''): void {
    const cur = this.rows.get(key) ?? this.rows.set(key, { budget, rows: [], jobId }).get(key)!;
    cur.rows.push(row);
  }

  async send(ctx: Ctx, minId: string): Promise<void> {
    const all = [...this.rows];
    const calls: Promise<unknown>[] = [];
    for (let s = 0; s < all.length; s += APPEND_LOGS_KEYS - 1) {
      const group = all.slice(s, s + APPEND_LOGS_KEYS - 1);
      const keys = [this.firstKey ?? group[0]![0], ...group.map(([k]) => k)];
      const args: (string | number)[] = [minId];
      group.forEach(([, v], i) =>
        args.push(i + 2, maxlenFor(v.budget, v.rows.length), v.rows.length, `[${v.rows.join(',')}]`, v.jobId),
      );
      while (keys.length < APPEND_LOGS_KEYS) keys.push(keys[1]!);
      calls.push(ctx.run('appendLogs', keys, args, ctx.bulk));
    }
    await Promise.all(calls);
  }
}
