import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { normalizeIds } from '../cli/base-command.js';
import { MutationCommand } from '../cli/mutation-command.js';
import type { MutationResult } from '../core/backend.js';
import { UsageError } from '../core/errors.js';

export default class Cancel extends MutationCommand<typeof Cancel> {
  static override strict = false;
  static override summary = 'Cancel scheduled, queued or running jobs.';
  static override description = `Cancel jobs that have not finished. A running job's worker sees its claim as lost at its next heartbeat and aborts the handler; its outcome is refused. Finished jobs are skipped. Exit 3 when none of the given ids exists.`;
  static override examples = [
    '<%= config.bin %> cancel 42',
    '<%= config.bin %> cancel 41 42 43 --json',
    '<%= config.bin %> cancel 42 --dry-run',
  ];
  static override args = {
    ids: Args.string({ description: 'Job ids.', required: false, ignoreStdin: true }),
  };
  static override flags = {
    'dry-run': Flags.boolean({ summary: 'Show what would be cancelled; change nothing.' }),
  };

  async run(): Promise<MutationResult> {
    const rawIds = this.positional;
    if (rawIds.length === 0) throw new UsageError('nothing to cancel', 'give one or more job ids');
    const dryRun = this.flags['dry-run'];
    const backend = await this.openBackend({ write: !dryRun });
    const ids = normalizeIds(backend, rawIds);
    const result = await backend.cancel({ ids, dryRun });
    return this.report(result, { verb: 'cancel', dryRun, ids });
  }
}
