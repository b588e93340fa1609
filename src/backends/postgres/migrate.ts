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
  { version: 3, file: 'migration003' },
  { version: 4, file: 'migration004' },
  { version: 5, file: 'migration005' },
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

/**
 * Migrations may run long (DDL on big tables, waiting for the migration lock): they run without
 * the pool's statement_timeout (SET LOCAL, this transaction only) and with this client-side bound
 * instead of the pool's query_timeout (connection.ts).
 */
export const MIGRATE_QUERY_TIMEOUT_MS = 3_600_000;

export async function runMigrations(pool: pg.Pool, st: Statements, schema: string): Promise<MigrateResult> {
  const client = await pool.connect();
  let failed = false;
  const run = (text: string, values?: unknown[]) =>
    client.query({ text, values, query_timeout: MIGRATE_QUERY_TIMEOUT_MS } as pg.QueryConfig);
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL statement_timeout = 0');
    await run(st.migrateLock.text, [`jobctl.migrate:${schema}`]);
    await run(st.schemaCreate.text);
    const from = await readVersion(client, st);
    if (from > LATEST_VERSION) throw newerVersionError(schema, from);
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await run(st[m.file].text);
      await run(st.schemaVersionInsert.text, [m.version]);
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
