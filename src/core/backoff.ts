/**
 * Exponential back-off with full jitter for retries: attempt n (1-based, the attempt that just
 * failed) waits a random time in [base·2^(n-1)/2, base·2^(n-1)], capped at `maxMs`.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 60 * 60 * 1000 };

export function retryDelayMs(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, rand: () => number = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt - 1));
  const half = exp / 2;
  return Math.round(half + rand() * half);
}
