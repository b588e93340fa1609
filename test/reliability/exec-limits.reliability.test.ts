/**
 * Scenario 9: timeouts and process groups, and unbounded output.
 *
 * (a) An --exec job (timeout 2s) traps SIGTERM, backgrounds children, double-forks (a subshell
 *     that backgrounds a TERM-ignoring loop and exits, so the loop is re-parented to init while
 *     staying in the job's group and session). Pass: from the job's start, within timeout + kill
 *     grace (2 s + 5 s) + 1.5 s of scheduling margin, no process whose process group or session
 *     is the job's leader is left in /proc; the job is `failed` with a timeout error. A grandchild
 *     that calls setsid() and traps SIGTERM leaves the group and session: within the same bound
 *     it and its own children must be gone too (the worker finds them by the attempt's marker in
 *     their environment, src/worker/marked-procs.ts). A second one also replaces its environment
 *     (`env -i setsid …`: no marker); where cgroup v2 is usable (src/worker/job-cgroup.ts, e.g.
 *     root on Linux ≥ 5.14) it must be gone within the same bound (the attempt's cgroup); where it
 *     is not, nothing can find it and the test only reports it (docs/reliability.md).
 * (b) Two jobs each print 1 GiB to stdout: one single line without a newline, one of 1,000-byte
 *     lines. The worker's RSS (VmRSS from /proc/<pid>/status, sampled every 100 ms) must stay
 *     below its baseline + RSS_HEADROOM_MIB; the stored logs stay within the output limits
 *     (64 KiB per line, 10,000 lines / 8 MiB per attempt) with a visible truncation marker.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../e2e/helpers.js';
import { BACKENDS, cleanupBackend, report, sandbox } from './harness.js';
import { groupOrSession, listProcs, rssKiB } from './procs.js';
import { cgroupsUsable } from '../../src/worker/job-cgroup.js';

const TIMEOUT_MS = 2000;
const KILL_GRACE_MS = 5000; // the worker's fixed grace between SIGTERM and SIGKILL (work --help)
const MARGIN_MS = 1500;
/**
 * The worker keeps at most: one 64 KiB line per stream, a log buffer that pauses the pipes at
 * 4 Mi characters, an attempt cap of 8 MiB of text, and 64 KiB pipe chunks in flight: ~20 MiB per
 * job as UTF-16 strings and Buffers, plus the driver's copies of a 5,000-line log batch in
 * flight. Measured peaks were 50-100 MiB over the baseline (when V8 collects varies); 192 MiB
 * leaves room for that on a loaded machine and is under a tenth of the 2 GiB the two jobs print:
 * output kept without bound would break it.
 */
const RSS_HEADROOM_MIB = 192;
const GIB = 1024 ** 3;

interface ShownJob {
  id: string;
  state: string;
  lastError: string | null;
}
interface LogsJson {
  lines: { jobId: string | null; stream: string; message: string }[];
}

describe.each(BACKENDS)('scenario 9: timeouts, process groups and output limits on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  const escapees: number[] = [];
  afterEach(() => {
    for (const pid of escapees.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    sb?.cleanup();
  });
  afterAll(() => cleanupBackend(backend));

  it('a job that traps SIGTERM, backgrounds and double-forks is gone within timeout + grace', async () => {
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[procs ${backend} +${Date.now() - t0}ms] ${msg}`);
    sb = sandbox(backend);
    const box = sb;
    const dir = box.dir;
    const script = join(dir, 'stubborn.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `trap 'echo "TERM ignored"' TERM`,
        'sleep 300 &',
        `sh -c "trap '' TERM; while :; do sleep 1; done" &`,
        // double fork: the subshell exits at once, its TERM-ignoring loop is re-parented to init
        `( trap '' TERM; sh -c "trap '' TERM; while :; do sleep 1; done" & ) &`,
        // escapes the group and the session, and ignores SIGTERM (`setsid` execs in place: $! is the loop)
        `setsid sh -c "trap '' TERM; while :; do sleep 1; done" & echo $! > ${dir}/escapee`,
        // …and also replaces its environment (no marker): only the attempt's cgroup follows it
        `env -i setsid sh -c "trap '' TERM; while :; do sleep 1; done" >/dev/null 2>&1 </dev/null & echo $! > ${dir}/envless`,
        `echo $$ > ${dir}/leader.tmp && mv ${dir}/leader.tmp ${dir}/leader`,
        'while :; do sleep 1; done',
      ].join('\n'),
      { mode: 0o755 },
    );
    const worker = box.start(['work', '--queue', 'x', '--exec', script]);
    const job = await box.json<ShownJob>(['trigger', 'stubborn', '--queue', 'x', '--timeout', '2s', '--max-attempts', '1']);
    await until(async () => existsSync(join(dir, 'leader')), 20_000, 'the job to start');
    const started = Date.now();
    const scriptPid = Number(readFileSync(join(dir, 'leader'), 'utf8').trim());
    // the script runs under the worker's `/bin/sh -c`: the group and session are that shell's
    const leader = listProcs().find((p) => p.pid === scriptPid)!.pgrp;
    const escapee = Number(readFileSync(join(dir, 'escapee'), 'utf8').trim());
    escapees.push(escapee);
    const envless = Number(readFileSync(join(dir, 'envless'), 'utf8').trim());
    escapees.push(envless);
    const cgroups = cgroupsUsable();
    await sleep(300);
    const before = groupOrSession(leader);
    const escapedBefore = groupOrSession(escapee);
    log(
      `leader ${leader}: ${before.length} processes in its group/session: ${before.map((p) => `${p.pid}:${p.comm}`).join(' ')}; ` +
        `escaped session ${escapee}: ${escapedBefore.map((p) => `${p.pid}:${p.comm}`).join(' ')}`,
    );

    const envlessBefore = groupOrSession(envless);
    const remaining = () => [...groupOrSession(leader), ...groupOrSession(escapee), ...(cgroups ? groupOrSession(envless) : [])];
    let left = remaining();
    while (left.length > 0 && Date.now() - started < TIMEOUT_MS + KILL_GRACE_MS + MARGIN_MS + 5000) {
      await sleep(100);
      left = remaining();
    }
    const goneAfterMs = Date.now() - started;
    const shown = await until(
      async () => {
        const j = await box.json<ShownJob>(['jobs', 'show', job.id]);
        return j.state === 'failed' ? j : null;
      },
      10_000,
      'the job to fail',
    );
    const escapeeAlive = listProcs().some((p) => p.pid === escapee);
    const envlessAlive = listProcs().some((p) => p.pid === envless);
    worker.kill('SIGTERM');
    const w = await box.wait(worker, 30_000);
    report({
      scenario: 9,
      part: 'process group',
      backend,
      groupProcesses: before.length,
      goneAfterMs,
      boundMs: TIMEOUT_MS + KILL_GRACE_MS + MARGIN_MS,
      left: left.map((p) => `${p.pid}:${p.comm}`),
      escapedProcesses: escapedBefore.length,
      setsidEscapeeAlive: escapeeAlive,
      cgroups,
      envlessEscapeeAlive: envlessAlive,
      lastError: shown.lastError?.split('\n')[0],
    });

    // leader, sleep, the TERM-ignoring loop and its sleep, the double-forked loop and its sleep
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(before.every((p) => p.pgrp === leader && p.session === leader)).toBe(true);
    expect(before.some((p) => p.ppid !== leader && p.ppid !== scriptPid && p.comm === 'sh')).toBe(true); // the re-parented loop
    // the setsid'd loop: its own session, not the job's, and TERM-ignoring like the others
    expect(escapedBefore.some((p) => p.pid === escapee && p.session === escapee && p.comm === 'sh')).toBe(true);
    expect(left).toEqual([]);
    expect(escapeeAlive).toBe(false);
    // the `env -i setsid` loop: its own session, no marker; gone only through the cgroup
    expect(envlessBefore.some((p) => p.pid === envless && p.session === envless && p.comm === 'sh')).toBe(true);
    if (cgroups) expect(envlessAlive).toBe(false);
    else log(`cgroups not usable here: the env -i escapee ${envless} is left (documented gap)`);
    expect(goneAfterMs).toBeGreaterThanOrEqual(TIMEOUT_MS); // it really ignored SIGTERM…
    expect(goneAfterMs).toBeLessThanOrEqual(TIMEOUT_MS + KILL_GRACE_MS + MARGIN_MS); // …and was killed in time
    expect(shown.lastError).toMatch(/timed out/);
    expect(w.code).toBe(0);
  });

  it('1 GiB on stdout (one line, and 1 KB lines): worker RSS bounded, stored log bounded', async () => {
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[output ${backend} +${Date.now() - t0}ms] ${msg}`);
    sb = sandbox(backend);
    const box = sb;
    const cmd = [
      'case "$JOBCTL_JOB_NAME" in',
      `  oneline) head -c ${GIB} /dev/zero | tr '\\0' x ;;`,
      `  lines) yes "$(head -c 999 /dev/zero | tr '\\0' y)" | head -c ${GIB} ;;`,
      '  *) echo warm ;;',
      'esac',
    ].join('\n');
    const worker = box.start(['work', '--queue', 'big', '--concurrency', '2', '--exec', cmd]);
    const w0 = await box.run(['trigger', 'warm', '--queue', 'big', '--wait', '--wait-timeout', '20s', '--json'], {
      timeoutMs: 40_000,
    });
    expect(w0.code, `a trivial job did not complete within 20 s (exit ${w0.code}): ${w0.stderr}`).toBe(0);
    const warm = JSON.parse(w0.stdout) as ShownJob;
    expect(warm.state).toBe('completed');
    log('warm job completed');
    await sleep(500);
    const baseline = rssKiB(worker.pid!)!;
    const oneline = await box.json<ShownJob>(['trigger', 'oneline', '--queue', 'big']);
    const lines = await box.json<ShownJob>(['trigger', 'lines', '--queue', 'big']);
    let peak = baseline;
    const samples: number[] = [];
    const done = async () => {
      const s = await Promise.all([oneline.id, lines.id].map((id) => box.json<ShownJob>(['jobs', 'show', id])));
      return s.every((j) => j.state === 'completed' || j.state === 'failed');
    };
    let checkAt = 0;
    while (Date.now() - t0 < 180_000) {
      const rss = rssKiB(worker.pid!);
      if (rss === null) break;
      samples.push(rss);
      peak = Math.max(peak, rss);
      if (Date.now() >= checkAt) {
        if (await done()) break;
        checkAt = Date.now() + 1000;
      }
      await sleep(100);
    }
    const elapsedMs = Date.now() - t0;
    log(`jobs done after ${elapsedMs} ms; reading them back`);
    const [a, b] = await Promise.all([oneline.id, lines.id].map((id) => box.json<ShownJob>(['jobs', 'show', id])));
    log('read the jobs; reading their logs');
    const la = await box.json<LogsJson>(['logs', oneline.id]);
    const lb = await box.json<LogsJson>(['logs', lines.id]);
    log('read the logs');
    worker.kill('SIGTERM');
    const w = await box.wait(worker, 30_000);

    const out = (l: LogsJson) => l.lines.filter((x) => x.stream === 'stdout');
    const bytes = (l: LogsJson) => out(l).reduce((n, x) => n + Buffer.byteLength(x.message), 0);
    report({
      scenario: 9,
      part: '1 GiB stdout',
      backend,
      baselineMiB: +(baseline / 1024).toFixed(1),
      peakMiB: +(peak / 1024).toFixed(1),
      boundMiB: +(baseline / 1024 + RSS_HEADROOM_MIB).toFixed(1),
      samples: samples.length,
      states: [a!.state, b!.state],
      oneLine: { storedLines: out(la).length, storedBytes: bytes(la) },
      lines: { storedLines: out(lb).length, storedBytes: bytes(lb) },
      elapsedMs,
    });
    log(`peak RSS ${peak} KiB over baseline ${baseline} KiB`);

    expect(a!.state).toBe('completed');
    expect(b!.state).toBe('completed');
    expect(samples.length).toBeGreaterThan(5);
    expect(peak - baseline).toBeLessThan(RSS_HEADROOM_MIB * 1024);
    // one line: kept to 64 KiB with the number of dropped bytes shown
    expect(out(la)).toHaveLength(1);
    expect(out(la)[0]!.message).toMatch(new RegExp(`^x{65536} … \\[line truncated: ${GIB - 65536} more bytes\\]$`));
    // 1 KB lines: at most 8 MiB / 10,000 lines stored, then one truncation marker
    expect(bytes(lb)).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(out(lb).length).toBeLessThanOrEqual(10_000);
    expect(out(lb).length).toBeGreaterThan(1000);
    expect(lb.lines.some((x) => /output truncated: limit of/.test(x.message))).toBe(true);
    expect(w.code).toBe(0);
  });
});
