/**
 * Scenario 5: zombie worker, on every backend. Worker "zombie" (concurrency 4, prefetch 0) runs
 * 4 jobs (see VARIANTS); it is SIGSTOPped for three leases while a second worker "rescuer" runs;
 * then SIGCONT. Pass: the zombie's jobs were rescued and ran in the rescuer (one ledger run each
 * outside the zombie, attempt 2); the zombie recorded no outcome for them (each job's log has
 * exactly one `completed` event, from the rescuer, and a `lost claim` event from the zombie; its
 * stderr says lost claim; its summary counts 4 lost); in `aborted` its handlers were aborted after
 * the SIGCONT (abort records in its pid); it keeps working (runs jobs enqueued after the SIGCONT) and exits 0 on SIGTERM;
 * nothing lost, no duplicate or overlap outside the stopped process, no limbo one lease + two
 * rescue intervals after the SIGCONT.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../e2e/helpers.js';
import {
  BACKENDS,
  cleanupBackend,
  finalJobs,
  LEASE_MS,
  LIMBO_AFTER_MS,
  limboPromise,
  report,
  sandbox,
  scenarioLog,
  submitPayloads,
  waitAllCompleted,
  waitStarts,
  workArgs,
  type RelSandbox,
  stopWorkers,
} from './harness.js';
import { check, duplicatesWithoutKill, limbo, overlapsWithoutKill, readAborts, readLedger, readStarts } from './ledger.js';

const JOBS = 4;
const STOP_MS = 3 * LEASE_MS;

/**
 * aborted: the handlers still run at the SIGCONT (10 s) and honour their abort signal.
 * stale outcome: the handlers (1 s, ignoring aborts) end during the stop, so at the SIGCONT the
 * zombie tries to record their completion with its stale claim and the backend must refuse it
 * (fencing); their ledger runs in the zombie are the duplicates/overlaps a stopped process
 * explains.
 */
const VARIANTS = [
  { name: 'aborted', payload: { msByAttempt: [10_000, 300], abortable: true } },
  { name: 'stale outcome', payload: { msByAttempt: [1000, 300] } },
];

describe.each(BACKENDS)('scenario 5: zombie worker on %s', (backend) => {
  let sb: RelSandbox | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it.each(VARIANTS)('SIGSTOP for three leases ($name): its jobs run elsewhere, it cannot record them', async (variant) => {
    const { t0, log } = scenarioLog(`zombie ${backend} ${variant.name}`);
    sb = sandbox(backend);
    const box = sb;
    const accepted = await submitPayloads(
      box,
      Array.from({ length: JOBS }, () => variant.payload),
    );
    const zombie = box.start(workArgs('--concurrency', '4', '--prefetch', '0', '--name', 'zombie', '--json'));
    await waitStarts(box, zombie.pid!, JOBS);
    const rescuer = box.start(workArgs('--concurrency', '4', '--name', 'rescuer'));
    await sleep(200);
    const stopAt = Date.now();
    zombie.kill('SIGSTOP');
    log(`SIGSTOP zombie pid ${zombie.pid} holding ${JOBS} jobs; rescuer pid ${rescuer.pid}`);
    await sleep(STOP_MS);
    const contAt = Date.now();
    zombie.kill('SIGCONT');
    log(`SIGCONT after ${contAt - stopAt} ms`);

    await waitAllCompleted(box, accepted, 60_000);
    // the zombie sees its loss at its next heartbeat and aborts its handlers
    const aborted = await (async () => {
      for (;;) {
        const a = readAborts(box.ledger).filter((x) => x.pid === zombie.pid);
        if (variant.name !== 'aborted' || a.length >= JOBS || Date.now() - contAt > 15_000) return a;
        await sleep(100);
      }
    })();
    // it still works: jobs enqueued now run (on either worker)
    const after = await submitPayloads(
      box,
      Array.from({ length: 8 }, () => ({ ms: 50 })),
    );
    await waitAllCompleted(box, after, 30_000);
    const all = [...accepted, ...after];
    const exits = await stopWorkers(box, [zombie, rescuer], 30_000);

    const { entries, malformed } = readLedger(box.ledger);
    const jobs = await finalJobs(box);
    const r = check(all, entries, new Map([...jobs].map(([id, j]) => [id, j.state])));
    const zombiePids = new Set([zombie.pid!]);
    const lim = limbo(all, entries, readStarts(box.ledger), readAborts(box.ledger), contAt + LIMBO_AFTER_MS, zombiePids);
    const rescuedStarts = readStarts(box.ledger).filter((s) => s.pid === rescuer.pid && accepted.includes(s.jobId));
    const logs = new Map<string, { worker: string; message: string }[]>();
    for (const id of accepted)
      logs.set(id, (await box.json<{ lines: { worker: string; message: string }[] }>(['logs', id])).lines);
    const zombieSummary = JSON.parse(exits[0]!.stdout) as { lost: number; completed: number };
    report({
      scenario: 5,
      variant: variant.name,
      backend,
      jobs: all.length,
      pauses: 1,
      stopMs: contAt - stopAt,
      rescuedAfterMs: rescuedStarts.length ? Math.min(...rescuedStarts.map((s) => s.startMs)) - stopAt : null,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      overlaps: r.overlaps.length,
      overlapsWithoutZombie: overlapsWithoutKill(r, zombiePids).length,
      limbo: lim.length,
      zombieAborts: aborted.length,
      elapsedMs: Date.now() - t0,
    });

    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(malformed).toEqual([]);
    expect(r.lost).toEqual([]);
    expect(r.notCompleted).toEqual([]);
    expect(r.unexpected).toEqual([]);
    for (const id of accepted) {
      // ran to completion in the rescuer on the second attempt; in the zombie only when its handler ignored the abort
      const runs = entries.filter((e) => e.jobId === id);
      expect(runs.filter((e) => e.pid !== zombie.pid).map((e) => [e.pid, e.attempt])).toEqual([[rescuer.pid, 2]]);
      const zombieRuns = runs.filter((e) => e.pid === zombie.pid);
      if (variant.name === 'aborted') expect(zombieRuns).toEqual([]);
      else for (const z of zombieRuns) expect([z.attempt, z.endMs >= contAt]).toEqual([1, true]);
      expect(jobs.get(id)).toMatchObject({ state: 'completed', attempts: 2 });
      const lines = logs.get(id)!;
      const completed = lines.filter((l) => /^completed\b/.test(l.message));
      expect(
        completed.map((l) => l.worker),
        `job ${id}: completion events`,
      ).toEqual(['rescuer']);
      expect(
        lines.some((l) => l.worker === 'zombie' && /lost claim/.test(l.message)),
        `job ${id}: zombie's lost claim event`,
      ).toBe(true);
      expect(exits[0]!.stderr).toContain(id);
    }
    expect(exits[0]!.stderr).toMatch(/lost claim/);
    if (variant.name === 'aborted') {
      // its handlers were aborted, after it woke up
      expect(aborted.map((a) => a.jobId).sort()).toEqual([...accepted].sort());
      for (const a of aborted) {
        expect(a.attempt).toBe(1);
        expect(a.abortMs).toBeGreaterThanOrEqual(contAt);
        expect(a.reason).toMatch(/lease lost/);
      }
      expect(r.duplicateRuns).toBe(0);
    } else {
      expect(aborted).toEqual([]);
      expect(duplicatesWithoutKill(entries, zombiePids)).toEqual([]);
    }
    expect(zombieSummary.lost).toBe(JOBS);
    expect(overlapsWithoutKill(r, zombiePids)).toEqual([]);
    log(`limbo: ${limboPromise(backend, lim, entries, contAt)}`);
  });
});
