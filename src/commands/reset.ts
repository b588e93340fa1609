import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { normalizeIds } from '../cli/base-command.js';
import { DRY_RUN_LIMIT, MutationCommand, runBatches } from '../cli/mutation-command.js';
import type { MutationResult } from '../core/backend.js';
import { UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';

export default class Reset extends MutationCommand<typeof Reset> {
  static override strict = false;
  static override summary = 'Put running jobs back to queued, releasing their claim (orphaned or stuck jobs).';
  static override description = `Put running jobs back to queued, releasing their claim; the attempt stays counted. By id, or every --orphaned job (lease expired or worker dead) or every --stuck job (past its timeout while its worker is alive).

A job whose worker is alive and whose lease is still valid is skipped unless --force: its worker would otherwise keep running it. Exit 3 when none of the given ids exists.`;
  static override examples = [
    '<%= config.bin %> reset --orphaned',
    '<%= config.bin %> reset --stuck --queue emails --dry-run',
    '<%= config.bin %> reset 42 --force',
  ];
  static override args = {
    ids: Args.string({ description: 'Job ids.', required: false, ignoreStdin: true }),
  };
  static override flags = {
    orphaned: Flags.boolean({ summary: 'Reset every orphaned job.', exclusive: ['stuck'] }),
    stuck: Flags.boolean({ summary: 'Reset every stuck job.', exclusive: ['orphaned'] }),
    queue: Flags.string({ char: 'q', summary: 'With --orphaned/--stuck: only this queue.', helpValue: 'Q' }),
    'dry-run': Flags.boolean({ summary: 'Show what would be reset; change nothing.' }),
    force: Flags.boolean({ summary: 'Also reset jobs held by a live worker with a valid lease.' }),
  };

  async run(): Promise<MutationResult> {
    const f = this.flags;
    const rawIds = this.positional;
    const dryRun = f['dry-run'];
    const which = f.orphaned ? 'orphaned' : f.stuck ? 'stuck' : undefined;
    if (rawIds.length > 0 && which) throw new UsageError(`give job ids or --${which}, not both`);
    if (rawIds.length === 0 && !which) throw new UsageError('nothing to reset', 'give job ids, or --orphaned, or --stuck');
    if (f.queue !== undefined) {
      if (!which) throw new UsageError('--queue needs --orphaned or --stuck');
      validateQueueName(f.queue);
    }

    const backend = await this.openBackend({ write: !dryRun });
    const force = f.force;
    if (rawIds.length > 0) {
      const ids = normalizeIds(backend, rawIds);
      const result = await backend.reset({ ids, force, dryRun });
      return this.report(result, { verb: 'reset', dryRun, ids });
    }
    const result = dryRun
      ? await backend.reset({ which: which!, queue: f.queue, limit: DRY_RUN_LIMIT, force, dryRun: true })
      : await runBatches((limit) => backend.reset({ which: which!, queue: f.queue, limit, force }));
    return this.report(result, { verb: 'reset', dryRun });
  }
}
