/**
 * Scenario 13: terminal safety. Two --exec jobs print hostile output (hostile-output.py: ESC and
 * OSC sequences, CR, NUL, C1 controls as UTF-8 and as raw bytes, forged "job … completed" lines,
 * bidi overrides and a 10 MiB line). `logs --queue term -f` (NO_COLOR) and `logs <id> -f`
 * (colour on) run in pseudo-terminals (pty-capture.py, python3's pty module) while a worker runs
 * the jobs; then `logs <id> --raw` runs in one as the control.
 * Pass: without --raw no ESC, BEL, NUL, C1 control or bidi override reaches the terminal (with
 * colour on, only jobctl's own SGR colour sequences), every CR is the terminal's own CRLF, every
 * line starts with a time and the id of one of the two jobs, the forged lines come after that
 * prefix, the 10 MiB line arrives cut to 64 KiB with the dropped byte count shown; with --raw the
 * escape sequences do arrive (so the capture would have seen them).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, sleep } from '../e2e/helpers.js';
import { BACKENDS, cleanupBackend, report, sandbox } from './harness.js';

const PTY = resolve(__dirname, 'pty-capture.py');
const EMIT = resolve(__dirname, 'hostile-output.py');
const TEN_MIB = 10 * 1024 * 1024;
const MARKERS = [
  'plain line',
  'after-clear',
  'osc-title',
  'hyperlink',
  'HIDDEN-BY-CR',
  'byte',
  'CSI',
  'raw-c1',
  'job 999 completed',
  'job 1 completed',
  'evil',
  'xxxxxxxx',
  'END-MARKER',
];

/** Run `jobctl args` in a pty until it exits, `stopFile` exists or `seconds` pass; the terminal's bytes. */
function inPty(
  sb: { dir: string; env: Record<string, string> },
  args: string[],
  opts: { seconds: number; stopFile: string; env?: Record<string, string> },
): Promise<{ code: number | null; bytes: Buffer }> {
  const out = join(sb.dir, `pty-${Math.random().toString(36).slice(2)}.bin`);
  const child = spawn('python3', [PTY, out, String(opts.seconds), opts.stopFile, process.execPath, BIN, ...args], {
    cwd: sb.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: sb.dir, TERM: 'xterm-256color', ...sb.env, ...opts.env },
    stdio: 'ignore',
  });
  return new Promise((res) =>
    child.once('exit', (code) => res({ code, bytes: existsSync(out) ? readFileSync(out) : Buffer.alloc(0) })),
  );
}

const LINE_START = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) /;

describe.each(BACKENDS)('scenario 13: terminal safety of logs -f on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it('logs -f in a pty: no escape or control byte from a job reaches the terminal, every line carries its job id', async () => {
    sb = sandbox(backend);
    const box = sb;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await box.json<{ id: string }>(['trigger', 'hostile', '--queue', 'term'])).id);
    const stop = join(box.dir, 'stop');
    const follows = [
      inPty(box, ['logs', '--queue', 'term', '-f'], { seconds: 90, stopFile: stop, env: { NO_COLOR: '1' } }),
      inPty(box, ['logs', ids[0]!, '-f'], { seconds: 90, stopFile: stop }),
    ];
    await sleep(1500); // the followers are reading before any line exists
    const w = await box.run(['work', '--queue', 'term', '--concurrency', '2', '--drain', '--exec', `python3 ${EMIT}`], {
      timeoutMs: 90_000,
    });
    expect(w.code, w.stderr).toBe(0);
    // the followers see the last lines within their poll interval
    const t0 = Date.now();
    while (Date.now() - t0 < 15_000) {
      const r = await box.run(['logs', '--queue', 'term', '--json', '--tail', '1000']);
      const n = (JSON.parse(r.stdout) as { lines: { message: string }[] }).lines.filter((l) => l.message === 'END-MARKER').length;
      if (n === 2) break;
      await sleep(200);
    }
    await sleep(2500);
    writeFileSync(stop, '');
    const [plain, colour] = (await Promise.all(follows)) as [Awaited<(typeof follows)[0]>, Awaited<(typeof follows)[0]>];
    const raw = await inPty(box, ['logs', ids[0]!, '--raw'], { seconds: 60, stopFile: join(box.dir, 'never') });

    const analyse = (bytes: Buffer, allowSgr: boolean) => {
      const text = bytes.toString('utf8');
      const sgr = /\x1b\[[0-9;]*m/g;
      const rest = allowSgr ? text.replace(sgr, '') : text;
      const lines = rest.split('\r\n').filter((l) => l !== '');
      return {
        bytes: bytes.length,
        esc: (rest.match(/\x1b/g) ?? []).length,
        bel: (rest.match(/\x07/g) ?? []).length,
        nul: (rest.match(/\x00/g) ?? []).length,
        c1: (rest.match(/[\u0080-\u009f]/g) ?? []).length,
        bidi: (rest.match(/[\u202a-\u202e\u2066-\u2069\u2028\u2029]/g) ?? []).length,
        loneCr: (rest.match(/\r(?!\n)/g) ?? []).length,
        lines,
        linesWithoutId: lines.filter((l) => !LINE_START.test(l)),
        ids: new Set(lines.map((l) => LINE_START.exec(l)?.[1])),
        longest: Math.max(0, ...lines.map((l) => l.length)),
      };
    };
    const a = analyse(plain.bytes, false);
    const b = analyse(colour.bytes, true);
    const c = analyse(raw.bytes, false);
    const summary = (x: ReturnType<typeof analyse>) => ({
      bytes: x.bytes,
      lines: x.lines.length,
      esc: x.esc,
      bel: x.bel,
      nul: x.nul,
      c1: x.c1,
      bidi: x.bidi,
      loneCr: x.loneCr,
      linesWithoutId: x.linesWithoutId.length,
      longestLine: x.longest,
    });
    report({
      scenario: 13,
      backend,
      jobs: ids.length,
      followQueueNoColor: summary(a),
      followJobColour: summary(b),
      rawControl: summary(c),
      exits: [plain.code, colour.code, raw.code],
    });

    for (const [name, x, expectedIds] of [
      ['logs --queue -f', a, ids],
      ['logs <id> -f', b, [ids[0]!]],
    ] as const) {
      expect(x.esc, name).toBe(0);
      expect(x.bel, name).toBe(0);
      expect(x.nul, name).toBe(0);
      expect(x.c1, name).toBe(0);
      expect(x.bidi, name).toBe(0);
      expect(x.loneCr, name).toBe(0);
      expect(
        x.linesWithoutId.map((l) => l.slice(0, 100)),
        name,
      ).toEqual([]);
      // job output lines carry the job's id; worker events without a job show "-"
      expect([...x.ids].filter((id) => id !== '-').sort(), name).toEqual([...expectedIds].sort());
      for (const id of expectedIds) {
        const mine = x.lines.filter((l) => LINE_START.exec(l)?.[1] === id);
        for (const m of MARKERS)
          expect(
            mine.some((l) => l.includes(m)),
            `${name} ${id}: ${m}`,
          ).toBe(true);
        // forged lines come after the real prefix, and the CR is shown, not obeyed
        expect(
          mine.some((l) => /^\S+ \S+ 2026-01-01T00:00:00\.000Z 999 job 999 completed$/.test(l)),
          name,
        ).toBe(true);
        expect(
          mine.some((l) => l.endsWith('visible\\rHIDDEN-BY-CR')),
          name,
        ).toBe(true);
        const big = mine.filter((l) => l.includes('xxxxxxxx'));
        expect(big, name).toHaveLength(1);
        expect(big[0]!.length, name).toBeLessThan(64 * 1024 + 200);
        expect(big[0]!, name).toMatch(new RegExp(`… \\[line truncated: ${TEN_MIB - 64 * 1024} more bytes\\]$`));
      }
    }
    // the follower stops on Ctrl-C with a clean exit
    expect(plain.code).toBe(0);
    expect(colour.code).toBe(0);
    // control: with --raw the job's escape sequences do reach the terminal
    expect(raw.code).toBe(0);
    expect(c.esc).toBeGreaterThan(0);
    expect(raw.bytes.includes(Buffer.from('\x1b]0;pwned-title\x07'))).toBe(true);
  });
});
