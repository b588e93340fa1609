/**
 * Handlers module for the reliability suite (`jobctl work --handlers test/reliability/ledger-handlers.mjs`).
 * Plain JS because the worker (bin/run.js on Node 20) imports it directly.
 *
 * Job `rel` sleeps and then appends one line `jobId\tattempt\tpid\tstartMs\tendMs\n` to the file
 * named by JOBCTL_LEDGER: one appendFileSync (O_APPEND, a single short write) per run, so
 * concurrent workers never interleave. A run whose process dies before the handler returns
 * writes nothing (it did not complete).
 *
 * Payload: `ms` (default 5) how long to sleep; `msByAttempt` (e.g. [20000, 50]) overrides it for
 * attempt n (the last value for later attempts); `abortable: true` ends the sleep when the
 * worker aborts the run (ctx.signal), appends `jobId\tattempt\tpid\tabortMs\treason` to
 * `<ledger>.aborts` and throws. Every run also appends `jobId\tattempt\tpid\tstartMs` to
 * `<ledger>.starts` when it starts (for "nothing started after the signal" and limbo).
 */
import { appendFileSync } from 'node:fs';

const LEDGER = process.env.JOBCTL_LEDGER;
if (!LEDGER) throw new Error('JOBCTL_LEDGER is not set');

const oneLine = (s) =>
  String(s)
    .replace(/[\t\r\n]+/g, ' ')
    .slice(0, 200);

export async function rel(payload, ctx) {
  const startMs = Date.now();
  appendFileSync(`${LEDGER}.starts`, `${ctx.job.id}\t${ctx.attempt}\t${process.pid}\t${startMs}\n`, { flag: 'a' });
  const p = payload && typeof payload === 'object' ? payload : {};
  let ms = typeof p.ms === 'number' ? p.ms : 5;
  if (Array.isArray(p.msByAttempt) && p.msByAttempt.length > 0)
    ms = p.msByAttempt[Math.min(ctx.attempt, p.msByAttempt.length) - 1];
  if (ms > 0) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      if (p.abortable) {
        const onAbort = () => {
          clearTimeout(timer);
          const why = oneLine(ctx.signal.reason?.message ?? ctx.signal.reason ?? 'aborted');
          appendFileSync(`${LEDGER}.aborts`, `${ctx.job.id}\t${ctx.attempt}\t${process.pid}\t${Date.now()}\t${why}\n`, {
            flag: 'a',
          });
          reject(new Error(`aborted: ${why}`));
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }
  const endMs = Date.now();
  appendFileSync(LEDGER, `${ctx.job.id}\t${ctx.attempt}\t${process.pid}\t${startMs}\t${endMs}\n`, { flag: 'a' });
  return null;
}
