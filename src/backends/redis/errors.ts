/**
 * The ONE place where Redis/ioredis failures become JobctlErrors: connection problems become
 * UnavailableError (with the URL masked), `JOBCTL_<CODE> message` replies from our Lua scripts
 * become the matching class, and raw Redis replies (WRONGTYPE, OOM, READONLY …) get a message
 * that says what to do. Every message is passed through `redact` so no secret leaks.
 */
import {
  ExitCode,
  JobctlError,
  NotFoundError,
  PermissionError,
  SchemaError,
  UnavailableError,
  ValidationError,
} from '../../core/errors.js';
import { maskUrl, redact, urlSecrets } from '../../core/config.js';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
const CONNECTION_TEXT =
  /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|Reached the max retries|Connection timeout|ClusterAllFailedError|enableOfflineQueue|Command timed out/i;

export function mapRedisError(e: unknown, url: string, context?: string): JobctlError {
  if (e instanceof JobctlError) return e;
  const err = e as (Error & { code?: string; name?: string }) | undefined;
  const secrets = urlSecrets(url);
  const raw = redact(String(err?.message ?? e), secrets);
  const where = maskUrl(url);
  const opts = { cause: e };

  const own = /^JOBCTL_([A-Z]+) (.*)$/s.exec(raw);
  if (own) {
    const [, code, message] = own as unknown as [string, string, string];
    switch (code) {
      case 'CONFLICT':
        return new JobctlError(message, {
          code: 'conflict',
          exitCode: ExitCode.failed,
          hint: 'pick another --name or stop the other worker',
        });
      case 'SCHEMA':
        return new SchemaError(message, 'upgrade jobctl, or use another --namespace');
      case 'INVALID':
        return new ValidationError(message);
      case 'NOTFOUND':
        return new NotFoundError(message);
      default:
        return new JobctlError(message, { code: 'internal', exitCode: ExitCode.failed });
    }
  }
  if (err?.name === 'MaxRetriesPerRequestError' || CONNECTION_CODES.has(err?.code ?? '') || CONNECTION_TEXT.test(raw)) {
    return new UnavailableError(`cannot reach redis at ${where}: ${shorten(raw)}`, {
      hint: 'is it running? set --url or JOBCTL_URL',
      ...opts,
    });
  }
  if (/^(NOAUTH|WRONGPASS)/.test(raw) || /ERR (AUTH|invalid password)/i.test(raw)) {
    return new UnavailableError(`redis at ${where} refused the credentials`, {
      hint: 'check the user and password in --url',
      ...opts,
    });
  }
  if (/^OOM /.test(raw)) {
    return new UnavailableError(`redis at ${where} is out of memory (maxmemory reached); nothing was written`, {
      hint: 'raise maxmemory or purge finished jobs (jobctl purge)',
      ...opts,
    });
  }
  if (/^READONLY /.test(raw)) {
    return new UnavailableError(`redis at ${where} is a read-only replica`, { hint: 'point --url at the primary', ...opts });
  }
  if (/^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS) /.test(raw)) {
    return new UnavailableError(`redis at ${where} is not ready: ${shorten(raw)}`, { hint: 'retry in a moment', ...opts });
  }
  if (/^WRONGTYPE /.test(raw)) {
    return new SchemaError(
      `a redis key used by jobctl holds another type of value${context ? ` (${context})` : ''}: is another application using the same key prefix?`,
      'use another --namespace (key prefix), or remove the foreign keys',
    );
  }
  // NOPERM: a command (or key, channel) the ACL user may not use; inside a script Redis 7.0 says
  // "The user executing the script can't run this command", 7.2 "ACL failure in script"
  if (/^NOPERM /.test(raw) || /user executing the script can't run this command|ACL failure in script/i.test(raw)) {
    return new PermissionError(
      `redis at ${where} denied this user a command${context ? ` (in ${context})` : ''}: ${shorten(raw)}`,
      'use a user with the ACL rules in the README (Redis: least privilege): the worker user for writes',
    );
  }
  return new JobctlError(`redis error${context ? ` in ${context}` : ''}: ${shorten(raw)}`, {
    code: 'internal',
    exitCode: ExitCode.failed,
    ...opts,
  });
}

/** Drop ioredis/Lua noise ("script: <sha>, on @user_script:12.") from a reply. */
function shorten(message: string): string {
  return message.replace(/\s*script: [0-9a-f]{40}, on @user_script:\d+\.?/, '').trim();
}
