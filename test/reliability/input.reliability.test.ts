/**
 * Scenario 10: large and malformed input.
 * (a) Payloads at the 1 MiB limit (ASCII and 2-byte characters) are accepted and come back
 *     byte-identical (as JSON text) from `jobs show --json`; one byte past it is rejected with
 *     exit 2 and one line, also inside a `trigger --file` batch, and nothing is written (checksum
 *     of the namespace unchanged).
 * (b) Jobs corrupted straight in the backend (invalid JSON, non-UTF-8 bytes, a broken record or
 *     broken side fields) fail that job cleanly: the worker keeps running and the other jobs
 *     complete; `jobs show` / `jobs list` still answer. (On NATS a record corrupted before the
 *     first delivery does not reach the handler, which runs from the message's intact copy: the
 *     job completes, see expectedOutcome.)
 * (c) Odd ids (`-1`, `1e3`, ` 7`, `07`, a 10 KB string, …) are rejected (2) or not found (3) by
 *     `jobs show`, `requeue`, `cancel` and change nothing; ids at the top of the id space, next to
 *     each other, act exactly on the job typed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../e2e/helpers.js';
import { BACKENDS, cleanupBackend, finalJobs, report, sandbox, submit } from './harness.js';
import { checksum, corrupt, idsNearTheEnd, type Corruption } from './inject.js';
import { LEDGER_HANDLERS, readLedger } from './ledger.js';

const LIMIT = 1024 * 1024;
const NATS_TOO_BIG = /over what this NATS server can hold in one job record \(max_payload 1048576 bytes/;

interface ShownJob {
  id: string;
  state: string;
  attempts: number;
  payload: unknown;
  payloadError?: string;
  lastError: string | null;
  updatedAt: string;
}

/**
 * What each backend does with a job corrupted in storage (docs/reliability.md, scenario 10).
 * broken-record is a whole undecodable record on nats; on sqlite and redis invalid JSON / bytes
 * in the side fields (errors, result), which the job's next outcome overwrites.
 */
function expectedOutcome(backend: string, kind: Corruption): { state: string; ran: number } {
  // nats: the record is corrupted before the job's first delivery, which is claimed without
  // reading the record (a light claim, docs/architecture.md): the handler runs once with the
  // message's intact copy, and the outcome it commits supersedes the corrupted record (format 7,
  // "A record written around jobctl"): completed
  if (backend === 'nats') return { state: 'completed', ran: 1 };
  if (kind === 'invalid-json') return { state: 'failed', ran: 0 };
  if (kind === 'non-utf8')
    // redis: ioredis decodes replies as UTF-8, so invalid bytes arrive as U+FFFD and the handler
    // runs with that text (a known limit, not detected)
    return backend === 'redis' ? { state: 'completed', ran: 1 } : { state: 'failed', ran: 0 };
  return { state: 'completed', ran: 1 };
}

const oneLine = (s: string) => s.trim() !== '' && !s.trim().includes('\n');

describe.each(BACKENDS)('scenario 10: large and malformed input on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it('payloads up to the limit round-trip byte-identical; one byte past is rejected whole (exit 2)', async () => {
    sb = sandbox(backend);
    const box = sb;
    // create the namespace so that the checksum has something to hold
    await box.json(['trigger', 'seed']);
    const mixed = {
      z: 1,
      a: [1.5, -0, 1e300, 'line\u2028sep \ud83d\ude00 \\ "q"', null, true, false],
      '': { nested: { deeper: [[], {}] } },
      é: 'ü',
    };
    // what each backend does with a payload the CLI accepts (see docs/reliability.md, scenario 10)
    const nats = backend === 'nats';
    const cases: { what: string; text: string; refused?: RegExp; reordered?: boolean }[] = [
      {
        what: 'ASCII string at the limit',
        text: JSON.stringify('x'.repeat(LIMIT - 2)),
        ...(nats ? { refused: NATS_TOO_BIG } : {}),
      },
      {
        what: '2-byte characters at the limit',
        text: JSON.stringify('é'.repeat((LIMIT - 2) / 2)),
        ...(nats ? { refused: NATS_TOO_BIG } : {}),
      },
      { what: '700 KiB string', text: JSON.stringify('y'.repeat(700 * 1024)) },
      // jsonb keeps objects with their keys sorted (shorter first), not as written
      { what: 'mixed JSON', text: JSON.stringify(mixed), reordered: backend === 'pg' },
      {
        what: 'NUL in a string',
        text: JSON.stringify({ s: 'a\u0000b' }),
        ...(backend === 'pg' ? { refused: /postgres cannot store this JSON/ } : {}),
      },
    ];
    const over = [
      { what: 'ASCII string 1 byte past the limit', text: JSON.stringify('x'.repeat(LIMIT - 1)) },
      // fewer characters than the limit, but more bytes
      { what: '2-byte characters 2 bytes past the limit', text: JSON.stringify('é'.repeat((LIMIT - 2) / 2 + 1)) },
    ];
    const results: Record<string, unknown>[] = [];
    const line = (text: string) => `{"name":"big","payload":${text}}`;

    const before = await checksum(backend, box);
    for (const o of over) {
      const r = await box.run(['trigger', 'big', '--payload-file', '-'], { input: o.text });
      results.push({ what: o.what, bytes: Buffer.byteLength(o.text), exit: r.code });
      expect(r.code, o.what).toBe(2);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
      expect(r.stderr).toMatch(/over the limit of 1048576 bytes/);
    }
    // refused by this backend: exit 2, one line
    for (const c of cases.filter((x) => x.refused)) {
      const r = await box.run(['trigger', 'big', '--payload-file', '-'], { input: c.text });
      results.push({ what: c.what, bytes: Buffer.byteLength(c.text), exit: r.code, refused: r.stderr.trim().slice(0, 160) });
      expect(r.code, `${c.what}: ${r.stderr}`).toBe(2);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
      expect(r.stderr).toMatch(c.refused!);
    }
    // a batch whose last line is past the limit, or refused by the backend: nothing of it is written
    const batch = join(box.dir, 'batch.ndjson');
    const okCases = cases.filter((x) => !x.refused);
    for (const bad of [over[0]!, ...cases.filter((x) => x.refused)]) {
      writeFileSync(batch, [...okCases, bad].map((c) => line(c.text)).join('\n') + '\n');
      const rb = await box.run(['trigger', '--file', batch], { timeoutMs: 60_000 });
      results.push({ what: `batch: ${okCases.length} valid lines + ${bad.what}`, exit: rb.code });
      expect(rb.code, rb.stderr).toBe(2);
      expect(oneLine(rb.stderr), rb.stderr).toBe(true);
    }
    expect(await checksum(backend, box)).toBe(before);

    // accepted: singly through stdin, and as one batch
    const ids: { id: string; text: string; what: string; reordered?: boolean }[] = [];
    for (const c of okCases) {
      const r = await box.run(['trigger', 'big', '--payload-file', '-'], { input: c.text });
      expect(r.code, r.stderr).toBe(0);
      ids.push({ id: r.stdout.trim(), text: c.text, what: c.what, reordered: c.reordered });
    }
    writeFileSync(batch, okCases.map((c) => line(c.text)).join('\n') + '\n');
    const ok = await box.run(['trigger', '--file', batch], { timeoutMs: 60_000 });
    expect(ok.code, ok.stderr).toBe(0);
    ok.stdout
      .trim()
      .split('\n')
      .forEach((id, i) =>
        ids.push({ id, text: okCases[i]!.text, what: `batch: ${okCases[i]!.what}`, reordered: okCases[i]!.reordered }),
      );
    for (const { id, text, what, reordered } of ids) {
      const r = await box.run(['jobs', 'show', id, '--json']);
      expect(r.code).toBe(0);
      const shown = JSON.parse(r.stdout) as ShownJob;
      const back = JSON.stringify(shown.payload);
      results.push({ what, bytes: Buffer.byteLength(text), exit: 0, identical: back === text });
      if (reordered) {
        expect(shown.payload, what).toEqual(JSON.parse(text));
        expect(back, what).not.toBe(text);
      } else expect(back === text, `${what}: payload came back different`).toBe(true);
    }
    report({ scenario: 10, part: 'payload limit', backend, results });
  });

  it('jobs corrupted in the backend fail alone; the worker lives on and the others complete', async () => {
    const t0 = Date.now();
    const log = (msg: string) => console.log(`[malformed ${backend} +${Date.now() - t0}ms] ${msg}`);
    sb = sandbox(backend);
    const box = sb;
    const kinds: Corruption[] = ['invalid-json', 'non-utf8', 'broken-record'];
    const victims = await submit(
      box,
      kinds.map(() => ({ ms: 1 })),
    );
    const others = await submit(
      box,
      Array.from({ length: 20 }, () => ({ ms: 5 })),
    );
    const injected: Record<string, string> = {};
    for (let i = 0; i < kinds.length; i++) injected[kinds[i]!] = await corrupt(backend, box, 'default', victims[i]!, kinds[i]!);
    log(`injected ${JSON.stringify(injected)}`);
    // reading them back must not crash the CLI
    const shownBefore = await Promise.all(victims.map((id) => box.run(['jobs', 'show', id, '--json'])));

    const worker = box.start(['work', '--handlers', LEDGER_HANDLERS, '--lease', '2s', '--concurrency', '2']);
    const isDone = (s: string | undefined) => s === 'completed' || s === 'failed';
    let jobs = await finalJobs(box);
    await until(
      async () => {
        jobs = await finalJobs(box);
        return [...others, ...victims].every((id) => isDone(jobs.get(id)?.state)) || worker.exitCode !== null;
      },
      40_000,
      'every job to end (or the worker to die)',
    ).catch(() => undefined);
    await sleep(500);
    const alive = worker.exitCode === null && worker.signalCode === null;
    const victimShown = await Promise.all(victims.map((id) => box.run(['jobs', 'show', id, '--json'])));
    const list = await box.run(['jobs', 'list', '--json']);
    worker.kill('SIGTERM');
    const w = await box.wait(worker, 30_000);
    const ledger = readLedger(box.ledger).entries;

    const outcome = kinds.map((k, i) => {
      const r = victimShown[i]!;
      let j: Partial<ShownJob> = {};
      try {
        j = JSON.parse(r.stdout) as ShownJob;
      } catch {
        j = {};
      }
      return {
        injected: k,
        write: injected[k],
        showExit: r.code,
        showExitBefore: shownBefore[i]!.code,
        state: j.state ?? jobs.get(victims[i]!)?.state,
        attempts: j.attempts,
        ran: ledger.filter((e) => e.jobId === victims[i]).length,
        error: (j.lastError ?? j.payloadError ?? r.stderr).split('\n')[0]?.slice(0, 120),
      };
    });
    report({
      scenario: 10,
      part: 'malformed rows',
      backend,
      workerAlive: alive,
      workerExit: w.code,
      othersCompleted: others.filter((id) => jobs.get(id)?.state === 'completed').length,
      outcome,
    });
    if (!alive) log(`worker died: ${w.stderr.slice(-3000)}`);

    expect(alive, 'the worker must survive corrupted jobs').toBe(true);
    expect(w.code).toBe(0);
    expect(others.filter((id) => jobs.get(id)?.state !== 'completed')).toEqual([]);
    expect(list.code, list.stderr).toBe(0);
    for (const o of outcome) {
      if (o.write !== 'written') {
        // the backend's storage refused the corruption (pg: jsonb, UTF8 encoding): an ordinary job
        expect(o.state, o.injected).toBe('completed');
        continue;
      }
      expect(o.showExit, `${o.injected}: jobs show`).toBe(0);
      expect(expectedOutcome(backend, o.injected), o.injected).toEqual({ state: o.state, ran: o.ran });
    }
  });

  it('odd ids never act on another job; ids at the top of the id space act on the one typed', async () => {
    sb = sandbox(backend);
    const box = sb;
    // enough jobs that 7 and 1000 exist where ids are small integers
    const ids = await submit(
      box,
      Array.from({ length: 1001 }, () => ({ ms: 1 })),
    );
    const some = ids[6]!; // the 7th job: id 7 on sqlite and pg
    const odd = [
      '-1',
      '1e3',
      ' 7',
      '07',
      '+7',
      '0x7',
      ` ${some}`,
      `0${some}`,
      some.toLowerCase() === some ? `${some}x` : some.toLowerCase(),
      'x'.repeat(10 * 1024),
      '9'.repeat(10 * 1024),
      '18446744073709551623', // 2^64 + 7
    ];
    const before = await checksum(backend, box);
    const codes: Record<string, number | null> = {};
    for (const id of odd) {
      const cmds = [['jobs', 'show'], ['requeue'], ['cancel']];
      const rs = await Promise.all(cmds.map((cmd) => box.run([...cmd, id])));
      rs.forEach((r, i) => {
        const cmd = cmds[i]!.join(' ');
        codes[`${cmd} ${JSON.stringify(id.length > 30 ? `${id.slice(0, 8)}…(${id.length})` : id)}`] = r.code;
        expect([2, 3], `${cmd} ${JSON.stringify(id.slice(0, 40))}: ${r.stderr}`).toContain(r.code);
        expect(oneLine(r.stderr), r.stderr.slice(0, 300)).toBe(true);
        expect(r.stderr.length).toBeLessThan(400);
      });
    }
    expect(await checksum(backend, box)).toBe(before);

    const how = await idsNearTheEnd(backend, box);
    const top = await submit(box, [{ ms: 1 }, { ms: 1 }, { ms: 1 }]);
    const shown = await Promise.all(top.map((id) => box.json<ShownJob>(['jobs', 'show', id])));
    expect(shown.map((j) => j.id)).toEqual(top);
    const [a, b, c] = top as [string, string, string];
    const cancel = await box.run(['cancel', b, '--json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    const states1 = await Promise.all(top.map((id) => box.json<ShownJob>(['jobs', 'show', id])));
    expect(states1.map((j) => j.state)).toEqual(['queued', 'cancelled', 'queued']);
    expect(states1[0]!.updatedAt).toBe(shown[0]!.updatedAt);
    expect(states1[2]!.updatedAt).toBe(shown[2]!.updatedAt);
    const rq = await box.run(['requeue', b, '--json']);
    expect(rq.code, rq.stderr).toBe(0);
    const states2 = await Promise.all([a, b, c].map((id) => box.json<ShownJob>(['jobs', 'show', id])));
    expect(states2.map((j) => j.state)).toEqual(['queued', 'queued', 'queued']);
    const listed = await finalJobs(box);
    for (const id of top) expect(listed.get(id)?.id).toBe(id);
    report({ scenario: 10, part: 'ids', backend, oddIds: odd.length, codes, topIds: top, how });
  });
});
