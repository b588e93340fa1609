/**
 * Numbered migrations tracked in PRAGMA user_version, applied in one BEGIN IMMEDIATE so that
 * two processes migrating at once do it once. A database newer than this code is refused.
 */
import type Database from 'better-sqlite3';
import type { MigrateResult } from '../../core/backend.js';
import { SchemaError } from '../../core/errors.js';
import { sql } from './sql.generated.js';

/** Migration N is MIGRATIONS[N - 1]. */
export const MIGRATIONS: readonly string[] = [sql.schema001];
export const SCHEMA_VERSION = MIGRATIONS.length;

export function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function checkNotNewer(version: number, where: string): void {
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      `the jobctl database at ${where} has schema version ${version}, newer than this jobctl understands (${SCHEMA_VERSION})`,
      'upgrade jobctl to the version that wrote this database',
    );
  }
}

export function migrate(db: Database.Database, where: string): MigrateResult {
  const from = userVersion(db);
  checkNotNewer(from, where);
  if (from === SCHEMA_VERSION) return { from, to: from };
  const apply = db.transaction(() => {
    // read again under the write lock: another process may have migrated meanwhile
    const current = userVersion(db);
    checkNotNewer(current, where);
    for (let v = current; v < SCHEMA_VERSION; v++) {
      try {
        db.exec(MIGRATIONS[v]!);
      } catch (e) {
        throw new SchemaError(
          `cannot create the jobctl schema (version ${v + 1}) in ${where}: ${(e as Error).message}`,
          'point --url at a new file or a database created by jobctl',
        );
      }
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return current;
  });
  const before = apply.immediate();
  return { from: before, to: SCHEMA_VERSION };
}
