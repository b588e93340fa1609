/**
 * NATS JetStream backend: a work-queue stream with one durable pull consumer per queue and
 * priority level, job records in a KV bucket changed only by compare-and-set, and the message
 * acked only after the outcome is stored. Design: docs/architecture.md, "NATS JetStream design".
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
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
  RescueParams,
  RescueResult,
  ResetParams,
  Stats,
  WorkerInfo,
  WorkerRecord,
} from '../../core/backend.js';
import { maskUrl, redact, urlSecrets } from '../../core/config.js';
import { SchemaError, UnavailableError, isJobctlError, PermissionError } from '../../core/errors.js';
import { formatBytes } from '../../core/bytes.js';
import type { ClaimedJob, Job, NewJob } from '../../core/job.js';
import type { Ctx, Held } from './context.js';
import { ACK_WAIT_MS, AckWaits } from './ackwait.js';
import { dial } from './dial.js';
import { Poller } from './poll.js';
import { Names, normalizeNatsId, queueToken, tokenToLevel } from './names.js';
import * as ops from './ops.js';
import { checkRecordsFit, toJob } from './record.js';
import { takeTurn } from './rescue-turn.js';
import * as side from './side.js';
import { Store } from './store.js';
import { moveFinishedMarkers } from './finindex.js';
import { moveActiveMarkers } from './actindex.js';
import { foldQueuedMarkers } from './queindex.js';
import { Wire, permissionError, refusal } from './wire.js';
import * as work from './work.js';

/**
 * Format version of a namespace. 2: records stored compact (format 2, see record.ts) and a new
 * job's record under `n.<id>` until its first change; a jobctl that knows only 1 would misread
 * both, so a namespace at 1 must be migrated (which only raises the number: format 1 records are
 * still read) and a jobctl at 1 refuses a namespace at 2. 3: light claims — a job claimed on its
 * first delivery is running by its entry in the claim's running-batch marker (an object, not an
 * id list) while its record is still the initial one; a jobctl at 2 would show such a job as
 * queued and could not read the markers, so it refuses a namespace at 3 (migrating 2 → 3 only
 * raises the number: the id-list markers of 2 are still read). 4: finished markers in their own
 * stream (`JC_<ns>_FIN`), finished-batch markers with their smallest/largest id in headers; a
 * jobctl at 3 would not see them, so it refuses a namespace at 4; migrating an older namespace
 * moves its finished markers there (finindex.ts, moveFinishedMarkers) before raising the number.
 * 5: running-batch and scheduled markers in their own stream (`JC_<ns>_ACT`, subjects `a.…`): a
 * jobctl at 4 would not see them (running light claims would look queued), so it refuses a
 * namespace at 5; migrating an older one moves them there (actindex.ts, moveActiveMarkers).
 * 6: queued jobs listed by queued-batch markers in their own stream (`JC_<ns>_QUE`, subjects
 * `q.…`; one per enqueue or requeue call and queue) instead of one marker per job: a jobctl at 5
 * would not see them (`list` would miss queued jobs), so it refuses a namespace at 6; migrating
 * an older one folds its per-job queued markers into such batches (queindex.ts, foldQueuedMarkers).
 * 7: a light claim's outcome is stored only in its outcome batch (the finished-batch marker, now
 * carrying records and named by the jobs' id bucket) and committed through the entry in its
 * running marker (`d`: done, `t`: taken by another); a jobctl at 6 would show such a finished job
 * as queued, read the batch's records as ids and overwrite the marker's entries, so it refuses a
 * namespace at 7 (migrating 6 → 7 only raises the number: what 6 wrote is read as it is).
 * 8: a light claim's entry in its outcome batch holds only what its run changed, read over the
 * job's initial record (record.ts, encodeOutcomeText; a job claimed through its record is listed
 * by its id); a jobctl at 7 would read such an entry as a whole record, so it refuses a namespace
 * at 8 (migrating 7 → 8 only raises the number: the whole records of 7 are read as they are).
 */
export const SCHEMA_VERSION = 8;
const LOG_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/**
 * How long a handle trusts its list of a queue's priority levels (and their AckWaits) without
 * listing the consumers again. New levels come from the work-subject watch (every enqueue is
 * seen), AckWaits lowered by other handles from their nudge (ackwait.ts); the listing is the
 * safety net. It was 1 s: a `CONSUMER.LIST` per worker and second, which under 16 workers timed
 * out with the rest of the saturated JetStream API (reliability scenario 7).
 */
const LEVEL_CACHE_MS = 30_000;
/** Longest a flush (PING/PONG) or close may take before it is given up (a stalled server). */
const FLUSH_TIMEOUT_MS = 2000;

/** Wait for `p` at most `ms` (errors and timeouts are ignored: used where giving up is safe). */
function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((r) => {
      t = setTimeout(r, ms);
      t.unref();
    }),
  ]).finally(() => clearTimeout(t));
}

const CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['push-wakeups', 'unique-keys', 'purge', 'logs', 'migrations']);

/** nats://[user:pass@|token@]host:port[,host2…] → connect options (secrets never logged). */
function connectOptions(url: string) {
  const servers: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  let tls = false;
  for (const part of url.split(',')) {
    const withScheme = /^[a-z]+:\/\//i.test(part) ? part : `nats://${part}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new UnavailableError(`invalid NATS URL ${maskUrl(url)}`, { hint: 'use nats://host:4222' });
    }
    if (u.protocol === 'tls:') tls = true;
    if (u.username && u.password) {
      user = decodeURIComponent(u.username);
      pass = decodeURIComponent(u.password);
    } else if (u.username) token = decodeURIComponent(u.username);
    servers.push(`${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || '4222'}`);
  }
  return { servers, user, pass, token, ...(tls ? { tls: {} } : {}) };
}

class NatsBackend implements Backend {
  readonly name = 'nats' as const;
  readonly capabilities = CAPABILITIES;
  private readonly n: Names;
  private readonly held = new Map<string, Held>();
  private ctx!: Ctx;
  private jsm!: JetStreamManager;
  private readonly ensured = new Set<string>();
  private readonly levelCache = new Map<string, { at: number; levels: number[] }>();
  private readonly watches = new Map<string, Subscription[]>();
  private readonly dirty = new Set<string>();
  private waiters = new Set<() => void>();
  private logSub: Subscription | null = null;
  private logWaiters = new Set<() => void>();
  private logDirty = false;
  private closed = false;
  private readonly acks: AckWaits;
  private readonly poll: Poller;

  constructor(
    private readonly nc: NatsConnection,
    private readonly url: string,
    ns: string,
    private readonly debug?: (m: string) => void,
  ) {
    this.n = new Names(ns);
    const w = new Wire(nc);
    const store = new Store(w, this.n);
    this.ctx = { w, n: this.n, store, held: this.held, listWorkers: () => this.listWorkers(), lastNakAt: 0, batchOf: new Map() };
    this.acks = new AckWaits(
      this.ctx,
      () => this.jsm,
      // the watchers of its queue drop their level cache and relist (lowering is rare: a search)
      (c) => {
        for (const [q, { levels }] of this.levelCache) if (levels.some((l) => this.n.consumer(q, l) === c)) this.wake(q);
      },
    );
    this.poll = new Poller(
      this.ctx,
      () => this.waiters.size > 0,
      this.wakeWaiters,
      (m) => work.precheck(this.ctx, m),
    );
  }

  private wakeWaiters = (): void => {
    const ws = this.waiters;
    this.waiters = new Set();
    for (const f of ws) f();
  };

  private wrap<T>(p: Promise<T>): Promise<T> {
    return p.catch((e: unknown) => {
      if (isJobctlError(e)) throw e;
      // the client library's own requests (stream and consumer management) refused by the server
      const denied = refusal(e);
      if (denied) throw permissionError(denied);
      const msg = redact(String((e as Error)?.message ?? e), urlSecrets(this.url));
      if (/stream not found|consumer not found|no responders|bucket not found/i.test(msg)) {
        throw new SchemaError(
          `jobctl's NATS streams are missing on ${maskUrl(this.url)} (${msg})`,
          'run `jobctl migrate --backend nats`',
        );
      }
      if (this.nc.isClosed() || /timeout|disconnect|closed/i.test(msg)) {
        throw new UnavailableError(`lost the NATS connection to ${maskUrl(this.url)}: ${msg}`, {
          hint: 'is nats-server running?',
        });
      }
      throw e;
    });
  }

  // ------------------------------------------------------------ schema

  async migrate(): Promise<MigrateResult> {
    return this.wrap(this.doMigrate());
  }

  private async doMigrate(): Promise<MigrateResult> {
    const jsm = this.jsm;
    const n = this.n;
    const addStream = async (cfg: Parameters<JetStreamManager['streams']['add']>[0]) => {
      try {
        await jsm.streams.info(cfg.name!);
      } catch {
        await jsm.streams.add(cfg).catch(async (e: unknown) => {
          // created concurrently by another process
          await jsm.streams.info(cfg.name!).catch(() => {
            throw e;
          });
        });
      }
    };
    await addStream({
      name: n.work,
      subjects: [n.workAll()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      // a reader asks whether a job's work message is still there by a direct get (session 16)
      allow_direct: true,
    });
    // a work stream made before that: allowed now (best effort: without it the same question
    // goes through the JetStream API, which is slower under load, and nothing else changes)
    await jsm.streams
      .info(n.work)
      .then((si) => (si.config.allow_direct ? undefined : jsm.streams.update(n.work, { ...si.config, allow_direct: true })))
      .catch(() => undefined);
    // the indexes: per-job queued markers, finished markers (format 4), scheduled and running
    // ones (5), queued-batch markers (6)
    for (const [name, subject] of [
      [n.index, n.indexAll()],
      [n.fin, n.finAll()],
      [n.act, n.actAll()],
      [n.que, n.queAll()],
    ] as const) {
      await addStream({
        name,
        subjects: [subject],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_msgs_per_subject: 1,
        allow_direct: true,
      });
    }
    await addStream({
      name: n.logs,
      subjects: [n.logsAll()],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: LOG_MAX_AGE_MS * 1_000_000,
      allow_direct: true,
    });
    const kvm = new Kvm(this.nc);
    await kvm.create(n.jobsBucket, { history: 1, storage: StorageType.File });
    await kvm.create(n.workersBucket, { history: 1, storage: StorageType.File });
    const cur = await this.ctx.w.directGet(n.jobsStream, n.metaKey());
    const from = cur === null ? 0 : Number(JSON.parse(new TextDecoder().decode(cur.data)).version);
    if (from > SCHEMA_VERSION) {
      throw new SchemaError(
        `the NATS namespace ${n.ns} has format version ${from}, newer than this jobctl (${SCHEMA_VERSION})`,
        'upgrade jobctl',
      );
    }
    if (from > 0 && from < 4) await moveFinishedMarkers(this.ctx);
    if (from > 0 && from < 5) await moveActiveMarkers(this.ctx);
    if (from > 0 && from < 6) await foldQueuedMarkers(this.ctx);
    if (from < SCHEMA_VERSION) await this.ctx.w.publish(n.metaKey(), JSON.stringify({ version: SCHEMA_VERSION }));
    return { from, to: SCHEMA_VERSION };
  }

  async checkSchema(): Promise<void> {
    let cur;
    try {
      await this.jsm.streams.info(this.n.jobsStream);
      cur = await this.ctx.w.directGet(this.n.jobsStream, this.n.metaKey());
    } catch {
      cur = null;
    }
    if (cur === null)
      throw new SchemaError(
        `no jobctl data in NATS namespace ${this.n.ns} at ${maskUrl(this.url)}`,
        'run `jobctl migrate --backend nats` first',
      );
    const v = Number(JSON.parse(new TextDecoder().decode(cur.data)).version);
    if (v > SCHEMA_VERSION)
      throw new SchemaError(`the NATS namespace ${this.n.ns} has format version ${v}, newer than this jobctl`, 'upgrade jobctl');
    if (v < SCHEMA_VERSION)
      throw new SchemaError(
        `the NATS namespace ${this.n.ns} has format version ${v}; this jobctl needs ${SCHEMA_VERSION}`,
        'run `jobctl migrate --backend nats` (stop workers of older jobctl versions first)',
      );
  }

  normalizeId(raw: string): string {
    return normalizeNatsId(raw);
  }

  // ------------------------------------------------------------ producers

  /** The consumer for (queue, priority level) exists (cached per handle). */
  private ensureConsumer = async (queue: string, priority: number): Promise<void> => {
    const key = `${queue}\u0000${priority}`;
    if (this.ensured.has(key)) return;
    const name = this.n.consumer(queue, priority);
    // an existing consumer is left as it is: adding it again with another config would update
    // it (2.9), e.g. raise the AckWait a worker lowered to its lease
    const exists = await this.jsm.consumers.info(this.n.work, name).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await this.jsm.consumers
        .add(this.n.work, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: this.n.workSubject(queue, priority),
          ack_wait: ACK_WAIT_MS * 1_000_000,
          max_deliver: -1,
          max_ack_pending: 1_000_000,
          max_waiting: 4096,
        })
        .catch(async (e: unknown) => {
          await this.jsm.consumers.info(this.n.work, name).catch(() => {
            throw e;
          });
        });
    }
    // remember the queue for stats
    await this.ctx.w.publish(`$KV.${this.n.jobsBucket}.q.${queueToken(queue)}`, '', { expectSeq: 0 });
    this.ensured.add(key);
    const c = this.levelCache.get(queue);
    if (c && !c.levels.includes(priority)) c.levels = [...c.levels, priority].sort((a, b) => a - b);
  };

  async enqueue(jobs: NewJob[]): Promise<EnqueueResult[]> {
    checkRecordsFit(jobs, this.nc.info?.max_payload ?? 1024 * 1024);
    const out: EnqueueResult[] = [];
    // unique keys in one call are taken one after another (two of the same key must not race)
    const plain = jobs.map((j, i) => ({ j, i })).filter((x) => x.j.uniqueKey === null);
    const keyed = jobs.map((j, i) => ({ j, i })).filter((x) => x.j.uniqueKey !== null);
    await this.wrap(
      (async () => {
        for (let s = 0; s < plain.length; s += 1000) {
          const chunk = plain.slice(s, s + 1000);
          const rs = await work.enqueueMany(
            this.ctx,
            chunk.map((x) => x.j),
            this.ensureConsumer,
          );
          rs.forEach((r, k) => (out[chunk[k]!.i] = r));
        }
        for (const x of keyed) out[x.i] = await work.enqueueOne(this.ctx, x.j, this.ensureConsumer);
      })(),
    );
    return out;
  }

  // ------------------------------------------------------------ workers

  /** Priority levels with a consumer for this queue, ascending (cached briefly). */
  private levels = async (queue: string): Promise<number[]> => {
    const c = this.levelCache.get(queue);
    const now = Date.now();
    if (c && now - c.at < LEVEL_CACHE_MS) return c.levels;
    const prefix = this.n.consumer(queue, 0).replace(/L\d+$/, '');
    const names: string[] = [];
    // the listing also refreshes the AckWaits (another worker may have lowered one)
    for (let offset = 0; ;) {
      const r = await this.ctx.w.api<{
        consumers: { name: string; config: { ack_wait: number } }[] | null;
        total: number;
        limit: number;
      }>(`$JS.API.CONSUMER.LIST.${this.n.work}`, { offset });
      const page = r.consumers ?? [];
      for (const c of page) {
        names.push(c.name);
        this.acks.learn(c.name, c.config.ack_wait);
      }
      offset += page.length;
      if (page.length === 0 || offset >= r.total) break;
    }
    const levels = names
      .filter((nm) => nm.startsWith(prefix) && /^L\d{7}$/.test(nm.slice(prefix.length)))
      .map((nm) => tokenToLevel(nm.slice(prefix.length)))
      .sort((a, b) => a - b);
    this.levelCache.set(queue, { at: now, levels });
    return levels;
  };

  async claim(params: ClaimParams): Promise<ClaimedJob[]> {
    if (params.limit <= 0) return [];
    this.watch(params.queues);
    return this.wrap(work.claim(this.ctx, params, this.levels, (c) => this.acks.atMost(c, params.leaseMs), this.poll));
  }

  extendLeases(params: ExtendLeasesParams): Promise<{ lost: string[] }> {
    return this.wrap(work.extendLeases(this.ctx, params));
  }
  complete(items: CompleteItem[]): Promise<OutcomeResult[]> {
    return this.wrap(work.complete(this.ctx, items));
  }
  fail(items: FailItem[]): Promise<OutcomeResult[]> {
    return this.wrap(work.fail(this.ctx, items));
  }
  release(items: ReleaseItem[]): Promise<OutcomeResult[]> {
    return this.wrap(work.release(this.ctx, items, this.wake));
  }
  setProgress(ref: ClaimRef, progress: unknown): Promise<boolean> {
    return this.wrap(work.setProgress(this.ctx, ref, progress));
  }
  rescue(params: RescueParams): Promise<RescueResult> {
    return this.wrap(
      (async () => {
        if (params.turn !== undefined && !(await takeTurn(this.ctx, params.turn)))
          return { requeued: [], failed: [], skipped: true };
        return work.rescue(this.ctx, params.limit, this.wake);
      })(),
    );
  }

  /** Nudge waiting workers of a queue (jobs made runnable without a new message). */
  private wake = (queue: string): void => {
    this.ctx.w.fire(this.n.wake(queue));
  };

  /** Keep core subscriptions on the queues' work subjects (every enqueue is seen) and wake subjects. */
  private watch(queues: string[]): boolean {
    let added = false;
    for (const q of queues) {
      if (this.watches.has(q)) continue;
      added = true;
      const cb = (_e: unknown, m: { subject: string }) => {
        // a message at a new priority level (enqueued elsewhere) must be seen by the next claim
        const parsed = this.n.parseWorkSubject(m.subject);
        const c = this.levelCache.get(q);
        if (parsed && c && !c.levels.includes(parsed.priority)) c.levels = [...c.levels, parsed.priority].sort((a, b) => a - b);
        if (!parsed) this.levelCache.delete(q);
        // a level with a pull of this handle waiting gets the message itself (an early claim's
        // pull would only race it); new levels and operator nudges wake the waiters
        else if (this.poll.isPulling(this.n.consumer(q, parsed.priority))) return;
        this.dirty.add(q);
        this.wakeWaiters();
      };
      this.watches.set(q, [
        this.nc.subscribe(this.n.workQueueFilter(q), { callback: cb }),
        this.nc.subscribe(this.n.wake(q), { callback: cb }),
      ]);
    }
    return added;
  }

  async waitForWork(queues: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // a new subscription must be registered on the server before waiting (one round trip);
    // an existing one needs nothing (that round trip would delay every wake-up)
    if (this.watch(queues)) await bounded(this.nc.flush(), FLUSH_TIMEOUT_MS);
    const consumers: string[] = [];
    try {
      for (const q of queues) for (const prio of await this.levels(q)) consumers.push(this.n.consumer(q, prio));
    } catch {
      // the level listing failed (connection down): wait for the core wake-ups and the timeout only
      consumers.length = 0;
    }
    const hit = () => queues.some((q) => this.dirty.has(q)) || this.poll.has(consumers);
    let polled = false;
    for (;;) {
      if (hit()) {
        for (const q of queues) this.dirty.delete(q);
        return;
      }
      if (signal?.aborted || this.closed) return;
      if (!polled) {
        // idle: a pull waits on the server for the next message of each level (poll.ts)
        polled = true;
        for (const c of consumers) this.poll.longPoll(c, timeoutMs);
      }
      const woke = await new Promise<boolean>((resolve) => {
        const done = (v: boolean) => {
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
          this.waiters.delete(f);
          resolve(v);
        };
        const f = () => done(true);
        const onAbort = () => done(false);
        const t = setTimeout(() => done(false), Math.max(0, timeoutMs));
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.add(f);
      });
      if (!woke) {
        for (const q of queues) this.dirty.delete(q);
        return;
      }
    }
  }

  // ------------------------------------------------------------ inspection

  async getJob(id: string): Promise<Job | null> {
    const v = await this.wrap(this.ctx.store.get(normalizeNatsId(id)));
    return v === null ? null : toJob(v.rec);
  }
  listJobs(params: ListParams): Promise<ListResult> {
    return this.wrap(ops.listJobs(this.ctx, params));
  }
  stats(params: { queue?: string }): Promise<Stats> {
    return this.wrap(ops.stats(this.ctx, params.queue));
  }
  readyJobs(queues: string[]): Promise<number> {
    return this.wrap(ops.readyJobs(this.ctx, queues));
  }

  // ------------------------------------------------------------ operators

  requeue(params: RequeueParams): Promise<MutationResult> {
    return this.wrap(ops.requeue(this.ctx, this.checkIds(params), this.wake));
  }
  reset(params: ResetParams): Promise<MutationResult> {
    return this.wrap(ops.reset(this.ctx, this.checkIds(params), this.wake));
  }
  cancel(params: CancelParams): Promise<MutationResult> {
    return this.wrap(ops.cancel(this.ctx, this.checkIds(params)));
  }
  purge(params: PurgeParams): Promise<{ deleted: number }> {
    return this.wrap(ops.purge(this.ctx, params));
  }
  private checkIds<T extends object>(p: T): T {
    if ('ids' in p) (p as { ids: string[] }).ids.forEach((id) => normalizeNatsId(id));
    return p;
  }

  // ------------------------------------------------------------ worker registry

  registerWorker(info: WorkerInfo): Promise<void> {
    return this.wrap(side.registerWorker(this.ctx, info));
  }
  async heartbeatWorker(name: string, runningJobs: number): Promise<boolean> {
    const known = await this.wrap(side.heartbeatWorker(this.ctx, name, runningJobs));
    // after the heartbeat is written: the worker stays alive to the others (no rescue of jobs it
    // still runs), but its heartbeat fails, so it stops claiming and says why, each round
    if (this.ctx.w.ackRefusal !== null) await this.checkAcks();
    return known;
  }
  listWorkers(): Promise<WorkerRecord[]> {
    return this.wrap(side.listWorkers(this.ctx));
  }
  unregisterWorker(name: string): Promise<void> {
    return this.wrap(side.unregisterWorker(this.ctx, name));
  }

  // ------------------------------------------------------------ logs

  appendLogs(lines: LogInput[]): Promise<void> {
    return this.wrap(side.appendLogs(this.ctx, lines));
  }
  async readLogs(query: LogQuery): Promise<LogReadResult> {
    await this.watchLogs();
    this.logDirty = false;
    return this.wrap(side.readLogs(this.ctx, query));
  }
  async waitForLogs(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.watchLogs();
    if (signal?.aborted || this.logDirty) {
      this.logDirty = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        this.logWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', done, { once: true });
      this.logWaiters.add(done);
    });
  }

  /** A core subscription on every log subject: lines published after a read wake the follower. */
  private async watchLogs(): Promise<void> {
    if (this.logSub === null) {
      this.logSub = this.nc.subscribe(this.n.logsAll(), {
        callback: () => {
          this.logDirty = true;
          const ws = this.logWaiters;
          this.logWaiters = new Set();
          for (const f of ws) f();
        },
      });
      await bounded(this.nc.flush(), FLUSH_TIMEOUT_MS);
    }
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * JetStream file storage is durable; what can stop jobs is storage running out. Warns when the
   * account uses STORAGE_WARN_SHARE of a JetStream limit it has (storage or memory; -1 = none)
   * or more: at the limit every write is refused (no enqueue, no outcome recorded). A server-wide
   * store limit without account limits is not visible through the JetStream API.
   */
  async warnings(): Promise<string[]> {
    const info = await this.jsm.getAccountInfo().catch(() => null);
    if (!info) return [];
    return storageWarnings(info);
  }

  /**
   * A worker acks and naks its messages without waiting for a reply (all but one ack per outcome
   * call), and a server drops a publish the user may not make with nothing but an -ERR: a worker
   * user without `$JS.ACK.<work stream>.>` would run jobs and record their outcomes while every
   * message stayed, came back after each AckWait and counted as queued (nothing said why). So a
   * worker asks as it starts (`jobctl work`, or createWorker in a program).
   */
  checkWorker(): Promise<void> {
    return this.checkAcks();
  }

  /**
   * Throws while this user may not ack: asks the server with an ack to a consumer that does not
   * exist (jobctl's are `w_…`). Also after a refusal seen while working (the permission was taken
   * away after the start, `Wire.ackRefusal`): each heartbeat asks again, and clears it once allowed.
   */
  private async checkAcks(): Promise<void> {
    const subject = `$JS.ACK.${this.n.work}.jobctl-check.1.1.1.0.0`;
    const refused = await this.wrap(this.ctx.w.mayPublish(subject));
    if (refused === null) {
      this.ctx.w.ackRefusal = null;
      return;
    }
    throw new PermissionError(
      `this NATS user may not publish to $JS.ACK.${this.n.work}.> (acknowledge work messages): a worker would run jobs and record them, but their messages would stay and come back after every AckWait`,
      'give the worker user the permissions in the README (NATS: least privilege)',
    );
  }

  async init(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.acks.close();
    this.poll.close();
    for (const f of this.waiters) f();
    for (const f of this.logWaiters) f();
    // a listing's compaction of what it found stale is finished, not cut off (bounded)
    await bounded(this.ctx.store.settled(), FLUSH_TIMEOUT_MS);
    this.ctx.w.close();
    // a stalled server must not keep a command from ending: both are bounded
    await bounded(this.nc.flush(), FLUSH_TIMEOUT_MS);
    await bounded(this.nc.close(), FLUSH_TIMEOUT_MS);
  }
}

export async function open(options: BackendOptions): Promise<Backend> {
  const url = options.url;
  const ns = options.namespace ?? 'jobctl';
  new Names(ns); // validate before connecting
  let nc: NatsConnection;
  try {
    nc = await dial({
      ...connectOptions(url),
      name: 'jobctl',
      timeout: 3000,
      maxReconnectAttempts: 30,
      reconnectTimeWait: 1000,
    });
  } catch (e) {
    const msg = redact(String((e as Error)?.message ?? e), urlSecrets(url));
    const auth = /auth|permission/i.test(msg);
    throw new UnavailableError(`cannot reach NATS at ${maskUrl(url)}: ${msg}`, {
      hint: auth ? 'check the user/password or token in --url' : 'is nats-server running (with -js)? set --url or JOBCTL_URL',
    });
  }
  const b = new NatsBackend(nc, url, ns, options.debug);
  try {
    await b.init();
    if (options.autoMigrate) await b.migrate();
    else {
      try {
        await b.checkSchema();
      } catch (e) {
        // missing or older: `migrate` must still work on this handle (the fix the error names)
        if (e instanceof SchemaError && !/newer/.test(e.message)) return untilMigrated(b, e);
        throw e;
      }
    }
  } catch (e) {
    await b.close();
    if (isJobctlError(e)) throw e;
    const denied = refusal(e);
    if (denied) throw permissionError(denied);
    const msg = redact(String((e as Error)?.message ?? e), urlSecrets(url));
    if (/jetstream/i.test(msg) || /503/.test(msg)) {
      throw new UnavailableError(`JetStream is not available at ${maskUrl(url)}: ${msg}`, { hint: 'start nats-server with -js' });
    }
    throw e;
  }
  return b;
}

/** Methods a handle on a missing or older namespace still serves (everything else: the error). */
const BEFORE_MIGRATE = new Set<PropertyKey>(['migrate', 'close', 'normalizeId', 'warnings', 'name', 'capabilities']);

/** The handle refuses every call with `err` until its `migrate()` succeeded. */
function untilMigrated(b: NatsBackend, err: SchemaError): Backend {
  let ready = false;
  return new Proxy(b, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const f = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'migrate')
        return async () => {
          const r = await (f() as Promise<MigrateResult>);
          ready = true;
          return r;
        };
      if (ready || BEFORE_MIGRATE.has(prop)) return f;
      return () => Promise.reject(err);
    },
  });
}

/** used/limit at or above this share of an account's JetStream limit is worth a warning. */
export const STORAGE_WARN_SHARE = 0.9;

/** The warnings of NatsBackend.warnings for an account info (exported for tests). */
export function storageWarnings(info: {
  storage: number;
  memory: number;
  limits: { max_storage: number; max_memory: number };
}): string[] {
  const out: string[] = [];
  for (const [what, used, max] of [
    ['storage', info.storage, info.limits.max_storage],
    ['memory', info.memory, info.limits.max_memory],
  ] as const) {
    if (max > 0 && used >= STORAGE_WARN_SHARE * max)
      out.push(
        `NATS JetStream ${what} of this account is ${Math.round((100 * used) / max)}% used (${formatBytes(used)} of ${formatBytes(max)}): at the limit every write is refused, so nothing can be enqueued and no outcome recorded; raise the account's limit or delete finished jobs (jobctl purge)`,
      );
  }
  return out;
}
