/**
 * What every part of the Postgres backend shares: the pool, the statements, names, the listener,
 * and `q` — one statement, named (prepared once per connection) unless it benefits from a plan
 * made for its actual parameters, with pg errors mapped to jobctl errors.
 */
import type pg from 'pg';
import { mapPgError, type SqlName, type Statement } from './connection.js';
import type { Listener } from './listener.js';

export interface PgContext {
  pool: pg.Pool;
  st: Record<SqlName, Statement>;
  schema: string;
  url: string;
  channels: { work: string; logs: string };
  listener: Listener;
  /** the spacing of completions' logs NOTIFYs (logsChannelNow, notifyLogsLater) */
  logsNotify: { last: number; timer: NodeJS.Timeout | null; owed: boolean };
}

/**
 * A completion's NOTIFY of the logs channel is sent at most once per LOGS_NOTIFY_EVERY_MS per
 * handle. Every NOTIFY takes the database's notify lock from pre-commit until its commit is
 * flushed (completions writing at once wait on each other's WAL flush) and signals every
 * listening connection of the database (the worker's own listener too); a busy worker completes
 * a batch every few ms. Followers (`logs -f`) still see every line within about this long: a
 * skipped NOTIFY is owed and sent by a timer after its statement committed.
 */
export const LOGS_NOTIFY_EVERY_MS = 50;

/** The channel for this completion statement's NOTIFY, or null: skip it (call notifyLogsLater once it is committed). */
export function logsChannelNow(ctx: PgContext): string | null {
  const now = Date.now();
  if (now - ctx.logsNotify.last < LOGS_NOTIFY_EVERY_MS) return null;
  ctx.logsNotify.last = now;
  return ctx.channels.logs;
}

/** Lines were committed without a NOTIFY: send one when the spacing allows (at least once after now). */
export function notifyLogsLater(ctx: PgContext): void {
  const n = ctx.logsNotify;
  n.owed = true;
  if (n.timer) return;
  n.timer = setTimeout(
    () => {
      n.timer = null;
      void flushLogsNotify(ctx);
    },
    Math.max(0, n.last + LOGS_NOTIFY_EVERY_MS - Date.now()),
  );
  n.timer.unref();
}

/** Send the owed NOTIFY now (the timer's, and close's before the pool ends); errors are ignored: followers also poll. */
export async function flushLogsNotify(ctx: PgContext): Promise<void> {
  const n = ctx.logsNotify;
  if (n.timer) clearTimeout(n.timer);
  n.timer = null;
  if (!n.owed) return;
  n.owed = false;
  n.last = Date.now();
  await q(ctx, 'notifyLogs', [ctx.channels.logs]).catch(() => {});
}

export async function q<R extends pg.QueryResultRow>(
  ctx: PgContext,
  name: SqlName,
  values: unknown[],
  /** timeoutMs: give up waiting for the answer sooner than QUERY_TIMEOUT_MS (the driver's query_timeout) */
  opts: { prepared?: boolean; timeoutMs?: number } = {},
): Promise<R[]> {
  const s = ctx.st[name];
  try {
    const config: pg.QueryConfig & { query_timeout?: number } =
      opts.prepared === false ? { text: s.text, values } : { name: s.name, text: s.text, values };
    if (opts.timeoutMs !== undefined) config.query_timeout = opts.timeoutMs;
    const r = await ctx.pool.query<R>(config);
    return r.rows;
  } catch (e) {
    throw mapPgError(e, ctx);
  }
}

/**
 * Like q, but the statement is already on its way to the server when the returned promise
 * resolves (a client is taken from the pool first, and a client writes a query to its socket as
 * soon as it is given one): the caller can work while the server runs it, then await `rows`.
 * pool.query would write it only on a later tick, after any work the caller does meanwhile.
 */
export async function qSent<R extends pg.QueryResultRow>(
  ctx: PgContext,
  name: SqlName,
  values: unknown[],
): Promise<{ rows: Promise<R[]> }> {
  const s = ctx.st[name];
  let client: pg.PoolClient;
  try {
    client = await ctx.pool.connect();
  } catch (e) {
    throw mapPgError(e, ctx);
  }
  // a connection lost while checked out is reported through the query; without a listener
  // the client's 'error' event would crash the process
  let lost: Error | undefined;
  const onError = (e: Error) => (lost = e);
  client.on('error', onError);
  const done = (err?: Error) => {
    client.off('error', onError);
    client.release(err ?? lost); // as pool.query does: a client that saw an error is not reused
  };
  const rows = client.query<R>({ name: s.name, text: s.text, values }).then(
    (r) => {
      done();
      return r.rows;
    },
    (e: unknown) => {
      done(e instanceof Error ? e : new Error(String(e)));
      throw mapPgError(e, ctx);
    },
  );
  return { rows };
}

/** Errors kept per job (the oldest are dropped). */
export const KEPT_ERRORS = 20;
