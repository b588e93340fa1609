import { describe, expect, it } from 'vitest';
import { parseJobLines, parseRunAt, readPayload, toEnqueueInput } from '../../src/cli/trigger-input.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('toEnqueueInput', () => {
  it('parses durations and times', () => {
    expect(
      toEnqueueInput(
        'x',
        { a: 1 },
        { delay: '30s', timeout: '5m', queue: 'q', priority: 3, maxAttempts: 2, uniqueKey: 'k' },
        NOW,
      ),
    ).toEqual({
      name: 'x',
      payload: { a: 1 },
      queue: 'q',
      priority: 3,
      maxAttempts: 2,
      timeoutMs: 300_000,
      runAt: NOW + 30_000,
      uniqueKey: 'k',
    });
    expect(toEnqueueInput('x', null, { runAt: '2030-01-31T09:00:00Z' }, NOW).runAt).toBe(Date.parse('2030-01-31T09:00:00Z'));
  });

  it('rejects delay with run-at and bad times (exit 2)', () => {
    expect(() => toEnqueueInput('x', null, { delay: '1s', runAt: '2030-01-01' })).toThrow(
      expect.objectContaining({ exitCode: 2 }),
    );
    expect(() => parseRunAt('tomorrow')).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(() => toEnqueueInput('x', null, { delay: 'soon' })).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('parseJobLines', () => {
  it('reads one job per line, skips blank lines, applies flag defaults', () => {
    const text = '{"name":"a","payload":{"n":1}}\n\n  \r\n{"name":"b","queue":"other","delay":"1m","max-attempts":3}\n';
    const jobs = parseJobLines(text, { queue: 'bulk', priority: 2 }, undefined, NOW);
    expect(jobs).toEqual([
      { name: 'a', payload: { n: 1 }, queue: 'bulk', priority: 2 },
      { name: 'b', payload: undefined, queue: 'other', priority: 2, maxAttempts: 3, runAt: NOW + 60_000 },
    ]);
  });

  it("lets a line's runAt replace a --delay default", () => {
    const [job] = parseJobLines('{"name":"a","runAt":"2030-01-01T00:00:00Z"}', { delay: '5m' }, undefined, NOW);
    expect(job!.runAt).toBe(Date.parse('2030-01-01T00:00:00Z'));
  });

  it('names the first bad line (exit 2)', () => {
    const cases: [string, RegExp][] = [
      ['{"name":"a"}\n{"name":"b"\n', /^line 2: not valid JSON/],
      ['{"name":"a"}\n\n[1,2]', /^line 3: expected a JSON object/],
      ['{"payload":1}', /^line 1: "name"/],
      ['{"name":"a","queue":"bad queue"}', /^line 1: invalid queue name/],
      ['{"name":"a","colour":"red"}', /^line 1: unknown field "colour"/],
      ['{"name":"a","priority":"high"}', /^line 1: invalid priority/],
      ['{"name":"a","delay":"1s","runAt":"2030-01-01"}', /^line 1: --delay and --run-at/],
    ];
    for (const [text, re] of cases) {
      expect(() => parseJobLines(text, {}), text).toThrow(re);
      expect(() => parseJobLines(text, {}), text).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });

  it('enforces the payload size limit per line', () => {
    expect(() => parseJobLines(`{"name":"a","payload":"${'x'.repeat(100)}"}`, {}, 50)).toThrow(
      /line 1: payload is \d+ bytes, over the limit/,
    );
  });

  it('rejects an empty file', () => {
    expect(() => parseJobLines('\n\n', {})).toThrow(/no jobs/);
  });
});

describe('readPayload', () => {
  it('parses --payload JSON and rejects invalid JSON (exit 2)', async () => {
    await expect(readPayload({ payload: '{"a":[1,2]}' })).resolves.toEqual({ a: [1, 2] });
    await expect(readPayload({})).resolves.toBeNull();
    await expect(readPayload({ payload: '{a:1}' })).rejects.toMatchObject({ exitCode: 2 });
    await expect(readPayload({ payload: '"x"'.padEnd(10, ' ') }, 5)).rejects.toThrow(/over the limit/);
  });

  it('reports an unreadable payload file as bad input', async () => {
    await expect(readPayload({ payloadFile: '/nonexistent/p.json' })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/ENOENT/),
    });
  });
});
