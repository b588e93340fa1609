/**
 * `jobctl work` as a user runs it (built bin/run.js, embedded SQLite): exit codes, summary,
 * signals, failpoints. Needs `npm run build` (the `pretest` script does it).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, sleep, target, until } from '../e2e/helpers.js';

let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox(target('sqlite'));
});
afterEach(() => sb.cleanup());

type Job = { id: string; state: string; attempts: number; lastError: string | null };
const jobs = async () => (await sb.json<{ jobs: Job[] }>(['jobs', 'list'])).jobs;

describe('jobctl work', () => {
  it('--drain exits 0 when every job completed, 1 otherwise; --json prints the summary', async () => {
    await sb.run(['trigger', 'ok']);
    let r = await sb.run(['work', '--drain', '--exec', 'true', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ completed: 1, failed: 0, stoppedBy: 'drained', exitCode: 0 });
    expect(r.stderr).toMatch(/"msg":"worker started"/);
    await sb.run(['trigger', 'bad', '--max-attempts', '1']);
    r = await sb.run(['work', '--drain', '--exec', 'exit 4']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/stopped \(drained\): 0 completed, 1 failed/);
    expect((await jobs()).find((j) => j.state === 'failed')!.lastError).toBe('exit code 4');
  });

  it('--handlers runs a module; bad flags exit 2', async () => {
    writeFileSync(join(sb.dir, 'h.mjs'), 'export const hello = async (p) => ({ hi: p.name });\n');
    await sb.run(['trigger', 'hello', '--payload', '{"name":"x"}']);
    const r = await sb.run(['work', '--drain', '--handlers', './h.mjs', '--queue', 'default:3', '--concurrency', '2']);
    expect(r.code).toBe(0);
    expect((await sb.run(['work', '--exec', 'true', '--handlers', './h.mjs'])).code).toBe(2);
    expect((await sb.run(['work'])).code).toBe(2);
    expect((await sb.run(['work', '--exec', 'true', '--queue', 'a b'])).code).toBe(2);
    expect((await sb.run(['work', '--exec', 'true', '--lease', 'soon'])).code).toBe(2);
    expect((await sb.run(['work', '--handlers', './missing.mjs'])).code).toBe(2);
    expect((await sb.run(['work', '--exec', 'true', '--drain', '--max-jobs', '2'])).code).toBe(2);
  });

  it('SIGTERM: finishes or releases running jobs and exits 0; a second signal forces exit 130', async () => {
    await sb.run(['trigger', 'slow']);
    let w = sb.start(['work', '--exec', `touch started; sleep 30`, '--shutdown-timeout', '300ms']);
    await until(async () => existsSync(join(sb.dir, 'started')), 10_000, 'job start');
    w.kill('SIGTERM');
    let r = await sb.wait(w, 15_000);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 released/);
    let [j] = await jobs();
    expect(j).toMatchObject({ state: 'queued', attempts: 1 });

    w = sb.start(['work', '--exec', `trap '' TERM; touch started2; sleep 30`, '--shutdown-timeout', '30s']);
    await until(async () => existsSync(join(sb.dir, 'started2')), 10_000, 'job start');
    w.kill('SIGTERM');
    await sleep(300);
    w.kill('SIGINT');
    r = await sb.wait(w, 10_000);
    expect(r.code).toBe(130);
    [j] = await jobs();
    expect(j).toMatchObject({ state: 'queued', attempts: 2 });
  });

  it('JOBCTL_FAILPOINT kills the worker at that step; the next worker runs the job again after the lease', async () => {
    await sb.run(['trigger', 'fp']);
    const r = await sb.run(['work', '--exec', 'true', '--lease', '1s'], { env: { JOBCTL_FAILPOINT: 'after-handler' } });
    expect(r.signal).toBe('SIGKILL');
    expect((await jobs())[0]).toMatchObject({ state: 'running', attempts: 1 });
    await sleep(1100);
    const r2 = await sb.run(['work', '--drain', '--exec', 'true']);
    expect(r2.code).toBe(0);
    expect((await jobs())[0]).toMatchObject({ state: 'completed', attempts: 2 });
  });
});
