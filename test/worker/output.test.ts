import { describe, expect, it } from 'vitest';
import { OutputCapture } from '../../src/worker/output.js';
import { createStderrLogger, formatLogfmt } from '../../src/worker/logger.js';
import { childBaseEnv } from '../../src/worker/exec-runner.js';
import { parseFailpoint } from '../../src/worker/failpoints.js';

function capture(limits = { maxLineBytes: 10, maxLines: 5, maxBytes: 1000 }) {
  const lines: [string, string][] = [];
  const c = new OutputCapture(limits, (s, l) => {
    lines.push([s, l]);
    return true;
  });
  return { c, lines };
}

describe('OutputCapture', () => {
  it('splits chunks into lines across chunk boundaries, strips CR', () => {
    const { c, lines } = capture({ maxLineBytes: 100, maxLines: 100, maxBytes: 1000 });
    c.push('stdout', Buffer.from('hel'));
    c.push('stdout', Buffer.from('lo\r\nwor'));
    c.push('stderr', Buffer.from('err1\n'));
    c.push('stdout', Buffer.from('ld\nlast'));
    c.end('stdout');
    c.end('stderr');
    expect(lines).toEqual([
      ['stdout', 'hello'],
      ['stderr', 'err1'],
      ['stdout', 'world'],
      ['stdout', 'last'],
    ]);
    expect(c.stderrTail).toEqual(['err1']);
  });

  it('caps bytes per line with a marker', () => {
    const { c, lines } = capture();
    c.push('stdout', Buffer.from('0123456789ABCDEF'));
    c.push('stdout', Buffer.from('GHIJ\nok\n'));
    expect(lines[0]![1]).toBe('0123456789 … [line truncated: 10 more bytes]');
    expect(lines[1]![1]).toBe('ok');
  });

  it('caps lines per attempt with one truncation line, keeps the stderr tail', () => {
    const { c, lines } = capture({ maxLineBytes: 100, maxLines: 3, maxBytes: 1000 });
    for (let i = 0; i < 50; i++) c.push(i % 2 ? 'stderr' : 'stdout', Buffer.from(`line ${i}\n`));
    expect(lines.length).toBe(4);
    expect(lines[3]![1]).toMatch(/^\[output truncated: limit of 3 lines/);
    expect(c.droppedLines).toBe(47);
    expect(c.stderrTail.at(-1)).toBe('line 49');
    expect(c.stderrTail.length).toBe(10);
  });

  it('caps bytes per attempt', () => {
    const { c, lines } = capture({ maxLineBytes: 100, maxLines: 1000, maxBytes: 20 });
    for (let i = 0; i < 10; i++) c.push('stdout', Buffer.from('0123456789\n'));
    expect(lines.length).toBe(3);
    expect(lines[2]![1]).toMatch(/limit of 20 bytes/);
  });
});

describe('logger', () => {
  it('writes logfmt and JSON with secrets masked', () => {
    const out: string[] = [];
    const now = () => new Date(0);
    const l = createStderrLogger({ write: (s) => out.push(s), now, secrets: ['hunter2'] });
    l.log('info', 'worker started', { worker: 'w 1', url: 'postgres://a:hunter2@h/db', n: 3 });
    l.log('debug', 'hidden');
    expect(out).toEqual([
      'time=1970-01-01T00:00:00.000Z level=info msg="worker started" worker="w 1" url=postgres://a:***@h/db n=3\n',
    ]);
    const j: string[] = [];
    createStderrLogger({ format: 'json', write: (s) => j.push(s), now }).log('warn', 'x', { a: 1 });
    expect(JSON.parse(j[0]!)).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'warn', msg: 'x', a: 1 });
    expect(formatLogfmt({ m: 'a\nb' })).toBe('m="a\\\\nb"');
  });
});

describe('childBaseEnv', () => {
  it('drops JOBCTL_URL, the failpoint and anything holding a secret', () => {
    const env = childBaseEnv(
      {
        PATH: '/bin',
        JOBCTL_URL: 'postgres://u:s3cret@h/db',
        DATABASE_URL: 'postgres://u:s3cret@h/db',
        PGPASSWORD: 's3cret',
        JOBCTL_FAILPOINT: 'after-claim',
        OK: 'yes',
      },
      ['s3cret'],
    );
    expect(env).toEqual({ PATH: '/bin', OK: 'yes' });
  });
});

describe('failpoints', () => {
  it('parses known names only', () => {
    expect(parseFailpoint(undefined)).toBeNull();
    expect(parseFailpoint('')).toBeNull();
    expect(parseFailpoint('after-claim')).toBe('after-claim');
    expect(() => parseFailpoint('nope')).toThrow(/unknown JOBCTL_FAILPOINT/);
  });
});
