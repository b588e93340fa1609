/** Shared helpers of the conformance suite: only the Backend interface and src/core. */
import { randomBytes } from 'node:crypto';
import type { Backend, WorkerInfo } from '../../src/core/backend.js';
import { normalizeEnqueue, type ClaimedJob, type EnqueueInput, type Job } from '../../src/core/job.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A fresh random queue name for one test. */
export const randomQueue = (prefix = 'q') => `${prefix}_${randomBytes(5).toString('hex')}`;

export interface Ctx {
  /** the backend of this test (fresh namespace) */
  readonly b: Backend;
  /** another independent handle on the same namespace (fails the test when the target has none) */
  another(): Promise<Backend>;
}

export async function enqueue(b: Backend, inputs: EnqueueInput[]): Promise<Job[]> {
  const r = await b.enqueue(inputs.map((i) => normalizeEnqueue(i)));
  return r.map((x) => x.job);
}

export async function enqueueOne(b: Backend, input: EnqueueInput): Promise<Job> {
  return (await enqueue(b, [input]))[0]!;
}

export function workerInfo(name: string, over: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    name,
    host: 'test-host',
    pid: 4242,
    queues: ['default'],
    concurrency: 4,
    ttlMs: 60_000,
    version: '0.0.0-test',
    ...over,
  };
}

/** Register a live worker (ttl 60 s unless given). */
export async function liveWorker(
  b: Backend,
  name = `w_${randomBytes(4).toString('hex')}`,
  over: Partial<WorkerInfo> = {},
): Promise<string> {
  await b.registerWorker(workerInfo(name, over));
  return name;
}

/** Claim exactly one job of a queue. */
export async function claimOne(b: Backend, queue: string, workerId: string, leaseMs = 60_000): Promise<ClaimedJob> {
  const [job, ...rest] = await b.claim({ workerId, queues: [queue], limit: 1, leaseMs });
  if (!job || rest.length) throw new Error(`expected to claim one job of ${queue}, got ${rest.length + (job ? 1 : 0)}`);
  return job;
}

/** Enqueue one job and claim it right away (the queue must hold nothing else runnable). */
export async function running(
  b: Backend,
  queue: string,
  workerId: string,
  opts: { leaseMs?: number; input?: Partial<EnqueueInput> } = {},
): Promise<ClaimedJob> {
  const job = await enqueueOne(b, { name: 'job', queue, ...opts.input });
  const got = await claimOne(b, queue, workerId, opts.leaseMs ?? 60_000);
  if (got.id !== job.id) throw new Error(`test setup: queue ${queue} held another runnable job (${got.id})`);
  return got;
}

/** Bring a job to completed / failed / cancelled. */
export async function finished(
  b: Backend,
  queue: string,
  state: 'completed' | 'failed' | 'cancelled',
  input: Partial<EnqueueInput> = {},
): Promise<Job> {
  const w = `w_fin_${randomBytes(3).toString('hex')}`;
  if (state === 'cancelled') {
    const job = await enqueueOne(b, { name: 'job', queue, ...input });
    await b.cancel({ ids: [job.id] });
    return (await b.getJob(job.id))!;
  }
  const j = await running(b, queue, w, { input: { maxAttempts: 1, ...input } });
  if (state === 'completed') await b.complete([{ id: j.id, attempt: j.attempt, workerId: w, result: { ok: true } }]);
  else await b.fail([{ id: j.id, attempt: j.attempt, workerId: w, error: 'boom', retryDelayMs: 0, final: true }]);
  return (await b.getJob(j.id))!;
}

export async function snapshot(b: Backend, ids: string[]): Promise<(Job | null)[]> {
  return Promise.all(ids.map((id) => b.getJob(id)));
}

/**
 * An id in this backend's canonical form that names no job (derived from a real one by
 * changing or adding a character).
 */
export async function unknownId(b: Backend, like: string): Promise<string> {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZabcdef';
  const candidates: string[] = [];
  for (let pos = like.length - 1; pos >= 0; pos--)
    for (const c of alphabet) candidates.push(like.slice(0, pos) + c + like.slice(pos + 1));
  for (const c of alphabet) candidates.push(like + c, like + c + c);
  for (const cand of candidates) {
    if (cand === like) continue;
    let id: string;
    try {
      id = b.normalizeId(cand);
    } catch {
      continue;
    }
    if (id !== like && (await b.getJob(id)) === null) return id;
  }
  throw new Error(`could not make an unknown id like ${like}`);
}

export const ids = (jobs: { id: string }[]) => jobs.map((j) => j.id);
export const sorted = (list: string[]) => [...list].sort();
