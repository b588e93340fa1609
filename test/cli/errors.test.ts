import { Errors } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { describeError, isUnreachableError, normalizeIds, useColor } from '../../src/cli/base-command.js';
import type { Backend } from '../../src/core/backend.js';
import { urlSecrets } from '../../src/core/config.js';
import { NotFoundError, UnavailableError, ValidationError } from '../../src/core/errors.js';

const URL_ = 'postgres://app:hunter2@127.0.0.1:1/app';
const ctx = { connection: { backend: 'pg' as const, url: URL_ }, secrets: urlSecrets(URL_) };

describe('describeError', () => {
  it('keeps a JobctlError code, exit code and hint, masking secrets', () => {
    const r = describeError(new UnavailableError(`cannot reach pg at ${URL_}`, { hint: 'set --url' }), ctx);
    expect(r).toEqual({
      code: 'unavailable',
      message: 'cannot reach pg at postgres://app:***@127.0.0.1:1/app',
      hint: 'set --url',
      exitCode: 69,
    });
    expect(describeError(new NotFoundError('job 7 not found'), ctx).exitCode).toBe(3);
    expect(describeError(new ValidationError('bad'), ctx).exitCode).toBe(2);
  });

  it('maps raw driver connection errors to exit 69 with the masked URL', () => {
    const raw = Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:1 (${URL_})`), { code: 'ECONNREFUSED' });
    const r = describeError(raw, ctx);
    expect(r.exitCode).toBe(69);
    expect(r.code).toBe('unavailable');
    expect(r.message).toBe('cannot reach pg at postgres://app:***@127.0.0.1:1/app — is it running? set --url or JOBCTL_URL');
    expect(`${r.message} ${r.hint}`).not.toContain('hunter2');
  });

  it('recognises wrapped and aggregated connection errors and auth failures', () => {
    const econn = Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
    expect(isUnreachableError(new AggregateError([econn], ''))).toBe(true);
    expect(isUnreachableError(new Error('outer', { cause: econn }))).toBe(true);
    expect(isUnreachableError(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }))).toBe(
      true,
    );
    expect(isUnreachableError(new Error('WRONGPASS invalid username-password pair'))).toBe(true);
    expect(isUnreachableError(new Error('getaddrinfo ENOTFOUND db'))).toBe(true);
    expect(isUnreachableError(new Error('syntax error at or near "x"'))).toBe(false);
  });

  it('makes oclif parse errors one-line usage errors (exit 2)', () => {
    const e = new Errors.CLIError('Nonexistent flag: --bogus\nSee more help with --help', { exit: 2 });
    const r = describeError(e, { secrets: [] });
    expect(r).toMatchObject({ code: 'usage', exitCode: 2, message: 'Nonexistent flag: --bogus' });
  });

  it('gives unexpected errors exit 1 and one line', () => {
    const r = describeError(new Error('line one\nline two\u001b[2J'), { secrets: [] });
    expect(r.exitCode).toBe(1);
    expect(r.message).not.toMatch(/[\n\u001b]/);
  });
});

describe('useColor', () => {
  it('is off with --no-color, NO_COLOR, or no TTY', () => {
    expect(useColor({}, {}, true)).toBe(true);
    expect(useColor({ 'no-color': true }, {}, true)).toBe(false);
    expect(useColor({}, { NO_COLOR: '1' }, true)).toBe(false);
    expect(useColor({}, {}, false)).toBe(false);
    expect(useColor({}, {}, undefined)).toBe(false);
  });
});

describe('normalizeIds', () => {
  const backend = {
    normalizeId(raw: string) {
      if (!/^[1-9][0-9]{0,18}$/.test(raw)) throw new ValidationError(`invalid job id "${raw}"`);
      return raw;
    },
  } as unknown as Backend;

  it('canonicalises and de-duplicates', () => {
    expect(normalizeIds(backend, ['1', '2', '1'])).toEqual(['1', '2']);
  });

  it('rejects a malformed id with exit 2 before anything happens', () => {
    for (const bad of ['-1', '1e3', ' 7', '007', 'abc']) {
      expect(() => normalizeIds(backend, ['5', bad]), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
});
