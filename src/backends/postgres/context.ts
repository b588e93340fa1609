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
}

export async function q<R extends pg.QueryResultRow>(
  ctx: PgContext,
  name: SqlName,
  values: unknown[],
  opts: { prepared?: boolean } = {},
): Promise<R[]> {
  const s = ctx.st[name];
  try {
    const r = await ctx.pool.query<R>(
      opts.prepared === false ? { text: s.text, values } : { name: s.name, text: s.text, values },
    );
    return r.rows;
  } catch (e) {
    throw mapPgError(e, ctx);
  }
}

/** Errors kept per job (the oldest are dropped). */
export const KEPT_ERRORS = 20;
