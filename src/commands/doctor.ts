import chalk from 'chalk';
import { BaseCommand } from '../cli/base-command.js';
import { oneLine } from '../cli/sanitize.js';
import { maskUrl, redact } from '../core/config.js';
import { ExitCode, UnavailableError } from '../core/errors.js';

type Status = 'ok' | 'warn' | 'fail';
interface Check {
  name: string;
  status: Status;
  detail: string;
}

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override summary = 'Check the backend: reachable, schema, stuck and orphaned jobs, dead workers.';
  static override description =
    'Check that the backend is reachable and its schema usable, and point at what needs an operator: stuck and orphaned jobs, failed jobs, dead workers. Exit 0 when nothing failed (warnings included), 1 otherwise, 69 when the backend cannot be reached.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];

  async run(): Promise<{ ok: boolean; backend: string; url: string; capabilities: string[]; checks: Check[] }> {
    const checks: Check[] = [];
    const backend = await this.openBackend({ write: false });
    checks.push({ name: 'reachable', status: 'ok', detail: `${backend.name} at ${maskUrl(this.connection.url)}` });
    const warnings = await backend
      .warnings()
      .catch((e: unknown) => [`could not check the server settings: ${(e as Error).message}`]);
    checks.push({
      name: 'server',
      status: warnings.length ? 'warn' : 'ok',
      detail: warnings.length ? warnings.join('; ') : 'no known risk',
    });
    try {
      const stats = await backend.stats({});
      checks.push({ name: 'schema', status: 'ok', detail: 'readable' });
      const sum = (k: 'stuck' | 'orphaned' | 'failed' | 'queued') => stats.queues.reduce((n, q) => n + q[k], 0);
      const stuck = sum('stuck');
      const orphaned = sum('orphaned');
      const failed = sum('failed');
      checks.push({
        name: 'stuck jobs',
        status: stuck ? 'warn' : 'ok',
        detail: stuck ? `${stuck} stuck: see \`jobctl stuck\`, then \`jobctl reset --stuck\`` : 'none',
      });
      checks.push({
        name: 'orphaned jobs',
        status: orphaned ? 'warn' : 'ok',
        detail: orphaned ? `${orphaned} orphaned: a live worker rescues them, or \`jobctl reset --orphaned\`` : 'none',
      });
      checks.push({
        name: 'failed jobs',
        status: failed ? 'warn' : 'ok',
        detail: failed ? `${failed} failed: see \`jobctl failed\`` : 'none',
      });
      const workers = await backend.listWorkers();
      const dead = workers.filter((w) => !w.alive);
      const alive = workers.length - dead.length;
      const queued = sum('queued');
      checks.push({
        name: 'workers',
        status: dead.length || (queued > 0 && alive === 0) ? 'warn' : 'ok',
        detail: `${alive} alive, ${dead.length} dead${
          dead.length
            ? ` (${dead
                .slice(0, 5)
                .map((w) => oneLine(w.name, 40))
                .join(', ')})`
            : ''
        }${queued > 0 && alive === 0 ? `; ${queued} queued jobs and no live worker` : ''}`,
      });
    } catch (e) {
      if (e instanceof UnavailableError) throw e;
      checks.push({ name: 'schema', status: 'fail', detail: oneLine(redact((e as Error).message, this.secrets()), 200) });
    }
    const ok = !checks.some((c) => c.status === 'fail');
    const out = {
      ok,
      backend: backend.name,
      url: maskUrl(this.connection.url),
      capabilities: [...backend.capabilities].sort(),
      checks,
    };
    const mark = { ok: chalk.green('ok  '), warn: chalk.yellow('warn'), fail: chalk.red('FAIL') };
    this.print(out, () => checks.map((c) => `${mark[c.status]}  ${c.name.padEnd(14)} ${c.detail}`).join('\n'));
    if (!ok) this.exitWith(ExitCode.failed);
    return out;
  }
}
