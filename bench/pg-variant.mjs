// Variants of the pg backend's SQL for experiments, without a build: EXTRA_SQL runs once the schema
// is migrated (__S__ = the schema name; e.g. DDL of a variant), SQL_OVERRIDE replaces statements
// of the opened backend (comma-separated name=file, the names of sql.generated.ts, e.g.
// `completeJobs=bench/pg-variants/complete-finished.sql`; __SCHEMA__ becomes the quoted schema as
// in connection.ts). Used by bench/run.mjs (pg) and the CPU probes (pg-server-cpu.mjs freshSchema).
import { readFileSync } from 'node:fs';

/** Runs EXTRA_SQL through `run` (a query function), then swaps the SQL_OVERRIDE statements in. */
export async function applyPgVariant(backend, schema, run = (text) => backend.ctx.pool.query(text)) {
  if (process.env.EXTRA_SQL) await run(process.env.EXTRA_SQL.replace(/__S__/g, schema));
  for (const pair of (process.env.SQL_OVERRIDE ?? '').split(',').filter(Boolean)) {
    const [name, file] = pair.split('=');
    if (!backend.ctx.st[name]) throw new Error(`SQL_OVERRIDE: no statement ${name}`);
    const text = readFileSync(file, 'utf8').replace(/__SCHEMA__/g, `"${schema}"`);
    backend.ctx.st[name] = { name: `${backend.ctx.st[name].name}_variant`, text };
  }
}
