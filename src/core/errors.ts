/**
 * One error family for the whole tool. Every error carries a stable `code` (shown under --json)
 * and the process exit code the CLI uses (see README "Exit codes").
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  unavailable: 69,
  timeout: 124,
} as const;

export type ErrorCode =
  | 'usage'
  | 'invalid_input'
  | 'not_found'
  | 'not_supported'
  | 'unavailable'
  | 'conflict'
  | 'lease_lost'
  | 'schema'
  | 'permission'
  | 'timeout'
  | 'internal';

export class JobctlError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  /** What the user can do about it; printed after the message. */
  readonly hint?: string;

  constructor(message: string, opts: { code: ErrorCode; exitCode: number; hint?: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.exitCode = opts.exitCode;
    this.hint = opts.hint;
  }
}

/** Bad flags or bad input: nothing was written. Exit 2. */
export class UsageError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'usage', exitCode: ExitCode.usage, hint });
  }
}

/** Input that parsed but is not acceptable (payload too large, bad queue name …). Exit 2. */
export class ValidationError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'invalid_input', exitCode: ExitCode.usage, hint });
  }
}

export class NotFoundError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'not_found', exitCode: ExitCode.notFound, hint });
  }
}

/** The backend lacks a declared capability. */
export class NotSupportedError extends JobctlError {
  constructor(backend: string, capability: string, hint?: string) {
    super(`the ${backend} backend does not support ${capability}`, {
      code: 'not_supported',
      exitCode: ExitCode.failed,
      hint,
    });
  }
}

/** The backend cannot be reached (connection refused, DNS, auth). Exit 69 (EX_UNAVAILABLE). */
export class UnavailableError extends JobctlError {
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { code: 'unavailable', exitCode: ExitCode.unavailable, ...opts });
  }
}

/** The schema is missing, too old or newer than this binary. */
export class SchemaError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'schema', exitCode: ExitCode.failed, hint });
  }
}

export class PermissionError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'permission', exitCode: ExitCode.failed, hint });
  }
}

export class TimeoutError extends JobctlError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'timeout', exitCode: ExitCode.timeout, hint });
  }
}

export function isJobctlError(e: unknown): e is JobctlError {
  return e instanceof JobctlError;
}
