/**
 * The queued index (format 6, stream `JC_<ns>_QUE`): one queued-batch marker per enqueue or
 * requeue call and queue, `q.queued-b.<q>.<batch>`, payload = the ids (sorted), headers `Jc-N`,
 * `Jc-Min`, `Jc-Max` like a finished batch's, so that `list` (queued, or every state) and the
 * operator batches read it through the same keyset walk (finindex.ts, MarkerWalk) and stop after
 * the page: they read the headers and the payloads of the markers whose ids can be next, instead
 * of one per-job marker per waiting job of the whole index on every page. The record names its
 * batch (`qb`). A claim does not touch the index: entries of jobs that left the queued state are
 * verified away against the records and compacted by readers (Store.compactBatches).
 */
import type { Ctx } from './context.js';
import { newId } from './names.js';
import { markerState, type Rec } from './record.js';

/**
 * Queued-batch markers for the queued jobs of one call (one per queue): names each record's
 * batch (`qb`, set before the record or its message is encoded) and returns the marker writes.
 * Jobs not queued (scheduled) get none.
 */
export function writeQueuedBatches(ctx: Ctx, recs: readonly Rec[], now: number): Map<string, Promise<number | null>> {
  const byQueue = new Map<string, { id: string; ids: string[] }>();
  for (const r of recs) {
    if (markerState(r, now) !== 'queued') continue;
    let b = byQueue.get(r.queue);
    if (b === undefined) byQueue.set(r.queue, (b = { id: newId(), ids: [] }));
    b.ids.push(r.id);
    r.qb = b.id;
  }
  const out = new Map<string, Promise<number | null>>();
  for (const [q, b] of byQueue) out.set(q, ctx.store.writeQueuedBatch(q, b.id, b.ids));
  return out;
}

/**
 * Migration to format 6: the per-job queued markers of `JC_<ns>_IDX` are folded into
 * queued-batch markers of up to 1,000 ids (sorted, per queue) in `JC_<ns>_QUE`, then purged.
 * A batch is named after its smallest id, so a migration cut short and run again (the per-job
 * markers are purged only at the end: the same or more of them) rewrites the same subjects. The
 * records keep no `qb`: an entry of a record without one is valid while the record is queued.
 */
export async function foldQueuedMarkers(ctx: Ctx): Promise<void> {
  await ctx.store.moveIndexChunks(ctx.n.legacyFilter('queued'), { headersOnly: true, chunk: 1000, sort: true }, (chunk) => {
    const byQueue = new Map<string, string[]>();
    for (const [, m] of chunk) {
      const ids = byQueue.get(m.queue);
      if (ids === undefined) byQueue.set(m.queue, [m.id]);
      else ids.push(m.id);
    }
    return Promise.all([...byQueue].map(([q, ids]) => ctx.store.writeQueuedBatch(q, ids[0]!, ids)));
  });
}
