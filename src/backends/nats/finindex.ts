/**
 * Index markers in id order for keyset reads that stop early: a `list` page and the operator
 * batches by selector (requeue/reset/purge) want the next few ids after a cursor, not every id
 * of the state. Finished-batch markers (one per outcome call, payload = its ids) carry their
 * smallest and largest id in headers (`Jc-Min`, `Jc-Max`): the walk reads only the headers of
 * the state's batch markers, orders them by smallest id and reads a marker's payload (one
 * direct get) only when its smallest id can be the next one. Per-job markers (ids in their
 * subjects) and the running-batch markers are read whole, as before; batch markers without the
 * headers are read whole too. Finished markers live in their own stream (format 4, `JC_<ns>_FIN`):
 * on nats-server 2.9 every wildcard read of a stream costs time in proportion to all of its
 * subjects, and the waiting index held one marker per queued job. Format 6 lists queued jobs the
 * same way: one queued-batch marker per enqueue or requeue call and queue (`JC_<ns>_QUE`,
 * queindex.ts), read by the same walk; per-job queued markers are left only by the per-job
 * paths (release, retry, reset, rescue, a lone enqueue).
 */
import { PermissionError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { type MarkerState, type StoredOutcome } from './record.js';
import {
  FINISHED,
  FOLDED,
  batchEntries,
  entryId,
  finBatchBody,
  finBatchToken,
  limited,
  type MarkerRef,
  type ReadItem,
  type RunBatch,
} from './store.js';
import { foldable, foldQueued } from './queindex.js';
import { text } from './wire.js';

/** A batch marker (finished, or queued: format 6) as its headers describe it. */
export interface Head {
  stream: string;
  subject: string;
  state: MarkerState;
  queue: string;
  fb: string;
  ts: number;
  /** stream sequence (a fold deletes the marker by it) */
  seq: number;
  /** number of ids (`Jc-N`) */
  n: number;
  /** a folded queued-batch marker (entries judged by state: Store.compactBatches) */
  folded: boolean;
  min: string;
}

type Entry = [id: string, ref: MarkerRef];

const byId = (a: Entry, b: Entry): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export class MarkerWalk {
  private pi = 0;
  private hi = 0;
  private last: string | undefined;
  /** payloads of batch markers read so far (each one direct get) */
  opened = 0;
  /** entries skipped because another marker listed the same id (taken by `drainDups`) */
  private dups: Entry[] = [];
  /** the records of the outcome batches read so far (format 7): RunIndex.seedOutcomes */
  readonly outcomes = new Map<string, StoredOutcome>();

  private constructor(
    private readonly ctx: Ctx,
    private pool: Entry[],
    private readonly heads: Head[],
    /** the running-batch markers read (running state of light claims, compaction) */
    readonly batches: RunBatch[],
    private readonly after: string | undefined,
  ) {
    this.last = after;
  }

  /** Markers of these states (optionally one queue) with ids after `after`. */
  static async open(
    ctx: Ctx,
    states: readonly MarkerState[],
    queue: string | undefined,
    after?: string,
    now = Date.now(),
  ): Promise<MarkerWalk> {
    // batch markers: finished ones (format 4), queued ones (format 6)
    const sources = states
      .filter((s) => FINISHED.has(s))
      .map((s) => ({ state: s, stream: ctx.n.fin, filter: ctx.n.finFilter(finBatchToken(s), queue) }));
    if (states.includes('queued')) sources.push({ state: 'queued', stream: ctx.n.que, filter: ctx.n.queFilter(queue) });
    const [{ ids, batches }, headLists] = await Promise.all([
      ctx.store.markerIdsWithBatches(states, queue),
      Promise.all(sources.map((src) => ctx.store.readAll(src.stream, src.filter, { headersOnly: true }))),
    ]);
    const heads: Head[] = [];
    const whole: Omit<Head, 'min'>[] = [];
    // many small queued listings (per-job markers, batches of a few ids) are folded into
    // batches of up to 1,000 (queindex.ts): later walks read their headers, not every marker
    const extra: Entry[] = [];
    const queuedHeads = states.includes('queued')
      ? headLists[sources.length - 1]!.flatMap((it) => toHead(ctx, it, 'queued', ctx.n.que) ?? [])
      : [];
    const fold = states.includes('queued') ? foldable(ids, queuedHeads, now) : null;
    // the small queued markers this walk folded away (their ids come from the folded ones)
    let gone = new Set<string>();
    if (fold !== null) {
      try {
        for (const e of await foldQueued(ctx, fold.perJob, fold.small)) {
          if (after === undefined || e[0] > after) extra.push(e);
          ids.delete(e[0]);
        }
        gone = new Set(fold.small.map((h) => h.subject));
      } catch (e) {
        // a fold is upkeep, not part of the answer: a user that may only read gets the listing as
        // it is (what a fold cut short wrote is listed twice and returned once, like any leftover)
        if (!(e instanceof PermissionError)) throw e;
      }
    }
    headLists.forEach((items, k) => {
      for (const it of items) {
        if (gone.has(it.subject)) continue;
        const h = toHead(ctx, it, sources[k]!.state, sources[k]!.stream);
        if (h === null) continue;
        const min = it.headers?.get('Jc-Min') ?? '';
        const max = it.headers?.get('Jc-Max') ?? '';
        if (min === '' || max === '') whole.push(h);
        else if (after === undefined || max > after) heads.push({ ...h, min });
      }
    });
    const walk = new MarkerWalk(ctx, [], heads, batches, after);
    // markers written without the headers: read whole (still correct, not stoppable)
    await limited(whole, 16, async (h) => {
      for (const e of await walk.read(h)) extra.push(e);
    });
    const pool: Entry[] = [];
    for (const [id, ref] of ids) if (after === undefined || id > after) pool.push([id, ref]);
    walk.pool = pool.concat(extra).sort(byId);
    heads.sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0));
    return walk;
  }

  /** The next up to `n` ids in id order (each once), with the marker that lists it. */
  async take(n: number): Promise<Entry[]> {
    const out: Entry[] = [];
    while (out.length < n) {
      const h = this.heads[this.hi];
      const p = this.pool[this.pi];
      if (p !== undefined && (h === undefined || p[0] < h.min)) {
        this.pi++;
        if (this.last !== undefined && p[0] <= this.last) {
          // listed by two markers (a requeued job: by its old batch too): compacted like the rest
          if (p[0] === this.last) this.dups.push(p);
          continue;
        }
        this.last = p[0];
        out.push(p);
        continue;
      }
      if (h === undefined) break;
      this.hi++;
      const got = (await this.read(h)).filter((e) => this.last === undefined || e[0] > this.last).sort(byId);
      this.pool = merge(this.pool, this.pi, got);
      this.pi = 0;
    }
    return out;
  }

  /** The second listings of ids taken so far (for compaction: one may be stale). */
  drainDups(): Entry[] {
    const d = this.dups;
    this.dups = [];
    return d;
  }

  /** A batch marker's ids after the cursor (one direct get; none when it is gone). */
  private async read(h: Omit<Head, 'min'>): Promise<Entry[]> {
    const m = await this.ctx.w.directGet(h.stream, h.subject);
    this.opened++;
    if (m === null) return [];
    const ref: MarkerRef = { state: h.state, seq: null, ts: h.ts, batch: { fb: h.fb, queue: h.queue, folded: h.folded } };
    const out: Entry[] = [];
    for (const e of batchEntries(m.data)) {
      const id = entryId(e);
      if (typeof e !== 'string') this.outcomes.set(id, { o: e, fb: h.fb });
      if (this.after === undefined || id > this.after) out.push([id, ref]);
    }
    return out;
  }
}

export function toHead(ctx: Ctx, it: ReadItem, state: MarkerState, stream: string): Omit<Head, 'min'> | null {
  const m = ctx.n.parseMarker(it.subject);
  if (m === null) return null;
  const n = Number(it.headers?.get('Jc-N') ?? NaN);
  const folded = it.headers?.get(FOLDED) === '1';
  return { stream, subject: it.subject, state, queue: m.queue, fb: m.id, ts: it.ts, seq: it.seq, n, folded };
}

/** The rest of `a` (from index i) merged with `b`, both sorted by id. */
function merge(a: Entry[], i: number, b: Entry[]): Entry[] {
  const out: Entry[] = [];
  let j = 0;
  while (i < a.length && j < b.length) out.push(byId(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * Migration to format 4: the finished markers of an older namespace move from the waiting index
 * to the finished index (batch markers get their smallest/largest-id headers on the way). Written
 * first and purged after, so a migration cut short and run again moves what is left.
 */
export async function moveFinishedMarkers(ctx: Ctx): Promise<void> {
  const { n, store, w } = ctx;
  for (const s of ['completed', 'failed', 'cancelled'] as const) {
    await store.moveIndexMarkers(n.markerFilter(s), { headersOnly: true, chunk: 1000 }, (_, m) =>
      w.publish(n.finMarker(s, m.queue, m.id), ''),
    );
    const b = finBatchToken(s);
    await store.moveIndexMarkers(n.markerFilter(b), { headersOnly: false, chunk: 100 }, (it, m) => {
      const { body, headers } = finBatchBody(JSON.parse(text(it.data)) as string[]);
      return w.publish(n.finMarker(b, m.queue, m.id), body, { headers });
    });
  }
}
