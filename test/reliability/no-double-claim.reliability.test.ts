/**
 * Scenario 7: no double claim. 16 worker processes × concurrency 32 race for 1-ms jobs (CI size:
 * RELIABILITY_DOUBLE_CLAIM_JOBS, default 20,000; `--full`: 100,000). Nobody is killed and the lease
 * (60 s) never expires, so every second run of a job would be a double claim: duplicates = 0,
 * overlaps = 0, lost = unexpected = 0, every job completed, every worker drains and exits 0, and no
 * worker prints a warning or error (a deadlock or serialisation failure shown to the user fails).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, cleanupBackend, finalJobs, FULL, report, sandbox, seedFromEnv, submit } from './harness.js';
import { LEDGER_HANDLERS, check, readLedger } from './ledger.js';

const PROCS = 16;
const CONCURRENCY = 32;
const JOBS = Number(process.env.RELIABILITY_DOUBLE_CLAIM_JOBS ?? (FULL ? 100_000 : 20_000));
const DEADLINE_MS = FULL ? 900_000 : 240_000;

describe.each(BACKENDS)('scenario 7: no double claim on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it(
    `${PROCS} processes × concurrency ${CONCURRENCY} on ${JOBS} 1-ms jobs: no job runs twice`,
    { timeout: DEADLINE_MS + 120_000 },
    async () => {
      const seed = seedFromEnv();
      const t0 = Date.now();
      const log = (msg: string) => console.log(`[double-claim ${backend} seed=${seed} +${Date.now() - t0}ms] ${msg}`);
      sb = sandbox(backend);
      const box = sb;
      const accepted: string[] = [];
      for (let i = 0; i < JOBS; i += 20_000)
        accepted.push(
          ...(await submit(
            box,
            Array.from({ length: Math.min(20_000, JOBS - i) }, () => ({ ms: 1 })),
          )),
        );
      log(`submitted ${accepted.length} jobs in ${box.ns}`);

      const args = ['work', '--handlers', LEDGER_HANDLERS, '--drain', '--lease', '60s', '--concurrency', String(CONCURRENCY)];
      const workers = Array.from({ length: PROCS }, () => box.start(args));
      const exits = await Promise.all(workers.map((w) => box.wait(w, DEADLINE_MS)));
      log(`all ${PROCS} workers exited`);

      const problems = exits.flatMap((r, i) => {
        // Backend.warnings() (e.g. Redis without persistence) is printed at start by design
        const bad = r.stderr
          .split('\n')
          .filter((l) => /deadlock|serializ|\b(warn|error)\b/i.test(l) && !/neither AOF nor RDB persistence/.test(l));
        return r.code === 0 && bad.length === 0
          ? []
          : [`worker ${workers[i]!.pid}: exit ${r.code} ${r.signal ?? ''} ${bad.slice(0, 5).join(' | ')}`];
      });
      const { entries, malformed } = readLedger(box.ledger);
      const states = new Map([...(await finalJobs(box))].map(([id, j]) => [id, j.state]));
      const res = check(accepted, entries, states);
      const ran = new Set(entries.map((e) => e.pid)).size;
      report({
        scenario: 7,
        backend,
        seed,
        jobs: JOBS,
        processes: PROCS,
        concurrency: CONCURRENCY,
        processesThatRanJobs: ran,
        lost: res.lost.length,
        notCompleted: res.notCompleted.length,
        unexpected: res.unexpected.length,
        duplicates: res.duplicateRuns,
        overlaps: res.overlaps.length,
        workerProblems: problems.length,
        seconds: (Date.now() - t0) / 1000,
      });
      expect(malformed).toEqual([]);
      expect(problems).toEqual([]);
      expect(res.lost).toEqual([]);
      expect(res.notCompleted).toEqual([]);
      expect(res.unexpected).toEqual([]);
      expect(res.duplicates).toEqual([]);
      expect(res.overlaps).toEqual([]);
      // the race was real: jobs were spread over several processes
      expect(ran).toBeGreaterThan(1);
    },
  );
});
