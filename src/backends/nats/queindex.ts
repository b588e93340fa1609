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
import type { Head } from './finindex.js';
import { newId } from './names.js';
import { markerState, type Rec } from './record.js';
import { limited, type MarkerRef } from './store.js';
import { text } from './wire.js';

/** A walk folds the queued listings when it meets at least this many small ones… */
const FOLD_MIN = 256;
/** …at most this many per walk (the rest by the next ones: each pays a bounded part) */
const FOLD_MAX = 5000;
/** a queued-batch marker of fewer ids than this is small (an enqueue of a few jobs) */
const SMALL = 100;
/** ids per folded marker */
const FOLD_CHUNK = 1000;

type Entry = [id: string, ref: MarkerRef];

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
  await ctx.store.moveIndexChunks(ctx.n.legacyFilter('queued'), { headersOnly: true, chunk: FOLD_CHUNK, sort: true }, (chunk) => {
    const byQueue = new Map<string, string[]>();
    for (const [, m] of chunk) {
      const ids = byQueue.get(m.queue);
      if (ids === undefined) byQueue.set(m.queue, [m.id]);
      else ids.push(m.id);
    }
    return Promise.all([...byQueue].map(([q, ids]) => ctx.store.writeQueuedBatch(q, ids[0]!, ids, true)));
  });
}

/** A per-job queued marker a walk read. */
interface PerJob {
  id: string;
  queue: string;
  seq: number;
}

/**
 * What a walk over the queued state may fold: per-job queued markers and small queued-batch
 * markers older than a minute (younger ones may belong to writes still in flight), when there
 * are at least FOLD_MIN of them; at most FOLD_MAX. Null when there is nothing worth folding.
 */
export function foldable(
  ids: Map<string, MarkerRef>,
  queuedHeads: Omit<Head, 'min'>[],
  now: number,
): { perJob: PerJob[]; small: Omit<Head, 'min'>[] } | null {
  const perJob: PerJob[] = [];
  for (const [id, r] of ids)
    if (r.state === 'queued' && r.seq !== null && r.queue !== undefined && now - r.ts > 60_000)
      perJob.push({ id, queue: r.queue, seq: r.seq });
  const small: Omit<Head, 'min'>[] = [];
  for (const h of queuedHeads) if (h.n < SMALL && now - h.ts > 60_000) small.push(h);
  if (perJob.length + small.length < FOLD_MIN) return null;
  const keep = Math.min(perJob.length, FOLD_MAX);
  return { perJob: perJob.slice(0, keep), small: small.slice(0, FOLD_MAX - keep) };
}

/**
 * Fold listings of queued jobs into folded queued-batch markers (header `Jc-Fold`: entries
 * judged by the record's state, since the records name other batches or none): the ids of the
 * per-job markers and of the small batch markers (one direct get each), per queue, sorted, 1,000
 * a marker; written first, then the folded markers are deleted by sequence (one rewritten since
 * — a release, a compaction — is left: listed twice, returned once). Returns every folded id with
 * its new marker.
 */
export async function foldQueued(ctx: Ctx, perJob: PerJob[], small: Omit<Head, 'min'>[]): Promise<Entry[]> {
  const byQueue = new Map<string, Set<string>>();
  const add = (q: string, id: string) => {
    let ids = byQueue.get(q);
    if (ids === undefined) byQueue.set(q, (ids = new Set()));
    ids.add(id);
  };
  for (const p of perJob) add(p.queue, p.id);
  await limited(small, 16, async (h) => {
    const m = await ctx.w.directGet(h.stream, h.subject);
    if (m !== null) for (const id of JSON.parse(text(m.data)) as string[]) add(h.queue, id);
  });
  const out: Entry[] = [];
  const now = Date.now();
  const writes: Promise<unknown>[] = [];
  for (const [q, set] of byQueue) {
    const sorted = [...set].sort();
    for (let i = 0; i < sorted.length; i += FOLD_CHUNK) {
      const chunk = sorted.slice(i, i + FOLD_CHUNK);
      const fb = newId();
      writes.push(ctx.store.writeQueuedBatch(q, fb, chunk, true));
      const ref: MarkerRef = { state: 'queued', seq: null, ts: now, batch: { fb, queue: q, folded: true } };
      for (const id of chunk) out.push([id, ref]);
    }
  }
  await Promise.all(writes);
  await limited(perJob, 64, (p) => ctx.store.deleteSeq(ctx.n.index, p.seq));
  await limited(small, 64, (h) => ctx.store.deleteSeq(h.stream, h.seq));
  return out;
}
