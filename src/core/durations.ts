import ms from 'ms';
import { UsageError } from './errors.js';

/**
 * Parse a human duration ("30s", "5m", "1.5h", "250ms", "2d") into milliseconds.
 * A bare number is read as milliseconds. Negative, empty or unparsable values are rejected.
 */
export function parseDuration(input: string, what = 'duration'): number {
  const text = input.trim();
  if (text === '') throw new UsageError(`empty ${what}`, 'use e.g. 30s, 5m, 2h');
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : ms(text as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`invalid ${what} "${input}"`, 'use e.g. 250ms, 30s, 5m, 2h, 1d');
  }
  return Math.round(value);
}

/** Render milliseconds compactly for humans: 850ms, 12s, 3m 5s, 2h 1m, 3d 4h. */
export function formatDuration(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return '-';
  const v = Math.max(0, Math.round(msValue));
  if (v < 1000) return `${v}ms`;
  const s = Math.floor(v / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}
