/** Worker registry (KV bucket) and logs (limits stream). */
import type { CompleteItem, LogInput, LogLine, LogQuery, LogReadResult, WorkerInfo, WorkerRecord } from '../../core/backend.js';
import { ExitCode, JobctlError, ValidationError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { newId } from './names.js';
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

/** The event lines of one outcome call's jobs of one (queue, worker): one log message. */
interface EventGroup {
  /** the record's name of the batch (Names.logBatch); null: one job, stored under its own subject */
  batch: string | null;
  subject: string;
  lines: number;
  bytes: number;
  /** per job, in item order: its id, its stored lines (JSON, joined by commas) and how many */
  jobs: { id: string; json: string; n: number }[];
}

/**
 * The `events` of an outcome call (CompleteItem.events), packed before the compare-and-sets: the
 * lines of every job of one (queue, worker) go into ONE log message (a batch subject
 * `l.<q>.<worker>.b<batch id>`, named in each job's record so that `logs <job id>` finds them), at
 * most LINES_PER_MSG lines and BYTES_PER_MSG bytes each. A group of one job keeps the job's own
 * subject (nothing to name in the record). Published after the outcomes are recorded, only with
 * the lines of the jobs whose outcome was: a lost claim leaves no `completed` line behind.
 * Runs for every completed job: one string per job (its lines joined), the group key made once.
 */
export class EventBatches {
  private readonly groups: EventGroup[] = [];
  private readonly ofJob = new Map<string, EventGroup>();

  constructor(ctx: Ctx, items: readonly CompleteItem[]) {
    // the (queue, worker) key of each item with lines, and how many items share it
    const keys: (string | undefined)[] = new Array(items.length);
    const perKey = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (!it.events || it.events.lines.length === 0) continue;
      const key = `${it.events.queue}\u0000${it.workerId}`;
      keys[i] = key;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
    }
    const open = new Map<string, EventGroup>();
    /** `,"worker":…,"queue":…,"stream":"event","message":` per (queue, worker): encoded once */
    const middles = new Map<string, string>();
    for (let i = 0; i < items.length; i++) {
      const key = keys[i];
      const it = items[i]!;
      if (key === undefined || this.ofJob.has(it.id)) continue;
      const ev = it.events!;
      let middle = middles.get(key);
      if (middle === undefined)
        middles.set(
          key,
          (middle = `,"worker":${JSON.stringify(it.workerId)},"queue":${JSON.stringify(ev.queue)},"stream":"event","message":`),
        );
      // the text JSON.stringify gives for {ts, jobId, worker, queue, stream, message}, built from parts
      const jobId = JSON.stringify(it.id);
      let json = '';
      for (const l of ev.lines)
        json += `${json === '' ? '' : ','}{"ts":${JSON.stringify(l.ts)},"jobId":${jobId}${middle}${JSON.stringify(l.message)}}`;
      const n = ev.lines.length;
      const size = Buffer.byteLength(json) + 1;
      let g = open.get(key);
      if (g && (g.lines + n > LINES_PER_MSG || g.bytes + size > BYTES_PER_MSG)) g = undefined;
      if (g === undefined) {
        const single = perKey.get(key) === 1;
        const batch = single ? null : ctx.n.logBatch(ev.queue, it.workerId, newId());
        g = {
          batch,
          subject: batch === null ? ctx.n.logSubject(ev.queue, it.workerId, it.id) : ctx.n.logBatchSubject(batch)!,
          lines: 0,
          bytes: 1,
          jobs: [],
        };
        this.groups.push(g);
        open.set(key, g);
      }
      g.lines += n;
      g.bytes += size;
      g.jobs.push({ id: it.id, json, n });
      this.ofJob.set(it.id, g);
    }
  }

  /** The log batch to name in this job's record (null: none, its lines go under its own subject). */
  batchOf(id: string): string | null {
    return this.ofJob.get(id)?.batch ?? null;
  }

  /**
   * Publish the lines of the jobs whose outcome was recorded, in order on the handle's connection
   * and without waiting for each stream acknowledgement (no reply subject); `logs -f` sees them
   * through the stream like any other line.
   */
  fire(ctx: Ctx, recorded: ReadonlySet<string>): void {
    for (const g of this.groups) {
      const parts: string[] = [];
      let lines = 0;
      for (const j of g.jobs) {
        if (!recorded.has(j.id)) continue;
        parts.push(j.json);
        lines += j.n;
      }
      if (lines > 0) ctx.w.fire(g.subject, bytes(lines === 1 ? parts[0]! : `[${parts.join(',')}]`));
    }
  }
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
  const add = (it: { seq: number; data: Uint8Array }, only?: string) => {
    const v = JSON.parse(text(it.data)) as StoredLine | StoredLine[];
    (Array.isArray(v) ? v : [v]).forEach((l, k) => {
      const seq = it.seq * LINES_PER_MSG + k;
      if (after !== undefined && seq <= after) return;
      if (
        only !== undefined &&
        (l.jobId !== only || (q.queue !== undefined && l.queue !== q.queue) || (q.worker !== undefined && l.worker !== q.worker))
      )
        return;
      lines.push({ seq: String(seq), ...l });
    });
  };
  for (const it of items) add(it);
  if (q.jobId !== undefined) {
    // the job's outcome event lines stored in log batches (one message per outcome call and
    // worker) that its record names; merged into the job's own lines in stream order
    const batches = await jobLogBatches(ctx, q.jobId);
    if (batches.length > 0) {
      for (const b of batches) add(b, q.jobId);
      lines.sort((a, b) => Number(a.seq) - Number(b.seq));
    }
  }
  if (q.sinceMs !== undefined) lines = lines.filter((l) => l.ts >= q.sinceMs!);
  if (useTail) lines = lines.slice(-Math.min(q.tail!, q.limit));
  else lines = lines.slice(0, q.limit);
  const cursor = lines.length > 0 ? lines[lines.length - 1]!.seq : after !== undefined ? String(after) : null;
  return { lines, cursor };
}

/** The log batch messages a job's record names (its outcome event lines), oldest first. */
async function jobLogBatches(ctx: Ctx, jobId: string): Promise<{ seq: number; data: Uint8Array }[]> {
  // with the running markers and outcome batches: a light claim's outcome names its log batches there (format 7)
  const v = await ctx.store.get(jobId);
  const names = v?.rec.lb;
  if (!Array.isArray(names) || names.length === 0) return [];
  const subjects = names.map((b) => (typeof b === 'string' ? ctx.n.logBatchSubject(b) : null)).filter((s) => s !== null);
  const got = await Promise.all(subjects.map((s) => ctx.w.directGet(ctx.n.logs, s)));
  return got.filter((m) => m !== null);
}
