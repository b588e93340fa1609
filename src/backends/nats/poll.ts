/**
 * Idle long-polls (docs/architecture.md, "Wake-ups"). While a worker waits for work, each level
 * consumer of its queues has one pull request waiting on the server (batch 1, expires = the wait),
 * so a job enqueued to an idle worker is delivered as soon as the stream stored it: no wake-up,
 * then pull, round trip before the claim. Delivered messages are parked here until the next
 * claim takes them; a claim that took parked messages pulls for more in the background (parked
 * too), so a burst that wakes an idle worker is not claimed one message per round trip.
 *
 * Rules that keep this from holding work away from other workers or from racing the claims:
 * - at most one pull in flight per consumer from this handle; a claim does not pull a consumer
 *   that has one (nothing was pending when it was sent, and whatever came since goes to it);
 * - a parked message that no claim took within PARK_MS is nak'ed back at once (and on close);
 * - a pull that ends empty is sent again only while somebody waits for work.
 * A light claim's record check (work.ts) is sent as soon as the message is parked, so that the
 * claim that takes it does not wait for that round trip after it started.
 */
import type { Ctx } from './context.js';
import { NO_WAIT_GIVE_UP_MS, nak, type RawMsg } from './wire.js';

/** How long a delivered message may stay parked before it goes back to the stream. */
const PARK_MS = 2000;

export class Poller {
  private readonly parked = new Map<string, { m: RawMsg; at: number }[]>();
  /** consumers with a pull request of this handle in flight */
  private readonly pulling = new Set<string>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;
  /** expiry of the long-polls: the last wait's timeout */
  private waitMs = 1000;

  constructor(
    private readonly ctx: Ctx,
    /** somebody waits for work (a pull that ends empty is sent again only then) */
    private readonly waiting: () => boolean,
    /** a message was parked: wake the waiters */
    private readonly notify: () => void,
    /** a message was delivered to a long-poll: start what its claim will need (work.ts, precheck) */
    private readonly delivered: (m: RawMsg) => void = () => {},
  ) {}

  /** Any parked message on these consumers? */
  has(consumers: Iterable<string>): boolean {
    for (const c of consumers) if ((this.parked.get(c)?.length ?? 0) > 0) return true;
    return false;
  }

  isPulling(consumer: string): boolean {
    return this.pulling.has(consumer);
  }

  /** Take up to `n` parked messages of a consumer, oldest first. */
  take(consumer: string, n: number): RawMsg[] {
    const list = this.parked.get(consumer);
    if (!list || list.length === 0) return [];
    return list.splice(0, n).map((x) => x.m);
  }

  /** Wait on the server for the next message of an idle consumer (no-op while a pull is in flight). */
  longPoll(consumer: string, expiresMs: number): void {
    this.waitMs = Math.max(50, Math.min(expiresMs, 30_000));
    this.start(consumer, 1, { expiresMs: this.waitMs });
  }

  /** Pull up to `n` more in the background (a claim took parked messages: a burst may follow). */
  prefetch(consumer: string, n: number): void {
    this.start(consumer, n, { noWait: true, giveUpMs: NO_WAIT_GIVE_UP_MS });
  }

  private start(consumer: string, batch: number, opts: { expiresMs?: number; noWait?: boolean; giveUpMs?: number }): void {
    if (this.closed || this.pulling.has(consumer)) return;
    this.pulling.add(consumer);
    this.ctx.w.pull(this.ctx.n.work, consumer, batch, opts).then(
      (msgs) => {
        this.pulling.delete(consumer);
        if (this.closed) {
          for (const m of msgs) if (m.reply) nak(this.ctx.w, m.reply, 0);
          return;
        }
        if (msgs.length > 0) {
          let list = this.parked.get(consumer);
          if (list === undefined) this.parked.set(consumer, (list = []));
          const at = Date.now();
          for (const m of msgs) {
            this.delivered(m);
            list.push({ m, at });
          }
          this.sweep();
          this.notify();
        } else if (this.waiting()) this.longPoll(consumer, this.waitMs);
      },
      () => this.pulling.delete(consumer),
    );
  }

  /** Nak parked messages no claim took in time (checked while any are parked). */
  private sweep(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = null;
      const old = Date.now() - PARK_MS;
      let left = false;
      for (const list of this.parked.values()) {
        while (list.length > 0 && list[0]!.at <= old) nak(this.ctx.w, list.shift()!.m.reply!, 0);
        if (list.length > 0) left = true;
      }
      if (left) this.sweep();
    }, PARK_MS);
    this.sweeper.unref();
  }

  /** Give every parked message back (the handle closes). */
  close(): void {
    this.closed = true;
    if (this.sweeper !== null) clearTimeout(this.sweeper);
    this.sweeper = null;
    for (const list of this.parked.values()) for (const x of list.splice(0)) nak(this.ctx.w, x.m.reply!, 0);
  }
}
