/**
 * Worker lifecycle lines for people and log collectors (stderr): logfmt or JSON, one line each.
 * Secrets given to the logger are masked in every line.
 */
import { redact } from '../core/config.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface WorkerLogger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** When false the worker skips building per-job debug lines. */
  readonly debugEnabled: boolean;
}

export const silentLogger: WorkerLogger = { log() {}, debugEnabled: false };

export interface StderrLoggerOptions {
  format?: 'logfmt' | 'json';
  debug?: boolean;
  secrets?: readonly string[];
  write?: (line: string) => void;
  now?: () => Date;
}

export function createStderrLogger(opts: StderrLoggerOptions = {}): WorkerLogger {
  const format = opts.format ?? 'logfmt';
  const secrets = opts.secrets ?? [];
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const debug = opts.debug === true;
  return {
    debugEnabled: debug,
    log(level, msg, fields = {}) {
      if (level === 'debug' && !debug) return;
      const time = now().toISOString();
      const line =
        format === 'json' ? JSON.stringify({ time, level, msg, ...fields }) : formatLogfmt({ time, level, msg, ...fields });
      write(`${secrets.length ? redact(line, secrets) : line}\n`);
    },
  };
}

export function formatLogfmt(fields: LogFields): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    parts.push(`${k}=${logfmtValue(v)}`);
  }
  return parts.join(' ');
}

function logfmtValue(v: unknown): string {
  let s: string;
  if (v === null) s = 'null';
  else if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  else if (Array.isArray(v)) s = v.join(',');
  else if (v instanceof Error) s = v.message;
  else s = JSON.stringify(v) ?? String(v);
  // neutralise control characters so one entry stays one line
  s = s.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : '?'));
  return s === '' || /[\s"=\\]/.test(s) ? JSON.stringify(s) : s;
}
