// Postgres server CPU of one jobctl schema's connections, for the pg CPU-per-job scripts
// (pg-outcomes.mjs, pg-enqueue.mjs, pg-work-cpu.mjs): the server backends are found by
// application name, their CPU read from /proc (user + system clock ticks).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { applyPgVariant } from './pg-variant.mjs';

/**
 * Pids of the server backends serving this schema's jobctl pool (`jobctl:<schema>`), and with
 * `listener` also its LISTEN connection (`jobctl-listen:<schema>`).
 */
export async function backendPids(admin, schema, { listener = false } = {}) {
  const names = [`jobctl:${schema}`, ...(listener ? [`jobctl-listen:${schema}`] : [])];
  const r = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1)', [names]);
  return r.rows.map((row) => row.pid);
}

/** A value read from /proc/<pid>/<file>, or null when the process is gone. */
function fromProc(pid, file, parse) {
  try {
    return parse(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
  } catch {
    return null;
  }
}

/** CPU clock ticks (user + system) of one process, or null when it is gone. */
export const processTicks = (pid) =>
  fromProc(pid, 'stat', (text) => {
    const f = text.split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  });

/** CPU time of one process in microseconds (schedstat: ns resolution), or null when it is gone. */
export const processCpuUs = (pid) => fromProc(pid, 'schedstat', (text) => Number(text.split(' ')[0]) / 1000);

async function sumOverBackends(admin, schema, read) {
  let t = 0;
  for (const pid of await backendPids(admin, schema)) t += read(pid) ?? 0;
  return t;
}

/** Total CPU clock ticks of the schema's live server backends. */
export const backendTicks = (admin, schema) => sumOverBackends(admin, schema, processTicks);

/** Total CPU time in microseconds (schedstat) of the schema's live server backends. */
export const backendCpuUs = (admin, schema) => sumOverBackends(admin, schema, processCpuUs);

/**
 * A throwaway schema for a CPU probe: dropped if it exists, opened and migrated through jobctl's
 * `connect`, then EXTRA_SQL run and SQL_OVERRIDE applied (experiments, pg-variant.mjs). Returns
 * the admin client too.
 */
export async function freshSchema(connect, url, schema) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const client = await connect(url, { backend: 'pg', namespace: schema });
  await client.backend.migrate();
  await applyPgVariant(client.backend, schema, (text) => admin.query(text));
  return { admin, client };
}
