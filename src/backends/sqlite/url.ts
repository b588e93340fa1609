/**
 * Where the database lives: a file path, `sqlite:relative/path`, `sqlite:///abs/path`,
 * `file:` URLs, or `:memory:` (also `sqlite::memory:`).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../core/errors.js';

export const MEMORY = ':memory:';

export interface SqliteLocation {
  /** absolute file path, or ':memory:' */
  path: string;
  /** what to show users */
  display: string;
}

export function parseSqliteUrl(url: string): SqliteLocation {
  const raw = url.trim();
  if (raw === '') throw new UsageError('empty sqlite path', 'give a file path, e.g. --url ./.jobctl/jobs.db');
  let path: string;
  if (/^sqlite:/i.test(raw)) {
    let rest = raw.slice('sqlite:'.length).replace(/[?#].*$/, '');
    // sqlite:///abs -> /abs ; sqlite://rel -> rel ; sqlite:rel -> rel ; sqlite:/abs -> /abs
    if (rest.startsWith('//')) rest = rest.slice(2);
    path = safeDecode(rest);
  } else if (/^file:/i.test(raw)) {
    const noQuery = raw.replace(/[?#].*$/, '');
    if (/^file:\/\//i.test(noQuery)) {
      try {
        path = fileURLToPath(noQuery);
      } catch (e) {
        throw new UsageError(`invalid file URL ${raw}: ${(e as Error).message}`, 'use file:///absolute/path.db or a plain path');
      }
    } else {
      path = safeDecode(noQuery.slice('file:'.length));
    }
  } else {
    path = raw;
  }
  if (path === MEMORY) return { path: MEMORY, display: MEMORY };
  if (path === '')
    throw new UsageError(`no path in sqlite URL ${raw}`, 'e.g. sqlite:./jobs.db or sqlite:///var/lib/jobctl/jobs.db');
  return { path: resolve(path), display: path };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
