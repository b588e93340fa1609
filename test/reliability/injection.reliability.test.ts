/**
 * Scenario 11: injection through queue names, job names and ids.
 * Hostile strings (SQL, quotes, a newline with a Redis command, NATS wildcards and API subjects,
 * a Redis cluster hash tag, 300 characters) go through trigger, jobs list --queue, stats --queue,
 * requeue --state … --queue, cancel / requeue / jobs show <id>, logs --queue and work --queue.
 * Pass: each is rejected by validation (exit 2, one line on stderr) or treated as data (exit 0),
 * never exit 1; a checksum of everything the namespace stores is unchanged afterwards. Then the
 * strings that are valid job names are used as names (stored and shown byte-identical), and
 * queue names that pass validation but are odd for a backend (`.`, `..`, `a..b`, `-_`) work as
 * ordinary queues, seen only by their own filters; the seeded jobs stay unchanged.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, cleanupBackend, report, sandbox } from './harness.js';
import { checksum } from './inject.js';

const HOSTILE = ["x'; DROP TABLE jobs;--", 'a"b', 'q\nPUBLISH x y', '*', 'a.>', '{tag}', '$JS.API.>', `q${'x'.repeat(299)}`];
const ODD_VALID_QUEUES = ['.', '..', 'a..b', '-_'];

interface ShownJob {
  id: string;
  name: string;
  queue: string;
  state: string;
  updatedAt: string;
}

const show = (s: string) => JSON.stringify(s.length > 24 ? `${s.slice(0, 12)}…(${s.length})` : s);
const oneLine = (s: string) => s.trim() !== '' && !s.trim().includes('\n');

describe.each(BACKENDS)('scenario 11: injection on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  afterEach(() => sb?.cleanup());
  afterAll(() => cleanupBackend(backend));

  it('hostile queue names and ids are rejected or treated as data; nothing else changes', async () => {
    sb = sandbox(backend);
    const box = sb;
    const seeds: ShownJob[] = [];
    for (const q of ['default', 'default', 'other', 'other'])
      seeds.push(await box.json<ShownJob>(['trigger', 'seed', '--queue', q]));
    for (const s of [seeds[0]!, seeds[2]!]) expect((await box.run(['cancel', s.id])).code).toBe(0);
    const seedJson = async () => Promise.all(seeds.map((s) => box.run(['jobs', 'show', s.id, '--json']).then((r) => r.stdout)));
    const seededBefore = await seedJson();
    const before = await checksum(backend, box);

    const outcomes: { cmd: string; value: string; exit: number | null }[] = [];
    const runAll = async (value: string, argsList: string[][]) => {
      const rs = await Promise.all(argsList.map((a) => box.run(a, { timeoutMs: 30_000 })));
      rs.forEach((r, i) => {
        const cmd = argsList[i]!.filter((x) => x !== value).join(' ');
        outcomes.push({ cmd, value, exit: r.code });
        expect([0, 2, 3], `${cmd} with ${show(value)}: ${r.stderr}`).toContain(r.code);
        if (r.code !== 0) expect(oneLine(r.stderr), `${cmd} ${show(value)}: ${r.stderr}`).toBe(true);
      });
    };
    for (const v of HOSTILE) {
      await runAll(v, [
        ['trigger', 'x', '--queue', v],
        ['jobs', 'list', '--queue', v, '--json'],
        ['stats', '--queue', v, '--json'],
        ['requeue', '--state', 'cancelled', '--queue', v, '--all'],
        ['logs', '--queue', v],
        ['jobs', 'show', v],
        ['requeue', v],
        ['cancel', v],
        ['work', '--queue', v, '--drain', '--exec', 'true'],
      ]);
    }
    const after = await checksum(backend, box);
    expect(await seedJson()).toEqual(seededBefore);
    expect(after).toBe(before);
    // queue names outside [A-Za-z0-9_.-]{1,128} are never accepted as data
    const accepted = outcomes.filter((o) => o.exit === 0 && /^(trigger|jobs list|stats|requeue --state|logs|work)/.test(o.cmd));
    expect(accepted).toEqual([]);

    // the same strings as job names: stored and shown as given (or rejected: control characters, > 200)
    const names: { value: string; exit: number | null; same?: boolean }[] = [];
    for (const v of HOSTILE) {
      const r = await box.run(['trigger', v, '--queue', 'names', '--json']);
      expect([0, 2], r.stderr).toContain(r.code);
      if (r.code !== 0) {
        expect(oneLine(r.stderr)).toBe(true);
        names.push({ value: v, exit: r.code });
        continue;
      }
      const j = JSON.parse(r.stdout) as ShownJob;
      const back = await box.json<ShownJob>(['jobs', 'show', j.id]);
      names.push({ value: v, exit: r.code, same: back.name === v });
      expect(back.name).toBe(v);
      expect(back.queue).toBe('names');
    }
    // a name with a control character or over 200 characters is rejected
    expect(names.filter((n) => n.exit === 2).map((n) => n.value)).toEqual(
      HOSTILE.filter((v) => /[\u0000-\u001f]/.test(v) || v.length > 200),
    );

    // odd but valid queue names are ordinary queues
    const odd: Record<string, unknown> = {};
    for (const q of ODD_VALID_QUEUES) {
      const t = await box.run(['trigger', 'odd', `--queue=${q}`, '--json']);
      expect(t.code, `${q}: ${t.stderr}`).toBe(0);
      const job = JSON.parse(t.stdout) as ShownJob;
      const list = await box.json<{ jobs: ShownJob[] }>(['jobs', 'list', `--queue=${q}`]);
      const stats = await box.json<{ queues: { queue: string; queued: number }[] }>(['stats', `--queue=${q}`]);
      const logs = await box.run(['logs', `--queue=${q}`]);
      odd[q] = {
        listed: list.jobs.map((j) => j.queue),
        stats: stats.queues.map((s) => `${s.queue}:${s.queued}`),
        logsExit: logs.code,
      };
      expect(
        list.jobs.map((j) => j.id),
        q,
      ).toEqual([job.id]);
      expect(
        stats.queues.map((s) => [s.queue, s.queued]),
        q,
      ).toEqual([[q, 1]]);
      expect(logs.code, logs.stderr).toBe(0);
    }
    expect(await seedJson()).toEqual(seededBefore);
    report({
      scenario: 11,
      backend,
      hostile: HOSTILE.length,
      commands: outcomes.length,
      exits: Object.fromEntries(
        Object.entries(
          outcomes.reduce<Record<string, number>>((m, o) => ((m[String(o.exit)] = (m[String(o.exit)] ?? 0) + 1), m), {}),
        ),
      ),
      checksumUnchanged: after === before,
      names,
      odd,
    });
  });
});
