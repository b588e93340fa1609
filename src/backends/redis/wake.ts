/**
 * Wake-ups for idle workers over pub/sub: scripts that make a job ready PUBLISH on
 * `<prefix>:wake:<queue>`; one subscriber connection serves every queue the process waits on.
 * Pub/sub rather than a BLPOP per queue because one connection can wait on any number of queues
 * (a multi-key BLPOP would cross cluster slots) and every idle worker process is told at once.
 *
 * No lost wake-up: `claim` marks the notification counter before it looks; `wait` returns at
 * once when a notification came after that mark, or when a job is ready once the subscription
 * is in place, so an enqueue between an empty claim and the wait is never slept through.
 * Scheduled jobs cap the wait at their run_at.
 */
import type { Client } from './connection.js';
import { duplicate } from './connection.js';
import type { Ctx } from './context.js';

export class Waker {
  private sub: Client | null = null;
  private readonly channels = new Set<string>();
  private count = 0;
  private mark = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly ctx: Ctx) {}

  /** Called at the start of each claim. */
  markClaim(): void {
    this.mark = this.count;
  }

  /** Subscribe to these channels (once each). */
  private async subscribe(channels: string[]): Promise<void> {
    const fresh = channels.filter((c) => !this.channels.has(c));
    if (fresh.length === 0) return;
    if (!this.sub) {
      this.sub = duplicate(this.ctx.client, this.ctx.url, this.ctx.debug);
      this.sub.on('message', () => {
        this.count++;
        for (const w of [...this.waiters]) w();
      });
    }
    await this.ctx.cmd(this.sub.subscribe(...fresh));
    for (const c of fresh) this.channels.add(c);
  }

  async wait(queues: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || timeoutMs <= 0) return;
    await this.subscribe(queues.map((q) => this.ctx.keys.wakeChannel(q)));
    // after subscribing: anything ready now (a publish before the subscription is not missed),
    // and the next scheduled run_at, which bounds the wait
    const { bulk, keys } = this.ctx;
    const probes = await this.ctx.cmd(
      Promise.all(
        queues.map((q) => Promise.all([bulk.zcard(keys.ready(q)), bulk.zrange(keys.scheduled(q), 0, 0, 'WITHSCORES')])),
      ),
    );
    let wait = timeoutMs;
    for (const [ready, first] of probes) {
      if (ready > 0) wait = 0;
      if (first[1] !== undefined) wait = Math.min(wait, Math.max(0, Number(first[1]) - Date.now() + 1));
    }
    if (this.count !== this.mark || wait <= 0 || signal?.aborted) {
      this.mark = this.count;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        this.mark = this.count;
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w();
    const sub = this.sub;
    this.sub = null;
    if (sub) await sub.quit().catch(() => sub.disconnect());
  }
}
