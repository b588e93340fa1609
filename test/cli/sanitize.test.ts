import { describe, expect, it } from 'vitest';
import { oneLine, sanitize } from '../../src/cli/sanitize.js';

// Every character a terminal may act on.
const hasControl = (s: string) => /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(s);

describe('sanitize', () => {
  it('renders ESC sequences as visible text', () => {
    expect(sanitize('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
  });

  it('neutralises OSC (window title, hyperlinks) including its BEL terminator', () => {
    const out = sanitize('\u001b]0;pwned\u0007title');
    expect(out).toBe('\\x1b]0;pwned\\x07title');
    expect(hasControl(out)).toBe(false);
  });

  it('neutralises CR, NUL, DEL, backspace and the C1 range (CSI U+009B)', () => {
    const out = sanitize('ok\r\u0000\u007f\b\u009b2J\u0085');
    expect(out).toBe('ok\\r\\0\\x7f\\x08\\x9b2J\\x85');
    expect(hasControl(out)).toBe(false);
  });

  it('keeps tabs and ordinary Unicode', () => {
    expect(sanitize('a\tb é 日本 ✓')).toBe('a\tb é 日本 ✓');
  });

  it('escapes newlines so job output cannot forge a line', () => {
    const forged = 'done\n2025-01-01T00:00:00.000Z 99 job completed';
    expect(sanitize(forged)).not.toContain('\n');
    expect(sanitize(forged)).toContain('\\n');
  });

  it('neutralises Unicode line separators and bidi overrides', () => {
    expect(sanitize('a\u2028b\u202ec')).toBe('a\\u2028b\\u202ec');
  });

  it('keeps newlines only when asked (multi-line blocks)', () => {
    expect(sanitize('a\nb\u001b', { keepNewlines: true })).toBe('a\nb\\x1b');
  });

  it('passes text through untouched with raw', () => {
    const s = '\u001b[2J\r';
    expect(sanitize(s, { raw: true })).toBe(s);
  });
});

describe('oneLine', () => {
  it('flattens, sanitises and truncates', () => {
    expect(oneLine('line1\nline2')).toBe('line1 ⏎ line2');
    expect(oneLine('abcdefghij', 5)).toBe('abcd…');
    expect(oneLine(null)).toBe('');
    expect(hasControl(oneLine('x\u001b[1Ay\r\n'))).toBe(false);
  });
});
