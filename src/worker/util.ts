/** Small helpers shared by the worker services. */
import { TimeoutError, UnavailableError } from '../core/errors.js';

/** Resolve after ms, or at once when the signal aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Log level of a failed pass of a background task that is retried (heartbeat, rescue). A
 * transient failure (the backend unreachable or slow: UnavailableError, TimeoutError) is a
 * warning only from the second in a row: one request timing out under load is retried at once
 * and is nothing the user can act on (reliability scenario 7 on NATS: 16 saturated workers each
 * warned about one timed-out rescue pass). Any other error is a warning the first time.
 */
export function backgroundFailureLevel(e: unknown, failuresInARow: number): 'debug' | 'warn' {
  const transient = e instanceof UnavailableError || e instanceof TimeoutError;
  return transient && failuresInARow < 2 ? 'debug' : 'warn';
}

/** Back-off for retrying backend calls in the loops: 100 ms, 200 ms … capped. */
export function loopBackoffMs(failures: number, capMs = 5000): number {
  const base = Math.min(capMs, 100 * 2 ** Math.min(16, Math.max(0, failures - 1)));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * Longest wait between retries of a failed backend call that holds up work (outcome writes,
 * claims): a quarter lease, 200 ms to 5 s. After a backend outage the worker is back at work
 * well within a lease of the reconnect, not after a back-off of seconds grown during the outage
 * (reliability scenario 4 on NATS: the job enqueued during the outage waited that long).
 */
export function retryCapMs(leaseMs: number): number {
  return Math.max(200, Math.min(5000, Math.round(leaseMs / 4)));
}

/** A reusable "something changed" signal: wait() resolves on the next notify(). */
export class Notifier {
  private waiters: (() => void)[] = [];
  notify(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export function errorText(e: unknown, max = 8192): string {
  let s: string;
  if (e instanceof Error) s = e.stack && e.stack.includes(e.message) ? e.stack : `${e.name}: ${e.message}`;
  else if (typeof e === 'string') s = e;
  else {
    try {
      s = JSON.stringify(e) ?? String(e);
    } catch {
      s = String(e);
    }
  }
  return s.length > max ? `${s.slice(0, max)}… [truncated]` : s;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * An AbortController made only when someone reads `signal` (most handlers never do): one
 * controller and signal less per job on the hot path. abort() before that is remembered.
 */
export class LazyAbort {
  private ctrl: AbortController | null = null;
  private reason: unknown = undefined;
  private isAborted = false;

  get signal(): AbortSignal {
    if (!this.ctrl) {
      this.ctrl = new AbortController();
      if (this.isAborted) this.ctrl.abort(this.reason);
    }
    return this.ctrl.signal;
  }

  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.reason = reason;
    this.ctrl?.abort(reason);
  }
}
