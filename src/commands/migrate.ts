import { BaseCommand } from '../cli/base-command.js';
import type { MigrateResult } from '../core/backend.js';
import { maskUrl } from '../core/config.js';

export default class Migrate extends BaseCommand<typeof Migrate> {
  static override summary = "Create or upgrade the backend's schema (idempotent).";
  static override description =
    "Create or upgrade the backend's schema: tables and indexes (sqlite, pg), key format (redis), streams, consumers and KV buckets (nats). Safe to run twice, also at the same time. Writing commands on the embedded sqlite default do this on first use.";
  static override examples = ['<%= config.bin %> migrate', '<%= config.bin %> migrate --url postgres://app@db:5432/app --json'];

  async run(): Promise<MigrateResult & { backend: string }> {
    const backend = await this.openBackend({ write: true, autoMigrate: false });
    const r = await backend.migrate();
    const out = { backend: backend.name, from: r.from, to: r.to };
    const where = `${backend.name} at ${maskUrl(this.connection.url)}`;
    this.print(out, () =>
      r.from === r.to
        ? `schema of ${where} is up to date (version ${r.to})`
        : `migrated ${where} from version ${r.from} to ${r.to}`,
    );
    return out;
  }
}
