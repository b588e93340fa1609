import { listFlags, ListCommand, type ListOutput } from '../cli/list-command.js';

export default class Orphaned extends ListCommand<typeof Orphaned> {
  static override summary =
    'List orphaned jobs: running, but the lease expired or the worker died. Same as jobs list --state orphaned.';
  static override description =
    'List orphaned jobs: running, but the lease expired or the worker died. Same as jobs list --state orphaned.';
  static override examples = ['<%= config.bin %> orphaned', '<%= config.bin %> orphaned --json'];
  static override flags = { ...listFlags };

  async run(): Promise<ListOutput> {
    const f = this.flags;
    return this.list({ states: ['orphaned'], queue: f.queue, name: f.name, limit: f.limit, after: f.after });
  }
}
