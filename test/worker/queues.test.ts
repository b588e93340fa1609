import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { formatQueueSpec, parseQueueSpec, weightedOrder } from '../../src/worker/queues.js';

describe('parseQueueSpec', () => {
  it('parses plain and weighted lists', () => {
    expect(parseQueueSpec('a,b')).toEqual([
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ]);
    expect(parseQueueSpec('critical:10, default:2')).toEqual([
      { name: 'critical', weight: 10 },
      { name: 'default', weight: 2 },
    ]);
    expect(parseQueueSpec('x.y-z_1')).toEqual([{ name: 'x.y-z_1', weight: 1 }]);
    expect(parseQueueSpec([{ name: 'a', weight: 3 }])).toEqual([{ name: 'a', weight: 3 }]);
  });

  it.each([
    '',
    ' ',
    'a,,b',
    'a,',
    'bad name',
    "x'; DROP TABLE jobs;--",
    'a:0',
    'a:-1',
    'a:1.5',
    'a:x',
    'a:',
    ':3',
    'a,a',
    'q\nPUBLISH',
    '*',
    'a.>',
    'x'.repeat(129),
  ])('rejects %j with a UsageError', (spec) => {
    expect(() => parseQueueSpec(spec)).toThrow(UsageError);
  });

  it('formats back', () => {
    expect(formatQueueSpec(parseQueueSpec('a,b'))).toBe('a,b');
    expect(formatQueueSpec(parseQueueSpec('a:3,b'))).toBe('a:3,b:1');
  });
});

describe('weightedOrder', () => {
  it('returns every queue exactly once', () => {
    const qs = parseQueueSpec('a:5,b:3,c:1,d:1');
    for (let i = 0; i < 100; i++) expect([...weightedOrder(qs)].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('is deterministic for a given random source', () => {
    const qs = parseQueueSpec('critical:10,default:2');
    expect(weightedOrder(qs, () => 0)).toEqual(['critical', 'default']);
    expect(weightedOrder(qs, () => 0.99)).toEqual(['default', 'critical']);
    // boundary: 10/12 = 0.8333…
    expect(weightedOrder(qs, () => 0.83)).toEqual(['critical', 'default']);
    expect(weightedOrder(qs, () => 0.84)).toEqual(['default', 'critical']);
  });

  it('puts a queue first in proportion to its weight', () => {
    const qs = parseQueueSpec('critical:10,planning:6,default:2');
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const first: Record<string, number> = { critical: 0, planning: 0, default: 0 };
    const n = 30_000;
    for (let i = 0; i < n; i++) first[weightedOrder(qs, rand)[0]!]!++;
    expect(first.critical! / n).toBeCloseTo(10 / 18, 1);
    expect(first.planning! / n).toBeCloseTo(6 / 18, 1);
    expect(first.default! / n).toBeCloseTo(2 / 18, 1);
  });

  it('single queue: no randomness needed', () => {
    expect(
      weightedOrder([{ name: 'only', weight: 1 }], () => {
        throw new Error('not called');
      }),
    ).toEqual(['only']);
  });
});
