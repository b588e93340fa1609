import { describe, expect, it } from 'vitest';
import { check, duplicatesWithoutKill, overlapsWithoutKill, parseLedger, prng, type Entry } from './ledger.js';

const e = (jobId: string, pid: number, startMs: number, endMs: number, attempt = 1): Entry => ({
  jobId,
  attempt,
  pid,
  startMs,
  endMs,
});

describe('ledger checker', () => {
  it('a clean run: everything accepted completed once', () => {
    const r = check(['1', '2'], [e('1', 10, 0, 5), e('2', 11, 1, 4)], { 1: 'completed', 2: 'completed' });
    expect(r).toEqual({ lost: [], notCompleted: [], unexpected: [], duplicates: [], duplicateRuns: 0, overlaps: [] });
  });

  it('lost: accepted but no completed run; notCompleted: the backend disagrees', () => {
    const r = check(
      ['1', '2', '3'],
      [e('1', 10, 0, 5), e('3', 10, 6, 7)],
      new Map([
        ['1', 'completed'],
        ['3', 'running'],
      ]),
    );
    expect(r.lost).toEqual(['2']);
    expect(r.notCompleted).toEqual([
      { jobId: '2', state: 'missing' },
      { jobId: '3', state: 'running' },
    ]);
  });

  it('an empty final-state map skips the state checks', () => {
    expect(check(['1'], [e('1', 1, 0, 1)], {}).notCompleted).toEqual([]);
  });

  it('unexpected: in the ledger or the backend, never accepted', () => {
    const r = check(['1'], [e('1', 10, 0, 5), e('9', 10, 6, 7)], { 1: 'completed', 8: 'queued' });
    expect(r.unexpected).toEqual(['8', '9']);
  });

  it('duplicates counted per job and as extra runs; sequential runs are not overlaps', () => {
    const r = check(['1', '2'], [e('1', 10, 0, 5), e('1', 11, 5, 9, 2), e('1', 12, 20, 21, 3), e('2', 10, 0, 1)], {});
    expect(r.duplicates).toEqual([{ jobId: '1', runs: 3 }]);
    expect(r.duplicateRuns).toBe(2);
    expect(r.overlaps).toEqual([]); // [0,5) and [5,9) only touch
  });

  it('overlap: two runs of one job at the same time, including a run nested in another', () => {
    const a = e('1', 10, 0, 100);
    const b = e('1', 11, 10, 20, 2);
    const c = e('1', 12, 50, 150, 3);
    const r = check(['1'], [c, a, b], {});
    expect(r.overlaps).toEqual([
      { jobId: '1', a, b },
      { jobId: '1', a, b: c },
    ]);
  });

  it('overlaps and duplicates explained by a killed process are separated from the rest', () => {
    const ledger = [e('1', 10, 0, 100), e('1', 11, 50, 150), e('2', 20, 0, 10), e('2', 21, 5, 30), e('2', 22, 40, 50)];
    const r = check(['1', '2'], ledger, {});
    expect(r.overlaps).toHaveLength(2);
    const killed = new Set([10, 20]);
    expect(overlapsWithoutKill(r, killed)).toEqual([]);
    expect(overlapsWithoutKill(r, new Set([10]))).toEqual([{ jobId: '2', a: ledger[2], b: ledger[3] }]);
    expect(duplicatesWithoutKill(ledger, killed)).toEqual(['2']); // pids 21 and 22 both survived
    expect(duplicatesWithoutKill(ledger, new Set([10, 20, 21]))).toEqual([]);
  });

  it('parses ledger lines and keeps malformed ones apart', () => {
    const { entries, malformed } = parseLedger('1\t1\t42\t100\t105\n\nx\t1\t2\n7\t2\t42\t1e3\t5\n2\t1\t43\t101\t');
    expect(entries).toEqual([e('1', 42, 100, 105)]);
    expect(malformed).toEqual(['x\t1\t2', '7\t2\t42\t1e3\t5', '2\t1\t43\t101\t']);
  });

  it('the PRNG replays from a seed', () => {
    const a = prng(42);
    const b = prng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
