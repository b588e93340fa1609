/**
 * Throwaway servers that require a password (scenario 12), started from the machine's binaries on
 * a free 127.0.0.1 port in a temporary directory, stopped and removed by stop(). The shared
 * servers are never touched (the shared Postgres trusts every local user, so a wrong password
 * could not fail there).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from './harness.js';
import { freePort } from './servers.js';

export interface AuthServer {
  /** a URL with `password` as the password */
  url(password: string): string;
  stop(): Promise<void>;
}

function listening(port: number, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve();
      });
      c.once('error', () => {
        c.destroy();
        if (Date.now() - t0 > timeoutMs) reject(new Error(`nothing listens on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

function pgUser(): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root and there is no postgres user for initdb');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** A server of `backend`'s kind whose only valid password is `password`. */
export async function startAuthServer(backend: Exclude<BackendName, 'sqlite'>, password: string): Promise<AuthServer> {
  const dir = mkdtempSync(join(tmpdir(), `jobctl-auth-${backend}-`));
  const port = await freePort();
  let child: ChildProcess;
  let url: (pw: string) => string;
  if (backend === 'redis') {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--requirepass', password],
      {
        stdio: 'ignore',
      },
    );
    url = (pw) => `redis://:${pw}@127.0.0.1:${port}`;
  } else if (backend === 'nats') {
    child = spawn(
      '/usr/sbin/nats-server',
      ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, '--user', 'app', '--pass', password],
      {
        stdio: 'ignore',
      },
    );
    url = (pw) => `nats://app:${pw}@127.0.0.1:${port}`;
  } else {
    const bin = '/usr/lib/postgresql/15/bin';
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, `${password}\n`);
    const data = join(dir, 'data');
    // initdb and postgres refuse to run as root: run them as the machine's postgres user
    const asUser: { uid?: number; gid?: number } = process.getuid?.() === 0 ? pgUser() : {};
    if (asUser.uid !== undefined && asUser.gid !== undefined) {
      chownSync(dir, asUser.uid, asUser.gid);
      chownSync(pwfile, asUser.uid, asUser.gid);
    }
    const init = spawnSync(
      `${bin}/initdb`,
      ['-D', data, '-U', 'app', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync'],
      {
        encoding: 'utf8',
        ...asUser,
      },
    );
    if (init.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`initdb failed: ${init.stderr}`);
    }
    child = spawn(
      `${bin}/postgres`,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'shared_buffers=16MB',
      ],
      { stdio: 'ignore', ...asUser },
    );
    url = (pw) => `postgres://app:${pw}@127.0.0.1:${port}/postgres`;
  }
  await listening(port, 20_000);
  if (backend === 'pg') await new Promise((r) => setTimeout(r, 300)); // accepting TCP before ready for logins
  return { url, stop: stopper(child, dir) };
}
