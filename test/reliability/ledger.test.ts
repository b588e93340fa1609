import { describe, expect, it } from 'vitest';
import {
  check,
  duplicatesWithoutKill,
  limbo,
  overlapsWithoutKill,
  parseAborts,
  parseLedger,
  parseStarts,
  prng,
  type Abort,
  type Entry,
  type Start,
} from './ledger.js';

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

  describe('limbo', () => {
    const st = (jobId: string, pid: number, startMs: number, attempt = 1): Start => ({ jobId, attempt, pid, startMs });
    const ab = (jobId: string, pid: number, abortMs: number, attempt = 1): Abort => ({
      jobId,
      attempt,
      pid,
      abortMs,
      reason: 'x',
    });

    it('completed by the deadline, or running in a live process at it: not in limbo', () => {
      const ledger = [e('1', 10, 0, 50), e('2', 11, 60, 500, 2)];
      const starts = [st('1', 10, 0), st('2', 11, 60, 2), st('3', 11, 90)];
      expect(limbo(['1', '2', '3'], ledger, starts, [], 100)).toEqual([]);
    });

    it('never started, completed only after the deadline without running at it, or held by a dead pid: in limbo', () => {
      const ledger = [e('2', 11, 150, 160)];
      const starts = [st('2', 11, 150), st('3', 99, 10)];
      expect(limbo(['1', '2', '3'], ledger, starts, [], 100, new Set([99]))).toEqual(['1', '2', '3']);
      // the same job 3 in a live pid is running at the deadline
      expect(limbo(['3'], [], starts, [], 100)).toEqual([]);
    });

    it('a run aborted before the deadline and not started again is in limbo; a later attempt running is not', () => {
      const starts = [st('1', 10, 0), st('2', 10, 0)];
      const aborts = [ab('1', 10, 50), ab('2', 10, 50)];
      expect(limbo(['1', '2'], [], [...starts, st('2', 12, 80, 2)], aborts, 100)).toEqual(['1']);
      // aborted after the deadline: it was still running at it
      expect(limbo(['1'], [], starts, [ab('1', 10, 150)], 100)).toEqual([]);
    });

    it('a run that ended (ledger) before the deadline only counts as done, not as running', () => {
      expect(limbo(['1'], [e('1', 10, 0, 100)], [st('1', 10, 0)], [], 100)).toEqual([]);
      expect(limbo(['1'], [e('1', 10, 0, 101)], [st('1', 10, 0)], [], 100)).toEqual([]);
    });

    it('parses start and abort lines and refuses malformed ones', () => {
      expect(parseStarts(['7\t2\t42\t1000'])).toEqual([st('7', 42, 1000, 2)]);
      expect(parseAborts(['7\t1\t42\t1000\tlease lost: x'])).toEqual([{ ...ab('7', 42, 1000), reason: 'lease lost: x' }]);
      expect(() => parseStarts(['7\t2\t42'])).toThrow(/malformed/);
      expect(() => parseAborts(['\t1\t42\t5\tx'])).toThrow(/malformed/);
    });
  });

  it('the PRNG replays from a seed', () => {
    const a = prng(42);
    const b = prng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
