import { describe, expect, it } from 'vitest';
import { parseStates } from '../../src/cli/list-command.js';
import { runBatches } from '../../src/cli/mutation-command.js';
import type { MutationResult } from '../../src/core/backend.js';

describe('runBatches', () => {
  it('calls again while a batch is full, and merges the results', async () => {
    let pending = Array.from({ length: 25 }, (_, i) => String(i + 1));
    const calls: number[] = [];
    const r = await runBatches(async (limit): Promise<MutationResult> => {
      calls.push(limit);
      const batch = pending.slice(0, limit);
      pending = pending.slice(limit);
      return { changed: batch, skipped: [] };
    }, 10);
    expect(calls).toEqual([10, 10, 10]);
    expect(r.changed).toHaveLength(25);
  });

  it('stops when a full batch changes nothing new (no endless loop)', async () => {
    let n = 0;
    const r = await runBatches(async () => {
      n++;
      return { changed: ['1', '2'], skipped: [{ id: '9', reason: 'held by live worker w with a valid lease; use --force' }] };
    }, 2);
    expect(n).toBe(2);
    expect(r).toEqual({
      changed: ['1', '2'],
      skipped: [{ id: '9', reason: 'held by live worker w with a valid lease; use --force' }],
    });
  });
});

describe('parseStates', () => {
  it('accepts states and derived views, comma-separated', () => {
    expect(parseStates('failed, stuck,orphaned,failed')).toEqual(['failed', 'stuck', 'orphaned']);
    expect(parseStates(undefined)).toBeUndefined();
  });

  it('rejects unknown states with exit 2', () => {
    expect(() => parseStates('failed,dead')).toThrow(expect.objectContaining({ exitCode: 2, message: 'unknown state "dead"' }));
    expect(() => parseStates(',')).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});
