import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { normalizeIds } from '../cli/base-command.js';
import { DRY_RUN_LIMIT, MutationCommand, runBatches } from '../cli/mutation-command.js';
import type { MutationResult } from '../core/backend.js';
import { UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';

export default class Requeue extends MutationCommand<typeof Requeue> {
  static override strict = false;
  static override summary = 'Put failed, cancelled or completed jobs back to queued.';
  static override description = `Put jobs back to queued, to run now: by id, or every job in a state with --state (which needs --all, or --dry-run to preview). A job with no attempts left gets one more attempt; --reset-attempts starts its count from 0.

Each batch is atomic and only touches jobs still in the expected state; running it twice is safe. Exit 3 when none of the given ids exists.`;
  static override examples = [
    '<%= config.bin %> requeue 41 42',
    '<%= config.bin %> requeue --state failed --queue emails --dry-run',
    '<%= config.bin %> requeue --state failed --all --reset-attempts',
  ];
  static override args = {
    ids: Args.string({ description: 'Job ids.', required: false, ignoreStdin: true }),
  };
  static override flags = {
    state: Flags.string({ summary: 'Requeue every job in this state.', options: ['failed', 'cancelled', 'completed'] }),
    queue: Flags.string({ char: 'q', summary: 'With --state: only this queue.', helpValue: 'Q', dependsOn: ['state'] }),
    all: Flags.boolean({ summary: 'Confirm requeueing every job matching --state.' }),
    'dry-run': Flags.boolean({ summary: 'Show what would be requeued; change nothing.' }),
    'reset-attempts': Flags.boolean({ summary: 'Start the attempt count from 0.' }),
  };

  async run(): Promise<MutationResult> {
    const f = this.flags;
    const rawIds = this.positional;
    const dryRun = f['dry-run'];
    if (rawIds.length > 0 && f.state) throw new UsageError('give job ids or --state, not both');
    if (rawIds.length === 0 && !f.state)
      throw new UsageError('nothing to requeue', 'give job ids, or --state failed|cancelled|completed');
    if (f.queue !== undefined) validateQueueName(f.queue);
    if (f.state && !f.all && !dryRun) {
      throw new UsageError(
        `--state ${f.state} requeues every ${f.state} job${f.queue ? ` in queue ${f.queue}` : ''}`,
        'add --all to confirm, or --dry-run to preview',
      );
    }
    if (f.all && !f.state) throw new UsageError('--all needs --state');

    const backend = await this.openBackend({ write: !dryRun });
    const resetAttempts = f['reset-attempts'];
    if (rawIds.length > 0) {
      const ids = normalizeIds(backend, rawIds);
      const result = await backend.requeue({ ids, resetAttempts, dryRun });
      return this.report(result, { verb: 'requeue', dryRun, ids });
    }
    const state = f.state as 'failed' | 'cancelled' | 'completed';
    const result = dryRun
      ? await backend.requeue({ state, queue: f.queue, limit: DRY_RUN_LIMIT, resetAttempts, dryRun: true })
      : await runBatches((limit) => backend.requeue({ state, queue: f.queue, limit, resetAttempts }));
    return this.report(result, { verb: 'requeue', dryRun });
  }
}
