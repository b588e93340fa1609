/**
 * The reliability ledger: what the handlers in ledger-handlers.mjs append (one line per run that
 * reached its end), and a pure checker over it.
 *
 * Line format: `jobId\tattempt\tpid\tstartMs\tendMs\n`, written with O_APPEND by every worker.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The handlers module to pass to `jobctl work --handlers` (sets nothing itself; needs JOBCTL_LEDGER). */
export const LEDGER_HANDLERS = resolve(__dirname, 'ledger-handlers.mjs');

export interface Entry {
  jobId: string;
  attempt: number;
  pid: number;
  startMs: number;
  endMs: number;
}

export interface Overlap {
  jobId: string;
  a: Entry;
  b: Entry;
}

export interface CheckResult {
  /** accepted, but no run of it ever completed in the ledger */
  lost: string[];
  /** accepted, but the backend's final state is not `completed` (or the job is missing) */
  notCompleted: { jobId: string; state: string }[];
  /** completed in the ledger or known to the backend, but never accepted */
  unexpected: string[];
  /** jobs with more than one completed run, and how many */
  duplicates: { jobId: string; runs: number }[];
  /** completed runs beyond the first, summed over all jobs */
  duplicateRuns: number;
  /** two runs of one job whose [startMs, endMs) intervals intersect */
  overlaps: Overlap[];
}

/** Parse ledger text; malformed lines (e.g. a torn last line) are returned apart, never dropped silently. */
export function parseLedger(text: string): { entries: Entry[]; malformed: string[] } {
  const entries: Entry[] = [];
  const malformed: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split('\t');
    const nums = f.slice(1).map((x) => (/^\d{1,15}$/.test(x) ? Number(x) : NaN));
    if (f.length !== 5 || f[0] === '' || nums.some((n) => Number.isNaN(n))) {
      malformed.push(line);
      continue;
    }
    entries.push({ jobId: f[0]!, attempt: nums[0]!, pid: nums[1]!, startMs: nums[2]!, endMs: nums[3]! });
  }
  return { entries, malformed };
}

export function readLedger(path: string): { entries: Entry[]; malformed: string[] } {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return parseLedger(text);
}

/**
 * Pure: compare what was accepted, what the ledger saw run to the end, and the backend's final
 * states (job id → state; pass an empty map to skip the state checks).
 */
export function check(
  accepted: readonly string[],
  ledger: readonly Entry[],
  finalStates: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): CheckResult {
  const states: ReadonlyMap<string, string> =
    finalStates instanceof Map ? finalStates : new Map(Object.entries(finalStates as Record<string, string>));
  const acc = new Set(accepted);
  const runs = new Map<string, Entry[]>();
  for (const e of ledger) {
    const list = runs.get(e.jobId);
    if (list) list.push(e);
    else runs.set(e.jobId, [e]);
  }

  const lost = [...acc].filter((id) => !runs.has(id));
  const notCompleted =
    states.size === 0
      ? []
      : [...acc].flatMap((id) => {
          const s = states.get(id) ?? 'missing';
          return s === 'completed' ? [] : [{ jobId: id, state: s }];
        });
  const unexpected = [...new Set([...runs.keys(), ...states.keys()])].filter((id) => !acc.has(id)).sort();

  const duplicates: CheckResult['duplicates'] = [];
  let duplicateRuns = 0;
  const overlaps: Overlap[] = [];
  for (const [jobId, list] of runs) {
    if (list.length < 2) continue;
    duplicates.push({ jobId, runs: list.length });
    duplicateRuns += list.length - 1;
    const sorted = [...list].sort((x, y) => x.startMs - y.startMs || x.endMs - y.endMs);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const a = sorted[i]!;
        const b = sorted[j]!;
        if (b.startMs >= a.endMs) break; // sorted by start: no later run can overlap a either
        overlaps.push({ jobId, a, b });
      }
    }
  }
  return { lost, notCompleted, unexpected, duplicates, duplicateRuns, overlaps };
}

/** Overlaps in which neither run was in a process that was killed: a broken "one active claim". */
export function overlapsWithoutKill(r: CheckResult, killedPids: ReadonlySet<number>): Overlap[] {
  return r.overlaps.filter((o) => !killedPids.has(o.a.pid) && !killedPids.has(o.b.pid));
}

/**
 * Duplicated jobs not explained by a kill: a job may be completed by at most one process that
 * was not killed (the others lost their outcome when they died).
 */
export function duplicatesWithoutKill(ledger: readonly Entry[], killedPids: ReadonlySet<number>): string[] {
  const survivors = new Map<string, number>();
  for (const e of ledger) if (!killedPids.has(e.pid)) survivors.set(e.jobId, (survivors.get(e.jobId) ?? 0) + 1);
  return [...survivors].filter(([, n]) => n > 1).map(([id]) => id);
}

/** A run that started (from `<ledger>.starts`): `jobId\tattempt\tpid\tstartMs`. */
export interface Start {
  jobId: string;
  attempt: number;
  pid: number;
  startMs: number;
}

/** A run the worker aborted (from `<ledger>.aborts`): `jobId\tattempt\tpid\tabortMs\treason`. */
export interface Abort {
  jobId: string;
  attempt: number;
  pid: number;
  abortMs: number;
  reason: string;
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

const int = (x: string | undefined) => (x !== undefined && /^\d{1,15}$/.test(x) ? Number(x) : NaN);

export function parseStarts(lines: readonly string[]): Start[] {
  return lines.map((l) => {
    const [jobId, a, p, t] = l.split('\t');
    const s = { jobId: jobId ?? '', attempt: int(a), pid: int(p), startMs: int(t) };
    if (s.jobId === '' || [s.attempt, s.pid, s.startMs].some(Number.isNaN)) throw new Error(`malformed start line: ${l}`);
    return s;
  });
}

export function parseAborts(lines: readonly string[]): Abort[] {
  return lines.map((l) => {
    const [jobId, a, p, t, ...why] = l.split('\t');
    const x = { jobId: jobId ?? '', attempt: int(a), pid: int(p), abortMs: int(t), reason: why.join('\t') };
    if (x.jobId === '' || [x.attempt, x.pid, x.abortMs].some(Number.isNaN)) throw new Error(`malformed abort line: ${l}`);
    return x;
  });
}

export const readStarts = (ledgerPath: string) => parseStarts(readLines(`${ledgerPath}.starts`));
export const readAborts = (ledgerPath: string) => parseAborts(readLines(`${ledgerPath}.aborts`));

/**
 * Limbo at `atMs` (= end of the disturbance + one lease + two rescue intervals): accepted jobs
 * that by then had neither completed (a ledger entry ending at or before atMs) nor a run in
 * progress in a live process (started at or before atMs, in a pid not in `deadPids`, and not
 * ended or aborted before atMs). Such a job is held somewhere (running/unacked on a dead or
 * stale holder) or waits for nobody. Pure; meaningful when the live workers have idle capacity
 * at atMs (a job merely queued behind a backlog would count too), which the scenarios that
 * measure it arrange.
 */
export function limbo(
  accepted: readonly string[],
  ledger: readonly Entry[],
  starts: readonly Start[],
  aborts: readonly Abort[],
  atMs: number,
  deadPids: ReadonlySet<number> = new Set(),
): string[] {
  const done = new Set(ledger.filter((e) => e.endMs <= atMs).map((e) => e.jobId));
  const key = (id: string, attempt: number, pid: number) => `${id}\t${attempt}\t${pid}`;
  const ended = new Map<string, number>();
  const note = (k: string, t: number) => ended.set(k, Math.min(ended.get(k) ?? Infinity, t));
  for (const e of ledger) note(key(e.jobId, e.attempt, e.pid), e.endMs);
  for (const a of aborts) note(key(a.jobId, a.attempt, a.pid), a.abortMs);
  const active = new Set(
    starts
      .filter((s) => s.startMs <= atMs && !deadPids.has(s.pid) && (ended.get(key(s.jobId, s.attempt, s.pid)) ?? Infinity) > atMs)
      .map((s) => s.jobId),
  );
  return accepted.filter((id) => !done.has(id) && !active.has(id));
}

/** A small seeded PRNG (mulberry32) so a run can be replayed from its logged seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
