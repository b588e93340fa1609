/**
 * The base of every jobctl command: global flags, connection resolution, lazy backend opening
 * (closed automatically), output (--json or human text) and the one error path.
 *
 *   export default class Stats extends BaseCommand<typeof Stats> {
 *     static flags = { queue: Flags.string() };
 *     async run() {
 *       const backend = await this.openBackend({ write: false });
 *       const stats = await backend.stats({ queue: this.flags.queue });
 *       this.print(stats, () => renderStats(stats));
 *       return stats;
 *     }
 *   }
 *
 * Flags and args are parsed in `init()` and available as `this.flags` / `this.args` in `run()`.
 * Any error thrown from `run()` becomes ONE line on stderr (`jobctl: <message> (<hint>)`, URL
 * secrets masked), plus `{"error":{"code","message","exitCode"}}` on stdout under --json, and the
 * process exits with the error's exit code (2 for parse errors, 69 when the backend is
 * unreachable, 1 for anything unexpected). The stack is printed only with --debug.
 */
import { Command } from '@oclif/core/command';
import * as Errors from '@oclif/core/errors';
import * as Flags from '@oclif/core/flags';
import type * as Interfaces from '@oclif/core/interfaces';
import chalk from 'chalk';
import type { Backend } from '../core/backend.js';
import { resolveConnection, urlSecrets, maskUrl, redact, type Connection } from '../core/config.js';
import { ExitCode, JobctlError, UnavailableError, UsageError, ValidationError, type ErrorCode } from '../core/errors.js';
import { openBackend } from '../core/registry.js';
import { oneLine } from './sanitize.js';

export type BaseFlags = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags']>;
export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/** Driver error codes that mean "the backend cannot be reached or refused our credentials". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'CONNECTION_REFUSED',
  // postgres: invalid_password, invalid_authorization_specification, cannot_connect_now
  '28P01',
  '28000',
  '57P03',
]);
const UNREACHABLE_MESSAGES =
  /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|connect(ion)? (refused|timeout|timed out)|NOAUTH|WRONGPASS|Authorization Violation|authentication failed|password authentication|CONNECTION_REFUSED/i;

/** True when an error (or any error it wraps) is a connection or authentication failure. */
export function isUnreachableError(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && UNREACHABLE_MESSAGES.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isUnreachableError(x, depth + 1))) return true;
  return e.cause !== undefined && isUnreachableError(e.cause, depth + 1);
}

export interface ErrorReport {
  code: ErrorCode;
  message: string;
  hint?: string;
  exitCode: number;
}

/**
 * Turn any error into what jobctl prints: a JobctlError keeps its code; oclif parse errors are
 * usage errors (exit 2); raw driver connection errors become "unavailable" (exit 69).
 * `secrets` are replaced by *** in the message and hint. Pure; exported for tests.
 */
export function describeError(err: unknown, ctx: { connection?: Connection; secrets: readonly string[] }): ErrorReport {
  const clean = (s: string) => oneLine(redact(s, ctx.secrets));
  if (err instanceof JobctlError) {
    return { code: err.code, message: clean(err.message), hint: err.hint ? clean(err.hint) : undefined, exitCode: err.exitCode };
  }
  if (isUnreachableError(err)) {
    const conn = ctx.connection;
    const where = conn ? `${conn.backend} at ${maskUrl(conn.url)}` : 'the backend';
    return {
      code: 'unavailable',
      message: clean(`cannot reach ${where} — is it running? set --url or JOBCTL_URL`),
      hint: clean(String((err as Error).message ?? err)),
      exitCode: ExitCode.unavailable,
    };
  }
  if (err instanceof Errors.CLIError) {
    const exit = err.oclif?.exit ?? ExitCode.usage;
    const lines = err.message
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^See more help with --help$/.test(l));
    const message = lines
      .map((l) => l.replace(/^The following errors occurred:\s*/, '').replace(/\s{2,}/g, ' '))
      .filter(Boolean)
      .join('; ')
      .replace(/^(Parsing --[\w-]+);/, '$1:')
      .replace(/:;\s*/g, ': ');
    const isParse = 'parse' in err || exit === ExitCode.usage;
    return {
      code: isParse ? 'usage' : 'internal',
      message: clean(message || 'invalid usage'),
      hint: isParse ? 'see --help' : undefined,
      exitCode: isParse ? ExitCode.usage : exit,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: clean(message || 'unexpected error'), exitCode: ExitCode.failed };
}

/** Canonicalise user-typed ids with the backend's rules before anything is written (exit 2 on a bad one). */
export function normalizeIds(backend: Backend, raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of raw) {
    try {
      out.push(backend.normalizeId(r));
    } catch (e) {
      if (e instanceof JobctlError) throw e;
      throw new ValidationError(`invalid job id ${JSON.stringify(oneLine(r, 60))}`);
    }
  }
  return [...new Set(out)];
}

export abstract class BaseCommand<T extends typeof Command = typeof Command> extends Command {
  static override baseFlags = {
    backend: Flags.string({
      helpGroup: 'GLOBAL',
      env: 'JOBCTL_BACKEND',
      summary: 'Backend: sqlite, pg, redis or nats (default: from the URL scheme, else sqlite).',
      helpValue: 'sqlite|pg|redis|nats',
    }),
    url: Flags.string({
      helpGroup: 'GLOBAL',
      env: 'JOBCTL_URL',
      summary: 'Connection URL (sqlite: a file path, default ./.jobctl/jobs.db).',
      helpValue: 'URL',
    }),
    namespace: Flags.string({
      helpGroup: 'GLOBAL',
      aliases: ['schema'],
      summary:
        'Namespace: the pg schema, the Redis key prefix, the NATS stream and bucket names (default jobctl; env JOBCTL_NAMESPACE). Not for sqlite: a file is one namespace.',
      helpValue: 'NAME',
    }),
    json: Flags.boolean({ helpGroup: 'GLOBAL', summary: 'Print stable machine-readable JSON.' }),
    'no-color': Flags.boolean({
      helpGroup: 'GLOBAL',
      summary: 'Disable colour (also NO_COLOR, or when stdout is not a terminal).',
    }),
    debug: Flags.boolean({ helpGroup: 'GLOBAL', summary: 'Print debug details and stack traces to stderr.' }),
  };

  protected flags!: CommandFlags<T>;
  protected args!: CommandArgs<T>;
  /** Every positional argument (for commands with `static strict = false`, e.g. several ids). */
  protected positional: string[] = [];

  private openedBackends: Backend[] = [];
  private resolvedConnection?: Connection;
  private cleanups: (() => void)[] = [];

  public override async init(): Promise<void> {
    await super.init();
    const { args, flags, argv } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as CommandFlags<T>;
    this.args = args as CommandArgs<T>;
    this.positional = argv.map(String);
    if (!useColor(this.flags as BaseFlags)) chalk.level = 0;
  }

  /** True under --json: print machine-readable output only. */
  protected get jsonMode(): boolean {
    const f = this.flags as BaseFlags | undefined;
    if (f) return f.json === true;
    const end = this.argv.indexOf('--');
    const i = this.argv.indexOf('--json');
    return i !== -1 && (end === -1 || i < end);
  }

  /** Backend and URL from flag > env > URL scheme > sqlite default (throws UsageError, exit 2). */
  protected get connection(): Connection {
    if (!this.resolvedConnection) {
      const f = this.flags as BaseFlags;
      this.resolvedConnection = resolveConnection({ backend: f.backend, url: f.url, env: process.env });
    }
    return this.resolvedConnection;
  }

  /**
   * Open the backend (driver loaded lazily). `write: true` creates/upgrades the schema on first
   * use (every backend; a newer schema is always refused). `autoMigrate` overrides that choice
   * (the migrate command). Closed automatically when the command ends.
   */
  protected async openBackend(opts: { write: boolean; autoMigrate?: boolean }): Promise<Backend> {
    const conn = this.connection;
    const flagged = (this.flags as BaseFlags).namespace;
    // sqlite keeps one namespace per file: a namespace asked for on the command line would be
    // silently ignored there (JOBCTL_NAMESPACE in the environment is, for scripts that run every
    // backend with one environment)
    if (flagged !== undefined && conn.backend === 'sqlite')
      throw new UsageError(
        '--namespace does not apply to sqlite: one database file is one namespace',
        'pick another file with --url',
      );
    this.debugLog(`opening ${conn.backend} at ${maskUrl(conn.url)} (write: ${opts.write})`);
    const backend = await openBackend(conn.backend, {
      url: conn.url,
      namespace: flagged ?? (process.env.JOBCTL_NAMESPACE || undefined),
      autoMigrate: opts.autoMigrate ?? opts.write,
      debug: (this.flags as BaseFlags).debug ? (m) => this.debugLog(m) : undefined,
    });
    this.openedBackends.push(backend);
    return backend;
  }

  /** Print `data` as JSON under --json, else the human text (computed only when needed). */
  protected print(data: unknown, human: () => string, opts: { compact?: boolean } = {}): void {
    if (this.jsonMode) {
      process.stdout.write(`${opts.compact ? JSON.stringify(data) : JSON.stringify(data, null, 2)}\n`);
    } else {
      const text = human();
      if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** A line for people on stderr (notes, progress); never part of --json output. */
  protected note(message: string): void {
    process.stderr.write(`${redact(message, this.secrets())}\n`);
  }

  /** With --debug: a line on stderr, secrets masked. */
  protected debugLog(message: string): void {
    const f = this.flags as BaseFlags | undefined;
    if (f?.debug) process.stderr.write(chalk.dim(`debug: ${redact(message, this.secrets())}\n`));
  }

  /**
   * End the command with an exit code after its output was printed (e.g. `trigger --wait` when
   * the job failed: exit 1). `message`, when given, is printed as one `jobctl:` line on stderr.
   */
  protected exitWith(code: number, message?: string): never {
    if (message) process.stderr.write(`jobctl: ${oneLine(redact(message, this.secrets()))}\n`);
    return this.exit(code);
  }

  /** An AbortSignal aborted on SIGINT/SIGTERM (for follow/watch loops); handlers removed at the end. */
  protected interruptSignal(): AbortSignal {
    const ac = new AbortController();
    const onSignal = () => ac.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    this.cleanups.push(() => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    });
    return ac.signal;
  }

  /** Every secret that might appear in output: the resolved URL, --url and JOBCTL_URL. */
  protected secrets(): string[] {
    const urls: string[] = [];
    if (this.resolvedConnection) urls.push(this.resolvedConnection.url);
    const f = this.flags as BaseFlags | undefined;
    if (f?.url) urls.push(f.url);
    if (process.env.JOBCTL_URL) urls.push(process.env.JOBCTL_URL);
    this.argv.forEach((a, i) => {
      if (a === '--url' && this.argv[i + 1]) urls.push(this.argv[i + 1]!);
      else if (a.startsWith('--url=')) urls.push(a.slice(6));
    });
    return [...new Set(urls.flatMap((u) => urlSecrets(u)))];
  }

  public override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    // this.exit()/exitWith(): output is already printed.
    if (err instanceof Errors.ExitError) throw err;
    let connection: Connection | undefined;
    try {
      connection = this.flags ? this.connection : undefined;
    } catch {
      connection = undefined;
    }
    const secrets = this.secrets();
    const report = describeError(err, { connection, secrets });
    const f = this.flags as BaseFlags | undefined;
    const debug = f ? f.debug : this.argv.includes('--debug');
    if (this.jsonMode) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: report.code, message: report.message, exitCode: report.exitCode } })}\n`,
      );
    }
    process.stderr.write(`jobctl: ${report.message}${report.hint ? ` (${report.hint})` : ''}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${redact(err.stack, secrets)}\n`);
    return this.exit(report.exitCode);
  }

  public override async finally(err: Error | undefined): Promise<void> {
    for (const c of this.cleanups.splice(0)) c();
    const backends = this.openedBackends.splice(0);
    for (const b of backends.reverse()) {
      try {
        await b.close();
      } catch (e) {
        this.debugLog(`closing the backend failed: ${(e as Error).message}`);
      }
    }
    await super.finally(err);
  }
}

/** Colour is off with --no-color, NO_COLOR, or when stdout is not a terminal. */
export function useColor(
  flags: { 'no-color'?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stdout.isTTY,
): boolean {
  if (flags['no-color']) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY === true;
}

/** Throw when the backend was reached but reports it is down (helper for commands' own checks). */
export function unreachable(connection: Connection, cause?: unknown): UnavailableError {
  return new UnavailableError(`cannot reach ${connection.backend} at ${maskUrl(connection.url)} — is it running?`, {
    hint: 'set --url or JOBCTL_URL',
    cause,
  });
}
