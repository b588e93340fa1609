/**
 * Does the server keep jobs across a restart, never evict them, and have room for more? `jobctl
 * work` prints the warnings these return, `jobctl doctor` lists them. CONFIG may be disabled
 * (managed services rename it): then INFO is used for what it can tell (AOF on/off, eviction
 * policy), and RDB is not judged.
 */
import { Cluster } from 'ioredis';
import { formatBytes } from '../../core/bytes.js';
import type { Client } from './connection.js';

type Node = { config(...a: string[]): Promise<unknown>; info(section: string): Promise<string> };

/** The nodes that hold data: every master of a cluster, or the one server. */
function masters(client: Client): Node[] {
  return client instanceof Cluster ? (client.nodes('master') as unknown as Node[]) : [client as unknown as Node];
}

async function nodeFacts(node: Node): Promise<{ rdb: boolean | null; aof: boolean | null; policy: string | null }> {
  try {
    const get = async (name: string) => {
      const r = (await node.config('GET', name)) as string[];
      return r[1] ?? null;
    };
    const [save, appendonly, policy] = await Promise.all([get('save'), get('appendonly'), get('maxmemory-policy')]);
    return { rdb: save === null ? null : save.trim() !== '', aof: appendonly === null ? null : appendonly === 'yes', policy };
  } catch {
    try {
      const info = (await node.info('persistence')) + (await node.info('memory'));
      const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null;
      const aof = field('aof_enabled');
      return { rdb: null, aof: aof === null ? null : aof === '1', policy: field('maxmemory_policy') };
    } catch {
      return { rdb: null, aof: null, policy: null };
    }
  }
}

/** A warning for `jobctl work`, or null when jobs are kept (or the server does not tell). */
export async function checkPersistence(client: Client): Promise<string | null> {
  const nodes = masters(client);
  const facts = await Promise.all(nodes.map(nodeFacts));
  const problems: string[] = [];
  if (facts.some((f) => f.rdb === false && f.aof === false)) {
    problems.push('the server has neither AOF nor RDB persistence: queued and running jobs are lost when it restarts');
  }
  const evicting = facts.map((f) => f.policy).find((p) => p !== null && p !== 'noeviction');
  if (evicting) problems.push(`maxmemory-policy is ${evicting}, not noeviction: jobs can be evicted when memory is full`);
  return problems.length ? `redis: ${problems.join('; ')}; enable appendonly or save, and set maxmemory-policy noeviction` : null;
}

/** used_memory at or above this share of maxmemory is worth a warning. */
export const MEMORY_WARN_SHARE = 0.9;

/**
 * A warning when a node's used_memory is at MEMORY_WARN_SHARE of its maxmemory or more (maxmemory 0
 * = no limit): at the limit, with noeviction, every write fails with OOM — no enqueue, and no
 * outcome can be recorded (workers retry, jobs stay running). Null when far from it or not told.
 */
export async function checkMemory(client: Client): Promise<string | null> {
  const nodes = masters(client);
  const fulls = await Promise.all(
    nodes.map(async (node) => {
      const info = await node.info('memory').catch(() => '');
      const num = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      const used = num('used_memory');
      const max = num('maxmemory');
      return max > 0 && used >= MEMORY_WARN_SHARE * max ? { used, max } : null;
    }),
  );
  const full = fulls.find((f) => f !== null);
  if (!full) return null;
  return `redis: memory is ${Math.round((100 * full.used) / full.max)}% of maxmemory (${formatBytes(full.used)} of ${formatBytes(full.max)})${nodes.length > 1 ? ' on a node' : ''}: at the limit writes fail with OOM, so nothing can be enqueued and no outcome recorded; raise maxmemory or purge finished jobs (jobctl purge)`;
}
