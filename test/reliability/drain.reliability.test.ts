/**
 * Scenario 3: SIGTERM drain, on every backend (sqlite included).
 * - graceful: a worker (concurrency 4, prefetch 0) runs 4 jobs of 3 s with 12 short jobs queued
 *   behind them; SIGTERM: it claims nothing more (the 12 stay queued with 0 attempts), the 4
 *   finish and are completed, and it exits 0 soon after they end.
 * - shutdown timeout: 2 jobs that run 30 s on their first attempt (abortable), --shutdown-timeout
 *   1s: the worker aborts them at the timeout, releases them with the attempt counted (queued,
 *   attempts 1) and exits 0 in time.
 * - second signal: the same jobs ignoring their abort, --shutdown-timeout 60s; a second SIGTERM
 *   forces the exit at once (code 130) and the forced-out jobs are released (attempt counted).
 * Each time a second worker (--drain) then runs what was left: nothing lost, nothing run twice,
 * no overlap, no limbo (measured one lease + two rescue intervals after the first worker's exit).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../e2e/helpers.js';
import {
  BACKENDS,
  cleanupBackend,
  finalJobs,
  LIMBO_AFTER_MS,
  report,
  sandbox,
  scenarioLog,
  submitPayloads,
  waitStarts,
  workArgs,
  type RelSandbox,
} from './harness.js';
import { check, limbo, readAborts, readLedger, readStarts } from './ledger.js';

const FORCED_EXIT_CODE = 130;

describe.each(BACKENDS)('scenario 3: SIGTERM drain on %s', (backend) => {
  let sb: RelSandbox | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  /** Run the rest with a second worker (--drain) from `fromMs`; then check the ledger and the backend. */
  async function finishAndCheck(
    box: RelSandbox,
    accepted: string[],
    first: number,
    exitAtMs: number,
    variant: string,
    t0: number,
  ) {
    const w2 = box.start(workArgs('--concurrency', '4', '--drain'));
    const r2 = await box.wait(w2, 90_000);
    expect(r2.code, r2.stderr).toBe(0);
    const { entries, malformed } = readLedger(box.ledger);
    const jobs = await finalJobs(box);
    const r = check(accepted, entries, new Map([...jobs].map(([id, j]) => [id, j.state])));
    const lim = limbo(
      accepted,
      entries,
      readStarts(box.ledger),
      readAborts(box.ledger),
      exitAtMs + LIMBO_AFTER_MS,
      new Set([first]),
    );
    const row = {
      scenario: 3,
      variant,
      backend,
      jobs: accepted.length,
      signals: variant === 'second signal' ? 2 : 1,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      overlaps: r.overlaps.length,
      limbo: lim.length,
      elapsedMs: Date.now() - t0,
    };
    report(row);
    expect(malformed).toEqual([]);
    expect(r.lost).toEqual([]);
    expect(r.notCompleted).toEqual([]);
    expect(r.unexpected).toEqual([]);
    expect(r.duplicateRuns).toBe(0);
    expect(r.overlaps).toEqual([]);
    expect(lim, `limbo ${LIMBO_AFTER_MS} ms after the first worker exited`).toEqual([]);
    return { entries, jobs };
  }

  it('graceful: nothing claimed after SIGTERM, running jobs finish, exit 0', async () => {
    const { t0, log } = scenarioLog(`drain ${backend} graceful`);
    sb = sandbox(backend);
    const box = sb;
    const accepted = await submitPayloads(box, [
      ...Array.from({ length: 4 }, () => ({ ms: 3000 })),
      ...Array.from({ length: 12 }, () => ({ ms: 20 })),
    ]);
    const w1 = box.start(workArgs('--concurrency', '4', '--prefetch', '0', '--shutdown-timeout', '20s'));
    const started = await waitStarts(box, w1.pid!, 4);
    const running = new Set(started.map((s) => s.jobId));
    await sleep(300);
    const signalAt = Date.now();
    w1.kill('SIGTERM');
    log(`SIGTERM to pid ${w1.pid} with ${running.size} jobs running`);
    const r1 = await box.wait(w1, 30_000);
    const exitAt = Date.now();
    log(`exited code=${r1.code} after ${exitAt - signalAt} ms`);

    const byW1 = readLedger(box.ledger).entries.filter((e) => e.pid === w1.pid);
    const startsW1 = readStarts(box.ledger).filter((s) => s.pid === w1.pid);
    const jobs = await finalJobs(box);
    expect(r1.code, r1.stderr).toBe(0);
    // it waited for its jobs (they end ~3 s after they started) and no longer than that + a margin
    expect(exitAt).toBeGreaterThanOrEqual(Math.max(...byW1.map((e) => e.endMs)));
    expect(exitAt - signalAt).toBeLessThan(3000 + 5000);
    // the 4 running jobs completed in it; nothing else started in it
    expect(new Set(byW1.map((e) => e.jobId))).toEqual(running);
    expect(startsW1.map((s) => s.jobId).sort()).toEqual([...running].sort());
    for (const id of accepted) {
      const j = jobs.get(id)!;
      if (running.has(id)) expect(j).toMatchObject({ state: 'completed', attempts: 1 });
      else expect(j, `job ${id} must not have been claimed after the signal`).toMatchObject({ state: 'queued', attempts: 0 });
    }
    await finishAndCheck(box, accepted, w1.pid!, exitAt, 'graceful', t0);
  });

  it('shutdown timeout: still-running jobs are aborted and released with the attempt counted, exit 0 in time', async () => {
    const { t0, log } = scenarioLog(`drain ${backend} timeout`);
    sb = sandbox(backend);
    const box = sb;
    const accepted = await submitPayloads(
      box,
      [1, 2].map(() => ({ msByAttempt: [30_000, 20], abortable: true })),
    );
    const w1 = box.start(workArgs('--concurrency', '2', '--prefetch', '0', '--shutdown-timeout', '1s', '--json'));
    await waitStarts(box, w1.pid!, 2);
    const signalAt = Date.now();
    w1.kill('SIGTERM');
    const r1 = await box.wait(w1, 30_000);
    const exitAt = Date.now();
    log(`SIGTERM → exit code=${r1.code} after ${exitAt - signalAt} ms`);
    expect(r1.code, r1.stderr).toBe(0);
    expect(exitAt - signalAt).toBeGreaterThanOrEqual(1000);
    expect(exitAt - signalAt).toBeLessThan(1000 + 5000);
    const aborts = readAborts(box.ledger).filter((a) => a.pid === w1.pid);
    expect(aborts.map((a) => a.jobId).sort()).toEqual([...accepted].sort());
    for (const a of aborts) expect(a.reason).toMatch(/shutdown timeout/);
    expect(JSON.parse(r1.stdout)).toMatchObject({ released: 2, completed: 0, stoppedBy: 'signal' });
    const jobs = await finalJobs(box);
    for (const id of accepted) expect(jobs.get(id)).toMatchObject({ state: 'queued', attempts: 1 });
    const { jobs: after } = await finishAndCheck(box, accepted, w1.pid!, exitAt, 'shutdown timeout', t0);
    for (const id of accepted) expect(after.get(id)).toMatchObject({ state: 'completed', attempts: 2 });
  });

  it('second signal forces the exit (130); the forced-out jobs come back and complete', async () => {
    const { t0, log } = scenarioLog(`drain ${backend} forced`);
    sb = sandbox(backend);
    const box = sb;
    // not abortable: the handlers ignore the abort, the forced stop must not wait for them
    const accepted = await submitPayloads(
      box,
      [1, 2].map(() => ({ msByAttempt: [30_000, 20] })),
    );
    const w1 = box.start(workArgs('--concurrency', '2', '--prefetch', '0', '--shutdown-timeout', '60s', '--json'));
    await waitStarts(box, w1.pid!, 2);
    w1.kill('SIGTERM');
    await sleep(500);
    const secondAt = Date.now();
    w1.kill('SIGTERM');
    const r1 = await box.wait(w1, 30_000);
    const exitAt = Date.now();
    log(`second SIGTERM → exit code=${r1.code} after ${exitAt - secondAt} ms`);
    expect(r1.code, r1.stderr).toBe(FORCED_EXIT_CODE);
    expect(exitAt - secondAt).toBeLessThan(4000);
    expect(r1.stderr).toMatch(/forcing stop/);
    expect(JSON.parse(r1.stdout)).toMatchObject({ released: 2, stoppedBy: 'forced' });
    expect(readLedger(box.ledger).entries.filter((e) => e.pid === w1.pid)).toEqual([]);
    const jobs = await finalJobs(box);
    for (const id of accepted) expect(jobs.get(id)).toMatchObject({ state: 'queued', attempts: 1 });
    const { jobs: after } = await finishAndCheck(box, accepted, w1.pid!, exitAt, 'second signal', t0);
    for (const id of accepted) expect(after.get(id)).toMatchObject({ state: 'completed', attempts: 2 });
  });
});
