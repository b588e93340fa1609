/**
 * Scenario 6: the server pauses (SIGSTOP for PAUSE_MS, then SIGCONT), on a throwaway pg, redis
 * and nats server (sqlite has no server: not applicable). Two workers (concurrency 4) run JOBS
 * jobs of 100–300 ms (seeded); the pause starts once a few completed. During the pause
 * `jobctl stats --json` must end within CLI_BOUND_MS with a non-zero exit and a one-line error (no
 * hang, no stack trace), and each worker must notice (a failed backend call in its log) instead
 * of waiting silently (NOTICES_PAUSE). After the SIGCONT: both workers are the same processes (no crash loop),
 * heartbeat again, finish every job; nothing lost or unexpected, no overlap, duplicates at most
 * workers × (concurrency + prefetch), limbo per the backend's promise (harness.ts).
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
import { prng, readLedger } from './ledger.js';
import { destroyAllServers, startServer } from './servers.js';

const JOBS = 40;
const WORKERS = 2;
const CONCURRENCY = 4;
const PREFETCH = 4 * CONCURRENCY;
const PAUSE_MS = Number(process.env.RELIABILITY_PAUSE_MS ?? 30_000);
/** how long a CLI command may take against a paused server before it must have given up */
const CLI_BOUND_MS = 15_000;

/**
 * Whether a worker's calls to a paused server end with an error (logged) during the pause: on
 * every server backend now (pg: since the client-side query timeout, 12 s; before it a query
 * already sent waited out the pause).
 */
const NOTICES_PAUSE: Record<'pg' | 'redis' | 'nats', boolean> = { pg: true, redis: true, nats: true };

const KINDS = (['pg', 'redis', 'nats'] as const).filter((b) => BACKENDS.includes(b));

describe.each(KINDS)('scenario 6: %s server paused', (backend) => {
  let sb: RelSandbox | undefined;
  afterEach(async () => {
    sb?.cleanup();
    await destroyAllServers();
  });
  afterAll(() => destroyAllServers());

  it(`SIGSTOP the server for ${PAUSE_MS / 1000} s: nothing hangs, no crash loop, nothing lost`, async () => {
    const seed = seedFromEnv();
    const rnd = prng(seed);
    const { t0, log } = scenarioLog(`pause ${backend}`, seed);
    const srv = await startServer(backend);
    const run = await startServerRun(backend, srv.url, {
      rnd,
      jobs: JOBS,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      warmup: 4,
    });
    sb = run.box;
    const { box, accepted, workers, exits } = run;
    const errLen = workers.map((w) => w.err.join('').length);
    const pauseAt = Date.now();
    srv.pause();
    log(`server paused; ${readLedger(box.ledger).entries.length} runs completed before`);

    await sleep(1000);
    const cliAt = Date.now();
    const stats = await box.run(['stats', '--json'], { timeoutMs: PAUSE_MS });
    const cliMs = Date.now() - cliAt;
    log(`stats during the pause: exit ${stats.code} after ${cliMs} ms: ${stats.stderr.trim().slice(0, 300)}`);

    await sleep(Math.max(0, PAUSE_MS - (Date.now() - pauseAt)));
    const duringPause = workers.map((w, i) => w.err.join('').slice(errLen[i]));
    srv.resume();
    const resumeAt = Date.now();
    log(`server resumed after ${resumeAt - pauseAt} ms`);

    const f = await finishServerRun(box, run, accepted, resumeAt, log);
    const { r, entries } = f;
    report({
      scenario: 6,
      backend,
      seed,
      jobs: accepted.length,
      pauses: 1,
      pauseMs: resumeAt - pauseAt,
      statsExit: stats.code,
      statsMs: cliMs,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      unexpected: r.unexpected.length,
      duplicates: r.duplicateRuns,
      duplicateBound: WORKERS * (CONCURRENCY + PREFETCH),
      overlaps: r.overlaps.length,
      limbo: f.limbo.length,
      heartbeatAfterMs: f.heartbeatAfterMs,
      recoveredMs: f.recoveredMs,
      workerErrorsDuringPause: duringPause.map((e) => (e.match(/level=(warn|error)/g) ?? []).length),
      elapsedMs: Date.now() - t0,
    });
    log(`worker logs during the pause:\n${duringPause.map((e) => e.slice(0, 1500)).join('\n---\n')}`);

    expect(stats.code, stats.stdout).not.toBe(0);
    expect(cliMs).toBeLessThan(CLI_BOUND_MS);
    expect(stats.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(JSON.parse(stats.stdout)).toMatchObject({ error: { message: expect.any(String) } });
    if (NOTICES_PAUSE[backend])
      for (const e of duringPause) expect(e, 'a worker noticed the paused server').toMatch(/level=(warn|error)/);
    expectRecovered(f, exits, WORKERS * (CONCURRENCY + PREFETCH));
    log(`limbo: ${limboPromise(backend, f.limbo, entries, resumeAt)}`);
  });
});
