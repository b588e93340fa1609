/**
 * Scenario 4: the backend restarts mid-run, on a throwaway server with durable settings —
 * Postgres `pg_ctl stop -m fast` and `-m immediate` (fsync on), Redis kill -9 (AOF,
 * appendfsync always), nats-server kill -9 (JetStream file store) — down for OUTAGE_MS (longer
 * than the lease), then started again on the same port and data dir. sqlite has no server: not
 * applicable.
 *
 * Two workers (concurrency 4, default prefetch 16) on JOBS jobs of 100–300 ms (seeded); the
 * outage starts once a few jobs completed. During the outage an enqueuer retries `trigger` until
 * it is accepted. Pass: both workers are still the same processes at the end (they recovered,
 * nobody restarted them) and each ran jobs after the server was back; the job enqueued during
 * the outage completed; lost = not completed = unexpected = 0, no overlap; duplicates (a run
 * whose outcome could not be written before its lease ran out, run again) at most
 * workers × (concurrency + prefetch); limbo = 0 one lease + two rescue intervals after the
 * server was back (every backend, NATS included: LIMBO_EXCEPTIONS in harness.ts is empty).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../e2e/helpers.js';
import {
  BACKENDS,
  limboPromise,
  report,
  scenarioLog,
  seedFromEnv,
  startServerRun,
  finishServerRun,
  expectRecovered,
  type RelSandbox,
} from './harness.js';
import { prng, readLedger, readStarts } from './ledger.js';
import { destroyAllServers, startServer, type ThrowawayServer } from './servers.js';

const JOBS = 40;
const WORKERS = 2;
const CONCURRENCY = 4;
const PREFETCH = 4 * CONCURRENCY;
// (it grows only while handlers average under 25 ms × concurrency / prefetch ≈ 6 ms here: these jobs
// take 100–300 ms, so the bound stays concurrency + 4 × concurrency; see Executor.prefetchNow)
const OUTAGE_MS = 3000;

type How = 'fast' | 'immediate' | 'kill -9';
const CASES: { backend: 'pg' | 'redis' | 'nats'; how: How }[] = [
  { backend: 'pg' as const, how: 'fast' as const },
  { backend: 'pg' as const, how: 'immediate' as const },
  { backend: 'redis' as const, how: 'kill -9' as const },
  { backend: 'nats' as const, how: 'kill -9' as const },
].filter((c) => BACKENDS.includes(c.backend));

describe.each(CASES)('scenario 4: $backend server restart ($how)', ({ backend, how }) => {
  let sb: RelSandbox | undefined;
  let server: ThrowawayServer | undefined;
  afterEach(async () => {
    sb?.cleanup();
    await destroyAllServers();
  });
  afterAll(() => destroyAllServers());

  it('workers recover without a restart, a job enqueued during the outage runs, nothing lost', async () => {
    const seed = seedFromEnv();
    const rnd = prng(seed);
    const { t0, log } = scenarioLog(`restart ${backend} ${how}`, seed);
    log(`replay: RELIABILITY_SEED=${seed} RELIABILITY_BACKENDS=${backend}`);
    server = await startServer(backend);
    const srv = server;
    // the outage starts once a few jobs completed
    const run = await startServerRun(backend, srv.url, {
      rnd,
      jobs: JOBS,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      warmup: 4,
    });
    sb = run.box;
    const { box, accepted, exits } = run;
    const pids = new Set(run.pids);
    const downAt = Date.now();
    if (how === 'kill -9') await srv.kill9();
    else await srv.stop(how);
    log(`server down (${how}); ${readLedger(box.ledger).entries.length} runs completed before`);

    // an enqueuer retries until the job is accepted (it fails while the server is down)
    let enqueueTries = 0;
    const enqueued = (async () => {
      for (;;) {
        enqueueTries++;
        const r = await box.run(['trigger', 'rel', '--payload', '{"ms":20}', '--max-attempts', '25'], { timeoutMs: 30_000 });
        if (r.code === 0) return { id: r.stdout.trim(), at: Date.now() };
        await sleep(300);
      }
    })();
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    await srv.start();
    const upAt = Date.now();
    log(`server up again after ${upAt - downAt} ms`);
    const late = await enqueued;
    log(`job ${late.id} enqueued after ${enqueueTries} tries, ${late.at - upAt} ms after the restart`);
    const all = [...accepted, late.id];

    const f = await finishServerRun(box, run, all, upAt, log);
    const { r, entries, jobs, results } = f;
    const startsAfter = new Map(
      [...pids].map((p) => [p, readStarts(box.ledger).filter((s) => s.pid === p && s.startMs > upAt).length]),
    );
    const lostLines = results.map((x) => (x.stderr.match(/lost claim/g) ?? []).length);
    report({
      scenario: 4,
      backend,
      how,
      seed,
      jobs: all.length,
      restarts: 1,
      outageMs: upAt - downAt,
      enqueueTries,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      duplicateBound: WORKERS * (CONCURRENCY + PREFETCH),
      overlaps: r.overlaps.length,
      limbo: f.limbo.length,
      lostClaimLines: lostLines,
      heartbeatAfterMs: f.heartbeatAfterMs,
      startsAfterRestart: [...startsAfter.values()],
      recoveredMs: f.recoveredMs,
      elapsedMs: Date.now() - t0,
    });

    expect(
      [...startsAfter.values()].reduce((a, b) => a + b, 0),
      'runs started after the restart',
    ).toBeGreaterThan(0);
    expect(jobs.get(late.id)?.state).toBe('completed');
    expectRecovered(f, exits, WORKERS * (CONCURRENCY + PREFETCH));
    log(`limbo: ${limboPromise(backend, f.limbo, entries, upAt)}`);
  });
});
