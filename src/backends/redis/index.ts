/**
 * Redis backend (ioredis 5; single server or Redis Cluster). Loaded lazily by the registry.
 *
 * Every state transition is one Lua script (./lua/*.lua, compiled into lua.generated.ts and run
 * with EVALSHA via defineCommand); all key names come from keys.ts; every script touches one
 * cluster slot (a queue's keys share the hash tag `{<prefix>:<queue>}`). Cross-queue reads
 * (stats, lists, rescue) read the queue registry and then call per-queue scripts, pipelined.
 * See docs/architecture.md for the semantics and the mapping of each method.
 */
import type {
  Backend,
  BackendOptions,
  Capability,
  CancelParams,
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
import { ValidationError } from '../../core/errors.js';
import type { ClaimedJob, Job, NewJob } from '../../core/job.js';
import * as admin from './admin.js';
import { connect, parseRedisUrl, type Client } from './connection.js';
import { Ctx, DEFAULT_RETENTION, type Retention } from './context.js';
import * as inspect from './inspect.js';
import * as jobs from './jobs.js';
import { DEFAULT_PREFIX, Keys, parseId } from './keys.js';
import { Logs } from './logs.js';
import { checkMemory, checkPersistence as checkClientPersistence } from './persistence.js';
import { Waker } from './wake.js';
import * as workers from './workers.js';

export { checkPersistence as checkClientPersistence } from './persistence.js';

/** Version of the key layout, kept in `{<prefix>}:meta` (field `format`); 2: no copies of queue log lines in registry streams. */
export const FORMAT_VERSION = 2;

export interface RedisBackend extends Backend {
  /** A warning when the server can lose jobs (no AOF/RDB, or an evicting maxmemory-policy); else null. */
  checkPersistence(): Promise<string | null>;
  /** The key prefix in use. */
  readonly prefix: string;
}

const CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['push-wakeups', 'unique-keys', 'purge', 'logs', 'migrations']);

/** Retention overrides from URL parameters: keep_completed, keep_failed, keep_cancelled (count), *_age_ms. */
function retentionFrom(params: URLSearchParams): Retention {
  const r = structuredClone(DEFAULT_RETENTION);
  for (const state of ['completed', 'failed', 'cancelled'] as const) {
    const count = params.get(`keep_${state}`);
    const age = params.get(`keep_${state}_age_ms`);
    if (count !== null) {
      if (!/^-?\d+$/.test(count))
        throw new ValidationError(`invalid keep_${state}=${count}`, 'a number of jobs, -1 for no limit');
      r[state].count = Number(count);
    }
    if (age !== null) {
      if (!/^\d+$/.test(age)) throw new ValidationError(`invalid keep_${state}_age_ms=${age}`, 'milliseconds, 0 for no limit');
      r[state].ageMs = Number(age);
    }
  }
  return r;
}

export async function open(options: BackendOptions): Promise<RedisBackend> {
  const parsed = parseRedisUrl(options.url);
  const keys = new Keys(options.namespace ?? DEFAULT_PREFIX);
  const retention = retentionFrom(parsed.params);
  const client = await connect(options.url, options.debug);
  const ctx = new Ctx(client, keys, options.url, retention, options.debug);
  const backend = createBackend(ctx, client);
  try {
    if (options.autoMigrate) await backend.migrate();
    else {
      const have = Number((await ctx.cmd(client.hget(keys.meta, 'format'))) ?? 0);
      if (have > FORMAT_VERSION) await backend.migrate(); // raises the SchemaError
    }
  } catch (e) {
    await backend.close();
    throw e;
  }
  return backend;
}

function createBackend(ctx: Ctx, client: Client): RedisBackend {
  const waker = new Waker(ctx);
  const logs = new Logs(ctx);
  let closed = false;
  return {
    name: 'redis',
    capabilities: CAPABILITIES,
    prefix: ctx.keys.prefix,

    async migrate(): Promise<MigrateResult> {
      const [from, to] = await ctx.run<[number, number]>('migrate', [ctx.keys.meta, ctx.keys.formerGlobalLog], [FORMAT_VERSION]);
      return { from: Number(from), to: Number(to) };
    },

    normalizeId(raw: string): string {
      const p = parseId(raw);
      if (!p)
        throw new ValidationError(
          `invalid job id ${JSON.stringify(String(raw).slice(0, 40))}`,
          'redis job ids are decimal integers like 100001',
        );
      return p.id;
    },

    enqueue: (list: NewJob[]): Promise<EnqueueResult[]> => jobs.enqueue(ctx, list),
    claim(params: ClaimParams): Promise<ClaimedJob[]> {
      waker.markClaim();
      return jobs.claim(ctx, params);
    },
    extendLeases: (p: ExtendLeasesParams) => jobs.extendLeases(ctx, p),
    complete: (items: CompleteItem[]): Promise<OutcomeResult[]> => jobs.complete(ctx, items, logs),
    fail: (items: FailItem[]): Promise<OutcomeResult[]> => jobs.fail(ctx, items),
    release: (items: ReleaseItem[]): Promise<OutcomeResult[]> => jobs.release(ctx, items),
    setProgress: (ref: ClaimRef, progress: unknown) => jobs.setProgress(ctx, ref, progress),
    rescue: (p: { limit: number }): Promise<RescueResult> => admin.rescue(ctx, p),
    waitForWork: (queues: string[], timeoutMs: number, signal?: AbortSignal) => waker.wait(queues, timeoutMs, signal),

    getJob: (id: string): Promise<Job | null> => jobs.getJob(ctx, id),
    listJobs: (p: ListParams): Promise<ListResult> => inspect.listJobs(ctx, p),
    stats: (p: { queue?: string }): Promise<Stats> => inspect.stats(ctx, p),

    requeue: (p: RequeueParams): Promise<MutationResult> => admin.requeue(ctx, p),
    reset: (p: ResetParams): Promise<MutationResult> => admin.reset(ctx, p),
    cancel: (p: CancelParams): Promise<MutationResult> => admin.cancel(ctx, p),
    purge: (p: PurgeParams) => admin.purge(ctx, p),

    registerWorker: (info: WorkerInfo) => workers.registerWorker(ctx, info),
    heartbeatWorker: (name: string, running: number) => workers.heartbeatWorker(ctx, name, running),
    listWorkers: (): Promise<WorkerRecord[]> => workers.listWorkers(ctx),
    unregisterWorker: (name: string) => workers.unregisterWorker(ctx, name),

    appendLogs: (lines: LogInput[]) => logs.append(lines),
    readLogs: (q: LogQuery): Promise<LogReadResult> => logs.read(q),
    waitForLogs: (timeoutMs: number, signal?: AbortSignal) => logs.wait(timeoutMs, signal),

    checkPersistence: () =>
      checkClientPersistence(client).catch((e: unknown) => Promise.reject(ctx.error(e, 'persistence check'))),

    async warnings(): Promise<string[]> {
      const ws = await Promise.all([checkClientPersistence(client).catch(() => null), checkMemory(client).catch(() => null)]);
      return ws.filter((w): w is string => w !== null);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([waker.close(), logs.close(), ctx.closeExtra()]);
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** The warning `jobctl work` prints for a Redis backend (null for other backends or when safe). */
export async function checkPersistence(backend: Backend): Promise<string | null> {
  const b = backend as Partial<RedisBackend>;
  return typeof b.checkPersistence === 'function' ? b.checkPersistence() : null;
}
