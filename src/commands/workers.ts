import { BaseCommand } from '../cli/base-command.js';
import { toPublicWorker, workersTable, type PublicWorker } from '../cli/render.js';

export default class Workers extends BaseCommand<typeof Workers> {
  static override summary = 'List registered workers: host, pid, queues, concurrency, running jobs, heartbeat, alive/dead.';
  static override description =
    'List the workers registered with the backend. A worker is dead when its last heartbeat is older than its TTL; the jobs it held become orphaned and are rescued by any live worker or by `jobctl reset --orphaned`.';
  static override examples = ['<%= config.bin %> workers', '<%= config.bin %> workers --json'];

  async run(): Promise<{ workers: PublicWorker[] }> {
    const backend = await this.openBackend({ write: false });
    const workers = await backend.listWorkers();
    const out = { workers: workers.map(toPublicWorker) };
    this.print(out, () => workersTable(workers));
    return out;
  }
}
