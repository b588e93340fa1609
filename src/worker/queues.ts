/**
 * Queue specs and weighted queue order (pure functions).
 *
 *   parseQueueSpec('a,b')                    → [{a,1},{b,1}]
 *   parseQueueSpec('critical:10,default:2')  → [{critical,10},{default,2}]
 *
 * weightedOrder picks the queue order for one claim: the first queue is drawn with probability
 * weight / total, then the next among the rest, and so on (as Asynq does), so `critical:10,
 * default:2` tries `critical` first in about 5 of 6 claims without starving `default`.
 */
import { JobctlError, UsageError } from '../core/errors.js';
import { validateQueueName } from '../core/job.js';
import type { QueueWeight } from './types.js';

export const MAX_QUEUE_WEIGHT = 1000;

export function parseQueueSpec(spec: string | readonly QueueWeight[] | readonly string[]): QueueWeight[] {
  const entries: QueueWeight[] = [];
  if (typeof spec === 'string') {
    const text = spec.trim();
    if (text === '') throw new UsageError('empty queue list', 'use e.g. --queue default or --queue critical:10,default:2');
    for (const raw of text.split(',')) {
      const part = raw.trim();
      if (part === '') throw new UsageError(`empty queue name in "${text}"`, 'separate queue names with single commas');
      const colon = part.lastIndexOf(':');
      if (colon === -1) {
        entries.push({ name: checkName(part), weight: 1 });
      } else {
        entries.push({ name: checkName(part.slice(0, colon)), weight: parseWeight(part.slice(colon + 1), part) });
      }
    }
  } else if (Array.isArray(spec)) {
    for (const item of spec as readonly (QueueWeight | string)[]) {
      if (typeof item === 'string') entries.push({ name: checkName(item), weight: 1 });
      else if (item && typeof item === 'object') {
        entries.push({ name: checkName(item.name), weight: checkWeight(item.weight ?? 1, String(item.name)) });
      } else throw new UsageError('invalid queue list entry');
    }
    if (entries.length === 0) throw new UsageError('empty queue list');
  } else {
    throw new UsageError('invalid queue list');
  }
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw new UsageError(`queue "${e.name}" is listed twice`);
    seen.add(e.name);
  }
  return entries;
}

function checkName(name: string): string {
  try {
    return validateQueueName(name);
  } catch (e) {
    if (e instanceof JobctlError) throw new UsageError(e.message, e.hint);
    throw e;
  }
}

function parseWeight(text: string, part: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new UsageError(
      `invalid queue weight in "${part}"`,
      `weights are integers from 1 to ${MAX_QUEUE_WEIGHT}, e.g. critical:10`,
    );
  }
  return checkWeight(Number(text.trim()), part);
}

function checkWeight(w: number, what: string): number {
  if (!Number.isInteger(w) || w < 1 || w > MAX_QUEUE_WEIGHT) {
    throw new UsageError(`invalid queue weight in "${what}"`, `weights are integers from 1 to ${MAX_QUEUE_WEIGHT}`);
  }
  return w;
}

/** Queue names in the order to try them for one claim: weighted random, without replacement. */
export function weightedOrder(queues: readonly QueueWeight[], rand: () => number = Math.random): string[] {
  const n = queues.length;
  if (n === 1) return [queues[0]!.name];
  const rest = queues.slice();
  let total = 0;
  for (const q of rest) total += q.weight;
  const out: string[] = [];
  while (rest.length > 1) {
    let r = rand() * total;
    let i = 0;
    for (; i < rest.length - 1; i++) {
      r -= rest[i]!.weight;
      if (r < 0) break;
    }
    const [picked] = rest.splice(i, 1);
    out.push(picked!.name);
    total -= picked!.weight;
  }
  out.push(rest[0]!.name);
  return out;
}

/** Render a queue list back to its spec form (for logs and the workers view). */
export function formatQueueSpec(queues: readonly QueueWeight[]): string {
  const weighted = queues.some((q) => q.weight !== 1);
  return queues.map((q) => (weighted ? `${q.name}:${q.weight}` : q.name)).join(',');
}
