/**
 * The embedded SQLite backend: one better-sqlite3 connection per instance, WAL mode so that
 * several processes on one machine (workers, `stats`) share the file safely.
 *
 * A database that does not exist yet is only created by migrate() or autoMigrate; until then
 * (read-only commands) every other method says how to create it.
 */
import type Database from 'better-sqlite3';
import type {
  Backend,
  BackendOptions,
  CancelParams,
  Capability,
  ClaimParams,
  ClaimRef,
  CompleteItem,
  EnqueueResult,
  ExtendLeasesParams,
  FailItem,
  ListParams,
  ListResult,
  LogInput,
  LogQuery,
  LogReadResult,
  MigrateResult,
  MutationResult,
  OutcomeResult,
  PurgeParams,
  ReleaseItem,
  RequeueParams,
  RescueResult,
  ResetParams,
  Stats,
  WorkerInfo,
  WorkerRecord,
} from '../../core/backend.js';
import { recordedEventLines } from '../../core/backend.js';
import { maskUrl } from '../../core/config.js';
import { SchemaError, UnavailableError } from '../../core/errors.js';
import type { ClaimedJob, Job, NewJob } from '../../core/job.js';
import { fileExists, mapSqliteError, openDatabase } from './connection.js';
import * as inspect from './inspect.js';
import * as jobs from './jobs.js';
import * as ops from './operators.js';
import * as reg from './registry.js';
import { normalizeId } from './rows.js';
import { checkNotNewer, migrate, SCHEMA_VERSION, userVersion } from './schema.js';
import { Store } from './store.js';
import { parseSqliteUrl, type SqliteLocation } from './url.js';
import { Waker } from './wake.js';

const CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['unique-keys', 'purge', 'logs', 'migrations']);
/** rescue() also trims old logs and dead workers, at most this often per process. */
const HOUSEKEEPING_EVERY_MS = 60_000;

export class SqliteBackend implements Backend {
  readonly name = 'sqlite' as const;
  readonly capabilities = CAPABILITIES;

  private store: Store | null = null;
  private waker: Waker | null = null;
  /** set when the schema is missing or old and autoMigrate is off: what to tell the user */
  private notReady: SchemaError | null = null;
  private closed = false;
  private lastHousekeeping = 0;
  private readonly where: string;

  private constructor(
    private readonly loc: SqliteLocation,
    private readonly debug: (m: string) => void,
    url: string,
  ) {
    this.where = loc.display === url ? loc.display : maskUrl(url);
  }

  static async open(options: BackendOptions): Promise<SqliteBackend> {
    const loc = parseSqliteUrl(options.url);
    const b = new SqliteBackend(loc, options.debug ?? (() => {}), options.url);
    if (!options.autoMigrate && !fileExists(loc)) {
      b.notReady = new SchemaError(`no jobctl database at ${b.where}`, 'run `jobctl migrate`, or trigger a job to create it');
      return b;
    }
    b.attach(openDatabase(loc, options.autoMigrate === true));
    try {
      const version = userVersion(b.store!.db);
      checkNotNewer(version, b.where);
      if (options.autoMigrate) {
        const r = migrate(b.store!.db, b.where);
        if (r.from !== r.to) b.debug(`sqlite: migrated ${b.where} from version ${r.from} to ${r.to}`);
      } else if (version < SCHEMA_VERSION) {
        b.notReady =
          version === 0
            ? new SchemaError(
                `${b.where} is not a jobctl database yet`,
                'run `jobctl migrate`, or trigger a job to create the schema',
              )
            : new SchemaError(
                `the jobctl database at ${b.where} has schema version ${version}; this jobctl needs ${SCHEMA_VERSION}`,
                'run `jobctl migrate`',
              );
      }
    } catch (e) {
      await b.close();
      throw mapSqliteError(e, b.where);
    }
    return b;
  }

  private attach(db: Database.Database): void {
    const store = new Store(db);
    this.store = store;
    this.waker = new Waker(
      () => store.dataVersion(),
      (e) => this.debug(`sqlite: wake-up check failed: ${(e as Error).message}`),
    );
  }

  /** The open store, or the error that says why there is none. */
  private s(): Store {
    if (this.closed) throw new UnavailableError(`the sqlite backend for ${this.where} is closed`);
    if (this.notReady) throw this.notReady;
    return this.store!;
  }

  /** Run a synchronous database call, mapping SQLite failures to JobctlErrors. */
  private run<T>(fn: (s: Store) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.s()));
    } catch (e) {
      return Promise.reject(mapSqliteError(e, this.where));
    }
  }

  async migrate(): Promise<MigrateResult> {
    if (this.closed) throw new UnavailableError(`the sqlite backend for ${this.where} is closed`);
    try {
      if (!this.store) this.attach(openDatabase(this.loc, true));
      const r = migrate(this.store!.db, this.where);
      this.notReady = null;
      return r;
    } catch (e) {
      throw mapSqliteError(e, this.where);
    }
  }

  normalizeId(raw: string): string {
    return normalizeId(raw);
  }

  enqueue(list: NewJob[]): Promise<EnqueueResult[]> {
    return this.run((s) => {
      if (list.length === 0) return [];
      const r = jobs.enqueue(s, list);
      this.waker!.notifyWork();
      return r;
    });
  }

  claim(p: ClaimParams): Promise<ClaimedJob[]> {
    return this.run((s) => jobs.claim(s, p));
  }

  extendLeases(p: ExtendLeasesParams): Promise<{ lost: string[] }> {
    return this.run((s) => jobs.extendLeases(s, p));
  }

  complete(items: CompleteItem[]): Promise<OutcomeResult[]> {
    return this.run((s) => {
      if (items.length === 0) return [];
      // the outcome and its event lines in one transaction
      const { results, logged } = s.write(() => {
        const results = jobs.complete(s, items);
        const lines = recordedEventLines(items, results);
        reg.appendLogs(s, lines);
        return { results, logged: lines.length > 0 };
      });
      if (logged) this.waker!.notifyLogs();
      return results;
    });
  }

  fail(items: FailItem[]): Promise<OutcomeResult[]> {
    return this.run((s) => {
      if (items.length === 0) return [];
      const r = jobs.fail(s, items);
      if (r.retried) this.waker!.notifyWork();
      return r.results;
    });
  }

  release(items: ReleaseItem[]): Promise<OutcomeResult[]> {
    return this.run((s) => {
      if (items.length === 0) return [];
      const r = jobs.release(s, items);
      this.waker!.notifyWork();
      return r;
    });
  }

  setProgress(ref: ClaimRef, progress: unknown): Promise<boolean> {
    return this.run((s) => jobs.setProgress(s, ref, progress));
  }

  rescue(p: { limit: number }): Promise<RescueResult> {
    return this.run((s) => {
      const r = jobs.rescue(s, p.limit);
      if (r.requeued.length) this.waker!.notifyWork();
      const now = Date.now();
      if (now - this.lastHousekeeping >= HOUSEKEEPING_EVERY_MS) {
        this.lastHousekeeping = now;
        reg.housekeeping(s);
      }
      return r;
    });
  }

  async waitForWork(queues: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const s = this.s();
    const list = JSON.stringify(queues);
    await this.waker!.wait(
      'work',
      timeoutMs,
      signal,
      () => s.get<{ ready: number }>('readyExists', { queues: list, now: Date.now() })?.ready === 1,
    );
  }

  getJob(id: string): Promise<Job | null> {
    return this.run((s) => inspect.getJob(s, id));
  }

  listJobs(p: ListParams): Promise<ListResult> {
    return this.run((s) => inspect.listJobs(s, p));
  }

  stats(p: { queue?: string }): Promise<Stats> {
    return this.run((s) => inspect.stats(s, p));
  }

  requeue(p: RequeueParams): Promise<MutationResult> {
    return this.run((s) => {
      const r = ops.requeue(s, p);
      if (!p.dryRun && r.changed.length) this.waker!.notifyWork();
      return r;
    });
  }

  reset(p: ResetParams): Promise<MutationResult> {
    return this.run((s) => {
      const r = ops.reset(s, p);
      if (!p.dryRun && r.changed.length) this.waker!.notifyWork();
      return r;
    });
  }

  cancel(p: CancelParams): Promise<MutationResult> {
    return this.run((s) => ops.cancel(s, p));
  }

  purge(p: PurgeParams): Promise<{ deleted: number }> {
    return this.run((s) => ops.purge(s, p));
  }

  registerWorker(info: WorkerInfo): Promise<void> {
    return this.run((s) => reg.registerWorker(s, info));
  }

  heartbeatWorker(name: string, runningJobs: number): Promise<boolean> {
    return this.run((s) => reg.heartbeatWorker(s, name, runningJobs));
  }

  listWorkers(): Promise<WorkerRecord[]> {
    return this.run((s) => reg.listWorkers(s));
  }

  unregisterWorker(name: string): Promise<void> {
    return this.run((s) => reg.unregisterWorker(s, name));
  }

  appendLogs(lines: LogInput[]): Promise<void> {
    return this.run((s) => {
      reg.appendLogs(s, lines);
      if (lines.length) this.waker!.notifyLogs();
    });
  }

  readLogs(q: LogQuery): Promise<LogReadResult> {
    return this.run((s) => reg.readLogs(s, q));
  }

  async waitForLogs(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.s();
    await this.waker!.wait('logs', timeoutMs, signal);
  }

  async warnings(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waker?.close();
    if (this.store) {
      try {
        this.store.db.close();
      } catch (e) {
        this.debug(`sqlite: close failed: ${(e as Error).message}`);
      }
    }
    this.store = null;
  }
}
