/**
 * Scenario 1 (CI-sized): SIGKILL chaos. 4 workers (concurrency 4, lease 2s, default prefetch)
 * on RELIABILITY_JOBS short jobs; every 2 s a random worker (seeded) is SIGKILLed and replaced,
 * while jobs are still waiting to be claimed (queued or scheduled); then, with the live workers
 * idle, no more kills until every job is completed. Then: lost = unexpected = 0, duplicates ≤
 * kills × (concurrency + prefetch), overlaps / duplicates only where a killed process took part,
 * and no limbo: one lease + two rescue intervals after the later of the last kill and the moment
 * nothing was waiting, every job is completed or running in a live worker (harness.ts).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../e2e/helpers.js';
import {
  BACKENDS,
  cleanupBackend,
  finalJobs,
  FULL,
  LIMBO_AFTER_MS,
  limboPromise,
  progress,
  report,
  sandbox,
  seedFromEnv,
  stopWorkers,
  submit,
} from './harness.js';
import {
  LEDGER_HANDLERS,
  check,
  duplicatesWithoutKill,
  limbo,
  overlapsWithoutKill,
  prng,
  readAborts,
  readLedger,
  readStarts,
} from './ledger.js';

const JOBS = Number(process.env.RELIABILITY_JOBS ?? (FULL ? 20_000 : 2000));
const WORKERS = 4;
const CONCURRENCY = 4;
const PREFETCH = 4 * CONCURRENCY; // the worker's default for module handlers
// (it grows only while handlers average under 25 ms × concurrency / prefetch ≈ 6 ms here: these jobs
// take 5–100 ms, so the bound stays concurrency + 4 × concurrency; see Executor.prefetchNow)
const KILL_EVERY_MS = 2000;
const DEADLINE_MS = 240_000;

describe.each(BACKENDS)('scenario 1: SIGKILL chaos on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it(`${JOBS} jobs, 4 workers, a random worker killed every 2 s: nothing lost`, async () => {
    const seed = seedFromEnv();
    const rnd = prng(seed);
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[chaos ${backend} seed=${seed} +${Date.now() - t0}ms] ${msg}`);
    log(`start (replay: RELIABILITY_SEED=${seed} RELIABILITY_BACKENDS=${backend} RELIABILITY_JOBS=${JOBS})`);
    sb = sandbox(backend);
    const box = sb;

    // 5–100 ms jobs: long enough that kills land mid-run, short enough for CI
    const accepted = await submit(
      box,
      Array.from({ length: JOBS }, () => ({ ms: 5 + Math.floor(rnd() * 95) })),
    );
    log(`submitted ${accepted.length} jobs in ${box.ns}`);

    const args = ['work', '--handlers', LEDGER_HANDLERS, '--lease', '2s', '--concurrency', String(CONCURRENCY)];
    /** every worker started, by pid (its stderr: the warnings shown when a check fails) */
    const started = new Map<number, ReturnType<typeof box.start>>();
    const startWorker = () => {
      const w = box.start(args);
      started.set(w.pid!, w);
      return w;
    };
    const workers = Array.from({ length: WORKERS }, startWorker);
    const killed = new Set<number>();
    const kills: { atMs: number; pid: number; slot: number }[] = [];
    const unexpectedExits: string[] = [];
    let stopping = false;
    const watch = (w: ReturnType<typeof startWorker>) =>
      w.once('exit', (code, signal) => {
        if (!killed.has(w.pid!) && !stopping)
          unexpectedExits.push(`pid ${w.pid} exited code=${code} signal=${signal}: ${w.err.join('').slice(-2000)}`);
      });
    workers.forEach(watch);

    let done = 0;
    let nextKill = Date.now() + KILL_EVERY_MS;
    let lastKillAt = 0;
    /** when nothing was waiting to be claimed any more: kills stop there */
    let idleAt: number | null = null;
    while (Date.now() - t0 < DEADLINE_MS) {
      const p = await progress(box);
      done = p.completed;
      if (done >= JOBS) break;
      if (idleAt === null && p.waiting === 0) {
        idleAt = Date.now();
        log(`nothing waiting (completed ${done}/${JOBS}): no more kills`);
      }
      if (idleAt === null && Date.now() >= nextKill) {
        lastKillAt = Date.now();
        const slot = Math.floor(rnd() * WORKERS);
        const victim = workers[slot]!;
        killed.add(victim.pid!);
        victim.kill('SIGKILL');
        kills.push({ atMs: Date.now() - t0, pid: victim.pid!, slot });
        workers[slot] = startWorker();
        watch(workers[slot]!);
        log(`kill #${kills.length}: slot ${slot} pid ${victim.pid} → new pid ${workers[slot]!.pid}; completed ${done}/${JOBS}`);
        nextKill += KILL_EVERY_MS;
      }
      await sleep(200);
    }
    const elapsedMs = Date.now() - t0;
    log(`completed ${done}/${JOBS} after ${elapsedMs} ms and ${kills.length} kills`);
    // the end of the disturbance: the last kill, or when the backlog ran out if that was later
    const endMs = Math.max(lastKillAt, idleAt ?? Date.now());

    // stop the survivors gracefully; they must exit 0
    stopping = true;
    const exits = await stopWorkers(box, workers);

    const { entries, malformed } = readLedger(box.ledger);
    const jobs = await finalJobs(box);
    const states = new Map([...jobs].map(([id, j]) => [id, j.state]));
    // stats once nothing runs any more: the count must be the jobs' own
    const listedCompleted = [...jobs.values()].filter((j) => j.state === 'completed').length;
    const statsAfterStop = (await progress(box)).completed;
    if (done !== JOBS || statsAfterStop !== listedCompleted)
      log(
        `stats counted ${done} completed when the loop ended, ${statsAfterStop} after the stop; the listing has ${listedCompleted}`,
      );
    const r = check(accepted, entries, states);
    const badOverlaps = overlapsWithoutKill(r, killed);
    const badDuplicates = duplicatesWithoutKill(entries, killed);
    const inLimbo = limbo(accepted, entries, readStarts(box.ledger), readAborts(box.ledger), endMs + LIMBO_AFTER_MS, killed);
    const row = {
      scenario: 1,
      backend,
      seed,
      jobs: JOBS,
      kills: kills.length,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      duplicateBound: kills.length * (CONCURRENCY + PREFETCH),
      overlaps: r.overlaps.length,
      overlapsWithoutKill: badOverlaps.length,
      duplicatesWithoutKill: badDuplicates.length,
      limbo: inLimbo.length,
      limboAtMs: endMs + LIMBO_AFTER_MS - t0,
      ledgerLines: entries.length,
      statsAfterStop,
      listedCompleted,
      malformed: malformed.length,
      elapsedMs,
      killTimesMs: kills.map((k) => k.atMs),
    };
    report(row);
    if (
      r.lost.length ||
      r.notCompleted.length ||
      r.unexpected.length ||
      badOverlaps.length ||
      badDuplicates.length ||
      inLimbo.length
    ) {
      log(
        `details: ${JSON.stringify({
          lost: r.lost.slice(0, 20),
          notCompleted: r.notCompleted.slice(0, 20).map((x) => ({ ...x, job: jobs.get(x.jobId) })),
          unexpected: r.unexpected.slice(0, 20),
          badOverlaps: badOverlaps.slice(0, 10),
          badDuplicates: badDuplicates.slice(0, 10).map((id) => entries.filter((e) => e.jobId === id)),
          limbo: inLimbo.slice(0, 20).map((id) => ({ id, job: jobs.get(id), runs: entries.filter((e) => e.jobId === id) })),
          kills,
        })}`,
      );
      // what the live workers of the runs that should not have happened said about those jobs
      const bad = [
        ...badOverlaps.flatMap((o) => [o.a, o.b]),
        ...badDuplicates.flatMap((id) => entries.filter((e) => e.jobId === id)),
      ];
      for (const pid of new Set(bad.map((e) => e.pid))) {
        const ids = new Set(bad.filter((e) => e.pid === pid).map((e) => e.jobId));
        const lines = (started.get(pid)?.err.join('') ?? '')
          .split('\n')
          .filter((l) => [...ids].some((id) => l.includes(id)) || /warn|error|lost|stale/i.test(l));
        log(
          `worker ${pid} (${killed.has(pid) ? 'killed' : 'not killed'}): ${lines.length} lines on those jobs or warnings:\n${lines.slice(0, 40).join('\n')}`,
        );
      }
    }

    expect(unexpectedExits).toEqual([]);
    expect(exits.map((e) => e.code)).toEqual(Array(WORKERS).fill(0));
    expect(done).toBe(JOBS);
    expect(statsAfterStop).toBe(listedCompleted);
    expect(malformed).toEqual([]);
    expect(r.lost).toEqual([]);
    expect(r.notCompleted).toEqual([]);
    expect(r.unexpected).toEqual([]);
    expect(r.duplicateRuns).toBeLessThanOrEqual(kills.length * (CONCURRENCY + PREFETCH));
    expect(badOverlaps).toEqual([]);
    expect(badDuplicates).toEqual([]);
    log(`limbo: ${limboPromise(backend, inLimbo, entries, endMs)}`);
  });
});
