/**
 * State shared by the backend's modules: the client, key builder, Lua scripts (EVALSHA through
 * ioredis defineCommand), the queue registry cache, id allocation and the registry snapshot used
 * to tell live workers from dead ones.
 */
import { Cluster } from 'ioredis';
import { duplicate, type Client } from './connection.js';
import { claimReplyLua } from './codec.js';
import { mapRedisError } from './errors.js';
import { Keys, MAX_QUEUE_NUMBER, luaKeyTable, makeId, parseId } from './keys.js';
import { lua } from './lua.generated.js';

/** Registry scripts get their keys explicitly; every other script gets the queue prefix only. */
/** appendLogs takes exactly this many keys (a pending-log hash, then streams of one slot, padded by repeating the first). */
export const APPEND_LOGS_KEYS = 16;
const REGISTRY_KEYS = {
  allocate: 4,
  migrate: 2,
  registerWorker: 2,
  heartbeatWorker: 2,
  workers: 3,
  appendLogs: APPEND_LOGS_KEYS,
} as const;
export type ScriptName = Exclude<keyof typeof lua, 'lib'>;

export interface RetentionRule {
  /** jobs kept per queue (negative: no limit) */
  count: number;
  /** ms after finishing (0: no limit) */
  ageMs: number;
}
export interface Retention {
  completed: RetentionRule;
  failed: RetentionRule;
  cancelled: RetentionRule;
}
const DAY = 24 * 3600 * 1000;
export const DEFAULT_RETENTION: Retention = {
  completed: { count: 10_000, ageMs: 7 * DAY },
  failed: { count: 100_000, ageMs: 30 * DAY },
  cancelled: { count: 10_000, ageMs: 30 * DAY },
};

export interface WorkerBeat {
  lastHeartbeatAt: number;
  runningJobs: number;
  ttlMs: number;
  startedAt: number;
}

export interface Snapshot {
  now: number;
  /** worker name -> info JSON */
  infos: Map<string, string>;
  beats: Map<string, WorkerBeat>;
  live: string[];
  queues: string[];
}

export class Ctx {
  readonly queueNumbers = new Map<string, number>();
  readonly queueNames = new Map<number, string>();
  private seqRanges: [number, number][] = [];
  private allocations = 0;

  constructor(
    readonly client: Client,
    readonly keys: Keys,
    readonly url: string,
    readonly retention: Retention,
    readonly debug?: (m: string) => void,
  ) {
    defineScripts(client);
  }

  private bulkConn: Client | null = null;

  /**
   * A second, auto-pipelined connection for fan-out (stats, lists, many reads at once) and log
   * appends. The main connection (claims, outcomes, enqueue) writes each command at once, so a
   * worker's claim never waits behind a large log append or another batch in flight.
   */
  get bulk(): Client {
    if (!this.bulkConn) {
      this.bulkConn = duplicate(this.client, this.url, this.debug, true);
      defineScripts(this.bulkConn);
    }
    return this.bulkConn;
  }

  async closeExtra(): Promise<void> {
    const c = this.bulkConn;
    this.bulkConn = null;
    if (c) await c.quit().catch(() => c.disconnect());
  }

  /**
   * Run steps in order. On one server they are all issued at once (each step on the same
   * connection as the others): Redis runs them in the order sent, in one round trip. On a
   * cluster the steps may go to different nodes, so each waits for the previous one's reply.
   */
  async inOrder(steps: (() => Promise<unknown>)[]): Promise<void> {
    if (this.client instanceof Cluster) {
      for (const step of steps) await step();
      return;
    }
    await Promise.all(steps.map((step) => step()));
  }

  /** Run one script (on the main connection unless `on` is given); errors come back as JobctlErrors. */
  async run<T = unknown>(name: ScriptName, keys: string[], args: (string | number)[], on: Client = this.client): Promise<T> {
    const fn = (on as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[`jobctl_${name}`]!;
    try {
      return await fn.call(on, ...keys, ...args);
    } catch (e) {
      throw this.error(e, `script ${name}`);
    }
  }

  /** Run a plain command through the same error mapping. */
  async cmd<T>(p: Promise<T>, context?: string): Promise<T> {
    try {
      return await p;
    } catch (e) {
      throw this.error(e, context);
    }
  }

  error(e: unknown, context?: string) {
    return mapRedisError(e, this.url, context);
  }

  private learnQueue(name: string, n: number): void {
    this.queueNumbers.set(name, n);
    this.queueNames.set(n, name);
  }

  /** The queue of a job id when the queue number is cached; null: malformed; undefined: not cached. */
  cachedQueueOfId(id: string): string | null | undefined {
    const parsed = parseId(id);
    if (!parsed) return null;
    return this.queueNames.get(parsed.queueNumber);
  }

  /** The queue holding a job id (null: malformed id or unknown queue number). */
  async queueOfId(id: string): Promise<string | null> {
    const cached = this.cachedQueueOfId(id);
    if (cached !== undefined) return cached;
    const n = parseId(id)!.queueNumber;
    const name = await this.cmd(this.client.hget(this.keys.queueNames, String(n)));
    if (name === null) return null;
    this.learnQueue(name, n);
    return name;
  }

  /** Group ids by queue, keeping order; unknown ids go to `unknown`. */
  async groupIds(ids: string[]): Promise<{ byQueue: Map<string, string[]>; unknown: string[] }> {
    const byQueue = new Map<string, string[]>();
    const unknown: string[] = [];
    for (const id of ids) {
      const q = this.cachedQueueOfId(id) ?? (await this.queueOfId(id));
      if (!q) unknown.push(id);
      else {
        const list = byQueue.get(q);
        if (list) list.push(id);
        else byQueue.set(q, [id]);
      }
    }
    return { byQueue, unknown };
  }

  /** Every registered queue (refreshes the cache). */
  async allQueues(): Promise<string[]> {
    const all = await this.cmd(this.client.hgetall(this.keys.queues));
    for (const [name, n] of Object.entries(all)) this.learnQueue(name, Number(n));
    return Object.keys(all).sort();
  }

  /**
   * `count` new job ids for these queues (one per entry of `queues`). Sequence numbers come from
   * the global counter in blocks: the first call of a process takes exactly what it needs (no gaps
   * for one-shot CLI commands), later calls reserve as many again (at least 64), so most enqueues
   * need no extra round trip. Unused reserved numbers are gaps in the ids, never reused.
   */
  async newIds(queues: string[]): Promise<string[]> {
    const unknown = [...new Set(queues.filter((q) => !this.queueNumbers.has(q)))];
    const need = queues.length;
    if (unknown.length > 0 || this.available() < need) {
      // first call: exactly what is needed; later: as many again (at least 64) for the next calls
      const spare = this.allocations++ > 0 ? Math.max(64, need) : 0;
      const take = Math.max(0, need - this.available()) + spare;
      const res = await this.run<number[]>(
        'allocate',
        [this.keys.queues, this.keys.queueNames, this.keys.queueCounter, this.keys.jobCounter],
        [take, MAX_QUEUE_NUMBER, ...unknown],
      );
      unknown.forEach((q, i) => this.learnQueue(q, Number(res[i + 1])));
      if (take > 0) this.seqRanges.push([Number(res[0]), Number(res[0]) + take]);
      if (this.available() < need) return this.newIds(queues);
    }
    return queues.map((q) => makeId(this.takeSeq(), this.queueNumbers.get(q)!));
  }

  private available(): number {
    return this.seqRanges.reduce((n, [a, b]) => n + (b - a), 0);
  }

  private takeSeq(): number {
    const r = this.seqRanges[0]!;
    const seq = r[0]++;
    if (r[0] >= r[1]) this.seqRanges.shift();
    return seq;
  }

  /** Workers, their heartbeats, the queue registry and the server time, in one round trip. */
  async snapshot(): Promise<Snapshot> {
    const [now, w, b, q] = await this.run<[number, string[], string[], string[]]>(
      'workers',
      [this.keys.workers, this.keys.workerBeats, this.keys.queues],
      [],
    );
    const infos = new Map<string, string>();
    for (let i = 0; i < w.length; i += 2) infos.set(w[i]!, w[i + 1]!);
    const beats = new Map<string, WorkerBeat>();
    for (let i = 0; i < b.length; i += 2) {
      const [last, running, ttl, started] = b[i + 1]!.split(':').map(Number) as [number, number, number, number];
      beats.set(b[i]!, { lastHeartbeatAt: last, runningJobs: running, ttlMs: ttl, startedAt: started });
    }
    const queues: string[] = [];
    for (let i = 0; i < q.length; i += 2) {
      this.learnQueue(q[i]!, Number(q[i + 1]));
      queues.push(q[i]!);
    }
    const live = [...beats]
      .filter(([name, beat]) => infos.has(name) && beat.lastHeartbeatAt + beat.ttlMs > now)
      .map(([name]) => name);
    return { now, infos, beats, live, queues: queues.sort() };
  }
}

/**
 * The source run for one script: the key table `K`, then only the pieces of lib.lua it uses
 * (each top-level `local` of lib.lua, kept in order; a script pays for every closure it defines
 * on each call, so unused helpers are left out), then the script.
 */
export function scriptSource(name: ScriptName): string {
  const chunks = lua.lib.split(/\n(?=local )/).slice(1);
  const named = chunks.map((text) => ({ text, name: /^local (?:function )?([A-Za-z_][A-Za-z0-9_]*)/.exec(text)![1]! }));
  const used = new Set<string>();
  const body = lua[name];
  const uses = (text: string, n: string) => new RegExp(`\\b${n}\\b`).test(text);
  for (let changed = true; changed;) {
    changed = false;
    for (const c of named) {
      if (used.has(c.name)) continue;
      if (uses(body, c.name) || named.some((o) => used.has(o.name) && o !== c && uses(o.text, c.name))) {
        used.add(c.name);
        changed = true;
      }
    }
  }
  return (
    luaKeyTable() +
    (/\bCF\b/.test(body) ? claimReplyLua() : '') +
    named
      .filter((c) => used.has(c.name))
      .map((c) => c.text.trimEnd() + '\n')
      .join('') +
    body
  );
}

/** Register every script on a connection as `jobctl_<name>` (EVALSHA, EVAL on first use). */
function defineScripts(client: Client): void {
  for (const name of Object.keys(lua) as (keyof typeof lua)[]) {
    if (name === 'lib') continue;
    // a fixed key count: ioredis (cluster, auto-pipelining) routes a call by its first argument
    const numberOfKeys = (REGISTRY_KEYS as Record<string, number>)[name] ?? 1;
    client.defineCommand(`jobctl_${name}`, { numberOfKeys, lua: scriptSource(name) });
  }
}

/** ARGV segment describing the live workers: count, then names. */
export function liveArgs(s: Snapshot): (string | number)[] {
  return [s.live.length, ...s.live];
}
