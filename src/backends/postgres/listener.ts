/**
 * LISTEN/NOTIFY wake-ups on one dedicated connection (not from the pool), opened on first use.
 * Work notifications carry the queue name; log notifications only say "new lines". When the
 * connection drops it is re-opened with back-off and LISTEN issued again; every waiter is woken
 * then (a notification may have been missed), and callers fall back to their poll timeout while
 * it is down.
 */
import type pg from 'pg';
import { clientConfig } from './connection.js';
import { driver } from './driver.js';

type Waiter = { queues: ReadonlySet<string> | null; wake: () => void };

export class Listener {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly workWaiters = new Set<Waiter>();
  private readonly logWaiters = new Set<() => void>();
  /** notification counter, and the value at the last notification per queue */
  seq = 0;
  private readonly queueSeq = new Map<string, number>();
  /** how many times LISTEN was (re-)established; for tests */
  connects = 0;

  constructor(
    private readonly url: string,
    private readonly channels: { work: string; logs: string },
    private readonly appName: string,
    private readonly debug?: (m: string) => void,
  ) {}

  get connected(): boolean {
    return this.client !== null;
  }

  /** Open the connection if needed; resolves when LISTEN is active (rejects when it cannot connect). */
  ensure(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new driver.Client(clientConfig({ url: this.url, applicationName: this.appName }));
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.onNotification(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channels.work}"; LISTEN "${this.channels.logs}"`);
    } catch (e) {
      client.removeAllListeners('end');
      client.end().catch(() => {});
      this.failures++;
      this.scheduleRetry();
      throw e;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.failures = 0;
    this.connects++;
    if (this.connects > 1) this.debug?.('postgres listener reconnected; LISTEN re-established');
    // something may have been notified while we were not listening
    this.wakeAll();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => {});
    this.debug?.('postgres listener connection lost; reconnecting');
    this.wakeAll();
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const ms = Math.min(5000, 50 * 2 ** Math.min(this.failures, 7));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ensure().catch(() => {});
    }, ms);
    this.retryTimer.unref();
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === this.channels.work) {
      this.seq++;
      this.queueSeq.set(payload, this.seq);
      for (const w of this.workWaiters) if (w.queues === null || w.queues.has(payload)) w.wake();
    } else if (channel === this.channels.logs) {
      for (const w of this.logWaiters) w();
    }
  }

  private wakeAll(): void {
    for (const w of this.workWaiters) w.wake();
    for (const w of this.logWaiters) w();
  }

  /** True when one of these queues was notified after `since` (a value of `seq`). */
  notifiedSince(queues: readonly string[], since: number): boolean {
    for (const q of queues) if ((this.queueSeq.get(q) ?? 0) > since) return true;
    return false;
  }

  waitWork(queues: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.wait(timeoutMs, signal, (wake) => {
      const w: Waiter = { queues: new Set(queues), wake };
      this.workWaiters.add(w);
      return () => this.workWaiters.delete(w);
    });
  }

  waitLogs(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.wait(timeoutMs, signal, (wake) => {
      this.logWaiters.add(wake);
      return () => this.logWaiters.delete(wake);
    });
  }

  private wait(timeoutMs: number, signal: AbortSignal | undefined, register: (wake: () => void) => () => void): Promise<void> {
    if (signal?.aborted || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let unregister: () => void = () => {};
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        unregister();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', done, { once: true });
      unregister = register(done);
    });
  }

  /** The backend pid of the listening connection (tests kill it to check reconnects). */
  async backendPid(): Promise<number | null> {
    if (!this.client) return null;
    const r = await this.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return r.rows[0]?.pid ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.wakeAll();
    const c = this.client;
    this.client = null;
    if (this.connecting) await this.connecting.catch(() => {});
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
  }
}
