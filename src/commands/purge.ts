import * as Flags from '@oclif/core/flags';
import { BaseCommand } from '../cli/base-command.js';
import { parseDuration } from '../core/durations.js';
import { UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';
import { requireCapability } from '../core/registry.js';

const FINISHED = ['completed', 'failed', 'cancelled'] as const;
type Finished = (typeof FINISHED)[number];
const BATCH = 1000;

export default class Purge extends BaseCommand<typeof Purge> {
  static override summary = 'Delete finished jobs (and their logs) older than a bound.';
  static override description =
    'Delete completed, failed and cancelled jobs that finished more than --older-than ago, with their logs, in batches. Unfinished jobs are never touched.';
  static override examples = [
    '<%= config.bin %> purge --older-than 7d',
    '<%= config.bin %> purge --older-than 30d --state failed --queue emails --json',
  ];
  static override flags = {
    'older-than': Flags.string({
      summary: 'Only jobs finished longer ago than this, e.g. 7d.',
      helpValue: 'DURATION',
      required: true,
    }),
    state: Flags.string({
      summary: 'Comma-separated finished states (default: completed,failed,cancelled).',
      helpValue: 'S[,S…]',
    }),
    queue: Flags.string({ char: 'q', summary: 'Only this queue.', helpValue: 'Q' }),
  };

  async run(): Promise<{ deleted: number }> {
    const f = this.flags;
    const olderThanMs = parseDuration(f['older-than'], 'older-than');
    const states = (f.state ?? FINISHED.join(','))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const s of states) {
      if (!(FINISHED as readonly string[]).includes(s))
        throw new UsageError(`cannot purge state "${s}"`, `use ${FINISHED.join(', ')}`);
    }
    if (states.length === 0) throw new UsageError('empty --state', `use ${FINISHED.join(', ')}`);
    if (f.queue !== undefined) validateQueueName(f.queue);

    const backend = await this.openBackend({ write: true });
    requireCapability(backend, 'purge');
    let deleted = 0;
    for (;;) {
      const r = await backend.purge({ states: states as Finished[], queue: f.queue, olderThanMs, limit: BATCH });
      deleted += r.deleted;
      if (r.deleted < BATCH) break;
    }
    const out = { deleted };
    this.print(out, () => `deleted ${deleted} job${deleted === 1 ? '' : 's'}`);
    return out;
  }
}
