/**
 * Shared by requeue, reset and cancel: batch loops for selectors, the `{ changed, skipped }`
 * output, and the exit code (3 when every id given was not found).
 */
import type { Command } from '@oclif/core/command';
import type { MutationResult } from '../core/backend.js';
import { ExitCode } from '../core/errors.js';
import { BaseCommand } from './base-command.js';
import { mutationSummary } from './render.js';

/** Rows changed per atomic batch when acting on a selector (--state, --orphaned, --stuck). */
export const BATCH_SIZE = 1000;
/** A dry run computes the whole set in one read-only call. */
export const DRY_RUN_LIMIT = 1_000_000;

const isNotFound = (reason: string) => /^not found/i.test(reason);

/**
 * Run `batch` repeatedly until a batch changes fewer than `limit` jobs (everything that matched
 * at that moment was changed) or nothing new. Each batch is one atomic backend call.
 */
export async function runBatches(batch: (limit: number) => Promise<MutationResult>, limit = BATCH_SIZE): Promise<MutationResult> {
  const changed: string[] = [];
  const seen = new Set<string>();
  const skipped = new Map<string, string>();
  for (;;) {
    const r = await batch(limit);
    let fresh = 0;
    for (const id of r.changed) {
      if (!seen.has(id)) fresh++;
      seen.add(id);
      changed.push(id);
    }
    for (const s of r.skipped) skipped.set(s.id, s.reason);
    if (r.changed.length < limit || fresh === 0) break;
  }
  for (const id of seen) skipped.delete(id);
  return { changed: [...seen], skipped: [...skipped].map(([id, reason]) => ({ id, reason })) };
}

export abstract class MutationCommand<T extends typeof Command> extends BaseCommand<T> {
  /** Print the result; exit 3 when ids were given and none of them exists. */
  protected report(result: MutationResult, opts: { verb: string; dryRun: boolean; ids?: string[] }): MutationResult {
    const out: MutationResult = { changed: result.changed, skipped: result.skipped };
    this.print(out, () => mutationSummary(out, opts.verb, opts.dryRun));
    if (
      opts.ids &&
      opts.ids.length > 0 &&
      out.changed.length === 0 &&
      out.skipped.length > 0 &&
      out.skipped.every((s) => isNotFound(s.reason))
    ) {
      this.exitWith(
        ExitCode.notFound,
        opts.ids.length === 1 ? `job ${opts.ids[0]} not found` : `none of the ${opts.ids.length} jobs was found`,
      );
    }
    return out;
  }
}
