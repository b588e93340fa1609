/**
 * Scenario 8: poison jobs with max attempts 3. One job always throws, one hangs and ignores its
 * abort signal (job timeout 1s), one SIGKILLs its own worker. Two workers (restarted by the test
 * whenever one dies) run them next to a steady stream of ordinary `rel` jobs. Pass: each poison
 * job started exactly attempts 1, 2, 3 (poison ledger), ends `failed` with attempts 3, and is
 * listed by `failed --json`; ordinary jobs completed between the poison attempts (they kept
 * flowing) and none was lost; `requeue --reset-attempts` brings the three back as queued with 0
 * attempts.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../e2e/helpers.js';
import { BACKENDS, cleanupBackend, finalJobs, report, sandbox, seedFromEnv, submit } from './harness.js';
import { check, duplicatesWithoutKill, overlapsWithoutKill, prng, readLedger } from './ledger.js';

const HANDLERS = resolve(__dirname, 'poison-handlers.mjs');
const POISON = ['throws', 'hangs', 'suicide'] as const;
const WORKERS = 2;
const DEADLINE_MS = 90_000;

interface Mark {
  jobId: string;
  attempt: number;
  pid: number;
  name: string;
  atMs: number;
}

function readMarks(file: string): Mark[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [jobId, attempt, pid, name, at] = l.split('\t');
      return { jobId: jobId!, attempt: Number(attempt), pid: Number(pid), name: name!, atMs: Number(at) };
    });
}

interface ShownJob {
  id: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  errors: { attempt: number; message: string }[];
}

describe.each(BACKENDS)('scenario 8: poison jobs on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it('throws / hangs / kills its worker: failed after exactly 3 attempts, others keep flowing, requeue brings them back', async () => {
    const seed = seedFromEnv();
    const rnd = prng(seed);
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[poison ${backend} seed=${seed} +${Date.now() - t0}ms] ${msg}`);
    sb = sandbox(backend);
    const box = sb;
    const marksFile = join(box.dir, 'poison.tsv');
    box.env.JOBCTL_POISON_LEDGER = marksFile;

    const poison: Record<(typeof POISON)[number], string> = { throws: '', hangs: '', suicide: '' };
    for (const name of POISON) {
      const queue = name === 'suicide' ? 'kamikaze' : 'poison';
      const args = ['trigger', name, '--queue', queue, '--max-attempts', '3', ...(name === 'hangs' ? ['--timeout', '1s'] : [])];
      poison[name] = (await box.json<ShownJob>(args)).id;
    }
    const poisonIds = new Set(Object.values(poison));
    const accepted = await submit(
      box,
      Array.from({ length: 100 }, () => ({ ms: 5 + Math.floor(rnd() * 45) })),
    );

    // worker 0 runs throws/hangs, worker 1 the worker-killing job, both the ordinary jobs: each
    // failure mode is seen on its own (a SIGKILL would otherwise also end a neighbour's attempt
    // before its outcome was written)
    const QUEUES = ['default,poison', 'default,kamikaze'];
    const args = (slot: number) => [
      'work',
      '--handlers',
      HANDLERS,
      '--queue',
      QUEUES[slot]!,
      '--lease',
      '2s',
      '--concurrency',
      '4',
      '--shutdown-timeout',
      '3s',
    ];
    let stopping = false;
    const deaths: { pid: number; signal: string | null; code: number | null; atMs: number }[] = [];
    const killedPids = new Set<number>();
    const workers: ReturnType<typeof box.start>[] = [];
    const startWorker = (slot: number) => {
      const w = box.start(args(slot));
      workers[slot] = w;
      w.once('exit', (code, signal) => {
        deaths.push({ pid: w.pid!, signal, code, atMs: Date.now() - t0 });
        if (signal === 'SIGKILL') killedPids.add(w.pid!);
        if (!stopping) startWorker(slot); // the test restarts dead workers
      });
    };
    for (let i = 0; i < WORKERS; i++) startWorker(i);

    // a steady stream of ordinary jobs while the poison jobs burn their attempts
    const poisonFinished = async () => {
      const shown = await Promise.all([...poisonIds].map((id) => box.json<ShownJob>(['jobs', 'show', id])));
      return shown.every((j) => j.state === 'failed');
    };
    while (Date.now() - t0 < DEADLINE_MS && !(await poisonFinished())) {
      accepted.push(
        ...(await submit(
          box,
          Array.from({ length: 30 }, () => ({ ms: 5 + Math.floor(rnd() * 45) })),
        )),
      );
      await sleep(500);
    }
    log(`poison jobs finished; ${accepted.length} ordinary jobs submitted; ${deaths.length} worker deaths`);
    // let the ordinary jobs finish
    const all = () => finalJobs(box);
    let jobs = await all();
    while (Date.now() - t0 < DEADLINE_MS && accepted.some((id) => jobs.get(id)?.state !== 'completed')) {
      await sleep(300);
      jobs = await all();
    }
    stopping = true;
    const exits = await Promise.all(
      workers.map((w) => {
        w.kill('SIGTERM');
        return box.wait(w, 30_000);
      }),
    );
    const elapsedMs = Date.now() - t0;

    const marks = readMarks(marksFile);
    const { entries, malformed } = readLedger(box.ledger);
    const relStates = new Map([...jobs].filter(([id]) => !poisonIds.has(id)).map(([id, j]) => [id, j.state]));
    const r = check(accepted, entries, relStates);
    const shown = Object.fromEntries(
      await Promise.all(POISON.map(async (n) => [n, await box.json<ShownJob>(['jobs', 'show', poison[n]])] as const)),
    ) as Record<(typeof POISON)[number], ShownJob>;
    const failedList = await box.json<{ jobs: ShownJob[] }>(['failed', '--limit', '100']);

    // ordinary jobs completed between consecutive attempts of the worker-killing job
    const suicideTimes = marks.filter((m) => m.name === 'suicide').map((m) => m.atMs);
    const flowing = suicideTimes.slice(1).map((t, i) => entries.filter((e) => e.endMs > suicideTimes[i]! && e.endMs < t).length);

    report({
      scenario: 8,
      backend,
      seed,
      ordinaryJobs: accepted.length,
      attempts: Object.fromEntries(POISON.map((n) => [n, marks.filter((m) => m.jobId === poison[n]).map((m) => m.attempt)])),
      states: Object.fromEntries(POISON.map((n) => [n, `${shown[n].state}/${shown[n].attempts}`])),
      workerKills: killedPids.size,
      completedBetweenSuicides: flowing,
      lost: r.lost.length,
      notCompleted: r.notCompleted.length,
      duplicates: r.duplicateRuns,
      elapsedMs,
    });

    expect(malformed).toEqual([]);
    for (const n of POISON) {
      expect(
        marks.filter((m) => m.jobId === poison[n]).map((m) => m.attempt),
        `${n}: attempts started`,
      ).toEqual([1, 2, 3]);
      expect(shown[n].state, n).toBe('failed');
      expect(shown[n].attempts, n).toBe(3);
      expect(shown[n].lastError, n).toBeTruthy();
    }
    const messages = (n: (typeof POISON)[number]) => shown[n].errors.map((e) => `${e.attempt}: ${e.message.split('\n')[0]}`);
    expect(messages('throws')).toEqual([1, 2, 3].map((a) => expect.stringMatching(new RegExp(`^${a}: .*always throws`))));
    expect(messages('hangs')).toEqual([1, 2, 3].map((a) => expect.stringMatching(new RegExp(`^${a}: .*timed out`, 'i'))));
    expect(messages('suicide')).toEqual(
      [1, 2, 3].map((a) => expect.stringMatching(new RegExp(`^${a}: .*(lease expired|heartbeat)`, 'i'))),
    );
    expect([...failedList.jobs.map((j) => j.id)].sort()).toEqual([...poisonIds].sort());
    // every worker death was the suicide job's doing, one per attempt
    expect(killedPids.size).toBe(3);
    expect(deaths.filter((d) => d.signal !== 'SIGKILL' && d.code !== 0)).toEqual([]);
    expect(exits.map((e) => e.code)).toEqual(Array(WORKERS).fill(0));
    // the ordinary jobs kept flowing while the worker-killing job burnt its attempts
    expect(flowing).toHaveLength(2);
    for (const n of flowing) expect(n).toBeGreaterThan(0);
    expect(r.lost).toEqual([]);
    expect(r.notCompleted).toEqual([]);
    expect(r.unexpected.filter((id) => !poisonIds.has(id))).toEqual([]);
    expect(overlapsWithoutKill(r, killedPids)).toEqual([]);
    expect(duplicatesWithoutKill(entries, killedPids)).toEqual([]);

    const rq = await box.run(['requeue', '--reset-attempts', ...poisonIds, '--json']);
    expect(rq.code, rq.stderr).toBe(0);
    for (const id of poisonIds) {
      const j = await box.json<ShownJob>(['jobs', 'show', id]);
      expect(j.state).toBe('queued');
      expect(j.attempts).toBe(0);
    }
    expect((await box.json<{ jobs: ShownJob[] }>(['failed'])).jobs).toEqual([]);
  });
});
