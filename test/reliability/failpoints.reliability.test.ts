/**
 * Scenario 2: failpoints. A worker started with JOBCTL_FAILPOINT=<fp> (concurrency 1, prefetch 0)
 * SIGKILLs itself at that step of its first job; a plain worker then finishes the queue. The job
 * killed before its outcome runs exactly once more (once in total for after-claim, whose handler
 * never started; twice for after-handler/before-ack, the first run in the crashed process; with
 * before-ack, every job whose outcome was in that first write), every other job runs once, and
 * every job ends completed. after-outcome crashes right after the backend confirmed the first
 * outcome write: those jobs are completed and never run again. Limbo: one lease + two rescue
 * intervals after the later of the crash and the plain worker's start (a live worker with idle
 * capacity), every job is completed or running in it.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { until } from '../e2e/helpers.js';
import {
  BACKENDS,
  cleanupBackend,
  finalJobs,
  LIMBO_AFTER_MS,
  limboPromise,
  report,
  sandbox,
  seedFromEnv,
  submit,
  waitWorkerUp,
} from './harness.js';
import { LEDGER_HANDLERS, check, limbo, prng, readAborts, readLedger, readStarts } from './ledger.js';

const FAILPOINTS = ['after-claim', 'after-handler', 'before-ack', 'after-outcome'] as const;
const JOBS = 5;

describe.each(BACKENDS)('scenario 2: failpoints on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it.each(FAILPOINTS)('JOBCTL_FAILPOINT=%s: a job killed before its outcome runs once more, after it never again', async (fp) => {
    const seed = seedFromEnv();
    const rnd = prng(seed);
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[failpoint ${backend} ${fp} seed=${seed} +${Date.now() - t0}ms] ${msg}`);
    sb = sandbox(backend);
    const box = sb;
    const accepted = await submit(
      box,
      Array.from({ length: JOBS }, () => ({ ms: 5 + Math.floor(rnd() * 20) })),
    );
    const base = ['work', '--handlers', LEDGER_HANDLERS, '--lease', '2s', '--concurrency', '1', '--prefetch', '0'];

    const crasher = box.start(base, { env: { JOBCTL_FAILPOINT: fp } });
    const c = await box.wait(crasher, 30_000);
    const crashAt = Date.now();
    log(`failpoint worker pid ${crasher.pid} exited code=${c.code} signal=${c.signal}`);
    expect(c.signal).toBe('SIGKILL');
    const afterCrash = readLedger(box.ledger).entries;

    const rescuer = box.start(base);
    const endMs = Math.max(crashAt, await waitWorkerUp(rescuer));
    await until(
      async () => {
        const jobs = await finalJobs(box);
        return [...jobs.values()].every((j) => j.state === 'completed') && jobs.size === JOBS;
      },
      60_000,
      'every job completed after the crash',
    );
    rescuer.kill('SIGTERM');
    const rs = await box.wait(rescuer, 30_000);
    const elapsedMs = Date.now() - t0;

    const { entries, malformed } = readLedger(box.ledger);
    const jobs = await finalJobs(box);
    const r = check(accepted, entries, new Map([...jobs].map(([id, j]) => [id, j.state])));
    const byCrasher = entries.filter((e) => e.pid === crasher.pid);
    // jobs whose run in the crashed process did not get its outcome recorded: each runs once more
    const runsAfter = (id: string) => entries.filter((e) => e.jobId === id && e.pid !== crasher.pid).length;
    // after-outcome: the first run's outcome was in the confirmed write (or written with the next
    // claim before it); a later run in the crashed process (its slot freed while that write was in
    // flight) may have finished before the crash with its outcome still queued: it runs once more
    const [firstRun, ...laterRuns] = [...byCrasher].sort((a, b) => a.endMs - b.endMs);
    const crashedIds =
      fp === 'after-claim'
        ? []
        : fp === 'after-outcome'
          ? laterRuns.map((e) => e.jobId).filter((id) => runsAfter(id) > 0)
          : byCrasher.map((e) => e.jobId);
    const inLimbo = limbo(
      accepted,
      entries,
      readStarts(box.ledger),
      readAborts(box.ledger),
      endMs + LIMBO_AFTER_MS,
      new Set([crasher.pid!]),
    );
    report({
      scenario: 2,
      backend,
      failpoint: fp,
      seed,
      jobs: JOBS,
      kills: 1,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      overlaps: r.overlaps.length,
      limbo: inLimbo.length,
      crasherRuns: byCrasher.length,
      attempts: Object.fromEntries([...jobs].map(([id, j]) => [id, j.attempts])),
      elapsedMs,
    });

    expect(rs.code).toBe(0);
    expect(malformed).toEqual([]);
    // the crash came at the first job: after-claim before any handler ran, after-handler right after
    // the first run; before-ack at the first outcome write, which may carry the outcomes of every
    // job whose handler returned before it went out (the slot frees before the write): each of
    // those runs exactly once more
    expect(afterCrash.length).toBe(byCrasher.length);
    if (fp === 'before-ack' || fp === 'after-outcome') expect(byCrasher.length).toBeGreaterThanOrEqual(1);
    else expect(byCrasher.length).toBe(fp === 'after-claim' ? 0 : 1);
    for (const id of crashedIds) expect(runsAfter(id), `job ${id} runs after the crash`).toBe(1);
    // after-outcome: the first run's outcome was recorded before the crash: it never runs again
    if (fp === 'after-outcome') {
      expect(runsAfter(firstRun!.jobId), `job ${firstRun!.jobId} ran again after its outcome was recorded`).toBe(0);
      expect(jobs.get(firstRun!.jobId)).toMatchObject({ state: 'completed', attempts: 1 });
    }
    expect(r.lost).toEqual([]);
    expect(r.notCompleted).toEqual([]);
    expect(r.unexpected).toEqual([]);
    expect(r.overlaps).toEqual([]);
    expect(r.duplicateRuns).toBe(crashedIds.length); // only the crashed job, once
    expect(entries.length).toBe(JOBS + crashedIds.length);
    log(`limbo: ${limboPromise(backend, inLimbo, entries, endMs)}`);
  });
});
