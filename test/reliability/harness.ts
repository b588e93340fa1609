/**
 * Shared by the reliability scenarios: targets (each run on its own JOBCTL_NAMESPACE, cleaned up),
 * job submission, final states, seeds and a results log for docs/reliability.md.
 *
 * Env: RELIABILITY_BACKENDS=sqlite,pg,redis,nats (default all) · RELIABILITY_SEED=<n> (replay) ·
 * RELIABILITY_JOBS=<n> (scenario 1, default 2000) · RELIABILITY_REPORT=<file> (append JSON lines) ·
 * RELIABILITY_FULL=1 (set by `npm run test:reliability -- --full`): the issue's full sizes.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { join } from 'node:path';
import { cleanupNamespaces, trackNamespace } from '../backends/nats/helpers.js';
import { dropSchemas, trackSchema } from '../backends/postgres/helpers.js';
import { cleanupPrefixes, trackPrefix } from '../backends/redis/helpers.js';
import type { ChildProcess } from 'node:child_process';
import { Sandbox, sleep, target, until, type RunResult } from '../e2e/helpers.js';
import { check, LEDGER_HANDLERS, limbo, readAborts, readLedger, readStarts, type Entry, type Start } from './ledger.js';

export type BackendName = 'sqlite' | 'pg' | 'redis' | 'nats';
const ALL: BackendName[] = ['sqlite', 'pg', 'redis', 'nats'];

/** The issue's full sizes (a person runs them), instead of the CI sizes. */
export const FULL = process.env.RELIABILITY_FULL === '1';

export const BACKENDS: BackendName[] = (process.env.RELIABILITY_BACKENDS ?? ALL.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is BackendName => (ALL as string[]).includes(s));

export function seedFromEnv(): number {
  const s = process.env.RELIABILITY_SEED;
  return s !== undefined && s !== '' ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

export type RelSandbox = Sandbox & { ledger: string; ns: string };

/**
 * A sandbox (own dir, own JOBCTL_NAMESPACE) with a ledger file. On the shared servers the
 * namespace is tracked for cleanup; with `url` (a throwaway server) nothing is tracked: the
 * server and its data go away with it.
 */
export function sandbox(backend: BackendName, url?: string): RelSandbox {
  const sb = new Sandbox(target(backend)) as RelSandbox;
  sb.ns = sb.env.JOBCTL_NAMESPACE!;
  sb.ledger = join(sb.dir, 'ledger.tsv');
  sb.env.JOBCTL_LEDGER = sb.ledger;
  if (url !== undefined) {
    if (backend === 'sqlite') throw new Error('sqlite has no server URL');
    sb.env.JOBCTL_URL = url;
    return sb;
  }
  if (backend === 'pg') trackSchema(sb.ns);
  if (backend === 'redis') {
    trackPrefix(sb.ns);
    // keep every completed and failed job (the default retention keeps 10,000 completed and
    // 100,000 failed): the checker reads them all, and scenario 14 needs 1,000,000 failed
    sb.env.JOBCTL_URL = `${sb.env.JOBCTL_URL}?keep_completed=10000000&keep_failed=10000000`;
  }
  if (backend === 'nats') trackNamespace(sb.ns);
  return sb;
}

/** Drop every server namespace the sandboxes of this file used. */
export async function cleanupBackend(backend: BackendName): Promise<void> {
  if (backend === 'pg') await dropSchemas();
  if (backend === 'redis') await cleanupPrefixes();
  if (backend === 'nats') await cleanupNamespaces();
}

/** Enqueue `rel` jobs in one batch; returns the accepted ids (as printed by trigger). */
export function submit(sb: Sandbox, payloads: { ms: number }[]): Promise<string[]> {
  return submitPayloads(sb, payloads);
}

export interface JobJson {
  id: string;
  state: string;
  attempts: number;
  workerId?: string | null;
}

/** Every job's final state (keyset pages of 1000). */
export async function finalJobs(sb: Sandbox): Promise<Map<string, JobJson>> {
  const out = new Map<string, JobJson>();
  let after: string | null = null;
  for (;;) {
    const args: string[] = ['jobs', 'list', '--limit', '1000', ...(after ? ['--after', after] : [])];
    const page: { jobs: JobJson[]; next: string | null } = await sb.json<{ jobs: JobJson[]; next: string | null }>(args);
    for (const j of page.jobs) out.set(j.id, j);
    if (!page.next || page.jobs.length === 0) return out;
    after = page.next;
  }
}

/** Completed jobs, and jobs waiting to be claimed (queued + scheduled), over every queue. */
export async function progress(sb: Sandbox): Promise<{ completed: number; waiting: number }> {
  const s = await sb.json<{ queues: { completed: number; queued: number; scheduled: number }[] }>(['stats']);
  return {
    completed: s.queues.reduce((n, q) => n + q.completed, 0),
    waiting: s.queues.reduce((n, q) => n + q.queued + q.scheduled, 0),
  };
}

/** Wait until worker `w` logged "worker started" (its signal handlers are installed, it claims); returns that time. */
export async function waitWorkerUp(w: ChildProcess & { err: string[] }, timeoutMs = 30_000): Promise<number> {
  await until(
    () => Promise.resolve(w.err.join('').includes('worker started')),
    timeoutMs,
    `worker pid ${w.pid} to log "worker started"`,
  );
  return Date.now();
}

export function report(row: Record<string, unknown>): void {
  const line = JSON.stringify({ at: new Date().toISOString(), ...row });
  console.log(`[reliability] ${line}`);
  if (process.env.RELIABILITY_REPORT) appendFileSync(process.env.RELIABILITY_REPORT, line + '\n');
}

/** The lease every scenario's workers use (`--lease 2s`): short, so that each scenario is quick. */
export const LEASE_MS = 2000;
/** The worker's rescue interval for that lease: lease / 2, ±20 % jitter (src/worker/index.ts, rescuer.ts). */
export const RESCUE_MAX_MS = (LEASE_MS / 2) * 1.2;
/** Limbo is measured this long after the end of a disturbance: one lease + two (longest) rescue intervals. */
export const LIMBO_AFTER_MS = LEASE_MS + 2 * RESCUE_MAX_MS;

/** `work` arguments for the ledger handlers with the scenarios' lease; `extra` adds or overrides flags. */
export function workArgs(...extra: string[]): string[] {
  return ['work', '--handlers', LEDGER_HANDLERS, '--lease', `${LEASE_MS / 1000}s`, ...extra];
}

/** Enqueue `rel` jobs with arbitrary payloads (see ledger-handlers.mjs); returns the accepted ids in order. */
export async function submitPayloads(sb: Sandbox, payloads: Record<string, unknown>[], maxAttempts = 25): Promise<string[]> {
  const file = join(sb.dir, `jobs-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, payloads.map((p) => JSON.stringify({ name: 'rel', payload: p, maxAttempts })).join('\n') + '\n');
  const r = await sb.run(['trigger', '--file', file], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`trigger --file exited ${r.code}: ${r.stderr}`);
  const ids = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (ids.length !== payloads.length) throw new Error(`trigger printed ${ids.length} ids for ${payloads.length} jobs`);
  return ids;
}

/** Wait until process `pid` has started at least `n` runs (from `<ledger>.starts`). */
export function waitStarts(sb: RelSandbox, pid: number, n: number, timeoutMs = 30_000): Promise<Start[]> {
  return until(
    () => {
      const s = readStarts(sb.ledger).filter((x) => x.pid === pid);
      return Promise.resolve(s.length >= n ? s : undefined);
    },
    timeoutMs,
    `${n} runs started by pid ${pid}`,
  );
}

/** Wait until every accepted job is completed (polling `jobs list`). */
export async function waitAllCompleted(sb: Sandbox, accepted: readonly string[], timeoutMs: number): Promise<void> {
  await until(
    async () => {
      const jobs = await finalJobs(sb);
      return accepted.every((id) => jobs.get(id)?.state === 'completed');
    },
    timeoutMs,
    `all ${accepted.length} jobs completed`,
  );
}

/** A scenario's console log with its seed and the time since its start. */
export function scenarioLog(tag: string, seed?: number): { t0: number; log: (msg: string) => void; since: () => number } {
  const t0 = Date.now();
  return {
    t0,
    since: () => Date.now() - t0,
    log: (msg: string) => console.log(`[${tag}${seed === undefined ? '' : ` seed=${seed}`} +${Date.now() - t0}ms] ${msg}`),
  };
}

/**
 * Wait until every pid in `pids` is listed by `jobctl workers` as alive with a heartbeat after
 * `sinceMs` (its connection to the backend works again); returns how long that took.
 */
export async function waitWorkersHeartbeat(
  sb: Sandbox,
  pids: Iterable<number>,
  sinceMs: number,
  timeoutMs: number,
): Promise<number> {
  const want = [...pids];
  await until(
    async () => {
      const r = await sb.run(['workers', '--json'], { timeoutMs: 20_000 });
      if (r.code !== 0) return false;
      const ws = (JSON.parse(r.stdout) as { workers: { pid: number; alive: boolean; lastHeartbeatAt: string }[] }).workers;
      return want.every((pid) => ws.some((w) => w.pid === pid && w.alive && Date.parse(w.lastHeartbeatAt) > sinceMs));
    },
    timeoutMs,
    `heartbeats of workers ${want.join(', ')} after ${new Date(sinceMs).toISOString()}`,
  );
  return Date.now() - sinceMs;
}

/**
 * Where a backend does not (yet) keep the default limbo promise (nothing left running/unacked one
 * lease + two rescue intervals after a disturbance), what it does promise; stated in
 * docs/reliability.md. A test on such a backend checks that weaker promise precisely instead.
 */
export const LIMBO_EXCEPTIONS: Partial<Record<BackendName, { withinMs: number; why: string }>> = {
  // none: NATS was here (messages fetched by a dead worker waited out a fixed 30 s AckWait) until
  // the AckWait followed the lease (2026-11-28); every backend now keeps the default promise
};

/**
 * Assert the limbo promise of `backend`: no job in limbo at `endMs + LIMBO_AFTER_MS`; or, for a
 * backend in LIMBO_EXCEPTIONS, every job in limbo completed (ledger) within its `withinMs` of
 * `endMs`. Returns a one-line note for the report.
 */
export function limboPromise(backend: BackendName, inLimbo: readonly string[], ledger: readonly Entry[], endMs: number): string {
  const ex = LIMBO_EXCEPTIONS[backend];
  if (!ex || inLimbo.length === 0) {
    if (inLimbo.length) throw new Error(`limbo ${LIMBO_AFTER_MS} ms after the disturbance: ${inLimbo.join(', ')}`);
    return 'none';
  }
  const doneAt = new Map<string, number>();
  for (const e of ledger) doneAt.set(e.jobId, Math.min(doneAt.get(e.jobId) ?? Infinity, e.endMs));
  const late = inLimbo.filter((id) => (doneAt.get(id) ?? Infinity) > endMs + ex.withinMs);
  if (late.length) throw new Error(`limbo beyond the ${backend} promise (${ex.withinMs} ms: ${ex.why}): ${late.join(', ')}`);
  const worst = Math.max(...inLimbo.map((id) => doneAt.get(id)! - endMs));
  return `${inLimbo.length} job(s) in limbo, all completed within ${worst} ms (${backend} promises ${ex.withinMs} ms: ${ex.why})`;
}

/**
 * SIGTERM every worker and wait for their exits (in order). A worker still starting (no "worker
 * started" line yet: its signal handlers may not be installed) is given up to 30 s to get there
 * first, so that the signal tests the graceful stop and not Node's default action.
 */
export async function stopWorkers(
  sb: Sandbox,
  workers: readonly (ChildProcess & { err: string[] })[],
  timeoutMs = 60_000,
): Promise<RunResult[]> {
  const t0 = Date.now();
  const up = (w: ChildProcess & { err: string[] }) =>
    w.exitCode !== null || w.signalCode !== null || w.err.join('').includes('worker started');
  while (!workers.every(up) && Date.now() - t0 < 30_000) await sleep(50);
  return Promise.all(
    workers.map((w) => {
      w.kill('SIGTERM');
      return sb.wait(w, timeoutMs);
    }),
  );
}

/**
 * Scenarios 4 and 6: on a throwaway server at `url`, enqueue `jobs` jobs of 100–300 ms (from
 * `rnd`), start `workers` workers (`--concurrency`), and return once every worker logged
 * "worker started" and `warmup` runs completed.
 * `exits` collects any worker exit with its stderr (a worker must not exit on its own).
 */
export async function startServerRun(
  backend: BackendName,
  url: string,
  o: { rnd: () => number; jobs: number; workers: number; concurrency: number; warmup: number },
) {
  const box = sandbox(backend, url);
  const t0 = Date.now();
  const accepted = await submitPayloads(
    box,
    Array.from({ length: o.jobs }, () => ({ ms: 100 + Math.floor(o.rnd() * 200) })),
  );
  const workers = Array.from({ length: o.workers }, () => box.start(workArgs('--concurrency', String(o.concurrency))));
  const exits: string[] = [];
  for (const w of workers)
    w.once('exit', (code, sig) => exits.push(`pid ${w.pid} exited code=${code} signal=${sig}: ${w.err.join('').slice(-3000)}`));
  // every worker must be up (registered, claiming) before the disturbance: one still starting
  // when the server goes away fails its first connection and exits, by design
  while (readLedger(box.ledger).entries.length < o.warmup || !workers.every((w) => w.err.join('').includes('worker started'))) {
    if (exits.length) throw new Error(`a worker exited while starting: ${exits.join('; ')}`);
    if (Date.now() - t0 > 60_000) throw new Error(`workers not started or fewer than ${o.warmup} jobs completed within 60 s`);
    await sleep(20);
  }
  return { box, accepted, workers, exits, pids: workers.map((w) => w.pid!) };
}

/**
 * Scenarios 4 and 6, after the disturbance ended at `endMs`: wait for every worker's heartbeat
 * and every job, stop the workers (SIGTERM), and check the ledger (limbo at endMs + LIMBO_AFTER_MS).
 */
export async function finishServerRun(
  box: RelSandbox,
  run: { workers: (ChildProcess & { err: string[] })[]; pids: number[] },
  all: string[],
  endMs: number,
  log: (m: string) => void,
) {
  const heartbeatAfterMs = await waitWorkersHeartbeat(box, run.pids, endMs, 60_000).catch(async (e: unknown) => {
    const ws = await box.run(['workers', '--json']);
    log(`workers: ${ws.code} ${ws.stdout} ${ws.stderr}\n${run.workers.map((w) => w.err.join('').slice(-4000)).join('\n---\n')}`);
    throw e;
  });
  await waitAllCompleted(box, all, 90_000);
  const recoveredMs = Date.now() - endMs;
  const alive = run.workers.every((w) => w.exitCode === null && w.signalCode === null);
  const results = await stopWorkers(box, run.workers);
  const { entries, malformed } = readLedger(box.ledger);
  const jobs = await finalJobs(box);
  const r = check(all, entries, new Map([...jobs].map(([id, j]) => [id, j.state])));
  const inLimbo = limbo(all, entries, readStarts(box.ledger), readAborts(box.ledger), endMs + LIMBO_AFTER_MS);
  if (r.lost.length || r.notCompleted.length || r.unexpected.length || r.overlaps.length || inLimbo.length)
    log(
      `details: ${JSON.stringify({
        lost: r.lost.slice(0, 5),
        notCompleted: r.notCompleted.slice(0, 5),
        unexpected: r.unexpected.slice(0, 5),
        overlaps: r.overlaps.slice(0, 5),
        limbo: inLimbo,
      })}\n${workerTails(results)}`,
    );
  return { heartbeatAfterMs, recoveredMs, alive, results, entries, malformed, jobs, r, limbo: inLimbo };
}

/** The assertions scenarios 4 and 6 share: same workers, clean exits, nothing lost, no overlap, bounded duplicates. */
export function expectRecovered(f: Awaited<ReturnType<typeof finishServerRun>>, exits: string[], duplicateBound: number): void {
  expect(f.alive, `workers exited during the run: ${exits.join('; ')}`).toBe(true);
  expect(f.results.map((x) => x.code)).toEqual(f.results.map(() => 0));
  expect(f.malformed).toEqual([]);
  expect(f.r.lost).toEqual([]);
  expect(f.r.notCompleted).toEqual([]);
  expect(f.r.unexpected).toEqual([]);
  expect(f.r.overlaps).toEqual([]);
  expect(f.r.duplicateRuns, `duplicates over the bound\n${workerTails(f.results)}`).toBeLessThanOrEqual(duplicateBound);
}

/** The last lines each worker wrote to stderr, for a failure's log (what it did around the disturbance). */
export function workerTails(results: readonly RunResult[], chars = 12_000): string {
  return results.map((x, i) => `--- worker ${i + 1} stderr (last ${chars} chars) ---\n${x.stderr.slice(-chars)}`).join('\n');
}
