/**
 * The PostgreSQL backend: a pool for statements, one dedicated LISTEN connection for wake-ups,
 * all objects in their own schema. docs/architecture.md maps each method; the SQL is in ./sql.
 *
 *   open({ url: 'postgres://app@db/app', namespace: 'jobctl', autoMigrate: true })
 */
import { hostname } from 'node:os';
import type {
  Backend,
  BackendOptions,
  Capability,
  LogInput,
  LogQuery,
  LogReadResult,
  MigrateResult,
  WorkerInfo,
  WorkerRecord,
} from '../../core/backend.js';
import { ExitCode, JobctlError, SchemaError, ValidationError } from '../../core/errors.js';
import { maskUrl } from '../../core/config.js';
import {
  buildStatements,
  channelNames,
  connectionSlotsWarning,
  createPool,
  mapPgError,
  resolveSchema,
  type ConnectionSlots,
} from './connection.js';
import { flushLogsNotify, q, type PgContext } from './context.js';
import * as jobs from './jobs.js';
import { Listener } from './listener.js';
import { LATEST_VERSION, newerVersionError, readVersion, runMigrations } from './migrate.js';
import * as ops from './operators.js';
import { toLogLine, type LogRow } from '../shared/sql-rows.js';
import { isCanonicalId, toWorker, type WorkerRow } from './rows.js';

const CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['push-wakeups', 'unique-keys', 'purge', 'logs', 'migrations']);
/** Logs older than this are trimmed (by appendLogs, at most every TRIM_EVERY_MS per handle). */
const LOG_RETENTION_MS = 7 * 24 * 3600 * 1000;
const TRIM_EVERY_MS = 10 * 60 * 1000;
/** Worker records dead for this long are dropped when a worker registers. */
const PRUNE_WORKERS_AFTER_MS = 24 * 3600 * 1000;
/** The job_counts delta rows are folded by writing handles at most this often (see compact-counts.sql). */
const COMPACT_EVERY_MS = 5000;
/** The longest a handle's close waits for its one fold (see maybeCompactCounts). */
const CLOSE_FOLD_TIMEOUT_MS = 2000;
/**
 * Short jobs: a worker's prefetch may grow to 80 × concurrency, at most 2,048 (other backends: 12 ×,
 * 512). Every claim and outcome write is one transaction with a fixed cost (planning, trigger,
 * commit) and the server's CPU per job falls with the batch; no-op jobs at concurrency 24, claims
 * of ~180 → ~700-950 jobs: work phase +10-57 % jobs/s in 4 alternating pairs, postgres CPU per
 * job 55-62 → 42-62 µs (docs/benchmarks.md, fifth pg session).
 */
const SHORT_JOB_PREFETCH = { perSlot: 80, max: 2048 } as const;

export async function open(options: BackendOptions): Promise<Backend> {
  const schema = resolveSchema(options.namespace);
  const backend = new PgBackend(options, schema);
  await backend.connectCheck();
  return backend;
}

export class PgBackend implements Backend {
  readonly name = 'pg' as const;
  readonly capabilities = CAPABILITIES;
  readonly shortJobPrefetch = SHORT_JOB_PREFETCH;
  readonly ctx: PgContext;
  private ready: Promise<void> | null = null;
  /** listener.seq when the last claim started: a notification after it means work may be ready */
  private claimSeq = 0;
  private lastTrim = 0;
  /** the last fold's start; the handle's opening at first (see maybeCompactCounts) */
  private lastCompact = Date.now();
  /** a writing path ran and no fold was started since this handle opened: close folds */
  private foldOwed = false;
  /** a background fold was started by this handle */
  private folded = false;
  private closed = false;

  constructor(
    private readonly options: BackendOptions,
    readonly schema: string,
  ) {
    const pool = createPool({ url: options.url, applicationName: `jobctl:${schema}` });
    const channels = channelNames(schema);
    this.ctx = {
      pool,
      st: buildStatements(schema),
      schema,
      url: options.url,
      channels,
      listener: new Listener(options.url, channels, `jobctl-listen:${schema}`, options.debug),
      logsNotify: { last: 0, timer: null, owed: false },
    };
  }

  /** Open one connection now so that an unreachable server is reported at open time. */
  async connectCheck(): Promise<void> {
    try {
      const c = await this.ctx.pool.connect();
      c.release();
    } catch (e) {
      await this.ctx.pool.end().catch(() => {});
      throw mapPgError(e, this.ctx);
    }
    this.options.debug?.(`postgres: connected to ${maskUrl(this.options.url)}, schema "${this.schema}"`);
  }

  /** The schema must be at this binary's version; autoMigrate creates/upgrades it. Checked once. */
  private ensure(): Promise<void> {
    this.ready ??= this.check().catch((e: unknown) => {
      this.ready = null;
      throw e;
    });
    return this.ready;
  }

  private async check(): Promise<void> {
    let version: number;
    try {
      version = await readVersion(this.ctx.pool, this.ctx.st);
    } catch (e) {
      throw mapPgError(e, this.ctx);
    }
    if (version === LATEST_VERSION) return;
    if (version > LATEST_VERSION) throw newerVersionError(this.schema, version);
    if (this.options.autoMigrate) {
      await this.migrate();
      return;
    }
    throw new SchemaError(
      version === 0
        ? `the jobctl schema "${this.schema}" is not set up at ${maskUrl(this.options.url)}`
        : `the jobctl schema "${this.schema}" is at version ${version}, older than this jobctl (${LATEST_VERSION})`,
      'run `jobctl migrate` (with a role allowed to create tables)',
    );
  }

  async migrate(): Promise<MigrateResult> {
    try {
      const r = await runMigrations(this.ctx.pool, this.ctx.st, this.schema);
      this.ready = Promise.resolve();
      return r;
    } catch (e) {
      throw mapPgError(e, this.ctx);
    }
  }

  normalizeId(raw: string): string {
    if (!isCanonicalId(raw)) {
      throw new ValidationError(
        `invalid job id ${JSON.stringify(String(raw).slice(0, 40))}`,
        'postgres job ids are positive integers, e.g. 42',
      );
    }
    return raw;
  }

  // producers and workers --------------------------------------------------------------------

  async enqueue(list: Parameters<Backend['enqueue']>[0]) {
    if (list.length === 0) return [];
    await this.ensure();
    this.maybeCompactCounts();
    return jobs.enqueue(this.ctx, list);
  }

  async claim(p: Parameters<Backend['claim']>[0]) {
    await this.ensure();
    // be listening before the claim, so a notification after it is never missed
    this.ctx.listener.ensure().catch(() => {});
    this.claimSeq = this.ctx.listener.seq;
    this.maybeCompactCounts();
    return jobs.claim(this.ctx, p);
  }

  async extendLeases(p: Parameters<Backend['extendLeases']>[0]) {
    await this.ensure();
    return jobs.extendLeases(this.ctx, p);
  }

  async complete(items: Parameters<Backend['complete']>[0]) {
    if (items.length === 0) return [];
    await this.ensure();
    const results = await jobs.complete(this.ctx, items);
    if (items.some((it) => it.events)) this.maybeTrimLogs();
    return results;
  }

  async fail(items: Parameters<Backend['fail']>[0]) {
    if (items.length === 0) return [];
    await this.ensure();
    return jobs.fail(this.ctx, items);
  }

  async release(items: Parameters<Backend['release']>[0]) {
    if (items.length === 0) return [];
    await this.ensure();
    return jobs.release(this.ctx, items);
  }

  async setProgress(ref: Parameters<Backend['setProgress']>[0], progress: unknown) {
    await this.ensure();
    return jobs.setProgress(this.ctx, ref, progress);
  }

  async rescue(p: { limit: number }) {
    await this.ensure();
    this.maybeCompactCounts();
    return jobs.rescue(this.ctx, p.limit);
  }

  async waitForWork(queues: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    const startedAt = Date.now();
    const l = this.ctx.listener;
    if (!l.connected)
      return listenOrSleep(l, timeoutMs, signal, async () => {
        // LISTEN was not active when this wait began: an enqueue in between notified nobody, so
        // look once (a notification during the look counts too; nothing runs between that check
        // and the waiter's registration)
        const since = l.seq;
        if (await jobs.anyReady(this.ctx, queues).catch(() => false)) return;
        if (l.notifiedSince(queues, since)) return;
        const left = startedAt + timeoutMs - Date.now();
        if (left > 0 && !signal?.aborted) await l.waitWork(queues, left, signal);
      });
    if (l.notifiedSince(queues, this.claimSeq)) {
      this.claimSeq = l.seq;
      return;
    }
    await l.waitWork(queues, timeoutMs, signal);
  }

  // inspection and operators -------------------------------------------------------------------

  async getJob(id: string) {
    await this.ensure();
    return jobs.getJob(this.ctx, id);
  }

  async listJobs(p: Parameters<Backend['listJobs']>[0]) {
    await this.ensure();
    return ops.listJobs(this.ctx, p);
  }

  async stats(p: { queue?: string }) {
    await this.ensure();
    return ops.stats(this.ctx, p);
  }

  async requeue(p: Parameters<Backend['requeue']>[0]) {
    await this.ensure();
    this.maybeCompactCounts();
    return ops.requeue(this.ctx, p);
  }

  async reset(p: Parameters<Backend['reset']>[0]) {
    await this.ensure();
    this.maybeCompactCounts();
    return ops.reset(this.ctx, p);
  }

  async cancel(p: Parameters<Backend['cancel']>[0]) {
    await this.ensure();
    this.maybeCompactCounts();
    return ops.cancel(this.ctx, p);
  }

  async purge(p: Parameters<Backend['purge']>[0]) {
    await this.ensure();
    this.maybeCompactCounts();
    return ops.purge(this.ctx, p);
  }

  // workers ------------------------------------------------------------------------------------

  async registerWorker(info: WorkerInfo): Promise<void> {
    await this.ensure();
    await q(this.ctx, 'pruneWorkers', [PRUNE_WORKERS_AFTER_MS]);
    const rows = await q<{ name: string }>(this.ctx, 'registerWorker', [
      info.name,
      info.host || hostname(),
      info.pid,
      info.queues,
      info.concurrency,
      info.ttlMs,
      info.version,
    ]);
    if (rows.length === 0) {
      throw new JobctlError(`a live worker named ${JSON.stringify(info.name)} is already registered`, {
        code: 'conflict',
        exitCode: ExitCode.failed,
        hint: 'choose another --name, or wait until that worker stops (its record expires after its TTL)',
      });
    }
  }

  async heartbeatWorker(name: string, runningJobs: number): Promise<boolean> {
    await this.ensure();
    return (await q(this.ctx, 'heartbeatWorker', [name, runningJobs])).length === 1;
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    await this.ensure();
    return (await q<WorkerRow>(this.ctx, 'listWorkers', [])).map(toWorker);
  }

  async unregisterWorker(name: string): Promise<void> {
    await this.ensure();
    await q(this.ctx, 'unregisterWorker', [name]);
  }

  // logs ---------------------------------------------------------------------------------------

  async appendLogs(lines: LogInput[]): Promise<void> {
    if (lines.length === 0) return;
    await this.ensure();
    for (let i = 0; i < lines.length; i += 5000) {
      const b = lines.slice(i, i + 5000);
      await q(this.ctx, 'appendLogs', [
        b.map((l) => l.ts ?? null),
        b.map((l) => (l.jobId !== null && isCanonicalId(l.jobId) ? l.jobId : null)),
        b.map((l) => l.worker),
        b.map((l) => l.queue),
        b.map((l) => l.stream),
        b.map((l) => jobs.stripNul(l.message)),
        this.ctx.channels.logs,
      ]);
    }
    this.maybeTrimLogs();
  }

  /**
   * Fold job_counts' delta rows (appended by every change of jobs) so that stats reads few rows.
   * Writing paths only (a read-only role cannot), at most every COMPACT_EVERY_MS per handle, in
   * the background, and the first one COMPACT_EVERY_MS after the handle opened, not at its first
   * write: beside that write it took the pool's one connection, so the write had to open a second
   * one (a producer's first batch of 1,000 jobs took 20-24 ms instead of 14, docs/benchmarks.md).
   * A handle that wrote but never folded (a command shorter than COMPACT_EVERY_MS) folds when it
   * closes, waiting at most CLOSE_FOLD_TIMEOUT_MS for it (a server that stopped answering must not
   * hold up a worker's exit). A failure is harmless (the next one folds).
   */
  private maybeCompactCounts(): void {
    if (Date.now() - this.lastCompact <= COMPACT_EVERY_MS) {
      if (!this.folded) this.foldOwed = true;
      return;
    }
    this.lastCompact = Date.now();
    this.folded = true;
    this.foldOwed = false;
    this.compactCounts().catch(() => {});
  }

  private compactCounts(timeoutMs?: number): Promise<unknown> {
    return q(this.ctx, 'compactCounts', [`jobctl.counts:${this.schema}`], { timeoutMs });
  }

  /** Retention, at most every TRIM_EVERY_MS per handle, by the handles that write lines. */
  private maybeTrimLogs(): void {
    if (Date.now() - this.lastTrim <= TRIM_EVERY_MS) return;
    this.lastTrim = Date.now();
    q(this.ctx, 'trimLogs', [LOG_RETENTION_MS, 10_000]).catch(() => {});
  }

  async readLogs(query: LogQuery): Promise<LogReadResult> {
    await this.ensure();
    const limit = Math.max(1, Math.floor(query.limit));
    if (query.jobId !== undefined && !isCanonicalId(query.jobId)) return { lines: [], cursor: query.after ?? null };
    let after = '0';
    if (query.after !== undefined) {
      if (!isCanonicalId(query.after) && query.after !== '0')
        throw new ValidationError(`invalid log cursor ${JSON.stringify(query.after)}`);
      after = query.after;
    }
    const tail = query.after === undefined && query.tail !== undefined;
    const values = [
      query.jobId ?? null,
      query.worker ?? null,
      query.queue ?? null,
      after,
      query.sinceMs ?? null,
      tail ? Math.max(0, Math.min(limit, query.tail!)) : limit,
    ];
    const rows = await q<LogRow>(this.ctx, tail ? 'tailLogs' : 'readLogs', values, { prepared: false });
    if (tail) rows.reverse();
    const lines = rows.map(toLogLine);
    return { lines, cursor: lines.length ? lines[lines.length - 1]!.seq : (query.after ?? null) };
  }

  async waitForLogs(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const l = this.ctx.listener;
    if (!l.connected) return listenOrSleep(l, timeoutMs, signal, (left) => l.waitLogs(left, signal));
    await l.waitLogs(timeoutMs, signal);
  }

  async warnings(): Promise<string[]> {
    const [durability, slots] = await Promise.all([
      q<{ fsync: string; synchronous_commit: string }>(this.ctx, 'serverDurability', []),
      // advisory: a server that hides pg_stat_activity or pg_roles must not cost the durability check
      q<ConnectionSlots>(this.ctx, 'serverConnections', []).catch(() => []),
    ]);
    const out: string[] = [];
    if (durability[0]?.fsync === 'off')
      out.push('postgres runs with fsync=off: committed jobs can be lost when the server crashes');
    const full = slots[0] ? connectionSlotsWarning(slots[0]) : null;
    if (full) out.push(full);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await flushLogsNotify(this.ctx);
    if (this.foldOwed) await this.compactCounts(CLOSE_FOLD_TIMEOUT_MS).catch(() => {});
    await this.ctx.listener.close();
    await this.ctx.pool.end().catch(() => {});
  }
}

/** Not listening yet (first wait, or reconnecting): listen, then wait what is left of the timeout. */
async function listenOrSleep(
  l: Listener,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  then: (left: number) => Promise<void>,
): Promise<void> {
  const until = Date.now() + Math.max(0, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    l.ensure().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, timeoutMs)))),
  ]);
  clearTimeout(timer);
  const left = until - Date.now();
  if (signal?.aborted || left <= 0) return;
  if (ok) return then(left);
  // cannot listen: this wait is the poll fallback
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, left);
    signal?.addEventListener('abort', done, { once: true });
  });
}
