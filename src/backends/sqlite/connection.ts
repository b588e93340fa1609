/**
 * Opening the database file: pragmas for several processes on one machine (WAL, busy timeout),
 * and SQLite failures turned into JobctlErrors that say what to do.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { JobctlError, PermissionError, SchemaError, UnavailableError } from '../../core/errors.js';
import { MEMORY, type SqliteLocation } from './url.js';

/**
 * How long a statement waits for another process's write lock. SQLite's busy handler is not a
 * queue: with 16 worker processes claiming and completing on one file (reliability scenario 7,
 * 100,000 jobs) one of them waited past 5 s and logged "locked by another process"; 15 s keeps
 * that a real problem (a long transaction elsewhere), not contention.
 */
export const BUSY_TIMEOUT_MS = 15_000;

export function openDatabase(loc: SqliteLocation, create: boolean): Database.Database {
  if (loc.path !== MEMORY && create) {
    try {
      mkdirSync(dirname(loc.path), { recursive: true });
    } catch (e) {
      throw new PermissionError(
        `cannot create the directory ${dirname(loc.display)} for the jobctl database: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        'choose a writable location with --url',
      );
    }
  }
  let db: Database.Database;
  try {
    db = new Database(loc.path, { fileMustExist: !create && loc.path !== MEMORY });
  } catch (e) {
    throw mapSqliteError(e, loc.display);
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (loc.path !== MEMORY) enableWal(db);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = OFF');
    // a bigger page cache (32 MiB) keeps the hot indexes in memory under load
    db.pragma('cache_size = -32768');
    db.pragma('temp_store = MEMORY');
    // touch the file header so "not a database" shows up here, not in the first command
    db.pragma('user_version', { simple: true });
  } catch (e) {
    db.close();
    throw mapSqliteError(e, loc.display);
  }
  return db;
}

/**
 * Switch the file to WAL (a no-op when it already is). The switch needs an exclusive lock; while
 * another process writes the file in rollback-journal mode, SQLite answers it with SQLITE_BUSY at
 * once instead of calling the busy handler (waiting could deadlock). Two processes starting
 * together on a new file (a worker and `trigger --wait`) made one of them fail with "locked"
 * about once in twenty starts. So the switch is retried here, up to the busy timeout, with short
 * sleeps (opening is synchronous).
 */
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if (!String((e as { code?: unknown }).code).startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw e;
      Atomics.wait(SLEEPER, 0, 0, 5 + Math.floor(Math.random() * 20));
    }
  }
}
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export function fileExists(loc: SqliteLocation): boolean {
  return loc.path === MEMORY || existsSync(loc.path);
}

/** A better-sqlite3 / SQLite failure as a JobctlError; JobctlErrors pass through. */
export function mapSqliteError(e: unknown, where: string): Error {
  if (e instanceof JobctlError) return e;
  const err = e as { code?: string; message?: string };
  const code = typeof err.code === 'string' ? err.code : '';
  const msg = err.message ?? String(e);
  if (code === 'SQLITE_NOTADB') {
    return new SchemaError(`${where} is not an SQLite database`, 'point --url at a jobctl database file');
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new UnavailableError(
      `the jobctl database at ${where} is locked by another process (waited ${BUSY_TIMEOUT_MS / 1000}s)`,
      {
        hint: 'retry; if it persists, look for a process holding a long transaction on this file',
        cause: e,
      },
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new PermissionError(
      `the jobctl database at ${where} is not writable: ${msg}`,
      'check the permissions of the file and its directory',
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new UnavailableError(`cannot open the jobctl database at ${where}: ${msg}`, {
      hint: 'check that the path exists and is readable and writable (directory too)',
      cause: e,
    });
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new SchemaError(
      `the jobctl database at ${where} is damaged: ${msg}`,
      'restore it from a backup, or move it away and start a new one',
    );
  }
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) {
    return new UnavailableError(`cannot write the jobctl database at ${where}: ${msg}`, {
      hint: 'check free disk space and the disk itself',
      cause: e,
    });
  }
  if (code.startsWith('SQLITE_')) {
    return new JobctlError(`sqlite error on ${where}: ${msg}`, { code: 'internal', exitCode: 1, cause: e });
  }
  return e instanceof Error ? e : new Error(msg);
}
