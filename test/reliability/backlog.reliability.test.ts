/**
 * Scenario 14: a large backlog. QUEUED jobs waiting and FAILED jobs failed (CI size 20,000 +
 * 20,000; `--full`: 1,000,000 + 1,000,000), seeded through the library API in big batches.
 *  - `jobctl failed --limit 50 --json`: under 2 s end to end and 150 MB peak RSS;
 *  - `jobctl requeue --state failed --all` is SIGKILLed mid-run, then run again: the second run
 *    finishes the rest; afterwards every failed job is queued exactly once (none left failed, none
 *    lost, the queued jobs untouched);
 *  - a worker burning the backlog keeps its memory flat: peak RSS of the second half of the run
 *    is within 32 MB of the first half's (after a warm-up), and under 300 MB.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/backend.js';
import { connect, type JobClient } from '../../src/index.js';
import { BIN, sleep } from '../e2e/helpers.js';
import { fileURLToPath } from 'node:url';
import { BACKENDS, cleanupBackend, FULL, report, sandbox, type BackendName } from './harness.js';

const QUEUED = Number(process.env.RELIABILITY_BACKLOG_JOBS ?? (FULL ? 1_000_000 : 20_000));
const FAILED = QUEUED;
const WORKER_SECONDS = FULL ? 120 : 12;
const BATCH = 5000;

/** Peak RSS (MB) and wall time (ms) of one CLI run, measured by GNU time. */
function timed(sb: ReturnType<typeof sandbox>, args: string[]): { ms: number; maxRssMb: number; stdout: string } {
  const out = join(sb.dir, 'time.txt');
  const t0 = process.hrtime.bigint();
  const stdout = execFileSync('/usr/bin/time', ['-f', '%M', '-o', out, process.execPath, BIN, ...args], {
    cwd: sb.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: sb.dir, ...sb.env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const kb = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
  return { ms, maxRssMb: kb / 1024, stdout };
}

const MEMLOG = fileURLToPath(new URL('./memlog.cjs', import.meta.url));

/** The worker's memory lines (memlog.cjs): the one at the highest RSS, and the largest of each part (MB). */
function workerMemory(file: string) {
  const rows = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number))
    .filter((r) => r.length === 6 && r.every(Number.isFinite))
    .map(([, rss, heapTotal, heapUsed, external, arrayBuffers]) => {
      const mb = (x: number) => Math.round(x / 1048576);
      // native: what RSS holds beyond the heap and external memory (code, compiler zones, stacks)
      return {
        rss: mb(rss!),
        heapTotal: mb(heapTotal!),
        heapUsed: mb(heapUsed!),
        external: mb(external!),
        arrayBuffers: mb(arrayBuffers!),
        native: mb(rss! - heapTotal! - external!),
      };
    });
  const atPeak = rows.reduce(
    (a, b) => (b.rss > a.rss ? b : a),
    rows[0] ?? { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0, native: 0 },
  );
  const largest = { heapTotal: 0, external: 0, native: 0 };
  for (const r of rows) for (const k of ['heapTotal', 'external', 'native'] as const) largest[k] = Math.max(largest[k], r[k]);
  return { lines: rows.length, atPeak, largest };
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function counts(b: Backend) {
  const s = await b.stats({});
  const q = (name: string) => s.queues.find((x) => x.queue === name);
  return { failed: q('poison')?.failed ?? 0, poisonQueued: q('poison')?.queued ?? 0, backlogQueued: q('backlog')?.queued ?? 0 };
}

describe.each(BACKENDS)('scenario 14: backlog on %s', (backend: BackendName) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  let client: JobClient | undefined;
  afterEach(async () => {
    await client?.close();
    sb?.cleanup();
  });
  afterAll(() => cleanupBackend(backend));

  it(
    `${QUEUED} queued + ${FAILED} failed: failed --limit 50 fast and small, requeue resumable, worker memory flat`,
    {
      timeout: FULL ? 3_600_000 : 300_000,
    },
    async () => {
      const t0 = Date.now();
      const log = (msg: string) => console.log(`[backlog ${backend} +${Date.now() - t0}ms] ${msg}`);
      sb = sandbox(backend);
      const box = sb;
      const url = backend === 'sqlite' ? join(box.dir, '.jobctl', 'jobs.db') : box.env.JOBCTL_URL!;
      client = await connect(url, { backend, namespace: box.ns, autoMigrate: true });
      const b = client.backend;

      // seed: FAILED jobs failed for good (one attempt each), then QUEUED jobs waiting
      for (let i = 0; i < FAILED; i += BATCH) {
        const n = Math.min(BATCH, FAILED - i);
        await client.enqueueMany(
          Array.from({ length: n }, (_, k) => ({ name: 'poison', queue: 'poison', payload: { i: i + k }, maxAttempts: 1 })),
        );
        let left = n;
        while (left > 0) {
          const got = await b.claim({ workerId: 'seeder', queues: ['poison'], limit: Math.min(left, 1000), leaseMs: 600_000 });
          if (got.length === 0) throw new Error('seeding: claimed nothing');
          const res = await b.fail(
            got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 'seeder', error: 'poison', retryDelayMs: 0, final: true })),
          );
          expect(res.every((r) => r.ok && r.state === 'failed')).toBe(true);
          left -= got.length;
        }
      }
      for (let i = 0; i < QUEUED; i += BATCH)
        await client.enqueueMany(
          Array.from({ length: Math.min(BATCH, QUEUED - i) }, (_, k) => ({
            name: 'noop',
            queue: 'backlog',
            payload: { i: i + k },
          })),
        );
      expect(await counts(b)).toEqual({ failed: FAILED, poisonQueued: 0, backlogQueued: QUEUED });
      log(`seeded ${QUEUED} queued + ${FAILED} failed`);

      // failed --limit 50: fast and small
      const runs = Array.from({ length: 3 }, () => timed(box, ['failed', '--limit', '50', '--json']));
      const page = JSON.parse(runs[0]!.stdout) as { jobs: { state: string; queue: string }[] };
      expect(page.jobs).toHaveLength(50);
      expect(page.jobs.every((j) => j.state === 'failed' && j.queue === 'poison')).toBe(true);
      const failedMs = Math.min(...runs.map((r) => r.ms));
      const failedRss = Math.max(...runs.map((r) => r.maxRssMb));
      log(`failed --limit 50: ${runs.map((r) => `${r.ms.toFixed(0)} ms/${r.maxRssMb.toFixed(0)} MB`).join(', ')}`);
      expect(failedMs).toBeLessThan(2000);
      expect(failedRss).toBeLessThan(150);

      // requeue --state failed --all, killed mid-run, then run again
      const first = box.start(['requeue', '--state', 'failed', '--all', '--queue', 'poison']);
      let killedMidRun = false;
      for (;;) {
        if (first.exitCode !== null) break;
        const c = await counts(b);
        if (c.failed < FAILED) {
          first.kill('SIGKILL');
          killedMidRun = true;
          break;
        }
        await sleep(10);
      }
      await box.wait(first, 120_000).catch(() => undefined);
      const mid = await counts(b);
      log(`requeue killed mid-run: ${killedMidRun}; then ${mid.failed} failed, ${mid.poisonQueued} queued`);
      // the kill must have landed between batches: some requeued, some not
      expect(killedMidRun).toBe(true);
      // sqlite, pg and redis count in the same transaction/script as the change; NATS counts its
      // index markers, written apart from the records: a crash between the two leaves a stale marker
      // that stats counts until a later run of any command meets and compacts it
      if (backend === 'nats') expect(mid.failed + mid.poisonQueued).toBeGreaterThanOrEqual(FAILED);
      else expect(mid.failed + mid.poisonQueued).toBe(FAILED);
      const t1 = Date.now();
      const second = await box.run(['requeue', '--state', 'failed', '--all', '--queue', 'poison', '--json'], {
        timeoutMs: FULL ? 1_800_000 : 120_000,
      });
      const requeueSecondMs = Date.now() - t1;
      expect(second.code, second.stderr).toBe(0);
      const after = await counts(b);
      expect(after).toEqual({ failed: 0, poisonQueued: FAILED, backlogQueued: QUEUED });
      // every poison job exactly once, queued, its attempt history kept
      const seen = new Set<string>();
      for (let cursor: string | undefined; ;) {
        const r = await b.listJobs({ queue: 'poison', limit: 5000, ...(cursor ? { after: cursor } : {}) });
        for (const j of r.jobs) {
          expect(j.state).toBe('queued');
          seen.add(j.id);
        }
        if (!r.next) break;
        cursor = r.next;
      }
      expect(seen.size).toBe(FAILED);
      log(`requeue re-run finished the rest in ${requeueSecondMs} ms`);

      // a worker over the backlog: memory flat
      const handlers = join(box.dir, 'noop.mjs');
      writeFileSync(handlers, 'export const noop = async () => null;\nexport const poison = async () => null;\n');
      // what the worker's memory is made of, every 250 ms (memlog.cjs): a spike is told apart
      const memlog = join(box.dir, 'worker-mem.txt');
      const heapSites = join(box.dir, 'worker-heap-sites.json');
      const w = box.start(['work', '--handlers', handlers, '--queue', 'backlog,poison', '--concurrency', '32'], {
        // full size: also what is alive when the heap passes 150 MB (the sites of a spike)
        env: {
          NODE_OPTIONS: `--require ${JSON.stringify(MEMLOG)}`,
          JOBCTL_TEST_MEMLOG: memlog,
          ...(FULL ? { JOBCTL_TEST_HEAPSITES: heapSites } : {}),
        },
      });
      const samples: { t: number; mb: number }[] = [];
      const tw = Date.now();
      while (Date.now() - tw < WORKER_SECONDS * 1000 && w.exitCode === null) {
        await sleep(250);
        const mb = rssMb(w.pid!);
        if (mb !== null) samples.push({ t: (Date.now() - tw) / 1000, mb });
      }
      w.kill('SIGTERM');
      const exit = await box.wait(w, 60_000);
      expect(exit.code, exit.stderr).toBe(0);
      const warm = samples.filter((s) => s.t >= 2);
      const half = warm.length >> 1;
      const peak = (xs: typeof samples) => Math.max(...xs.map((s) => s.mb));
      const firstPeak = peak(warm.slice(0, half));
      const secondPeak = peak(warm.slice(half));
      const worked = FAILED + QUEUED - (await counts(b)).poisonQueued - (await counts(b)).backlogQueued;
      log(
        `worker ${WORKER_SECONDS}s: ${worked} jobs done; RSS first-half peak ${firstPeak.toFixed(0)} MB, second-half ${secondPeak.toFixed(0)} MB`,
      );
      // the curve (every 2.5 s): a spike and a climb read differently
      log(
        `worker RSS MB: ${samples
          .filter((_, i) => i % 10 === 0)
          .map((x) => `${x.t.toFixed(0)}s=${x.mb.toFixed(0)}`)
          .join(' ')}`,
      );
      const mem = workerMemory(memlog);
      log(
        `worker memory at its RSS peak (MB): ${JSON.stringify(mem.atPeak)}; largest heap/external seen: ${JSON.stringify(mem.largest)}`,
      );
      if (existsSync(heapSites))
        log(`worker heap passed 150 MB; what was alive then, by allocation site: ${readFileSync(heapSites, 'utf8')}`);
      expect(mem.lines).toBeGreaterThan(8);
      expect(warm.length).toBeGreaterThan(8);
      expect(worked).toBeGreaterThan(0);
      expect(secondPeak - firstPeak).toBeLessThan(32);
      expect(secondPeak).toBeLessThan(300);

      report({
        scenario: 14,
        backend,
        queued: QUEUED,
        failed: FAILED,
        failedLimit50Ms: Math.round(failedMs),
        failedLimit50MaxRssMb: Math.round(failedRss),
        requeueKilledMidRun: killedMidRun,
        requeueLeftAfterKill: mid.failed,
        requeueSecondRunMs: requeueSecondMs,
        workerSeconds: WORKER_SECONDS,
        workerJobs: worked,
        workerRssFirstHalfPeakMb: Math.round(firstPeak),
        workerRssSecondHalfPeakMb: Math.round(secondPeak),
        workerMemAtPeakMb: mem.atPeak,
        workerMemLargestMb: mem.largest,
        seconds: (Date.now() - t0) / 1000,
      });
    },
  );
});
