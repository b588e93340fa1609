/**
 * Numbered migrations. `migrate` runs in one transaction under pg_advisory_xact_lock (keyed by
 * the schema name), so two migrators at once are safe: the second waits, then finds nothing to
 * do. A database at a newer version than this binary knows is refused.
 */
import type pg from 'pg';
import type { MigrateResult } from '../../core/backend.js';
import { SchemaError } from '../../core/errors.js';
import type { SqlName, Statement } from './connection.js';

export const MIGRATIONS: readonly { version: number; file: SqlName }[] = [
  { version: 1, file: 'migration001' },
  { version: 2, file: 'migration002' },
];
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

type Statements = Record<SqlName, Statement>;

export function newerVersionError(schema: string, version: number): SchemaError {
  return new SchemaError(
    `the jobctl schema "${schema}" is at version ${version}, newer than this jobctl understands (${LATEST_VERSION})`,
    'upgrade jobctl to the version that migrated this database',
  );
}

/** The applied version, 0 when the schema or its version table does not exist. */
export async function readVersion(db: pg.Pool | pg.PoolClient, st: Statements): Promise<number> {
  try {
    const r = await db.query<{ version: number | null }>(st.schemaVersion.text);
    return r.rows[0]?.version ?? 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '42P01' || code === '3F000') return 0;
    throw e;
  }
}

export async function runMigrations(pool: pg.Pool, st: Statements, schema: string): Promise<MigrateResult> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    await client.query(st.migrateLock.text, [`jobctl.migrate:${schema}`]);
    await client.query(st.schemaCreate.text);
    const from = await readVersion(client, st);
    if (from > LATEST_VERSION) throw newerVersionError(schema, from);
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await client.query(st[m.file].text);
      await client.query(st.schemaVersionInsert.text, [m.version]);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, LATEST_VERSION) };
  } catch (e) {
    failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release(failed ? true : undefined);
  }
}
