import * as Flags from '@oclif/core/flags';
import { setTimeout as sleep } from 'node:timers/promises';
import { BaseCommand } from '../cli/base-command.js';
import { statsTable } from '../cli/render.js';
import type { Stats as StatsResult } from '../core/backend.js';
import { parseDuration } from '../core/durations.js';
import { UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';

export default class Stats extends BaseCommand<typeof Stats> {
  static override summary =
    'Per-queue counts: queued, scheduled, running, stuck, orphaned, failed, completed, cancelled; oldest queued job; live workers.';
  static override description = `Per-queue counts by state, the age of the oldest queued job and the number of live workers. "running" counts every running job; "stuck" and "orphaned" are subsets of it.

--watch redraws every --interval (default 2s) until Ctrl-C; with --json it prints one JSON object per line per tick.`;
  static override examples = [
    '<%= config.bin %> stats',
    '<%= config.bin %> stats --queue emails --json',
    '<%= config.bin %> stats --watch --interval 5s',
  ];
  static override flags = {
    queue: Flags.string({ char: 'q', summary: 'Only this queue.', helpValue: 'Q' }),
    watch: Flags.boolean({ char: 'W', summary: 'Refresh until interrupted.' }),
    interval: Flags.string({
      summary: 'Refresh interval for --watch (default 2s).',
      helpValue: 'DURATION',
      dependsOn: ['watch'],
    }),
  };

  async run(): Promise<StatsResult> {
    const f = this.flags;
    if (f.queue !== undefined) validateQueueName(f.queue);
    const intervalMs = f.interval === undefined ? 2000 : parseDuration(f.interval, 'interval');
    if (f.watch && intervalMs < 100) throw new UsageError('--interval must be at least 100ms');
    const backend = await this.openBackend({ write: false });
    if (!f.watch) {
      const stats = await backend.stats({ queue: f.queue });
      this.print(stats, () => statsTable(stats));
      return stats;
    }

    const signal = this.interruptSignal();
    const tty = process.stdout.isTTY === true && !this.jsonMode;
    let last: StatsResult = { queues: [], workers: { alive: 0 } };
    let drawnLines = 0;
    while (!signal.aborted) {
      last = await backend.stats({ queue: f.queue });
      if (this.jsonMode) {
        this.print(last, () => '', { compact: true });
      } else {
        const text = `${new Date().toISOString()}  (every ${intervalMs / 1000}s, Ctrl-C to stop)\n\n${statsTable(last)}\n`;
        if (tty) {
          // move up over the previous frame and clear it: redraw in place
          if (drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}F\x1b[J`);
          process.stdout.write(text);
          drawnLines = text.split('\n').length - 1;
        } else {
          process.stdout.write(`${text}\n`);
        }
      }
      try {
        await sleep(intervalMs, undefined, { signal });
      } catch {
        break;
      }
    }
    return last;
  }
}
