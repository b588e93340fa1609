/** SQLite backend: the conformance suite on temp files, plus what only SQLite has. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/backend.js';
import { SchemaError, ValidationError } from '../../src/core/errors.js';
import { normalizeEnqueue } from '../../src/core/job.js';
import { open, SCHEMA_VERSION } from '../../src/backends/sqlite/index.js';
import { BUSY_TIMEOUT_MS } from '../../src/backends/sqlite/connection.js';
import { runConformanceSuite } from '../conformance/suite.js';

const dir = mkdtempSync(join(tmpdir(), 'jobctl-sqlite-test-'));
let n = 0;
const newPath = () => join(dir, `t${++n}-${process.pid}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runConformanceSuite({
  name: 'sqlite',
  async open() {
    const url = newPath();
    return { backend: await open({ url, autoMigrate: true }), openAnother: () => open({ url }) };
  },
});

describe('sqlite backend only', () => {
  const opened: Backend[] = [];
  const track = async (p: Promise<Backend>) => {
    const b = await p;
    opened.push(b);
    return b;
  };
  afterAll(async () => {
    await Promise.all(opened.map((b) => b.close()));
  });

  it('accepts file paths, sqlite: and file: URLs, and :memory:', async () => {
    const abs = newPath();
    for (const url of [abs, `sqlite://${abs}`, `sqlite:${abs}`, `file://${abs}`]) {
      const b = await track(open({ url, autoMigrate: true }));
      await b.enqueue([normalizeEnqueue({ name: 'x' })]);
    }
    const b = await track(open({ url: abs }));
    expect((await b.listJobs({ limit: 10 })).jobs).toHaveLength(4);
    const mem = await track(open({ url: ':memory:', autoMigrate: true }));
    expect((await mem.enqueue([normalizeEnqueue({ name: 'm' })]))[0]!.created).toBe(true);
    const nested = join(dir, 'a', 'b', 'jobs.db');
    await track(open({ url: `sqlite:${nested}`, autoMigrate: true }));
    expect(existsSync(nested)).toBe(true);
  });

  it('read-only open of a missing file writes nothing and says how to create it; migrate() creates it', async () => {
    const path = join(dir, 'missing', 'jobs.db');
    const b = await track(open({ url: path }));
    const err = await b.stats({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as Error).message).toContain(path);
    expect((err as SchemaError).hint).toMatch(/jobctl migrate/);
    await expect(b.listJobs({ limit: 1 })).rejects.toBeInstanceOf(SchemaError);
    expect(existsSync(path)).toBe(false);
    expect(await b.migrate()).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect((await b.stats({})).queues).toEqual([]);
    expect(await b.migrate()).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
  });

  it('refuses a database with a newer schema version', async () => {
    const path = newPath();
    await (await open({ url: path, autoMigrate: true })).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    for (const autoMigrate of [true, false]) {
      const err = await open({ url: path, autoMigrate }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toMatch(/newer/);
    }
  });

  it('a file that is not a database gives a clear error', async () => {
    const path = newPath();
    writeFileSync(path, 'this is not sqlite '.repeat(100));
    const err = await open({ url: path, autoMigrate: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as Error).message).toMatch(/not an SQLite database/);
  });

  it('normalizeId: only canonical decimal ids up to 2^63-1', async () => {
    const b = await track(open({ url: ':memory:', autoMigrate: true }));
    expect(b.normalizeId('9223372036854775807')).toBe('9223372036854775807');
    for (const bad of ['9223372036854775808', '99999999999999999999', '0', '007', '-1', '1e3', ' 7', '7 ', '1_000'])
      expect(() => b.normalizeId(bad), bad).toThrow(ValidationError);
  });

  it('handles ids above 2^53 exactly', async () => {
    const path = newPath();
    const b = await track(open({ url: path, autoMigrate: true }));
    await b.enqueue([normalizeEnqueue({ name: 'first' })]);
    const raw = new Database(path);
    raw.prepare("UPDATE sqlite_sequence SET seq = 9007199254740992 WHERE name = 'jobs'").run();
    raw.close();
    const [a, c] = (
      await b.enqueue([normalizeEnqueue({ name: 'a', queue: 'big' }), normalizeEnqueue({ name: 'c', queue: 'big' })])
    ).map((r) => r.job);
    expect(a!.id).toBe('9007199254740993');
    expect(c!.id).toBe('9007199254740994');
    expect((await b.getJob('9007199254740993'))!.name).toBe('a');
    expect((await b.getJob('9007199254740994'))!.name).toBe('c');
    expect(await b.getJob('9007199254740995')).toBeNull();
    const page = await b.listJobs({ queue: 'big', limit: 1 });
    expect(page.next).toBe('9007199254740993');
    expect((await b.listJobs({ queue: 'big', limit: 1, after: page.next! })).jobs[0]!.id).toBe('9007199254740994');
    await b.registerWorker({ name: 'w', host: 'h', pid: 1, queues: ['big'], concurrency: 1, ttlMs: 60_000, version: 't' });
    const [j] = await b.claim({ workerId: 'w', queues: ['big'], limit: 1, leaseMs: 60_000 });
    expect(j!.id).toBe('9007199254740993');
    const r = await b.cancel({ ids: ['9007199254740994'] });
    expect(r.changed).toEqual(['9007199254740994']);
    expect((await b.getJob('9007199254740993'))!.state).toBe('running');
    expect((await b.complete([{ id: j!.id, attempt: 1, workerId: 'w' }]))[0]!.ok).toBe(true);
  });

  it('a payload stored as invalid JSON by someone else is reported, not thrown', async () => {
    const path = newPath();
    const b = await track(open({ url: path, autoMigrate: true }));
    const [r] = await b.enqueue([normalizeEnqueue({ name: 'x', payload: { a: 1 } })]);
    const raw = new Database(path);
    raw.prepare("UPDATE jobs SET payload = '{broken', errors = 'nope', result = '{x' WHERE id = ?").run(BigInt(r!.job.id));
    raw.close();
    const job = (await b.getJob(r!.job.id))!;
    expect(job.payload).toBe('{broken');
    expect(job.payloadError).toMatch(/not valid JSON/);
    expect(job.errors).toEqual([]);
    expect((await b.listJobs({ limit: 5 })).jobs[0]!.payloadError).toBeDefined();
  });

  it('a payload stored as invalid UTF-8 by someone else is reported, never handed on with replaced bytes', async () => {
    const path = newPath();
    const b = await track(open({ url: path, autoMigrate: true }));
    const [r] = await b.enqueue([normalizeEnqueue({ name: 'x', payload: { s: 'ok' } })]);
    const raw = new Database(path);
    // {"s":"\xff\xfe"}: valid JSON once the bytes are replaced by U+FFFD, but not what was stored
    raw
      .prepare('UPDATE jobs SET payload = CAST(? AS TEXT) WHERE id = ?')
      .run(Buffer.from('7b2273223a22fffe227d', 'hex'), BigInt(r!.job.id));
    raw.close();
    expect((await b.getJob(r!.job.id))!.payloadError).toBe('stored payload is not valid UTF-8');
    const [claimed] = await b.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    expect(claimed!.payloadError).toBe('stored payload is not valid UTF-8');
    // a valid payload with characters outside ASCII still reads back as written
    const [ok] = await b.enqueue([normalizeEnqueue({ name: 'x', payload: { s: 'é😀\ufffd' } })]);
    const back = (await b.getJob(ok!.job.id))!;
    expect(back.payload).toEqual({ s: 'é😀\ufffd' });
    expect(back.payloadError).toBeUndefined();
  });

  it('rescue() trims log lines older than 7 days and long-dead worker records', async () => {
    const b = await track(open({ url: newPath(), autoMigrate: true }));
    const day = 24 * 3600 * 1000;
    await b.appendLogs([
      { jobId: null, worker: 'w', queue: null, stream: 'event', message: 'old', ts: Date.now() - 8 * day },
      { jobId: null, worker: 'w', queue: null, stream: 'event', message: 'new' },
    ]);
    await b.registerWorker({ name: 'gone', host: 'h', pid: 1, queues: [], concurrency: 1, ttlMs: 1, version: 't' });
    await new Promise((r) => setTimeout(r, 5));
    await b.rescue({ limit: 10 });
    expect((await b.readLogs({ worker: 'w', limit: 10 })).lines.map((l) => l.message)).toEqual(['new']);
    // a worker dead for a moment is still listed (as dead)
    expect((await b.listWorkers()).map((w) => [w.name, w.alive])).toEqual([['gone', false]]);
  });

  it('a write waits for a lock another process holds for longer than 5 s (busy timeout 15 s: 16 workers on one file)', async () => {
    const url = newPath();
    const b = await track(open({ url, autoMigrate: true }));
    await b.enqueue([normalizeEnqueue({ name: 'first' })]);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(url)}); db.exec('BEGIN IMMEDIATE'); ` +
          `console.log('locked'); setTimeout(() => { db.exec('COMMIT'); process.exit(0); }, 6500);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && res()));
    const t0 = Date.now();
    const [r] = await b.enqueue([normalizeEnqueue({ name: 'second' })]);
    expect(r!.created).toBe(true);
    expect(Date.now() - t0).toBeGreaterThan(5000); // it really waited past the old 5 s limit
    expect(BUSY_TIMEOUT_MS).toBeGreaterThanOrEqual(15_000);
  }, 30_000);

  it('opening a file waits for another process that is writing it (the switch to WAL is retried: SQLite answers it with SQLITE_BUSY at once)', async () => {
    const url = newPath();
    // a file still in rollback-journal mode with a write in progress elsewhere: as when two
    // processes start together on a new file (a worker and `trigger --wait`)
    new Database(url).exec('CREATE TABLE t (x)');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(url)}); db.exec('BEGIN IMMEDIATE'); ` +
          `db.exec('INSERT INTO t VALUES (1)'); console.log('writing'); setTimeout(() => { db.exec('COMMIT'); process.exit(0); }, 700);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('writing') && res()));
    const t0 = Date.now();
    const b = await track(open({ url, autoMigrate: true }));
    expect(Date.now() - t0).toBeGreaterThan(300); // it waited for the writer
    const [r] = await b.enqueue([normalizeEnqueue({ name: 'after' })]);
    expect(r!.created).toBe(true);
    const check = new Database(url, { readonly: true });
    expect(check.pragma('journal_mode', { simple: true })).toBe('wal');
    check.close();
  }, 30_000);

  describe('two processes', () => {
    let bundle: string;
    beforeAll(async () => {
      // bundle the backend (TypeScript) into one ESM file the child processes can import
      const { build } = await import('rolldown');
      const require = createRequire(import.meta.url);
      const out = join(dir, 'bundle');
      await build({
        input: resolve(__dirname, '../../src/backends/sqlite/index.ts'),
        platform: 'node',
        external: ['better-sqlite3'],
        output: {
          dir: out,
          format: 'esm',
          entryFileNames: 'sqlite.mjs',
          paths: { 'better-sqlite3': require.resolve('better-sqlite3') },
        },
        logLevel: 'silent',
      });
      bundle = join(out, 'sqlite.mjs');
    }, 30_000);

    const child = (code: string, args: string[]) =>
      new Promise<string>((res, rej) => {
        const p = spawn(process.execPath, ['--input-type=module', '-e', code, '--', ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('exit', (c) => (c === 0 ? res(out) : rej(new Error(`child exited ${c}: ${err}`))));
      });

    it('several processes creating the same new database at once all succeed', async () => {
      const path = join(dir, 'fresh', 'sub', 'jobs.db');
      const code = `
        const { open } = await import(${JSON.stringify(bundle)});
        const b = await open({ url: process.argv.at(-1), autoMigrate: true });
        await b.enqueue([{ name: 'x', payloadJson: 'null', queue: 'q', priority: 0, runAt: null, maxAttempts: 1, timeoutMs: 1000, uniqueKey: null }]);
        await b.close();
      `;
      await Promise.all(Array.from({ length: 5 }, () => child(code, [path])));
      const b = await track(open({ url: path }));
      expect((await b.stats({ queue: 'q' })).queues[0]!.queued).toBe(5);
    }, 30_000);

    it('claim concurrently without double claims, and wake each other up', async () => {
      const path = newPath();
      const b = await track(open({ url: path, autoMigrate: true }));
      const N = 3000;
      await b.enqueue(Array.from({ length: N }, (_, i) => normalizeEnqueue({ name: 'p', queue: 'mp', payload: i })));
      const claimer = `
        const { open } = await import(${JSON.stringify(bundle)});
        const [path, name] = process.argv.slice(-2);
        const b = await open({ url: path });
        await b.registerWorker({ name, host: 'h', pid: process.pid, queues: ['mp'], concurrency: 8, ttlMs: 60000, version: 't' });
        const got = [];
        for (;;) {
          const jobs = await b.claim({ workerId: name, queues: ['mp'], limit: 8, leaseMs: 60000 });
          if (jobs.length === 0) break;
          for (const j of jobs) got.push(j.id);
          await b.complete(jobs.map((j) => ({ id: j.id, attempt: j.attempt, workerId: name, result: name })));
        }
        await b.close();
        process.stdout.write(JSON.stringify(got));
      `;
      const outs = await Promise.all([child(claimer, [path, 'p1']), child(claimer, [path, 'p2']), child(claimer, [path, 'p3'])]);
      const lists = outs.map((o) => JSON.parse(o) as string[]);
      const all = lists.flat();
      expect(all).toHaveLength(N);
      expect(new Set(all).size).toBe(N);
      const st = (await b.stats({ queue: 'mp' })).queues[0]!;
      expect(st).toMatchObject({ completed: N, queued: 0, running: 0 });

      // a waiter here wakes within ms of an enqueue in another process
      const enqueuer = `
        const { open } = await import(${JSON.stringify(bundle)});
        const b = await open({ url: process.argv.at(-2) });
        await new Promise((r) => setTimeout(r, 100));
        await b.enqueue([{ name: 'late', payloadJson: 'null', queue: 'wake', priority: 0, runAt: null, maxAttempts: 1, timeoutMs: 1000, uniqueKey: null }]);
        process.stdout.write(String(Date.now()));
        await b.close();
      `;
      const waiting = b.waitForWork(['wake'], 10_000).then(() => Date.now());
      const [enqueuedAt, wokeAt] = await Promise.all([child(enqueuer, [path, 'x']).then(Number), waiting]);
      expect(wokeAt - enqueuedAt).toBeLessThan(200);
    }, 30_000);
  });
});
