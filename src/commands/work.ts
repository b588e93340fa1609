import * as Flags from '@oclif/core/flags';
import { BaseCommand, type BaseFlags } from '../cli/base-command.js';
import { parseDuration } from '../core/durations.js';
import { UsageError } from '../core/errors.js';
import {
  createStderrLogger,
  createWorker,
  loadHandlers,
  parseFailpoint,
  parseQueueSpec,
  type Handlers,
  type WorkerSummary,
} from '../worker/index.js';

/** Exit code after a forced stop (second signal), as shells report SIGINT. */
export const FORCED_EXIT_CODE = 130;

export interface WorkResult extends WorkerSummary {
  worker: string;
  /** why the worker stopped: drained, max-jobs, signal, forced */
  stoppedBy: 'drained' | 'max-jobs' | 'signal' | 'forced';
  exitCode: number;
}

export default class Work extends BaseCommand<typeof Work> {
  static override summary = 'Run a worker: claim jobs from queues and run them with a handlers module or a shell command.';
  static override description = `Claims jobs from the given queues (weighted: --queue critical:10,default:2 tries "critical" first in about 5 of 6 claims) and runs up to --concurrency at once.

--exec CMD runs each job as /bin/sh -c CMD in its own process group: the payload JSON on stdin; JOBCTL_JOB_ID, JOBCTL_JOB_NAME, JOBCTL_QUEUE and JOBCTL_ATTEMPT in its environment (JOBCTL_URL and variables holding the URL's password are removed); each stdout/stderr line becomes a line of the job's log (at most 64 KiB per line and 10,000 lines per attempt). Exit 0 completes the job; any other exit is a failed attempt, retried with back-off until its max attempts. Past the job's timeout the whole group gets SIGTERM, then SIGKILL 5 s later; processes that left the group (setsid) are found by a marker in their environment and, on Linux where the worker may create cgroups (v2, e.g. as root; JOBCTL_NO_CGROUPS=1 turns this off), by the attempt's own cgroup, which also catches those that replaced their environment. Nothing an attempt started outlives it.

--handlers FILE loads an ESM/CJS module exporting { [jobName]: async (payload, ctx) => result } where ctx has job, attempt, signal (AbortSignal), log(...) and progress(value).

The worker heartbeats, extends its leases, and puts orphaned jobs of dead workers back. --drain exits when a claim finds nothing ready now and nothing is running (jobs scheduled for later, e.g. retries waiting out their back-off, are left for another run).

Signals: SIGTERM or SIGINT stops claiming, lets running jobs finish for up to --shutdown-timeout, then releases the rest back to their queue (the attempt counts) and exits 0 (with --drain: 0 only if every job it ran completed, else 1). A second signal forces it: running jobs are released at once, exec process groups are killed, exit 130.

Lifecycle lines go to stderr (logfmt; JSON lines under --json); the summary goes to stdout.`;
  static override examples = [
    '<%= config.bin %> work --handlers ./handlers.js --concurrency 20',
    `<%= config.bin %> work --queue critical:10,default:2 --exec './process-job.sh' --name planning-worker-1`,
    '<%= config.bin %> work --exec "python3 task.py" --drain --json',
  ];
  static override flags = {
    queue: Flags.string({
      char: 'q',
      summary: 'Queues, e.g. a,b or weighted critical:10,default:2 (default "default").',
      helpValue: 'SPEC',
    }),
    concurrency: Flags.integer({ char: 'c', summary: 'Jobs run at once (default 10).', helpValue: 'N', min: 1, max: 10_000 }),
    name: Flags.string({ summary: 'Worker name, unique among live workers (default host-pid).', helpValue: 'NAME' }),
    exec: Flags.string({ summary: 'Run each job as this shell command.', helpValue: 'CMD', exactlyOne: ['exec', 'handlers'] }),
    handlers: Flags.string({
      summary: 'Run jobs with the functions exported by this module.',
      helpValue: 'FILE',
      exactlyOne: ['exec', 'handlers'],
    }),
    drain: Flags.boolean({ summary: 'Exit when the queues have nothing ready and nothing is running.', exclusive: ['max-jobs'] }),
    'max-jobs': Flags.integer({ summary: 'Exit after running this many jobs.', helpValue: 'N', min: 1, exclusive: ['drain'] }),
    prefetch: Flags.integer({
      summary:
        'Jobs claimed ahead of free slots (default: 0 with --exec, else 4 × concurrency, at most 256, growing to 12 × concurrency, at most 512, while jobs take a few ms or less; 0 = only free slots).',
      description:
        'Prefetched jobs wait in the worker holding their leases (renewed by heartbeats); their timeout starts when they run, but the backend records them as started when claimed. On shutdown they are released without running (the attempt counts). Use a small value or 0 for long jobs.',
      helpValue: 'N',
      min: 0,
      max: 100_000,
    }),
    'job-events': Flags.boolean({
      summary:
        "Write each job's claimed/completed lines to the backend log (--no-job-events skips them; failures, retries, releases and lost claims are always written).",
      default: true,
      allowNo: true,
    }),
    lease: Flags.string({ summary: 'Lease of each claim, renewed by heartbeats (default 30s).', helpValue: 'DURATION' }),
    'shutdown-timeout': Flags.string({
      summary: 'On SIGTERM/SIGINT, how long running jobs may finish before they are released (default 30s).',
      helpValue: 'DURATION',
    }),
  };

  async run(): Promise<WorkResult> {
    const f = this.flags;
    // validate everything before connecting
    const queues = parseQueueSpec(f.queue ?? 'default');
    const leaseMs = parseDuration(f.lease ?? '30s', 'lease');
    if (leaseMs < 1000) throw new UsageError(`lease ${f.lease} is too short`, 'use at least 1s');
    const shutdownTimeoutMs = parseDuration(f['shutdown-timeout'] ?? '30s', 'shutdown timeout');
    const failpoint = parseFailpoint(process.env.JOBCTL_FAILPOINT);
    if (f.exec !== undefined && f.exec.trim() === '') throw new UsageError('empty --exec command');
    let handlers: Handlers | undefined;
    if (f.handlers !== undefined) handlers = await loadHandlers(f.handlers);

    const backend = await this.openBackend({ write: true });
    const secrets = this.secrets();
    const logger = createStderrLogger({
      format: this.jsonMode ? 'json' : 'logfmt',
      debug: (this.flags as BaseFlags).debug,
      secrets,
    });
    // risks the operator must know before trusting this worker (e.g. Redis without persistence)
    for (const w of await backend.warnings().catch(() => [])) logger.log('warn', w, {});
    const worker = createWorker({
      backend,
      queues,
      concurrency: f.concurrency,
      prefetch: f.prefetch,
      jobEvents: f['job-events'],
      name: f.name,
      ...(handlers ? { handlers } : { exec: f.exec! }),
      leaseMs,
      shutdownTimeoutMs,
      drain: f.drain,
      maxJobs: f['max-jobs'],
      logger,
      secrets,
      failpoint,
    });

    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        logger.log('info', `received ${sig}: finishing running jobs (send it again to force)`, { worker: worker.name });
        void worker.stop({ graceful: true });
      } else {
        logger.log('warn', `received ${sig} again: forcing stop`, { worker: worker.name });
        void worker.stop({ graceful: false });
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    let stoppedBy: WorkResult['stoppedBy'];
    let summary: WorkerSummary;
    try {
      await worker.start();
      summary = await worker.done;
    } finally {
      // keep handling signals until we exit: a late signal must not kill us mid-cleanup
      setImmediate(() => {
        process.removeListener('SIGTERM', onSignal);
        process.removeListener('SIGINT', onSignal);
      }).unref();
    }
    if (signals >= 2) stoppedBy = 'forced';
    else if (signals === 1) stoppedBy = 'signal';
    else if (f.drain) stoppedBy = 'drained';
    else stoppedBy = 'max-jobs';

    const allCompleted = summary.failed + summary.retried + summary.released + summary.lost === 0;
    const exitCode = stoppedBy === 'forced' ? FORCED_EXIT_CODE : f.drain && !allCompleted ? 1 : 0;
    const result: WorkResult = { worker: worker.name, ...summary, stoppedBy, exitCode };
    this.print(
      result,
      () =>
        `worker ${worker.name} stopped (${stoppedBy}): ${summary.completed} completed, ${summary.failed} failed, ` +
        `${summary.retried} retried, ${summary.released} released, ${summary.lost} lost`,
      { compact: true },
    );
    // exit explicitly: a handler that ignored its abort must not keep the process alive
    return this.exit(exitCode);
  }
}
