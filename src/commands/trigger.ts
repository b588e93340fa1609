import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { BaseCommand } from '../cli/base-command.js';
import { oneLine } from '../cli/sanitize.js';
import { parseJobLines, readPayload, readSource, toEnqueueInput, type TriggerFields } from '../cli/trigger-input.js';
import { createClient, prepareJobs } from '../core/client.js';
import { parseDuration } from '../core/durations.js';
import { UsageError } from '../core/errors.js';
import { toPublicJob, type EnqueueInput, type Job, type PublicJob } from '../core/job.js';

const DEFAULT_WAIT_TIMEOUT = '10m';

export default class Trigger extends BaseCommand<typeof Trigger> {
  static override summary = 'Enqueue a job (or many from an NDJSON file) and print its id.';
  static override description = `Enqueue a job and print its id (--json: the job). The payload is JSON, validated before anything is written (limit 1 MiB).

--file enqueues every line of an NDJSON file (or "-" for stdin) in one batch: one object per line with the fields name, payload, queue, priority, delay, runAt, maxAttempts, timeout, uniqueKey; the flags give defaults. All lines are validated first: one bad line and nothing is written.

--wait waits for the outcome: exit 0 when the job completed, 1 when it failed or was cancelled, 124 when --wait-timeout (default 10m) passed first.`;
  static override examples = [
    `<%= config.bin %> trigger send-email --payload '{"to":"a@example.com"}'`,
    '<%= config.bin %> trigger report --payload-file report.json --queue reports --delay 5m',
    '<%= config.bin %> trigger nightly --run-at 2030-01-31T02:00:00Z --unique-key nightly-2030-01-31',
    `echo '{"n":1}' | <%= config.bin %> trigger work --payload-file -`,
    '<%= config.bin %> trigger --file jobs.ndjson --queue bulk',
    '<%= config.bin %> trigger build --wait --wait-timeout 15m --json',
  ];
  static override args = {
    name: Args.string({
      description: 'Job name (the handler to run), e.g. send-email. Not used with --file.',
      required: false,
      ignoreStdin: true,
    }),
  };
  static override flags = {
    payload: Flags.string({
      char: 'p',
      summary: 'Payload as JSON text.',
      helpValue: 'JSON',
      exclusive: ['payload-file', 'file'],
    }),
    'payload-file': Flags.string({
      summary: 'Read the JSON payload from a file, or "-" for stdin.',
      helpValue: 'F|-',
      exclusive: ['payload', 'file'],
    }),
    queue: Flags.string({ char: 'q', summary: 'Queue (default "default").', helpValue: 'Q' }),
    priority: Flags.integer({ summary: 'Priority; lower runs first (default 0).', helpValue: 'N' }),
    delay: Flags.string({
      summary: 'Run no sooner than this from now, e.g. 30s, 5m.',
      helpValue: 'DURATION',
      exclusive: ['run-at'],
    }),
    'run-at': Flags.string({ summary: 'Run no sooner than this ISO time.', helpValue: 'ISO', exclusive: ['delay'] }),
    'max-attempts': Flags.integer({ summary: 'Attempts before the job is failed (default 5).', helpValue: 'N' }),
    timeout: Flags.string({ summary: 'Time limit of one attempt (default 30m).', helpValue: 'DURATION' }),
    'unique-key': Flags.string({
      summary: 'While an unfinished job has this key, return it instead of enqueueing a duplicate.',
      helpValue: 'K',
    }),
    file: Flags.string({
      char: 'f',
      summary: 'Enqueue every line of an NDJSON file ("-" for stdin) in one batch.',
      helpValue: 'FILE|-',
      exclusive: ['payload', 'payload-file', 'wait'],
    }),
    wait: Flags.boolean({
      char: 'w',
      summary: 'Wait for the outcome: exit 0 completed, 1 failed/cancelled, 124 timed out.',
      exclusive: ['file'],
    }),
    'wait-timeout': Flags.string({ summary: 'How long --wait waits (default 10m).', helpValue: 'DURATION', dependsOn: ['wait'] }),
  };

  async run(): Promise<PublicJob | { jobs: PublicJob[] }> {
    const f = this.flags;
    const fields: TriggerFields = {
      queue: f.queue,
      priority: f.priority,
      delay: f.delay,
      runAt: f['run-at'],
      maxAttempts: f['max-attempts'],
      timeout: f.timeout,
      uniqueKey: f['unique-key'],
    };
    for (const k of Object.keys(fields) as (keyof TriggerFields)[]) if (fields[k] === undefined) delete fields[k];

    // Validate everything before the backend is opened: bad input writes nothing.
    let inputs: EnqueueInput[];
    if (f.file !== undefined) {
      if (this.args.name !== undefined)
        throw new UsageError('give a job name or --file, not both', 'with --file each line names its job');
      if (fields.uniqueKey !== undefined)
        throw new UsageError('--unique-key cannot be a default for --file', 'put "uniqueKey" on each line instead');
      inputs = parseJobLines(await readSource(f.file, 'jobs file'), fields);
    } else {
      if (this.args.name === undefined)
        throw new UsageError('missing job name', 'jobctl trigger <name> [--payload JSON], or --file jobs.ndjson');
      const payload = await readPayload({ payload: f.payload, payloadFile: f['payload-file'] });
      inputs = [toEnqueueInput(this.args.name, payload, fields)];
      prepareJobs(inputs);
    }
    const waitTimeoutMs = f.wait ? parseDuration(f['wait-timeout'] ?? DEFAULT_WAIT_TIMEOUT, 'wait timeout') : 0;

    const backend = await this.openBackend({ write: true });
    const client = createClient(backend, { ownsBackend: false });
    const results = await client.enqueueWithResults(inputs);

    if (f.file !== undefined) {
      const out = { jobs: results.map((r) => toPublicJob(r.job)) };
      const existing = results.filter((r) => !r.created).length;
      this.print(out, () => results.map((r) => r.job.id).join('\n'));
      if (existing > 0 && !this.jsonMode)
        this.note(`${existing} of ${results.length} matched an unfinished job with the same unique key (existing ids printed)`);
      return out;
    }

    const { job, created } = results[0]!;
    if (!created && !this.jsonMode)
      this.note(`unique key matched unfinished job ${job.id} (${job.state}); nothing new was enqueued`);
    if (!f.wait) {
      const out = toPublicJob(job);
      this.print(out, () => job.id);
      return out;
    }

    if (!this.jsonMode) process.stdout.write(`${job.id}\n`);
    let final: Job;
    try {
      final = await client.waitFor(job.id, { timeoutMs: waitTimeoutMs, signal: this.interruptSignal() });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError')
        this.exitWith(130, `interrupted: stopped waiting for job ${job.id} (it keeps going)`);
      throw e;
    }
    const out = toPublicJob(final);
    if (this.jsonMode) this.print(out, () => '');
    if (final.state !== 'completed') this.exitWith(1, outcomeLine(final));
    this.note(outcomeLine(final));
    return out;
  }
}

function outcomeLine(job: Job): string {
  const took =
    job.finishedAt !== null && job.startedAt !== null ? ` in ${((job.finishedAt - job.startedAt) / 1000).toFixed(1)}s` : '';
  if (job.state === 'completed') return `job ${job.id} completed${took}`;
  const why = job.lastError ? `: ${oneLine(job.lastError, 200)}` : '';
  return `job ${job.id} ${job.state} after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}${why}`;
}
