/**
 * `--exec CMD`: one `/bin/sh -c CMD` per job in its own process group (and session), payload
 * JSON on stdin, JOBCTL_JOB_ID / JOBCTL_JOB_NAME / JOBCTL_QUEUE / JOBCTL_ATTEMPT in its env,
 * stdout/stderr lines to the job's log.
 *
 * terminate(graceMs): SIGTERM to the whole group, SIGKILL to the group after graceMs (0 = at
 * once). When the shell exits on its own, whatever it left running in its group gets SIGTERM
 * and, after the grace period, SIGKILL: a job's processes never outlive its attempt. A
 * grandchild that calls setsid() leaves the group: each attempt's environment carries a unique
 * marker (marked-procs.ts), and on Linux every signal to the group also goes to the processes of
 * our user that carry it — on terminate, and when the shell has exited but its pipes stay open
 * (someone outside the group still holds them). Where cgroup v2 is usable (job-cgroup.ts) each
 * attempt also runs in its own cgroup, which nothing it starts can leave (setsid, `env -i`,
 * another user): its processes get every signal too, leftovers after the shell exited get
 * SIGTERM then SIGKILL like the group's, and at the end of the attempt `cgroup.kill` takes
 * whatever is left.
 */
import { spawn } from 'node:child_process';
import { redact } from '../core/config.js';
import type { ClaimedJob } from '../core/job.js';
import { attemptCgroup } from './job-cgroup.js';
import { MARKER_VAR, newMarker, signalMarked } from './marked-procs.js';
import { OutputCapture, type OutputStream } from './output.js';
import type { OutputLimits } from './types.js';

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
  /** a spawn error (e.g. /bin/sh missing) */
  spawnError?: Error;
}

export interface ExecSink {
  /** false = pause the pipes until whenDrained() */
  line(stream: OutputStream, text: string): boolean;
  whenDrained(): Promise<void>;
}

export interface ExecHandle {
  readonly pid: number | undefined;
  readonly result: Promise<ExecResult>;
  terminate(graceMs: number): void;
}

/**
 * The environment exec children get: `base` without JOBCTL_URL, JOBCTL_FAILPOINT, and without
 * any variable whose value contains one of the secrets (e.g. the backend URL's password).
 */
export function childBaseEnv(base: NodeJS.ProcessEnv, secrets: readonly string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  const real = secrets.filter((s) => s.length >= 3);
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined) continue;
    if (k === 'JOBCTL_URL' || k === 'JOBCTL_FAILPOINT') continue;
    if (real.some((s) => v.includes(s))) continue;
    out[k] = v;
  }
  return out;
}

export function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

/** After the shell exited with nobody left in its group, how long its pipes may stay open. */
const PIPE_CLOSE_WAIT_MS = 200;

export function runExec(
  command: string,
  job: ClaimedJob,
  opts: { env: NodeJS.ProcessEnv; limits: OutputLimits; killGraceMs: number; sink: ExecSink; secrets: readonly string[] },
): ExecHandle {
  const env: NodeJS.ProcessEnv = {
    ...opts.env,
    JOBCTL_JOB_ID: job.id,
    JOBCTL_JOB_NAME: job.name,
    JOBCTL_QUEUE: job.queue,
    JOBCTL_ATTEMPT: String(job.attempt),
  };
  const marker = newMarker();
  env[MARKER_VAR] = marker;
  const cg = attemptCgroup();
  // with a cgroup the shell moves itself in, then execs the command's shell (same pid, same
  // group; `$0` of the command is /bin/sh either way); if the move fails it runs anyway
  const child = cg
    ? spawn('/bin/sh', ['-c', 'echo $$ 2>/dev/null >"$1"; exec /bin/sh -c "$0"', command, cg.procsFile], {
        detached: true,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn('/bin/sh', ['-c', command], { detached: true, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  const capture = new OutputCapture(opts.limits, (stream, text) =>
    opts.sink.line(stream, opts.secrets.length ? redact(text, opts.secrets) : text),
  );

  let killTimer: NodeJS.Timeout | null = null;
  let exited = false;
  let terminating = false;
  let paused = false;

  /** the group, the marked processes that left it (setsid), and the attempt's cgroup */
  const killAll = (signal: NodeJS.Signals) => {
    killGroup(pid, signal);
    signalMarked(marker, signal);
    if (cg) {
      if (signal === 'SIGKILL') cg.kill();
      else cg.signal(signal);
    }
  };
  let swept = false;

  const terminate = (graceMs: number) => {
    if (graceMs <= 0) {
      killAll('SIGKILL');
      swept = true;
      if (killTimer) clearTimeout(killTimer);
      killTimer = null;
      terminating = true;
      return;
    }
    if (terminating) return;
    terminating = true;
    killAll('SIGTERM');
    // SIGCONT so that a stopped process can act on SIGTERM
    killAll('SIGCONT');
    killTimer = setTimeout(() => {
      killTimer = null;
      killAll('SIGKILL');
      swept = true;
    }, graceMs);
  };

  const onData = (stream: OutputStream) => (chunk: Buffer) => {
    if (!capture.push(stream, chunk) && !paused) {
      paused = true;
      child.stdout?.pause();
      child.stderr?.pause();
      void opts.sink.whenDrained().then(() => {
        paused = false;
        child.stdout?.resume();
        child.stderr?.resume();
      });
    }
  };
  child.stdout!.on('data', onData('stdout'));
  child.stderr!.on('data', onData('stderr'));
  child.stdout!.on('end', () => capture.end('stdout'));
  child.stderr!.on('end', () => capture.end('stderr'));

  // stdin: the payload; a command that never reads it must not crash us (EPIPE)
  child.stdin!.on('error', () => {});
  let payloadText: string;
  try {
    payloadText = JSON.stringify(job.payload ?? null) ?? 'null';
  } catch {
    payloadText = 'null';
  }
  child.stdin!.end(`${payloadText}\n`);

  const result = new Promise<ExecResult>((resolve) => {
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    let settled = false;
    let closed = false;
    let closeTimer: NodeJS.Timeout | null = null;
    const finish = (spawnError?: Error) => {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      if (closeTimer) clearTimeout(closeTimer);
      // leftovers of the group (if any) die with the attempt; after a terminate, or with the
      // pipes still held open (maybe from outside the group), the marked ones too
      if ((terminating || !closed) && !swept && pid !== undefined) killAll('SIGKILL');
      else killGroup(pid, 'SIGKILL');
      // nothing the attempt started outlives it, wherever it went
      if (cg) {
        cg.kill();
        cg.remove();
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ code, signal, stderrTail: capture.stderrTail.slice(), ...(spawnError ? { spawnError } : {}) });
    };
    child.on('error', (e) => {
      if (pid === undefined) finish(e);
    });
    child.on('exit', (c, s) => {
      exited = true;
      code = c;
      signal = s;
      // processes left in the group (or the cgroup) hold the pipes open or linger: ask them to
      // go, then force
      const inGroup = killGroup(pid, 'SIGTERM');
      if ((cg?.signal('SIGTERM') ?? false) || inGroup) {
        closeTimer = setTimeout(() => finish(), Math.max(opts.killGraceMs, 50));
        return;
      }
      // nobody left in the group: the pipes close at once unless a process that left the group
      // holds them (setsid); then it goes as a group leftover would
      closeTimer = setTimeout(() => {
        if (settled) return;
        terminating = true;
        signalMarked(marker, 'SIGTERM');
        closeTimer = setTimeout(() => finish(), Math.max(opts.killGraceMs, 50));
      }, PIPE_CLOSE_WAIT_MS);
    });
    child.on('close', () => {
      closed = true;
      if (exited) finish();
    });
  });

  return { pid, result, terminate };
}

/** The error text of a failed exec attempt. */
export function execErrorText(r: ExecResult, timedOutMs?: number): string {
  let head: string;
  if (r.spawnError) head = `could not start the command: ${r.spawnError.message}`;
  else if (timedOutMs !== undefined) head = `timed out after ${timedOutMs}ms (process group killed)`;
  else if (r.signal) head = `killed by signal ${r.signal}`;
  else head = `exit code ${r.code}`;
  return r.stderrTail.length ? `${head}\n${r.stderrTail.join('\n')}` : head;
}
