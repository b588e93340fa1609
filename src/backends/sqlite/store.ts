/**
 * The open database: statements prepared once and cached by name (the files in ./sql), and
 * transactions. Every mutation runs in BEGIN IMMEDIATE so that concurrent processes queue on
 * the write lock (busy_timeout) instead of failing on a lock upgrade.
 */
import type Database from 'better-sqlite3';
import { sql } from './sql.generated.js';

export type SqlName = keyof typeof sql;
export type SqlValue = string | number | bigint | null;
export type Params = Record<string, SqlValue>;

type Stmt = Database.Statement<[Params], unknown>;

export class Store {
  private readonly cache = new Map<SqlName, Stmt>();
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(readonly db: Database.Database) {
    this.tx = db.transaction((fn: () => unknown) => fn());
  }

  private st(name: SqlName): Stmt {
    let s = this.cache.get(name);
    if (!s) {
      s = this.db.prepare<[Params], unknown>(sql[name]);
      this.cache.set(name, s);
    }
    return s;
  }

  get<R>(name: SqlName, params: Params = {}): R | undefined {
    return this.st(name).get(params) as R | undefined;
  }

  all<R>(name: SqlName, params: Params = {}): R[] {
    return this.st(name).all(params) as R[];
  }

  /** Run a write statement; returns the number of changed rows. */
  run(name: SqlName, params: Params = {}): number {
    return this.st(name).run(params).changes;
  }

  /** fn in one BEGIN IMMEDIATE transaction (rolled back when it throws). */
  write<T>(fn: () => T): T {
    return this.tx.immediate(fn) as T;
  }

  /** fn in one read transaction: a consistent snapshot across statements. */
  read<T>(fn: () => T): T {
    return this.tx.deferred(fn) as T;
  }

  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
