/**
 * AckWait follows the lease (docs/architecture.md, "Redelivery bound"). A message a worker
 * fetched but never turned into a running record (claim over-fetch, a pull answered after the
 * worker died, a claim cut short by SIGKILL) has no record the rescuer could find: only the
 * consumer's AckWait brings it back. So each work consumer's AckWait is lowered to the shortest
 * lease of the workers that claim from it (never raised), and every handle keeps the messages it
 * holds alive with in-progress acks (`+WPI`) every AckWait / 3, whatever its own lease. A
 * handle learns another's lowering from the level listing, which the lowering handle triggers
 * with a nudge on the queue's wake subject (index.ts; the listing is refreshed every 30 s too).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Ctx } from './context.js';
import { working } from './wire.js';

/** AckWait of a new consumer, and the most a lease lowers it from. */
export const ACK_WAIT_MS = 30_000;
/** Shortest AckWait set (the shortest lease a worker accepts is 100 ms). */
const MIN_ACK_WAIT_MS = 100;

export class AckWaits {
  /** consumer name → its AckWait (ms), as last seen or set */
  private readonly known = new Map<string, number>();
  private readonly lowering = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private periodMs = Infinity;

  constructor(
    private readonly ctx: Ctx,
    private readonly jsm: () => JetStreamManager,
    /** after this handle lowered a consumer's AckWait: tell the other handles (they relist) */
    private readonly lowered: (consumer: string) => void = () => undefined,
  ) {}

  /** Record a consumer's AckWait (from a consumer listing, ns). */
  learn(consumer: string, ackWaitNs: number): void {
    this.known.set(consumer, Math.round(ackWaitNs / 1_000_000));
  }

  /** Make the consumer's AckWait at most `leaseMs` before claiming from it; start the keep-alive. */
  async atMost(consumer: string, leaseMs: number): Promise<void> {
    const target = Math.max(MIN_ACK_WAIT_MS, Math.min(ACK_WAIT_MS, Math.floor(leaseMs)));
    let cur = this.known.get(consumer);
    if (cur === undefined || cur > target) {
      let p = this.lowering.get(consumer);
      if (p === undefined) {
        p = this.lower(consumer, target).finally(() => this.lowering.delete(consumer));
        this.lowering.set(consumer, p);
      }
      await p;
      cur = this.known.get(consumer) ?? target;
    }
    this.keepAlive(Math.min(cur, target));
  }

  private async lower(consumer: string, target: number): Promise<void> {
    const jsm = this.jsm();
    for (let i = 0; i < 5; i++) {
      const info = await jsm.consumers.info(this.ctx.n.work, consumer);
      const ms = Math.round((info.config.ack_wait ?? ACK_WAIT_MS * 1_000_000) / 1_000_000);
      this.known.set(consumer, ms);
      if (ms <= target) return;
      // a concurrent update (another worker, or an enqueue that created it) is read back above
      await jsm.consumers.update(this.ctx.n.work, consumer, { ack_wait: target * 1_000_000 });
      this.lowered(consumer);
    }
  }

  /** In-progress acks for every message this handle holds, every AckWait / 3. */
  private keepAlive(ackWaitMs: number): void {
    const period = Math.max(30, Math.floor(ackWaitMs / 3));
    if (this.timer !== null && period >= this.periodMs) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.periodMs = period;
    this.timer = setInterval(() => {
      for (const h of this.ctx.held.values()) if (h.rec.ackSubj) working(this.ctx.w, h.rec.ackSubj);
    }, period);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
