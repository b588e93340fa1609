/**
 * Handlers for scenario 8 (poison jobs): `rel` from ledger-handlers.mjs plus three jobs that never
 * succeed. Each poison run first appends `jobId\tattempt\tpid\tname\tstartMs` to JOBCTL_POISON_LEDGER, so
 * the test counts the attempts that really started.
 *   throws  — throws at once
 *   hangs   — never settles and ignores ctx.signal (the job's timeout must end the attempt)
 *   suicide — SIGKILLs its own worker process (the attempt ends by orphan rescue)
 */
import { appendFileSync } from 'node:fs';
export { rel } from './ledger-handlers.mjs';

const POISON = process.env.JOBCTL_POISON_LEDGER;
if (!POISON) throw new Error('JOBCTL_POISON_LEDGER is not set');
const mark = (ctx, name) =>
  appendFileSync(POISON, `${ctx.job.id}\t${ctx.attempt}\t${process.pid}\t${name}\t${Date.now()}\n`, { flag: 'a' });

export async function throws(_payload, ctx) {
  mark(ctx, 'throws');
  throw new Error('poison: this job always throws');
}

export function hangs(_payload, ctx) {
  mark(ctx, 'hangs');
  // a timer keeps the promise "busy" forever; ctx.signal is deliberately ignored
  return new Promise(() => setInterval(() => {}, 60_000));
}

export function suicide(_payload, ctx) {
  mark(ctx, 'suicide');
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => {});
}
