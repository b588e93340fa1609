/**
 * Does the server keep jobs across a restart, and does it never evict them? `jobctl work` prints
 * the warning this returns. CONFIG may be disabled (managed services rename it): then INFO is
 * used for what it can tell (AOF on/off, eviction policy), and RDB is not judged.
 */
import { Cluster } from 'ioredis';
import type { Client } from './connection.js';

type Node = { config(...a: string[]): Promise<unknown>; info(section: string): Promise<string> };

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
  const nodes: Node[] = client instanceof Cluster ? (client.nodes('master') as unknown as Node[]) : [client as unknown as Node];
  const facts = await Promise.all(nodes.map(nodeFacts));
  const problems: string[] = [];
  if (facts.some((f) => f.rdb === false && f.aof === false)) {
    problems.push('the server has neither AOF nor RDB persistence: queued and running jobs are lost when it restarts');
  }
  const evicting = facts.map((f) => f.policy).find((p) => p !== null && p !== 'noeviction');
  if (evicting) problems.push(`maxmemory-policy is ${evicting}, not noeviction: jobs can be evicted when memory is full`);
  return problems.length ? `redis: ${problems.join('; ')}; enable appendonly or save, and set maxmemory-policy noeviction` : null;
}
