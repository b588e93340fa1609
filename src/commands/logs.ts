import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { BaseCommand, normalizeIds } from '../cli/base-command.js';
import { formatLogLine, toPublicLogLine, type PublicLogLine } from '../cli/render.js';
import type { LogLine, LogQuery } from '../core/backend.js';
import { parseDuration } from '../core/durations.js';
import { NotFoundError, UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';
import { requireCapability } from '../core/registry.js';

const PAGE = 1000;
const DEFAULT_TAIL = 100;
const FOLLOW_WAIT_MS = 1000;

export default class Logs extends BaseCommand<typeof Logs> {
  static override summary = 'Show job output and worker events; -f follows new lines.';
  static override description = `Show the output lines of a job, or of every job a worker ran (--worker), or of a queue (--queue), with the worker's lifecycle events. Each line starts with its time and job id. -f keeps following new lines until Ctrl-C.

Without --tail or --since: all lines of a job, or the last ${DEFAULT_TAIL} lines of a worker, queue or everything. Control and escape characters in job output are shown as visible text (\\x1b, \\r …) unless --raw.`;
  static override examples = [
    '<%= config.bin %> logs 42',
    '<%= config.bin %> logs 42 -f',
    '<%= config.bin %> logs --worker web-1 -f',
    '<%= config.bin %> logs --queue emails --since 10m',
    '<%= config.bin %> logs --queue emails --tail 50 --json',
  ];
  static override args = {
    id: Args.string({ description: 'Job id.', required: false, ignoreStdin: true }),
  };
  static override flags = {
    follow: Flags.boolean({ char: 'f', summary: 'Keep printing new lines until interrupted.' }),
    worker: Flags.string({
      summary: 'Lines of this worker (its events and the jobs it ran).',
      helpValue: 'NAME',
      exclusive: ['queue'],
    }),
    queue: Flags.string({ char: 'q', summary: 'Lines of jobs in this queue.', helpValue: 'Q', exclusive: ['worker'] }),
    tail: Flags.integer({ char: 'n', summary: 'Start with the last N lines.', min: 0, max: 100_000, helpValue: 'N' }),
    since: Flags.string({ summary: 'Only lines newer than this, e.g. 10m, 2h.', helpValue: 'DURATION' }),
    raw: Flags.boolean({ summary: 'Print job output as is, control characters included.' }),
  };

  async run(): Promise<{ lines: PublicLogLine[]; cursor: string | null }> {
    const f = this.flags;
    if (this.args.id !== undefined && (f.worker !== undefined || f.queue !== undefined)) {
      throw new UsageError('give a job id, --worker or --queue, not several');
    }
    if (f.queue !== undefined) validateQueueName(f.queue);
    if (f.worker !== undefined && f.worker.trim() === '') throw new UsageError('empty --worker');
    const startedAt = Date.now();
    const sinceMs = f.since === undefined ? undefined : Date.now() - parseDuration(f.since, 'since');

    const backend = await this.openBackend({ write: false });
    requireCapability(backend, 'logs', 'this backend keeps no job logs');
    const jobId = this.args.id === undefined ? undefined : normalizeIds(backend, [this.args.id])[0];
    if (jobId !== undefined && !f.follow && !(await backend.getJob(jobId))) {
      throw new NotFoundError(`job ${jobId} not found`);
    }
    const base: Omit<LogQuery, 'limit'> = { jobId, worker: f.worker, queue: f.queue };
    const tail = f.tail ?? (sinceMs === undefined && jobId === undefined ? DEFAULT_TAIL : undefined);

    const collected: LogLine[] = [];
    const emit = (lines: LogLine[]) => {
      if (f.follow) {
        for (const l of lines) {
          if (this.jsonMode) process.stdout.write(`${JSON.stringify(toPublicLogLine(l))}\n`);
          else process.stdout.write(`${formatLogLine(l, { raw: f.raw })}\n`);
        }
      } else {
        collected.push(...lines);
      }
    };

    // First read: the tail, or everything since --since / from the start, page by page.
    let first = await backend.readLogs({ ...base, sinceMs, tail, limit: tail ?? PAGE });
    emit(first.lines);
    let cursor = first.cursor;
    if (tail === undefined) {
      while (first.lines.length === PAGE) {
        first = await backend.readLogs({ ...base, sinceMs, after: cursor ?? undefined, limit: PAGE });
        emit(first.lines);
        cursor = first.cursor ?? cursor;
      }
    }

    if (!f.follow) {
      const out = { lines: collected.map(toPublicLogLine), cursor };
      this.print(out, () => (collected.length ? collected.map((l) => formatLogLine(l, { raw: f.raw })).join('\n') : ''));
      if (!this.jsonMode && collected.length === 0) this.note('no log lines');
      return out;
    }

    const signal = this.interruptSignal();
    // Nothing read yet: follow from --since, or (after an empty --tail) from about now.
    const followSince = sinceMs ?? (tail !== undefined ? startedAt - 1000 : undefined);
    while (!signal.aborted) {
      const r = await backend.readLogs({
        ...base,
        sinceMs: cursor === null ? followSince : undefined,
        after: cursor ?? undefined,
        limit: PAGE,
      });
      emit(r.lines);
      cursor = r.cursor ?? cursor;
      if (r.lines.length < PAGE) {
        try {
          await backend.waitForLogs(FOLLOW_WAIT_MS, signal);
        } catch {
          break;
        }
      }
    }
    return { lines: [], cursor };
  }
}
