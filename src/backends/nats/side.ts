/** Worker registry (KV bucket) and logs (limits stream). */
import type { LogInput, LogLine, LogQuery, LogReadResult, WorkerInfo, WorkerRecord } from '../../core/backend.js';
import { ExitCode, JobctlError, ValidationError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { bytes, text } from './wire.js';

type StoredWorker = Omit<WorkerRecord, 'alive'>;

const alive = (w: StoredWorker, now: number) => w.lastHeartbeatAt + w.ttlMs > now;

export async function registerWorker(ctx: Ctx, info: WorkerInfo): Promise<void> {
  const subj = ctx.n.workerKey(info.name);
  for (let i = 0; i < 5; i++) {
    const now = Date.now();
    const rec: StoredWorker = { ...info, startedAt: now, lastHeartbeatAt: now, runningJobs: 0 };
    const cur = await ctx.w.directGet(ctx.n.workersStream, subj);
    if (cur !== null) {
      const old = JSON.parse(text(cur.data)) as StoredWorker;
      if (alive(old, now)) {
        throw new JobctlError(
          `a live worker named ${JSON.stringify(info.name)} is already registered (pid ${old.pid} on ${old.host})`,
          {
            code: 'conflict',
            exitCode: ExitCode.failed,
            hint: 'choose another --name, or wait until its heartbeat expires',
          },
        );
      }
    }
    if ((await ctx.w.publish(subj, bytes(JSON.stringify(rec)), { expectSeq: cur?.seq ?? 0 })) !== null) return;
  }
  throw new JobctlError(`could not register worker ${JSON.stringify(info.name)}: the record kept changing`, {
    code: 'conflict',
    exitCode: ExitCode.failed,
  });
}

export async function heartbeatWorker(ctx: Ctx, name: string, runningJobs: number): Promise<boolean> {
  const subj = ctx.n.workerKey(name);
  for (let i = 0; i < 5; i++) {
    const cur = await ctx.w.directGet(ctx.n.workersStream, subj);
    if (cur === null) return false;
    const rec = { ...(JSON.parse(text(cur.data)) as StoredWorker), lastHeartbeatAt: Date.now(), runningJobs };
    if ((await ctx.w.publish(subj, bytes(JSON.stringify(rec)), { expectSeq: cur.seq })) !== null) return true;
  }
  return false;
}

export async function listWorkers(ctx: Ctx): Promise<WorkerRecord[]> {
  const items = await ctx.store.readAll(ctx.n.workersStream, `$KV.${ctx.n.workersBucket}.>`, { lastPerSubject: true });
  const now = Date.now();
  const out: WorkerRecord[] = [];
  for (const it of items) {
    if (it.data.length === 0) continue;
    const w = JSON.parse(text(it.data)) as StoredWorker;
    out.push({ ...w, alive: alive(w, now) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function unregisterWorker(ctx: Ctx, name: string): Promise<void> {
  await ctx.store.purge(ctx.n.workersStream, ctx.n.workerKey(name));
}

// ---------------------------------------------------------------- logs

type StoredLine = Omit<LogLine, 'seq'>;

/**
 * Log lines are stored packed: adjacent lines of one (queue, worker, job) in one call go into
 * one stream message (a JSON array; a single line is a plain object), at most LINES_PER_MSG
 * lines and BYTES_PER_MSG bytes (a message must fit the server's max_payload, 1 MiB by default;
 * one line is at most 64 KiB of output).
 * A line's cursor is `stream sequence × LINES_PER_MSG + index in the message`.
 */
const LINES_PER_MSG = 1000;
const BYTES_PER_MSG = 256 * 1024;

/** Lines grouped into stream messages (adjacent lines of one subject, at most LINES_PER_MSG lines and BYTES_PER_MSG bytes). */
function packLines(ctx: Ctx, lines: LogInput[]): { subject: string; data: Uint8Array }[] {
  const groups: { subject: string; lines: string[]; bytes: number }[] = [];
  for (const l of lines) {
    const rec: StoredLine = {
      ts: l.ts ?? Date.now(),
      jobId: l.jobId,
      worker: l.worker,
      queue: l.queue,
      stream: l.stream,
      message: l.message,
    };
    const json = JSON.stringify(rec);
    const size = Buffer.byteLength(json) + 1;
    const subject = ctx.n.logSubject(l.queue, l.worker, l.jobId);
    const last = groups[groups.length - 1];
    if (last && last.subject === subject && last.lines.length < LINES_PER_MSG && last.bytes + size <= BYTES_PER_MSG) {
      last.lines.push(json);
      last.bytes += size;
    } else groups.push({ subject, lines: [json], bytes: size + 1 });
  }
  return groups.map((g) => ({ subject: g.subject, data: bytes(g.lines.length === 1 ? g.lines[0]! : `[${g.lines.join(',')}]`) }));
}

export async function appendLogs(ctx: Ctx, lines: LogInput[]): Promise<void> {
  const msgs = packLines(ctx, lines);
  for (let i = 0; i < msgs.length; i += 1000) {
    await Promise.all(msgs.slice(i, i + 1000).map((m) => ctx.w.publish(m.subject, m.data)));
  }
}

/**
 * The event lines of recorded outcomes: published in order on the handle's connection without
 * waiting for each stream acknowledgement (no reply subject). Called only after the outcome's
 * compare-and-set succeeded, so a lost claim leaves no `completed` line behind; `logs -f` sees
 * them through the stream like any other line.
 */
export function fireLogs(ctx: Ctx, lines: LogInput[]): void {
  for (const m of packLines(ctx, lines)) ctx.w.fire(m.subject, m.data);
}

export async function readLogs(ctx: Ctx, q: LogQuery): Promise<LogReadResult> {
  let after: number | undefined;
  if (q.after !== undefined && q.after !== null) {
    if (!/^[1-9][0-9]{0,15}$/.test(q.after))
      throw new ValidationError(`invalid log cursor ${JSON.stringify(q.after.slice(0, 30))}`);
    after = Number(q.after);
  }
  const filter = ctx.n.logFilter({ queue: q.queue, worker: q.worker, jobId: q.jobId });
  const useTail = after === undefined && q.tail !== undefined;
  const items = await ctx.store.readAll(ctx.n.logs, filter, {
    log: true,
    // the message holding the cursor's line is read again (lines up to the cursor are skipped)
    startSeq: after !== undefined ? Math.floor(after / LINES_PER_MSG) : undefined,
    startTimeMs: after === undefined ? q.sinceMs : undefined,
    max: useTail ? undefined : q.limit + 1,
  });
  let lines: LogLine[] = [];
  for (const it of items) {
    const v = JSON.parse(text(it.data)) as StoredLine | StoredLine[];
    (Array.isArray(v) ? v : [v]).forEach((l, k) => {
      const seq = it.seq * LINES_PER_MSG + k;
      if (after === undefined || seq > after) lines.push({ seq: String(seq), ...l });
    });
  }
  if (q.sinceMs !== undefined) lines = lines.filter((l) => l.ts >= q.sinceMs!);
  if (useTail) lines = lines.slice(-Math.min(q.tail!, q.limit));
  else lines = lines.slice(0, q.limit);
  const cursor = lines.length > 0 ? lines[lines.length - 1]!.seq : after !== undefined ? String(after) : null;
  return { lines, cursor };
}
