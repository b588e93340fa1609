/**
 * End-to-end: the built bin/run.js, spawned as a user would. Checks exit codes, output and
 * signal handling. One file per backend (sqlite.test.ts, pg.test.ts, …) runs this suite.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, until, sleep, pidAlive, type Target } from './helpers.js';

interface PublicJob {
  id: string;
  state: string;
  attempts: number;
  queue: string;
  name: string;
  payload: unknown;
  lastError: string | null;
  workerId: string | null;
}
interface StatsJson {
  queues: {
    queue: string;
    queued: number;
    scheduled: number;
    running: number;
    failed: number;
    completed: number;
    cancelled: number;
    stuck: number;
    orphaned: number;
    oldestQueuedAgeMs: number | null;
  }[];
  workers: { alive: number };
}

/** `dropNamespaces` removes what the spawned commands created on a server backend. */
export function e2eSuite(target: Target, dropNamespaces?: (namespaces: string[]) => Promise<void>): void {
  describe(`e2e (${target.name})`, () => {
    let sb: Sandbox;
    const namespaces: string[] = [];
    beforeEach(() => {
      sb = new Sandbox(target);
      namespaces.push(sb.env.JOBCTL_NAMESPACE!);
    });
    afterEach(() => sb.cleanup());
    afterAll(async () => {
      await dropNamespaces?.(namespaces);
    });

    const queueStats = async (queue: string) => {
      const s = await sb.json<StatsJson>(['stats', '--queue', queue]);
      return s.queues.find((q) => q.queue === queue);
    };

    it('trigger -> work --drain --exec -> stats --json', async () => {
      for (let i = 0; i < 5; i++) {
        const r = await sb.run(['trigger', 'greet', '--queue', 'e2e', '--payload', JSON.stringify({ i })]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.trim()).toMatch(/^\S+$/);
      }
      const fail = await sb.json<PublicJob>(['trigger', 'boom', '--queue', 'e2e', '--max-attempts', '1']);
      expect(fail.state).toBe('queued');
      const out = join(sb.dir, 'out.txt');
      const w = await sb.run([
        'work',
        '--queue',
        'e2e',
        '--drain',
        '--concurrency',
        '3',
        '--exec',
        `if [ "$JOBCTL_JOB_NAME" = boom ]; then echo kaput >&2; exit 3; fi; read -r p; echo "$p $JOBCTL_JOB_ID $JOBCTL_QUEUE $JOBCTL_ATTEMPT" >> ${out}`,
      ]);
      // --drain exits 1 because one job failed
      expect(w.code, w.stderr).toBe(1);
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(5);
      for (const l of lines) expect(l).toMatch(/^\{"i":\d\} \S+ e2e 1$/);
      const q = await queueStats('e2e');
      expect(q).toMatchObject({ completed: 5, failed: 1, queued: 0, running: 0, scheduled: 0 });
      const failed = await sb.json<{ jobs: PublicJob[]; next: string | null }>(['failed', '--queue', 'e2e']);
      expect(failed.jobs.map((j) => j.id)).toEqual([fail.id]);
      expect(failed.jobs[0]!.lastError).toMatch(/exit code 3/);
      // the job's output became its log
      const logs = await sb.run(['logs', fail.id]);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toContain('kaput');
      expect(logs.stdout).toContain(fail.id);
    });

    it('trigger --wait exits 0 on completion, 1 on failure, 124 on timeout', async () => {
      const worker = sb.start(['work', '--queue', 'w', '--concurrency', '2', '--exec', 'test "$JOBCTL_JOB_NAME" = ok']);
      try {
        // on a failure, say what the worker did too (CI once saw exit 124 here and nothing else)
        const why = (r: { stderr: string }) =>
          `${r.stderr}\nworker exit ${worker.exitCode ?? worker.signalCode ?? 'running'}, stderr:\n${worker.err.join('')}`;
        const ok = await sb.run(['trigger', 'ok', '--queue', 'w', '--wait', '--wait-timeout', '20s']);
        expect(ok.code, why(ok)).toBe(0);
        const bad = await sb.run([
          'trigger',
          'bad',
          '--queue',
          'w',
          '--max-attempts',
          '1',
          '--wait',
          '--wait-timeout',
          '20s',
          '--json',
        ]);
        expect(bad.code, `${bad.stderr}\nworker stderr:\n${worker.err.join('')}`).toBe(1);
        expect(JSON.parse(bad.stdout).state).toBe('failed');
      } finally {
        worker.kill('SIGTERM');
        await sb.wait(worker);
      }
      const t0 = Date.now();
      const late = await sb.run(['trigger', 'nobody', '--queue', 'idle', '--wait', '--wait-timeout', '1s']);
      expect(late.code).toBe(124);
      expect(Date.now() - t0).toBeLessThan(10_000);
    });

    it('a SIGKILLed worker leaves the job orphaned and a second worker finishes it after the lease', async () => {
      const job = await sb.json<PublicJob>(['trigger', 'slow', '--queue', 'k', '--payload', '{}']);
      const marker = join(sb.dir, 'started');
      const w1 = sb.start([
        'work',
        '--queue',
        'k',
        '--lease',
        '2s',
        '--name',
        'w1',
        '--exec',
        `touch ${marker}.$JOBCTL_ATTEMPT; sleep 30`,
      ]);
      await until(async () => existsSync(`${marker}.1`), 15_000, 'first attempt to start');
      w1.kill('SIGKILL');
      await sb.wait(w1);
      await until(async () => (await queueStats('k'))?.orphaned === 1, 10_000, 'job to become orphaned');
      const w2 = await sb.run(
        ['work', '--queue', 'k', '--lease', '2s', '--name', 'w2', '--drain', '--exec', `touch ${marker}.$JOBCTL_ATTEMPT`],
        {
          timeoutMs: 30_000,
        },
      );
      expect(w2.code, w2.stderr).toBe(0);
      const shown = await sb.json<PublicJob>(['jobs', 'show', job.id]);
      expect(shown.state).toBe('completed');
      expect(shown.attempts).toBe(2);
      expect(existsSync(`${marker}.2`)).toBe(true);
    });

    it('SIGTERM: stops claiming, lets the running job finish, exits 0', async () => {
      const a = await sb.json<PublicJob>(['trigger', 'a', '--queue', 't']);
      const marker = join(sb.dir, 'running');
      const w = sb.start([
        'work',
        '--queue',
        't',
        '--concurrency',
        '1',
        '--shutdown-timeout',
        '20s',
        '--exec',
        `touch ${marker}; sleep 2`,
      ]);
      await until(async () => existsSync(marker), 15_000, 'job to start');
      const b = await sb.json<PublicJob>(['trigger', 'b', '--queue', 't']);
      w.kill('SIGTERM');
      const r = await sb.wait(w, 30_000);
      expect(r.code, r.stderr).toBe(0);
      expect((await sb.json<PublicJob>(['jobs', 'show', a.id])).state).toBe('completed');
      const bAfter = await sb.json<PublicJob>(['jobs', 'show', b.id]);
      expect(bAfter.state).toBe('queued');
      expect(bAfter.attempts).toBe(0);
    });

    it('an --exec job that ignores SIGTERM and forks children is fully killed on timeout', async () => {
      const pids = join(sb.dir, 'pids');
      const script = join(sb.dir, 'stubborn.sh');
      writeFileSync(
        script,
        [
          '#!/bin/sh',
          "trap '' TERM",
          `sleep 300 & echo $! >> ${pids}`,
          // a double-forked grandchild that also ignores TERM
          `sh -c "trap '' TERM; sleep 300 & echo \\$! >> ${pids}; wait" &`,
          `echo $$ >> ${pids}`,
          'while :; do sleep 1; done',
        ].join('\n'),
        { mode: 0o755 },
      );
      await sb.json(['trigger', 'stubborn', '--queue', 'x', '--timeout', '1s', '--max-attempts', '1']);
      const t0 = Date.now();
      const r = await sb.run(['work', '--queue', 'x', '--drain', '--exec', script], { timeoutMs: 40_000 });
      expect(r.code).toBe(1);
      await sleep(200);
      const list = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
      expect(list.length).toBeGreaterThanOrEqual(3);
      for (const pid of list) expect(pidAlive(pid), `pid ${pid} still alive`).toBe(false);
      expect(Date.now() - t0).toBeLessThan(30_000);
      const failed = await sb.json<{ jobs: PublicJob[] }>(['failed', '--queue', 'x']);
      expect(failed.jobs[0]!.lastError).toMatch(/timed out|timeout/i);
    });

    describe('bad input: exit code, one-line message, nothing written', () => {
      const expectNothingWritten = async () => {
        const r = await sb.run(['jobs', 'list', '--json']);
        if (r.code === 0) expect(JSON.parse(r.stdout).jobs).toEqual([]);
        else expect(r.code).not.toBe(0); // e.g. no database was even created
      };
      const oneLine = (s: string) => s.trim().split('\n').length === 1;

      it('invalid JSON payload -> 2', async () => {
        const r = await sb.run(['trigger', 'x', '--payload', '{nope']);
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toBe(true);
        expect(r.stderr).toMatch(/JSON/);
        await expectNothingWritten();
      });

      it('payload over the size limit -> 2', async () => {
        const big = JSON.stringify({ s: 'x'.repeat(1024 * 1024 + 10) });
        const r = await sb.run(['trigger', 'x', '--payload-file', '-'], { input: big });
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toBe(true);
        expect(r.stderr).toMatch(/limit/);
        await expectNothingWritten();
      });

      it('bad queue name -> 2', async () => {
        for (const q of ["x'; DROP TABLE jobs;--", 'a b', 'q*', 'x'.repeat(129)]) {
          const r = await sb.run(['trigger', 'x', '--queue', q]);
          expect(r.code, q).toBe(2);
          expect(oneLine(r.stderr)).toBe(true);
        }
        await expectNothingWritten();
      });

      it('a bad line in --file writes nothing -> 2', async () => {
        const file = join(sb.dir, 'jobs.ndjson');
        writeFileSync(file, '{"name":"a"}\n{"name":"b","queue":"bad queue"}\n');
        const r = await sb.run(['trigger', '--file', file]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/line 2/);
        await expectNothingWritten();
      });

      it('unknown id -> 3, malformed id -> 2', async () => {
        const seed = await sb.json<PublicJob>(['trigger', 'seed']);
        // an id of the backend's own form that names no job: the seed's id with its last character changed
        const last = seed.id.slice(-1);
        const other = /[0-8]/.test(last) ? String(Number(last) + 1) : last === '9' ? '8' : last === 'Z' ? 'Y' : 'Z';
        const r = await sb.run(['jobs', 'show', seed.id.slice(0, -1) + other]);
        expect(r.code).toBe(3);
        expect(oneLine(r.stderr)).toBe(true);
        for (const bad of ['-1', '1e3', ' 7']) {
          const m = await sb.run(['requeue', bad]);
          expect([2, 3], `id ${JSON.stringify(bad)}`).toContain(m.code);
        }
      });

      it('unknown backend -> 2', async () => {
        const r = await sb.run(['stats', '--backend', 'mongo']);
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toBe(true);
      });

      it('unreachable URL -> 69 with the password masked, and --json stays valid JSON', async () => {
        const r = await sb.run(['stats', '--url', target.unreachableUrl]);
        expect(r.code).toBe(69);
        expect(oneLine(r.stderr)).toBe(true);
        expect(r.stderr).not.toContain('hunter2secret');
        expect(r.stderr).toContain('***');
        const j = await sb.run(['stats', '--json', '--url', target.unreachableUrl]);
        expect(j.code).toBe(69);
        expect(j.stdout + j.stderr).not.toContain('hunter2secret');
        const parsed = JSON.parse(j.stdout);
        expect(parsed.error.exitCode).toBe(69);
      });

      it('--namespace (alias --schema) picks the namespace over JOBCTL_NAMESPACE; not for sqlite', async () => {
        const other = `${sb.env.JOBCTL_NAMESPACE!}_x`;
        if (target.name === 'sqlite') {
          const r = await sb.run(['stats', '--namespace', other]);
          expect(r.code).toBe(2);
          expect(r.stderr).toContain('--namespace does not apply to sqlite');
          return;
        }
        namespaces.push(other);
        const job = await sb.json<PublicJob>(['trigger', 'hello', '--queue', 'ns', '--namespace', other]);
        expect(job.state).toBe('queued');
        expect((await sb.run(['migrate'])).code).toBe(0); // the environment's namespace, empty
        const mine = await sb.json<StatsJson>(['stats', '--queue', 'ns']);
        expect(mine.queues.find((q) => q.queue === 'ns')?.queued ?? 0).toBe(0);
        for (const flag of ['--namespace', '--schema']) {
          const theirs = await sb.json<StatsJson>(['stats', '--queue', 'ns', flag, other]);
          expect(theirs.queues.find((q) => q.queue === 'ns')?.queued).toBe(1);
        }
        const shown = await sb.json<PublicJob>(['jobs', 'show', job.id, '--namespace', other]);
        expect(shown.id).toBe(job.id);
        const bad = await sb.run(['stats', '--namespace', 'no way!']);
        expect(bad.code).toBe(2);
      });

      it('--json error output is valid JSON for bad input too', async () => {
        const r = await sb.run(['trigger', 'x', '--payload', '[1,', '--json']);
        expect(r.code).toBe(2);
        expect(JSON.parse(r.stdout).error.code).toBeTruthy();
      });
    });
  });
}
