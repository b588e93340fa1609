/**
 * Redis connections: URL parsing (single server or cluster), client options tuned to fail fast
 * for one-shot CLI commands yet reconnect for long-running workers, and the script registry.
 *
 * URLs: `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). A cluster is selected with
 * `?cluster=1` and may list several seed nodes: `redis://h1:7000,h2:7001?cluster=1`.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { UsageError } from '../../core/errors.js';
import { maskUrl } from '../../core/config.js';
import { mapRedisError } from './errors.js';

export type Client = Redis | Cluster;

export interface ParsedUrl {
  cluster: boolean;
  tls: boolean;
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  db: number;
  params: URLSearchParams;
}

const URL_RE = /^(rediss?):\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i;

export function parseRedisUrl(url: string): ParsedUrl {
  const m = URL_RE.exec(url.trim());
  if (!m) throw new UsageError(`invalid redis URL ${maskUrl(url)}`, 'use redis://[user:password@]host:port[/db]');
  const [, scheme, auth, hostList, path, query] = m;
  const params = new URLSearchParams(query ?? '');
  let username: string | undefined;
  let password: string | undefined;
  if (auth) {
    const i = auth.indexOf(':');
    if (i < 0) username = decodeURIComponent(auth);
    else {
      username = decodeURIComponent(auth.slice(0, i)) || undefined;
      password = decodeURIComponent(auth.slice(i + 1));
    }
  }
  const nodes = (hostList || '127.0.0.1:6379').split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
    if (!hm) throw new UsageError(`invalid redis host "${h}" in ${maskUrl(url)}`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port: hm[2] ? Number(hm[2]) : 6379 };
  });
  const dbText = (path ?? '').replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,3}$/.test(dbText)) throw new UsageError(`invalid redis database "${dbText}" in ${maskUrl(url)}`);
  const cluster = /^(1|true|yes)$/i.test(params.get('cluster') ?? '');
  return { cluster, tls: scheme!.toLowerCase() === 'rediss', nodes, username, password, db: dbText ? Number(dbText) : 0, params };
}

/**
 * Longest wait for one command's reply. A server that accepts connections but never answers
 * (paused, hung, a half-open socket) must not hang a CLI command or a worker's loop forever; a
 * live server answers our commands and scripts far sooner. Blocking reads use a connection without it.
 */
export const COMMAND_TIMEOUT_MS = 10_000;
/** Longest wait for a first connection to be ready (TCP connect and handshake). */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Create and connect a client. The first connection attempt is not retried (a CLI command fails
 * within CONNECT_TIMEOUT_MS with an UnavailableError); once connected, the client reconnects with
 * back-off and each command gives up after a couple of retries or COMMAND_TIMEOUT_MS instead of
 * hanging.
 */
export async function connect(url: string, debug?: (m: string) => void): Promise<Client> {
  const p = parseRedisUrl(url);
  let connected = false;
  const retry = (times: number): number | null => (connected ? Math.min(100 * times, 2000) : null);
  const base: RedisOptions = {
    username: p.username,
    password: p.password,
    db: p.db,
    tls: p.tls ? {} : undefined,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 2,
    lazyConnect: true,
    retryStrategy: retry,
  };
  let client: Client;
  if (p.cluster) {
    const { db: _db, retryStrategy: _r, lazyConnect: _l, ...redisOptions } = base;
    const opts: ClusterOptions = {
      redisOptions,
      lazyConnect: true,
      clusterRetryStrategy: retry,
      slotsRefreshTimeout: 5000,
    };
    client = new Cluster(p.nodes, opts);
  } else {
    client = new Redis({ ...base, host: p.nodes[0]!.host, port: p.nodes[0]!.port });
  }
  client.on('error', (e: Error) => debug?.(`redis: ${mapRedisError(e, url).message}`));
  // connectTimeout ends at the TCP connect; a server that accepts but never answers (paused,
  // hung) would keep the handshake (CLIENT SETINFO, the INFO ready check) waiting: bound it too
  let timedOut = false;
  const ready = setTimeout(() => {
    timedOut = true;
    client.disconnect();
  }, CONNECT_TIMEOUT_MS);
  try {
    await client.connect();
  } catch (e) {
    client.disconnect();
    throw mapRedisError(timedOut ? new Error(`Connection timeout: no answer within ${CONNECT_TIMEOUT_MS} ms`) : e, url);
  } finally {
    clearTimeout(ready);
  }
  connected = true;
  return client;
}

/**
 * A second connection with the same settings (pub/sub, blocking reads, bulk traffic).
 * `autoPipelining`: batch the commands issued in one tick into one write. Only for the bulk
 * connection: ioredis keeps one auto-pipeline in flight per node, so a command issued while one
 * is outstanding waits a whole round trip, which the hot path (claims, outcomes) must not.
 */
export function duplicate(
  client: Client,
  url: string,
  debug?: (m: string) => void,
  autoPipelining = false,
  /** for blocking reads (XREAD BLOCK): no per-command timeout */
  blocking = false,
): Client {
  const commandTimeout = blocking ? undefined : COMMAND_TIMEOUT_MS;
  const dup =
    client instanceof Cluster
      ? client.duplicate(undefined, {
          enableAutoPipelining: autoPipelining,
          redisOptions: { ...client.options.redisOptions, commandTimeout },
        })
      : client.duplicate({ enableAutoPipelining: autoPipelining, commandTimeout });
  dup.on('error', (e: Error) => debug?.(`redis: ${mapRedisError(e, url).message}`));
  return dup;
}
