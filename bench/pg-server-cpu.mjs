// Postgres server CPU of one jobctl schema's connections, for the pg CPU-per-job scripts
// (pg-outcomes.mjs, pg-enqueue.mjs, pg-work-cpu.mjs): the server backends are found by
// application name, their CPU read from /proc (user + system clock ticks).
import { readFileSync } from 'node:fs';

/**
 * Pids of the server backends serving this schema's jobctl pool (`jobctl:<schema>`), and with
 * `listener` also its LISTEN connection (`jobctl-listen:<schema>`).
 */
export async function backendPids(admin, schema, { listener = false } = {}) {
  const names = [`jobctl:${schema}`, ...(listener ? [`jobctl-listen:${schema}`] : [])];
  const r = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1)', [names]);
  return r.rows.map((row) => row.pid);
}

/** CPU clock ticks (user + system) of one process, or null when it is gone. */
export function processTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

/** Total CPU clock ticks of the schema's live server backends. */
export async function backendTicks(admin, schema) {
  let t = 0;
  for (const pid of await backendPids(admin, schema)) t += processTicks(pid) ?? 0;
  return t;
}
