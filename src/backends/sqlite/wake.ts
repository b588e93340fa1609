/**
 * Wake-ups without a server: waiters are woken at once by this process's own writes (notify*)
 * and, for other processes' commits, by a cheap `PRAGMA data_version` poll every few ms that
 * runs only while someone waits. A work waiter woken by a foreign commit first checks (read
 * only) that a job is runnable in its queues, so busy log or heartbeat writes do not wake it.
 */
export const POLL_MS = 5;

interface Waiter {
  fire(): void;
  /** work waiters: is there runnable work now? */
  ready?: () => boolean;
}

export class Waker {
  private readonly work = new Set<Waiter>();
  private readonly logs = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private version: number;
  private closed = false;

  constructor(
    private readonly dataVersion: () => number,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    this.version = safe(dataVersion, -1);
  }

  notifyWork(): void {
    for (const w of [...this.work]) w.fire();
  }

  notifyLogs(): void {
    for (const w of [...this.logs]) w.fire();
  }

  /** Resolve on a wake-up, after timeoutMs, or on abort (never rejects). */
  wait(kind: 'work' | 'logs', timeoutMs: number, signal?: AbortSignal, ready?: () => boolean): Promise<void> {
    if (this.closed || signal?.aborted) return Promise.resolve();
    if (ready) {
      try {
        if (ready()) return Promise.resolve();
      } catch (e) {
        this.onError(e);
      }
    }
    const set = kind === 'work' ? this.work : this.logs;
    return new Promise<void>((resolve) => {
      const waiter: Waiter = { fire: done, ready };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      const onAbort = () => done();
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
      this.startPolling();
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        resolve();
      }
    });
  }

  /** Wake everyone and stop polling (the database is closing). */
  close(): void {
    this.closed = true;
    this.notifyWork();
    this.notifyLogs();
    this.stopPolling();
  }

  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    if (this.work.size === 0 && this.logs.size === 0) return this.stopPolling();
    let v: number;
    try {
      v = this.dataVersion();
    } catch (e) {
      this.onError(e);
      return;
    }
    if (v === this.version) return;
    this.version = v;
    this.notifyLogs();
    for (const w of [...this.work]) {
      let go = true;
      try {
        go = w.ready ? w.ready() : true;
      } catch (e) {
        this.onError(e);
      }
      if (go) w.fire();
    }
  }
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
