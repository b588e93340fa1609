import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export const BIN = resolve(__dirname, '../../bin/run.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Where the e2e tests run: the embedded default (no flags at all) or a server backend chosen
 * through JOBCTL_BACKEND/JOBCTL_URL as a user would. Each test gets its own working directory
 * (for the sqlite default) and its own JOBCTL_NAMESPACE.
 */
export interface Target {
  name: string;
  env: Record<string, string>;
  /** a URL of this target's kind that nothing answers, with a password to be masked */
  unreachableUrl: string;
}

const UNREACHABLE: Record<string, string> = {
  sqlite: 'postgres://app:hunter2secret@127.0.0.1:1/db',
  pg: 'postgres://app:hunter2secret@127.0.0.1:1/db',
  redis: 'redis://app:hunter2secret@127.0.0.1:1',
  nats: 'nats://app:hunter2secret@127.0.0.1:1',
};

export function target(name: 'sqlite' | 'pg' | 'redis' | 'nats'): Target {
  const urls: Record<string, string> = {
    pg: 'postgres://postgres@127.0.0.1:5432/test',
    redis: 'redis://127.0.0.1:6379',
    nats: 'nats://127.0.0.1:4222',
  };
  return {
    name,
    env: name === 'sqlite' ? ({} as Record<string, string>) : { JOBCTL_BACKEND: name, JOBCTL_URL: urls[name]! },
    unreachableUrl: UNREACHABLE[name]!,
  };
}

export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'jobctl-e2e-'));
  readonly env: Record<string, string>;
  private children = new Set<ChildProcess>();

  constructor(target: Target) {
    this.env = { ...target.env, JOBCTL_NAMESPACE: `e2e_${randomBytes(5).toString('hex')}` };
  }

  /** Run jobctl to completion. */
  run(args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const child = this.start(args, opts);
    return this.wait(child, opts.timeoutMs ?? 30_000);
  }

  /** Start jobctl in the background. */
  start(
    args: string[],
    opts: { input?: string; env?: Record<string, string> } = {},
  ): ChildProcess & { out: string[]; err: string[] } {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, ...this.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }) as ChildProcess & { out: string[]; err: string[] };
    child.out = [];
    child.err = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => child.out.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => child.err.push(d));
    child.stdin!.end(opts.input ?? '');
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  wait(child: ChildProcess & { out?: string[]; err?: string[] }, timeoutMs = 30_000): Promise<RunResult> {
    return new Promise((resolveP, reject) => {
      const c = child as ChildProcess & { out: string[]; err: string[] };
      const result = (code: number | null, signal: NodeJS.Signals | null): RunResult => ({
        code,
        signal,
        stdout: c.out.join(''),
        stderr: c.err.join(''),
      });
      // already gone (e.g. a worker that exited on its own): its result at once
      if (child.exitCode !== null || child.signalCode !== null) return resolveP(result(child.exitCode, child.signalCode));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(
            `jobctl ${child.spawnargs.slice(2).join(' ')} did not exit within ${timeoutMs} ms; stderr: ${c.err.join('')}`,
          ),
        );
      }, timeoutMs);
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        resolveP(result(code, signal));
      };
      child.once('close', done);
    });
  }

  async json<T = unknown>(args: string[], opts: { input?: string } = {}): Promise<T> {
    const r = await this.run([...args, '--json'], opts);
    if (r.code !== 0) throw new Error(`jobctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  cleanup(): void {
    for (const c of this.children) c.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** True while the process exists and is not a zombie (a killed orphan may wait a moment to be reaped by init). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
