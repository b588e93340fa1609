import { listFlags, ListCommand, type ListOutput } from '../cli/list-command.js';

export default class Failed extends ListCommand<typeof Failed> {
  static override summary = 'List failed jobs (attempts exhausted): the dead letters. Same as jobs list --state failed.';
  static override description = 'List failed jobs (attempts exhausted): the dead letters. Same as jobs list --state failed.';
  static override examples = ['<%= config.bin %> failed --queue emails', '<%= config.bin %> failed --json'];
  static override flags = { ...listFlags };

  async run(): Promise<ListOutput> {
    const f = this.flags;
    return this.list({ states: ['failed'], queue: f.queue, name: f.name, limit: f.limit, after: f.after });
  }
}
