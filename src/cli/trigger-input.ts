/**
 * Input for `jobctl trigger`: flags and `--file jobs.ndjson` lines → validated EnqueueInput.
 * Everything is validated before anything is written.
 */
import { readFile } from 'node:fs/promises';
import { UsageError, ValidationError, JobctlError } from '../core/errors.js';
import { parseDuration } from '../core/durations.js';
import { DEFAULTS, normalizeEnqueue, parsePayloadText, type EnqueueInput } from '../core/job.js';

/** The job fields `trigger` takes as flags; also the defaults for every line of --file. */
export interface TriggerFields {
  queue?: string;
  priority?: number;
  delay?: string;
  runAt?: string;
  maxAttempts?: number;
  timeout?: string;
  uniqueKey?: string;
}

/** Read a whole file, or stdin for "-". */
export async function readSource(path: string, what: string): Promise<string> {
  try {
    if (path === '-') {
      if (process.stdin.isTTY)
        throw new UsageError(
          `${what} "-" reads stdin, but stdin is a terminal`,
          'pipe the data in, e.g. echo \'{"a":1}\' | jobctl …',
        );
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof JobctlError) throw e;
    throw new UsageError(
      `cannot read ${what} ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** ISO date-time (or epoch ms) → epoch ms. */
export function parseRunAt(text: string | number, what = '--run-at'): number {
  const t = typeof text === 'number' ? text : /^\d+$/.test(text.trim()) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t) || t < 0)
    throw new UsageError(`invalid ${what} ${JSON.stringify(String(text))}`, 'use an ISO time such as 2030-01-31T09:00:00Z');
  return t;
}

function durationField(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  if (typeof v === 'string') return parseDuration(v, what);
  throw new UsageError(`invalid ${what} ${JSON.stringify(v)}`, 'use e.g. 30s, 5m, or milliseconds');
}

/** Turn trigger fields into an EnqueueInput (durations parsed; delay and run-at are exclusive). */
export function toEnqueueInput(name: string, payload: unknown, f: TriggerFields, now: number = Date.now()): EnqueueInput {
  if (f.delay !== undefined && f.runAt !== undefined) throw new UsageError('--delay and --run-at cannot be used together');
  const input: EnqueueInput = { name, payload };
  if (f.queue !== undefined) input.queue = f.queue;
  if (f.priority !== undefined) input.priority = f.priority;
  if (f.maxAttempts !== undefined) input.maxAttempts = f.maxAttempts;
  if (f.timeout !== undefined) input.timeoutMs = durationField(f.timeout, 'timeout');
  if (f.delay !== undefined) input.runAt = now + durationField(f.delay, 'delay');
  if (f.runAt !== undefined) input.runAt = parseRunAt(f.runAt);
  if (f.uniqueKey !== undefined) input.uniqueKey = f.uniqueKey;
  return input;
}

const LINE_KEYS: Record<string, keyof TriggerFields | 'name' | 'payload'> = {
  name: 'name',
  payload: 'payload',
  queue: 'queue',
  priority: 'priority',
  delay: 'delay',
  runAt: 'runAt',
  'run-at': 'runAt',
  run_at: 'runAt',
  maxAttempts: 'maxAttempts',
  'max-attempts': 'maxAttempts',
  max_attempts: 'maxAttempts',
  timeout: 'timeout',
  uniqueKey: 'uniqueKey',
  'unique-key': 'uniqueKey',
  unique_key: 'uniqueKey',
};

/**
 * Parse NDJSON: one job object per line with the trigger fields (name, payload, queue, priority,
 * delay, runAt, maxAttempts, timeout, uniqueKey; kebab/snake spellings accepted). Flags give
 * defaults. Blank lines are skipped. The first bad line throws, naming its line number.
 */
export function parseJobLines(
  text: string,
  defaults: TriggerFields,
  limitBytes: number = DEFAULTS.payloadLimitBytes,
  now: number = Date.now(),
): EnqueueInput[] {
  const jobs: EnqueueInput[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    try {
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        throw new ValidationError(`not valid JSON: ${(e as Error).message}`);
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
        throw new ValidationError('expected a JSON object with at least "name"');
      const fields: TriggerFields & { name?: unknown; payload?: unknown } = { ...defaults };
      const entries = Object.entries(obj);
      // a line's own delay/runAt replaces both defaults (they are exclusive)
      if (entries.some(([k]) => LINE_KEYS[k] === 'delay' || LINE_KEYS[k] === 'runAt')) {
        delete fields.delay;
        delete fields.runAt;
      }
      for (const [k, v] of entries) {
        const key = LINE_KEYS[k];
        if (!key)
          throw new ValidationError(`unknown field "${k}"`, `fields: ${[...new Set(Object.values(LINE_KEYS))].join(', ')}`);
        (fields as Record<string, unknown>)[key] = v;
      }
      if (typeof fields.name !== 'string') throw new ValidationError('"name" (a string) is required');
      const input = toEnqueueInput(fields.name, fields.payload, fields, now);
      normalizeEnqueue(input, limitBytes); // validate now, with the line number
      jobs.push(input);
    } catch (e) {
      if (e instanceof JobctlError) throw new ValidationError(`line ${i + 1}: ${e.message}`, e.hint);
      throw e;
    }
  });
  if (jobs.length === 0)
    throw new ValidationError(
      'no jobs in the file',
      'one JSON object per line, e.g. {"name":"send-email","payload":{"to":"a@b.c"}}',
    );
  return jobs;
}

/** The payload from --payload or --payload-file (JSON only; invalid JSON is exit 2). */
export async function readPayload(
  flags: { payload?: string; payloadFile?: string },
  limitBytes: number = DEFAULTS.payloadLimitBytes,
): Promise<unknown> {
  if (flags.payload !== undefined && flags.payloadFile !== undefined)
    throw new UsageError('--payload and --payload-file cannot be used together');
  if (flags.payload !== undefined) return parsePayloadText(flags.payload, limitBytes, '--payload');
  if (flags.payloadFile !== undefined) {
    const text = await readSource(flags.payloadFile, 'payload file');
    return parsePayloadText(
      text,
      limitBytes,
      flags.payloadFile === '-' ? 'payload from stdin' : `payload file ${flags.payloadFile}`,
    );
  }
  return null;
}
