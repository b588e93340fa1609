import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { cgroupParentPath, cgroupsUsable } from '../../src/worker/job-cgroup.js';
import { join } from 'node:path';
import { enqueue, isAlive, job, jobLogs, sqliteEnv, testWorker, until, type TestEnv } from './helpers.js';

let env: TestEnv;
beforeEach(async () => {
  env = await sqliteEnv();
});
afterEach(async () => {
  await env.cleanup();
});

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

const cgroup2Mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup2 ');

describe('worker --exec (sqlite)', () => {
  it('passes the payload on stdin and the job in env, logs stdout/stderr lines, hides the URL secrets', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'greet', queue: 'mail', payload: { to: 'x@y.z', n: 1 } }]);
    const cmd =
      'read -r line; echo "stdin=$line"; echo "id=$JOBCTL_JOB_ID name=$JOBCTL_JOB_NAME q=$JOBCTL_QUEUE attempt=$JOBCTL_ATTEMPT"; ' +
      'echo "url=${JOBCTL_URL:-none} db=${DATABASE_URL:-none} ok=$OK"; echo "warn: pw hunter2" >&2; printf "no newline"';
    const w = testWorker(env.backend, {
      drain: true,
      queues: 'mail',
      exec: cmd,
      secrets: ['hunter2'],
      env: { ...baseEnv, JOBCTL_URL: 'postgres://app:hunter2@db/app', DATABASE_URL: 'postgres://app:hunter2@db/app', OK: 'yes' },
    });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    const lines = (await jobLogs(env.backend, a!.id)).filter((l) => l.stream !== 'event');
    expect(lines.map((l) => [l.stream, l.message])).toEqual(
      expect.arrayContaining([
        ['stdout', 'stdin={"to":"x@y.z","n":1}'],
        ['stdout', `id=${a!.id} name=greet q=mail attempt=1`],
        ['stdout', 'url=none db=none ok=yes'],
        ['stderr', 'warn: pw ***'],
        ['stdout', 'no newline'],
      ]),
    );
    expect(lines).toHaveLength(5);
    const j = await job(env.backend, a!.id);
    expect(j.state).toBe('completed');
    expect(j.result ?? null).toBeNull();
  });

  it('a non-zero exit is a failed attempt with the exit code and the last stderr lines', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'x', maxAttempts: 1 }]);
    const w = testWorker(env.backend, { drain: true, exec: 'echo step1 >&2; echo "bad input" >&2; exit 3', env: baseEnv });
    await w.start();
    expect(await w.done).toMatchObject({ failed: 1 });
    expect((await job(env.backend, a!.id)).lastError).toBe('exit code 3\nstep1\nbad input');
  });

  it('on timeout kills the whole process group: a shell that ignores SIGTERM, its background child and a double-forked grandchild', async () => {
    const dir = env.dir;
    const [a] = await enqueue(env.backend, [{ name: 'stubborn', timeoutMs: 300, maxAttempts: 1 }]);
    const cmd =
      `trap '' TERM; sleep 60 & echo $! > ${dir}/child.pid; ` +
      `( sleep 60 & echo $! > ${dir}/grandchild.pid ) & ` +
      `echo started; wait; sleep 60`;
    const w = testWorker(env.backend, { drain: true, exec: cmd, killGraceMs: 300, env: baseEnv });
    const t0 = Date.now();
    await w.start();
    expect(await w.done).toMatchObject({ failed: 1 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(5000);
    expect(existsSync(join(dir, 'child.pid'))).toBe(true);
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    const grandchild = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
    await until(() => !isAlive(child) && !isAlive(grandchild), 2000, 'children gone');
    expect((await job(env.backend, a!.id)).lastError).toMatch(/^timed out after 300ms \(process group killed\)/);
  });

  it('on timeout also kills a grandchild that left the group with setsid and ignores SIGTERM (Linux: by its env marker)', async () => {
    const dir = env.dir;
    const [a] = await enqueue(env.backend, [{ name: 'escaper', timeoutMs: 300, maxAttempts: 1 }]);
    // output redirected: the escapee does not hold the job's pipes, only the marker finds it
    const cmd = `setsid sh -c "trap '' TERM; while :; do sleep 1; done" >/dev/null 2>&1 </dev/null & echo $! > ${dir}/escapee.pid; sleep 60`;
    const w = testWorker(env.backend, { drain: true, exec: cmd, killGraceMs: 300, env: baseEnv });
    await w.start();
    expect(await w.done).toMatchObject({ failed: 1 });
    const escapee = Number(readFileSync(join(dir, 'escapee.pid'), 'utf8'));
    expect(escapee).toBeGreaterThan(0);
    await until(() => !isAlive(escapee), 2000, 'the setsid escapee gone');
    expect((await job(env.backend, a!.id)).lastError).toMatch(/^timed out after 300ms/);
  });

  it('a finished command whose setsid child holds its output pipes: the attempt ends and the child is killed', async () => {
    const dir = env.dir;
    await enqueue(env.backend, [{ name: 'x', timeoutMs: 30_000 }]);
    const cmd = `setsid sh -c "trap '' TERM; sleep 60" & echo $! > ${dir}/held.pid; exit 0`;
    const w = testWorker(env.backend, { drain: true, exec: cmd, killGraceMs: 300, env: baseEnv });
    const t0 = Date.now();
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    expect(Date.now() - t0).toBeLessThan(5000); // not the job's 30 s timeout
    const held = Number(readFileSync(join(dir, 'held.pid'), 'utf8'));
    await until(() => !isAlive(held), 2000, 'the setsid child gone');
  });

  // cgroup v2 (job-cgroup.ts): usable on this machine (root, cgroup2 mounted, cgroup.kill).
  // Escapees that replace their environment (no marker) and leave the group and session.
  it('cgroups are usable here (root with cgroup2 and cgroup.kill on Linux)', () => {
    const usable = process.platform === 'linux' && process.getuid?.() === 0 && cgroup2Mounted();
    expect(cgroupsUsable()).toBe(usable);
  });

  it.runIf(cgroupsUsable())(
    'on timeout kills an `env -i setsid` escapee that ignores SIGTERM, within timeout + grace (its cgroup)',
    async () => {
      const dir = env.dir;
      const [a] = await enqueue(env.backend, [{ name: 'escaper', timeoutMs: 300, maxAttempts: 1 }]);
      const cmd =
        `env -i setsid sh -c "trap '' TERM; while :; do sleep 1; done" >/dev/null 2>&1 </dev/null & echo $! > ${dir}/escapee.pid; ` +
        `env -i sh -c 'sleep 1000 & echo $! > ${dir}/bg.pid' >/dev/null 2>&1 </dev/null; sleep 60`;
      const w = testWorker(env.backend, { drain: true, exec: cmd, killGraceMs: 300, env: baseEnv });
      const t0 = Date.now();
      await w.start();
      expect(await w.done).toMatchObject({ failed: 1 });
      const escapee = Number(readFileSync(join(dir, 'escapee.pid'), 'utf8'));
      const bg = Number(readFileSync(join(dir, 'bg.pid'), 'utf8'));
      expect(escapee).toBeGreaterThan(0);
      expect(bg).toBeGreaterThan(0);
      await until(() => !isAlive(escapee) && !isAlive(bg), 2000, 'the env -i escapees gone');
      expect(Date.now() - t0).toBeLessThan(300 + 300 + 3000);
      expect((await job(env.backend, a!.id)).lastError).toMatch(/^timed out after 300ms/);
    },
  );

  it.runIf(cgroupsUsable())(
    'an `env -i setsid` daemon left behind by a finished command is killed with the attempt (its cgroup)',
    async () => {
      const dir = env.dir;
      await enqueue(env.backend, [{ name: 'x' }]);
      const cmd = `env -i setsid sh -c "trap '' TERM; sleep 1000" >/dev/null 2>&1 </dev/null & echo $! > ${dir}/d.pid; sleep 0.3; exit 0`;
      const w = testWorker(env.backend, { drain: true, exec: cmd, killGraceMs: 300, env: baseEnv });
      await w.start();
      expect(await w.done).toMatchObject({ completed: 1 });
      const d = Number(readFileSync(join(dir, 'd.pid'), 'utf8'));
      await until(() => !isAlive(d), 2000, 'the env -i daemon gone');
      // the attempt's cgroup goes too, and the worker's parent cgroup with the last one
      await until(() => !existsSync(cgroupParentPath()!), 3000, 'the cgroups removed');
    },
  );

  it('processes left behind by a finished command are killed with the attempt', async () => {
    const dir = env.dir;
    await enqueue(env.backend, [{ name: 'x' }]);
    const w = testWorker(env.backend, { drain: true, exec: `sleep 60 & echo $! > ${dir}/bg.pid; exit 0`, env: baseEnv });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    const bg = Number(readFileSync(join(dir, 'bg.pid'), 'utf8'));
    await until(() => !isAlive(bg), 2000, 'background process gone');
  });

  it('caps output: bytes per line and lines per attempt, while draining the pipes', async () => {
    const [a] = await enqueue(env.backend, [{ name: 'noisy' }]);
    const cmd = `head -c 200000 /dev/zero | tr '\\0' 'x'; echo; seq 1 50000; echo done >&2`;
    const w = testWorker(env.backend, { drain: true, exec: cmd, env: baseEnv, output: { maxLines: 100 } });
    await w.start();
    expect(await w.done).toMatchObject({ completed: 1 });
    const lines = (await jobLogs(env.backend, a!.id)).filter((l) => l.stream !== 'event');
    expect(lines).toHaveLength(101);
    expect(lines[0]!.message).toMatch(/^x{65536} … \[line truncated: 134464 more bytes\]$/);
    expect(lines[1]!.message).toBe('1');
    expect(lines[100]!.message).toMatch(/^\[output truncated: limit of 100 lines per attempt/);
  });

  it('a graceful stop past the shutdown timeout terminates the group and releases the job', async () => {
    const dir = env.dir;
    const [a] = await enqueue(env.backend, [{ name: 'x' }]);
    const w = testWorker(env.backend, {
      exec: `echo $$ > ${dir}/sh.pid; sleep 60`,
      env: baseEnv,
      shutdownTimeoutMs: 200,
      killGraceMs: 200,
    });
    await w.start();
    await until(
      () => existsSync(join(dir, 'sh.pid')) && readFileSync(join(dir, 'sh.pid'), 'utf8').endsWith('\n'),
      5000,
      'started',
    );
    const pid = Number(readFileSync(join(dir, 'sh.pid'), 'utf8'));
    const s = await w.stop({ graceful: true });
    expect(s).toMatchObject({ released: 1 });
    expect(isAlive(pid)).toBe(false);
    const j = await job(env.backend, a!.id);
    expect(j.state).toBe('queued');
    expect(j.attempts).toBe(1);
  });
});
