import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/durations.js';

describe('parseDuration', () => {
  it('parses human durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration(' 10m ')).toBe(600_000);
  });

  it('reads a bare number as milliseconds', () => {
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
  });

  it('rejects empty, negative and garbage values with exit 2', () => {
    for (const bad of ['', '  ', '-5s', 'soon', '5 parsecs', 'NaN']) {
      expect(() => parseDuration(bad, 'delay'), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
});

describe('formatDuration', () => {
  it('renders compactly', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_000)).toBe('12s');
    expect(formatDuration(185_000)).toBe('3m 5s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(7_260_000)).toBe('2h 1m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 4h');
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(-5)).toBe('0ms');
  });
});
