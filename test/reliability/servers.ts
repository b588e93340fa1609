/**
 * Throwaway servers for the reliability scenarios that kill, restart or pause a server (never the
 * shared ones on 5432/6379/4222): redis-server (AOF, appendfsync always), nats-server (JetStream,
 * own store dir) and PostgreSQL (initdb + postgres, fsync on), each on a free 127.0.0.1 port in
 * its own temp dir, started in its own process group so that a kill or a pause reaches every
 * process of it (Postgres backends included).
 *
 *   const s = await startServer('redis');   // s.url for JOBCTL_URL
 *   await s.kill9(); await s.start();       // same port, same data dir
 *   s.pause(); … s.resume();                // SIGSTOP / SIGCONT the whole group
 *   await s.destroy();                      // also done by destroyAllServers() and at process exit
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listProcs } from './procs.js';

export type ServerKind = 'pg' | 'redis' | 'nats';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const NATS_BIN = '/usr/sbin/nats-server';
const REDIS_BIN = 'redis-server';

/** Postgres refuses to run as root: run it as the machine's `postgres` user when we are root. */
function pgUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0)
    throw new Error('running as root and there is no `postgres` user for a throwaway Postgres');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Every live descendant of `root`. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of listProcs()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

const live = new Set<ThrowawayServer>();
let exitHook = false;

export class ThrowawayServer {
  readonly dir: string;
  readonly url: string;
  private proc: ChildProcess | null = null;
  private logTail = '';
  private paused = false;
  private readonly user: { uid: number; gid: number } | undefined;

  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `jobctl-rel-${kind}-`));
    this.user = kind === 'pg' ? pgUser() : undefined;
    if (this.user) chownSync(this.dir, this.user.uid, this.user.gid);
    this.url =
      kind === 'pg'
        ? `postgres://postgres@127.0.0.1:${port}/postgres`
        : kind === 'redis'
          ? `redis://127.0.0.1:${port}`
          : `nats://127.0.0.1:${port}`;
  }

  static async create(kind: ServerKind): Promise<ThrowawayServer> {
    const s = new ThrowawayServer(kind, await freePort());
    live.add(s);
    if (!exitHook) {
      exitHook = true;
      // last resort (a crashed test file): no server outlives the test process
      process.once('exit', () => {
        for (const x of live) x.destroySync();
      });
    }
    try {
      if (kind === 'pg') s.initdb();
      await s.start();
    } catch (e) {
      s.destroySync();
      throw e;
    }
    return s;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last lines the server printed (for failure messages). */
  get log(): string {
    return this.logTail;
  }

  private get pgData(): string {
    return join(this.dir, 'data');
  }

  private initdb(): void {
    const r = spawnSync(
      `${PG_BIN}/initdb`,
      ['-D', this.pgData, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--locale=C'],
      { cwd: this.dir, encoding: 'utf8', ...(this.user ?? {}), timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`initdb failed (${r.status}): ${r.stderr}${r.stdout}`);
    // durable settings: fsync and synchronous commit on (the defaults, stated so that they are visible)
    writeFileSync(
      join(this.pgData, 'postgresql.auto.conf'),
      'fsync = on\nsynchronous_commit = on\nfull_page_writes = on\nshared_buffers = 32MB\nmax_connections = 100\n',
    );
    if (this.user) chownSync(join(this.pgData, 'postgresql.auto.conf'), this.user.uid, this.user.gid);
  }

  private command(): { bin: string; args: string[]; ready: RegExp } {
    switch (this.kind) {
      case 'pg':
        return {
          bin: `${PG_BIN}/postgres`,
          args: ['-D', this.pgData, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1'],
          ready: /database system is ready to accept connections/,
        };
      case 'redis':
        return {
          bin: REDIS_BIN,
          args: [
            '--port',
            String(this.port),
            '--bind',
            '127.0.0.1',
            '--dir',
            this.dir,
            '--appendonly',
            'yes',
            '--appendfsync',
            'always',
            '--save',
            '',
            '--protected-mode',
            'no',
            '--daemonize',
            'no',
          ],
          ready: /Ready to accept connections/,
        };
      case 'nats':
        return {
          bin: NATS_BIN,
          args: ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', join(this.dir, 'js')],
          ready: /Server is ready/,
        };
    }
  }

  /** Start (or start again, on the same port and data dir) and wait until it accepts connections. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error(`${this.kind} server already running (pid ${this.pid})`);
    const { bin, args, ready } = this.command();
    const proc = spawn(bin, args, { cwd: this.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) });
    this.proc = proc;
    this.paused = false;
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(
        () => fail(new Error(`${this.kind} server not ready within ${timeoutMs} ms:\n${seen.slice(-3000)}`)),
        timeoutMs,
      );
      const onData = (d: Buffer) => {
        const s = d.toString('utf8');
        seen += s;
        this.logTail = (this.logTail + s).slice(-20_000);
        if (ready.test(seen)) done();
      };
      const onExit = (code: number | null, sig: string | null) =>
        fail(new Error(`${this.kind} server exited during start (code ${code}, signal ${sig}):\n${seen.slice(-3000)}`));
      const cleanup = () => {
        clearTimeout(timer);
        proc.removeListener('exit', onExit);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const fail = (e: Error) => {
        cleanup();
        reject(e);
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('exit', onExit);
    });
    // keep collecting the tail after start
  }

  /**
   * Signal the server's process group and every descendant of the server process: Postgres
   * backends call setsid() (each is its own group), so the group alone would reach only the
   * postmaster and a "paused" server would go on answering on open connections.
   */
  private signalGroup(sig: NodeJS.Signals): void {
    if (!this.proc?.pid) return;
    for (const target of [-this.proc.pid, ...descendants(this.proc.pid)]) {
      try {
        process.kill(target, sig);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
  }

  private exited(timeoutMs: number): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind} server did not exit within ${timeoutMs} ms`)), timeoutMs);
      p.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** SIGKILL every process of the server (a crash: no shutdown, no final fsync) and wait for it. */
  async kill9(): Promise<void> {
    this.signalGroup('SIGKILL');
    await this.exited(10_000);
    this.paused = false;
  }

  /** Postgres: `pg_ctl stop -m fast|immediate`; the others: SIGTERM (a clean stop). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.kind === 'pg') {
      const r = spawnSync(`${PG_BIN}/pg_ctl`, ['stop', '-D', this.pgData, '-m', mode, '-w', '-t', '60'], {
        cwd: this.dir,
        encoding: 'utf8',
        ...(this.user ?? {}),
      });
      if (r.status !== 0) throw new Error(`pg_ctl stop -m ${mode} failed (${r.status}): ${r.stderr}${r.stdout}`);
    } else this.signalGroup('SIGTERM');
    await this.exited(60_000);
  }

  /** SIGSTOP the whole server (it keeps its sockets open but answers nothing). */
  pause(): void {
    this.signalGroup('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.signalGroup('SIGCONT');
    this.paused = false;
  }

  destroySync(): void {
    if (this.proc?.pid) {
      try {
        this.signalGroup('SIGKILL'); // works on stopped processes too
      } catch {
        /* gone */
      }
    }
    this.proc = null;
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    if (this.paused) this.resume();
    this.signalGroup('SIGKILL');
    await this.exited(10_000).catch(() => {});
    this.destroySync();
  }
}

export const startServer = (kind: ServerKind) => ThrowawayServer.create(kind);

/** For afterAll: every server this process started. */
export async function destroyAllServers(): Promise<void> {
  await Promise.all([...live].map((s) => s.destroy()));
}
