/** Shared by the Postgres tests: random schemas on the local server, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Backend } from '../../../src/core/backend.js';
import { open } from '../../../src/backends/postgres/index.js';

export const PG_URL = process.env.JOBCTL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const randomSchema = (prefix = 'jct') => `${prefix}_${randomBytes(6).toString('hex')}`;

const created = new Set<string>();

/** A backend on a fresh schema (migrated unless told otherwise); the schema is dropped by dropSchemas(). */
export async function openPg(opts: { schema?: string; autoMigrate?: boolean } = {}): Promise<Backend> {
  const schema = opts.schema ?? randomSchema();
  created.add(schema);
  const b = await open({ url: PG_URL, namespace: schema, autoMigrate: opts.autoMigrate ?? true });
  if (opts.autoMigrate !== false) await b.migrate();
  return b;
}

export async function admin<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

export async function dropSchemas(): Promise<void> {
  const names = [...created];
  created.clear();
  for (const s of names) await admin(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => {});
}

export function trackSchema(schema: string): void {
  created.add(schema);
}
