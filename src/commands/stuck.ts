import { listFlags, ListCommand, type ListOutput } from '../cli/list-command.js';

export default class Stuck extends ListCommand<typeof Stuck> {
  static override summary =
    'List stuck jobs: running past their timeout while their worker is alive. Same as jobs list --state stuck.';
  static override description =
    'List stuck jobs: running past their timeout while their worker is alive. Same as jobs list --state stuck.';
  static override examples = ['<%= config.bin %> stuck', '<%= config.bin %> stuck --queue emails --json'];
  static override flags = { ...listFlags };

  async run(): Promise<ListOutput> {
    const f = this.flags;
    return this.list({ states: ['stuck'], queue: f.queue, name: f.name, limit: f.limit, after: f.after });
  }
}
