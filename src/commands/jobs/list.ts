import * as Flags from '@oclif/core/flags';
import { listFlags, ListCommand, parseStates, type ListOutput } from '../../cli/list-command.js';
import { STATE_FILTERS } from '../../core/job.js';

export default class JobsList extends ListCommand<typeof JobsList> {
  static override summary = 'List jobs, filtered by state, queue and name (keyset-paginated by id).';
  static override description = `States: ${STATE_FILTERS.join(', ')}. "stuck" and "orphaned" are views over running jobs: stuck = past its timeout while its worker is alive; orphaned = its lease expired or its worker died.`;
  static override examples = [
    '<%= config.bin %> jobs list',
    '<%= config.bin %> jobs list --state failed,cancelled --queue emails',
    '<%= config.bin %> jobs list --state queued --limit 100 --after 1234 --json',
  ];
  static override flags = {
    state: Flags.string({ char: 's', summary: 'Comma-separated states to include.', helpValue: 'S[,S…]' }),
    ...listFlags,
  };

  async run(): Promise<ListOutput> {
    const f = this.flags;
    return this.list({ states: parseStates(f.state), queue: f.queue, name: f.name, limit: f.limit, after: f.after });
  }
}
