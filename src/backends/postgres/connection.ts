/**
 * Connection plumbing for the Postgres backend: schema and channel names, the pool (with type
 * parsers: timestamptz -> epoch ms, int8 -> number; ids are always selected as text), the
 * statements (SQL files with the quoted schema substituted once), and the mapping of pg errors
 * to jobctl errors. Nothing here ever puts a password in a message.
 *
 * Bounds on waiting (a paused or overloaded server must not hang a command or a worker call):
 * a new connection gives up after CONNECT_TIMEOUT_MS; the server cancels a statement after
 * STATEMENT_TIMEOUT_MS (`statement_timeout`, a clean error, the connection stays usable); the
 * client gives up waiting for an answer after QUERY_TIMEOUT_MS (`query_timeout`: a server that
 * answers nothing, e.g. SIGSTOPped, or a peer gone without a reset), and that connection is
 * dropped from the pool. Every jobctl statement is short (operator commands work in batches of
 * 1,000 rows, ~50 ms each on 1,000,000 jobs), so these are far above any legitimate statement;
 * migrations (DDL on big tables) run without them (migrate.ts). A URL may override them:
 * `?statement_timeout=60000&query_timeout=65000` (ms).
 */
import type * as NodeCrypto from 'node:crypto';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { maskUrl, redact, urlSecrets } from '../../core/config.js';
import { JobctlError, PermissionError, SchemaError, UnavailableError, ValidationError } from '../../core/errors.js';
import { driver } from './driver.js';
import { sql } from './sql.generated.js';

export const DEFAULT_SCHEMA = 'jobctl';
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
/** The token in the SQL files replaced by the quoted schema name. */
const PLACEHOLDER = /__SCHEMA__/g;

/** options.namespace, else JOBCTL_PG_SCHEMA, else `jobctl`; validated. */
export function resolveSchema(namespace: string | undefined, env: Record<string, string | undefined> = process.env): string {
  const name = namespace?.trim() || env.JOBCTL_PG_SCHEMA?.trim() || DEFAULT_SCHEMA;
  if (!SCHEMA_RE.test(name)) {
    throw new ValidationError(
      `invalid postgres schema name ${JSON.stringify(name.slice(0, 80))}`,
      'schema names are 1-63 characters of a-z 0-9 _, not starting with a digit',
    );
  }
  return name;
}

export const quoteIdent = (name: string): string => `"${name}"`;

// node:crypto is loaded only for a schema name over 50 characters, not on every start of the CLI
const nodeRequire = createRequire(import.meta.url);

/** NOTIFY channel names (at most 63 bytes): readable when the schema name allows it. */
export function channelNames(schema: string): { work: string; logs: string } {
  const sha256 = (s: string) => (nodeRequire('node:crypto') as typeof NodeCrypto).createHash('sha256').update(s).digest('hex');
  const base = schema.length <= 50 ? schema : `jc_${sha256(schema).slice(0, 24)}`;
  return { work: `${base}:work`, logs: `${base}:logs` };
}

export type SqlName = keyof typeof sql;
export interface Statement {
  name: string;
  text: string;
}

/** Every SQL file with the quoted schema substituted (the only thing ever spliced into SQL text). */
export function buildStatements(schema: string): Record<SqlName, Statement> {
  if (!SCHEMA_RE.test(schema)) throw new ValidationError('invalid schema name');
  const quoted = quoteIdent(schema);
  const out = {} as Record<SqlName, Statement>;
  for (const key of Object.keys(sql) as SqlName[]) {
    out[key] = { name: `jobctl_${key}`, text: sql[key].replace(PLACEHOLDER, quoted) };
  }
  return out;
}

// --- type parsers -------------------------------------------------------------------------

const TS_RE = /^(\d{4,6})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00$/;

/** timestamptz text (the session runs in UTC) -> epoch milliseconds. */
export function parseTimestamp(text: string): number {
  const m = TS_RE.exec(text);
  if (m) {
    const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
    return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  }
  if (text === 'infinity') return 8.64e15;
  if (text === '-infinity') return -8.64e15;
  return Date.parse(text.replace(' ', 'T').replace(/\+00$/, 'Z'));
}

const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (format !== 'binary') {
      if (oid === TIMESTAMPTZ_OID) return parseTimestamp;
      if (oid === INT8_OID) return (v: string) => Number(v);
    }
    return driver.types.getTypeParser(oid, format as 'text');
  },
};

export const CONNECT_TIMEOUT_MS = 10_000;
export const STATEMENT_TIMEOUT_MS = 10_000;
/** A little over STATEMENT_TIMEOUT_MS: a slow server cancels the statement itself first. */
export const QUERY_TIMEOUT_MS = 12_000;
/** The pg driver's message when QUERY_TIMEOUT_MS passes without an answer. */
const QUERY_TIMEOUT_MESSAGE = /^Query read timeout$/;
/** pg-pool's message when no pooled connection came free within CONNECT_TIMEOUT_MS. */
const POOL_WAIT_MESSAGE = /^timeout exceeded when trying to connect$/;

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
}

export function clientConfig(o: PoolOptions): pg.ClientConfig {
  return {
    connectionString: o.url,
    application_name: o.applicationName ?? 'jobctl',
    options: '-c TimeZone=UTC',
    types: typeParsers as pg.CustomTypesConfig,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    // idle pooled connections and the LISTEN connection notice a vanished peer
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/**
 * Pooled connections per handle (a worker, a command): plus the Listener's one, a process holds at
 * most POOL_MAX + 1. A worker has at most about four statements in flight (two claims, an outcome
 * batch, a log or heartbeat write) and is as fast with 4 as with 10; 16
 * workers then stay at 80 connections on a server with the default max_connections of 100
 * (src/backends/postgres/README.md, "Connections").
 */
export const POOL_MAX = 4;

/** serverConnections' row (sql/server-connections.sql). */
export interface ConnectionSlots {
  max_conn: number;
  reserved: number;
  used: number;
  super: boolean;
  role_limit: number;
  role_used: number;
}

/**
 * A warning when fewer slots are left than one more jobctl process may hold (POOL_MAX + 1): the
 * next worker or command would be refused ("too many clients"), or this one when its pool grows.
 * Slots reserved for superusers do not count for other roles; a role's CONNECTION LIMIT counts too.
 */
export function connectionSlotsWarning(s: ConnectionSlots): string | null {
  const perProcess = POOL_MAX + 1;
  const server = s.max_conn - (s.super ? 0 : s.reserved) - s.used;
  const role = s.role_limit >= 0 && !s.super ? s.role_limit - s.role_used : Infinity;
  if (Math.min(server, role) >= perProcess) return null;
  const why =
    role < server
      ? `this role's CONNECTION LIMIT ${s.role_limit} leaves ${Math.max(0, role)} free (${s.role_used} in use)`
      : `${Math.max(0, server)} of max_connections ${s.max_conn} are free (${s.used} in use${s.super ? '' : `, ${s.reserved} reserved for superusers`})`;
  return `postgres is nearly out of connection slots: ${why}; a jobctl process holds up to ${perProcess}, so more workers or commands will be refused (raise the limit, run fewer processes, or put a session-mode pooler in front)`;
}

export function createPool(o: PoolOptions): pg.Pool {
  const pool = new driver.Pool({ ...clientConfig(o), max: o.max ?? POOL_MAX, idleTimeoutMillis: 10_000 });
  // an idle client that loses its connection must not crash the process: the next query reports it
  pool.on('error', () => {});
  return pool;
}

// --- errors --------------------------------------------------------------------------------

const NET_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);
const NET_MESSAGES =
  /connection terminated|connection timeout|timeout expired|server closed the connection|Connection refused|Client has encountered a connection error|Client was closed/i;

export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (!err || typeof err !== 'object') return false;
  if (err.code && (NET_CODES.has(err.code) || /^08/.test(err.code) || /^57P0[123]$/.test(err.code) || err.code === '53300'))
    return true;
  return typeof err.message === 'string' && NET_MESSAGES.test(err.message);
}

export interface ErrorContext {
  url: string;
  schema: string;
}

/** Turn any error from pg into a jobctl error whose message carries no secret. */
export function mapPgError(e: unknown, ctx: ErrorContext): Error {
  if (e instanceof JobctlError) return e;
  const secrets = urlSecrets(ctx.url);
  const err = e as { code?: string; message?: string };
  const message = redact(String(err?.message ?? e), secrets);
  const where = maskUrl(ctx.url);
  const code = err?.code;
  if (code === '28P01' || code === '28000') {
    return new UnavailableError(`postgres at ${where} refused the login: ${message}`, {
      hint: 'check the user and password in --url or JOBCTL_URL',
    });
  }
  if (code === '3D000') {
    return new UnavailableError(`postgres at ${where}: ${message}`, {
      hint: 'create the database or fix the database name in --url or JOBCTL_URL',
    });
  }
  if (typeof err?.message === 'string' && QUERY_TIMEOUT_MESSAGE.test(err.message)) {
    return new UnavailableError(
      `postgres at ${where} did not answer in time (query_timeout, ${QUERY_TIMEOUT_MS / 1000} s unless --url sets it) — is it overloaded, paused or unreachable?`,
      { hint: 'a longer wait: add ?query_timeout=<ms> to --url or JOBCTL_URL' },
    );
  }
  if (typeof err?.message === 'string' && POOL_WAIT_MESSAGE.test(err.message)) {
    // every pooled connection stayed busy (a paused or overloaded server holds their statements)
    return new UnavailableError(
      `postgres at ${where} did not answer in time (all ${POOL_MAX} pooled connections stayed busy for ${CONNECT_TIMEOUT_MS / 1000} s) — is it overloaded, paused or unreachable?`,
      {
        hint: 'the statements holding the connections end at their query_timeout; add ?query_timeout=<ms> to --url or JOBCTL_URL to change it',
      },
    );
  }
  if (code === '57014' && /statement timeout/i.test(message)) {
    return new UnavailableError(`postgres at ${where} cancelled a statement that ran past its statement_timeout: ${message}`, {
      hint: 'the server is overloaded or a lock is held for long; a longer limit: add ?statement_timeout=<ms> to --url or JOBCTL_URL',
    });
  }
  if (code === '53300') {
    // "sorry, too many clients already" / "remaining connection slots are reserved …": the server
    // runs, it has no slot left; retried like an outage, but the advice differs
    return new UnavailableError(`postgres at ${where} has no free connection slot: ${message}`, {
      hint: `each jobctl process holds up to ${POOL_MAX + 1} connections: raise max_connections, run fewer processes, or put a session-mode pooler in front`,
    });
  }
  if (isConnectionError(e)) {
    // the driver's reason in the message, so that a worker's log line (which prints no hint) has it
    return new UnavailableError(`cannot reach postgres at ${where}: ${message}`, {
      hint: 'is it running? set --url or JOBCTL_URL',
    });
  }
  if (code === '42501') {
    return new PermissionError(
      `permission denied on schema "${ctx.schema}" at ${where}: ${message}`,
      'this role cannot do that: use a role with the grants in the README (a worker role for writes; `jobctl migrate` needs DDL)',
    );
  }
  if (code === '42P01' || code === '3F000') {
    return new SchemaError(
      `the jobctl schema "${ctx.schema}" is not set up at ${where}`,
      'run `jobctl migrate` (with a role allowed to create tables)',
    );
  }
  if (code === '22P05') {
    // jsonb cannot hold \u0000 in a string (nor can text hold NUL): the statement wrote nothing
    return new ValidationError(
      `postgres cannot store this JSON: ${message}`,
      'jsonb has no \\u0000 in strings: remove NUL characters from the payload',
    );
  }
  if (code === '25006') {
    return new PermissionError(`postgres at ${where} is read-only: ${message}`, 'connect to the primary for writes');
  }
  const out = new Error(`postgres error${code ? ` ${code}` : ''}: ${message}`);
  return out;
}
