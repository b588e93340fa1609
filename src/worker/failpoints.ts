/**
 * Failpoints for the reliability suite: `JOBCTL_FAILPOINT=after-claim|after-handler|before-ack|after-outcome`
 * makes the worker SIGKILL itself at that step (read once when the worker is created).
 * - after-claim:   jobs were claimed, no handler started          → each runs once more
 * - after-handler: a handler finished, its outcome not yet queued  → runs once more
 * - before-ack:    outcomes are about to be written to the backend → run once more
 * - after-outcome: the backend confirmed the first outcome write    → never runs again
 */
import { UsageError } from '../core/errors.js';

export const FAILPOINTS = ['after-claim', 'after-handler', 'before-ack', 'after-outcome'] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export function parseFailpoint(value: string | undefined): Failpoint | null {
  if (value === undefined || value.trim() === '') return null;
  const v = value.trim();
  if ((FAILPOINTS as readonly string[]).includes(v)) return v as Failpoint;
  throw new UsageError(`unknown JOBCTL_FAILPOINT "${v}"`, `use one of: ${FAILPOINTS.join(', ')}`);
}

/** Die at once, as a crash would: no cleanup, no outcome, no unregister. */
export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered asynchronously; never continue past a failpoint.
  for (;;) {
    /* wait for the signal */
  }
}
