import * as Args from '@oclif/core/args';
import { BaseCommand, normalizeIds } from '../../cli/base-command.js';
import { jobDetail, toPublicLogLine, type PublicLogLine } from '../../cli/render.js';
import { NotFoundError } from '../../core/errors.js';
import { toPublicJob, type PublicJob } from '../../core/job.js';

const SHOWN_LOG_LINES = 20;

export default class JobsShow extends BaseCommand<typeof JobsShow> {
  static override summary = 'Show one job: every field, the error of each failed attempt, its last log lines.';
  static override description = `Show every field of one job, the error of each failed attempt and its last ${SHOWN_LOG_LINES} log lines (when the backend keeps logs). Exit 3 when there is no such job.`;
  static override examples = ['<%= config.bin %> jobs show 42', '<%= config.bin %> jobs show 42 --json'];
  static override args = {
    id: Args.string({ description: 'Job id.', required: true, ignoreStdin: true }),
  };

  async run(): Promise<PublicJob & { logs: PublicLogLine[] | null }> {
    const backend = await this.openBackend({ write: false });
    const [id] = normalizeIds(backend, [this.args.id]);
    const job = await backend.getJob(id!);
    if (!job) throw new NotFoundError(`job ${id} not found`, 'list jobs with `jobctl jobs list`');
    const logs = backend.capabilities.has('logs')
      ? (await backend.readLogs({ jobId: job.id, tail: SHOWN_LOG_LINES, limit: SHOWN_LOG_LINES })).lines
      : null;
    const out = { ...toPublicJob(job), logs: logs === null ? null : logs.map(toPublicLogLine) };
    this.print(out, () => jobDetail(job, logs));
    return out;
  }
}
