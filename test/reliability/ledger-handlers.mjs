/**
 * Handlers module for the reliability suite (`jobctl work --handlers test/reliability/ledger-handlers.mjs`).
 * Plain JS because the worker (bin/run.js on Node 20) imports it directly.
 *
 * Job `rel` sleeps `payload.ms` (default 5) and then appends one line
 * `jobId\tattempt\tpid\tstartMs\tendMs\n` to the file named by JOBCTL_LEDGER: one
 * appendFileSync (O_APPEND, a single short write) per run, so concurrent workers never interleave.
 * A run whose process dies before the handler returns writes nothing (it did not complete).
 */
import { appendFileSync } from 'node:fs';

const LEDGER = process.env.JOBCTL_LEDGER;
if (!LEDGER) throw new Error('JOBCTL_LEDGER is not set');

export async function rel(payload, ctx) {
  const startMs = Date.now();
  const ms = payload && typeof payload.ms === 'number' ? payload.ms : 5;
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  const endMs = Date.now();
  appendFileSync(LEDGER, `${ctx.job.id}\t${ctx.attempt}\t${process.pid}\t${startMs}\t${endMs}\n`, { flag: 'a' });
  return null;
}
