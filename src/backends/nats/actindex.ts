/**
 * The active index (format 5, stream `JC_<ns>_ACT`): running-batch markers `a.rb.<q>.<batch>` and
 * scheduled markers `a.scheduled.<q>.<id>`, apart from the queued markers of `JC_<ns>_IDX`. On
 * nats-server 2.9 a read with a wildcard filter costs server time in proportion to every subject
 * of its stream, so rescue, stuck/orphaned, readyJobs and stats no longer pay for one queued
 * marker per waiting job (docs/architecture.md, Indexes).
 */
import type { Ctx } from './context.js';
import { RUN_BATCH } from './store.js';

/**
 * Migration to format 5: the running-batch and scheduled markers of an older namespace move from
 * the waiting index to the active index (same payload). Written first and purged after, so a
 * migration cut short and run again moves what is left. Records keep the old sequence of their
 * scheduled marker (`mseq`): readers judge a scheduled marker by the record's state, not by it.
 */
export async function moveActiveMarkers(ctx: Ctx): Promise<void> {
  const { n, store, w } = ctx;
  for (const s of ['scheduled', RUN_BATCH])
    await store.moveIndexMarkers(n.legacyFilter(s), { headersOnly: s !== RUN_BATCH, chunk: 1000 }, (it, m) =>
      w.publish(n.marker(s, m.queue, m.id), it.data),
    );
}
