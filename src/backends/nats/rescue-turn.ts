/**
 * Workers take turns at the rescue pass (RescueParams.turn). A pass reads every running-batch
 * marker and the worker registry through ephemeral consumers and records of suspect jobs; 16
 * workers each running one every lease/2 kept one nats-server 2.9 saturated (reliability scenario
 * 7). The key `meta.rescue` of the jobs bucket says who took the last turn and when; a worker
 * takes the turn by compare-and-set when the last one is at least `withinMs` old (or its own:
 * the next round of its pass, a retry after a failure), and skips the pass otherwise. A worker
 * that took the turn and died holds it for `withinMs` at most.
 */
import type { Ctx } from './context.js';
import { bytes, text } from './wire.js';

interface Turn {
  by: string;
  at: number;
}

/** Whether the caller runs the pass now (it took the turn, or holds it still). */
export async function takeTurn(ctx: Ctx, turn: { by: string; withinMs: number }, now = Date.now()): Promise<boolean> {
  const key = ctx.n.rescueTurnKey();
  const cur = await ctx.w.directGet(ctx.n.jobsStream, key);
  const last = cur === null ? null : parse(cur.data);
  // a time far in the future (another host's clock) does not hold the turn either
  if (last !== null && Math.abs(now - last.at) < turn.withinMs) return last.by === turn.by;
  const mine: Turn = { by: turn.by, at: now };
  return (await ctx.w.publish(key, bytes(JSON.stringify(mine)), { expectSeq: cur?.seq ?? 0 })) !== null;
}

function parse(data: Uint8Array): Turn | null {
  try {
    const o = JSON.parse(text(data)) as Partial<Turn>;
    return typeof o.by === 'string' && typeof o.at === 'number' ? { by: o.by, at: o.at } : null;
  } catch {
    return null;
  }
}
