import { describe, expect, it } from 'vitest';
import {
  backendFromUrl,
  DEFAULT_SQLITE_PATH,
  maskUrl,
  parseBackendName,
  redact,
  resolveConnection,
  urlSecrets,
} from '../../src/core/config.js';
import { JobctlError } from '../../src/core/errors.js';

describe('resolveConnection', () => {
  it('defaults to the embedded sqlite file', () => {
    expect(resolveConnection({ env: {} })).toEqual({ backend: 'sqlite', url: DEFAULT_SQLITE_PATH });
  });

  it('infers the backend from the URL scheme', () => {
    expect(resolveConnection({ url: 'postgres://u@h/db', env: {} }).backend).toBe('pg');
    expect(resolveConnection({ url: 'postgresql://u@h/db', env: {} }).backend).toBe('pg');
    expect(resolveConnection({ url: 'redis://h:6379', env: {} }).backend).toBe('redis');
    expect(resolveConnection({ url: 'rediss://h:6379', env: {} }).backend).toBe('redis');
    expect(resolveConnection({ url: 'nats://h:4222', env: {} }).backend).toBe('nats');
    expect(resolveConnection({ url: 'sqlite:/tmp/x.db', env: {} }).backend).toBe('sqlite');
    expect(resolveConnection({ url: '/tmp/x.db', env: {} })).toEqual({ backend: 'sqlite', url: '/tmp/x.db' });
  });

  it('prefers the flag over the environment', () => {
    const env = { JOBCTL_URL: 'redis://env:6379', JOBCTL_BACKEND: 'redis' };
    expect(resolveConnection({ env })).toEqual({ backend: 'redis', url: 'redis://env:6379' });
    expect(resolveConnection({ url: 'redis://flag:6379', env })).toEqual({ backend: 'redis', url: 'redis://flag:6379' });
    expect(resolveConnection({ backend: 'sqlite', url: '/tmp/a.db', env })).toEqual({ backend: 'sqlite', url: '/tmp/a.db' });
  });

  it('ignores empty values', () => {
    expect(resolveConnection({ url: '', backend: ' ', env: { JOBCTL_URL: '' } })).toEqual({
      backend: 'sqlite',
      url: DEFAULT_SQLITE_PATH,
    });
  });

  it('rejects an unknown backend and a backend/URL mismatch with exit 2, masking the password', () => {
    expect(() => resolveConnection({ backend: 'mongo', env: {} })).toThrow(/unknown backend "mongo"/);
    try {
      resolveConnection({ backend: 'redis', url: 'postgres://u:hunter2@h/db', env: {} });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(JobctlError);
      expect((e as JobctlError).exitCode).toBe(2);
      expect((e as Error).message).not.toContain('hunter2');
      expect((e as Error).message).toContain('***');
    }
  });

  it('needs a URL for server backends', () => {
    expect(() => resolveConnection({ backend: 'pg', env: {} })).toThrow(/needs a URL/);
  });

  it('accepts postgres aliases', () => {
    expect(parseBackendName('Postgres')).toBe('pg');
    expect(parseBackendName('postgresql')).toBe('pg');
    expect(backendFromUrl('ftp://x')).toBeUndefined();
  });
});

describe('maskUrl / redact / urlSecrets', () => {
  it('masks passwords', () => {
    expect(maskUrl('postgres://app:s3cret@db:5432/app')).toBe('postgres://app:***@db:5432/app');
    expect(maskUrl('redis://:pa55@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
  });

  it('masks percent-encoded passwords in both forms', () => {
    const url = 'postgres://app:p%40ss%2Fw@db/app';
    const secrets = urlSecrets(url);
    expect(maskUrl(url)).not.toContain('p%40ss');
    expect(redact('auth failed for p@ss/w', secrets)).toBe('auth failed for ***');
  });

  it('masks nats tokens and secret query parameters', () => {
    expect(maskUrl('nats://mytoken@127.0.0.1:4222')).toBe('nats://***@127.0.0.1:4222');
    expect(maskUrl('postgres://h/db?sslmode=require&password=abc123')).not.toContain('abc123');
  });

  it('leaves URLs without secrets alone', () => {
    expect(maskUrl('postgres://app@db/app')).toBe('postgres://app@db/app');
    expect(maskUrl('./.jobctl/jobs.db')).toBe('./.jobctl/jobs.db');
    expect(urlSecrets('redis://127.0.0.1:6379')).toEqual([]);
  });

  it('a password that is also a word jobctl prints is masked in URLs, not as a word', () => {
    const url = 'postgres://postgres:postgres@127.0.0.1:1/test';
    expect(maskUrl(url)).toBe('postgres://postgres:***@127.0.0.1:1/test');
    expect(redact(`cannot reach postgres at ${url}: connect ECONNREFUSED`, urlSecrets(url))).toBe(
      'cannot reach postgres at postgres://postgres:***@127.0.0.1:1/test: connect ECONNREFUSED',
    );
    const r = 'redis://default:redis@127.0.0.1:1';
    expect(redact(`cannot reach redis at ${r}: queue default`, urlSecrets(r))).toBe(
      'cannot reach redis at redis://default:***@127.0.0.1:1: queue default',
    );
  });

  it('a password of one or two characters is masked in URLs, not as a letter of every word', () => {
    const url = 'nats://admin:a@127.0.0.1:4222';
    expect(redact(`migrated nats at ${url}; unknown flags: --state`, urlSecrets(url))).toBe(
      'migrated nats at nats://admin:***@127.0.0.1:4222; unknown flags: --state',
    );
  });

  it('a password with an @ written into a URL without encoding is masked whole', () => {
    expect(redact('cannot reach postgres://app:p@ss@db/app', ['p@ss'])).toBe('cannot reach postgres://app:***@db/app');
  });

  it('masks the secrets of every URL in a text, also URLs other than the configured one', () => {
    expect(redact('from postgres://u:other-pass@h/db?password=x1&sslmode=require', [])).toBe(
      'from postgres://u:***@h/db?password=***&sslmode=require',
    );
    expect(redact('nats://tok3n@h:4222 and nats://user@h', ['tok3n'])).toBe('nats://***@h:4222 and nats://user@h');
  });

  it('redacts every occurrence, longest secret first', () => {
    expect(redact('a=abc b=abcdef abc', ['abc', 'abcdef'])).toBe('a=*** b=*** ***');
    expect(redact('nothing', [''])).toBe('nothing');
  });
});
