/**
 * What a backend reports for a job it has just stored, and the payload size limit (bytes of
 * UTF-8, whatever the characters).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { encodePayload, jobFromNew, normalizeEnqueue, stampNewJob } from '../../src/core/job.js';

describe('new jobs', () => {
  it('a job built before it was stored, then stamped, is the job built after', () => {
    const now = 1_800_000_000_000;
    for (const runAt of [undefined, now - 5, now, now + 60_000]) {
      const j = normalizeEnqueue({ name: 'n', queue: 'q', payload: { a: [1, 'x'] }, runAt, priority: 3, uniqueKey: 'k' });
      const early = jobFromNew('', j, 0, 0, { payload: { a: [1, 'x'] } });
      expect(stampNewJob(early, j, '42', now), String(runAt)).toEqual(jobFromNew('42', j, now));
    }
  });

  it('the payload limit counts UTF-8 bytes, also for characters of 2, 3 and 4 bytes', () => {
    // JSON text of a string: 2 quotes + the characters
    for (const [ch, bytes] of [
      ['a', 1],
      ['é', 2],
      ['€', 3],
      ['😀', 4],
    ] as const) {
      const limit = 2 + 4 * bytes;
      expect(encodePayload(ch.repeat(4), limit), ch).toBe(JSON.stringify(ch.repeat(4)));
      expect(() => encodePayload(ch.repeat(5), limit), ch).toThrow(ValidationError);
      expect(() => encodePayload(ch.repeat(5), limit), ch).toThrow(
        `payload is ${2 + 5 * bytes} bytes, over the limit of ${limit} bytes`,
      );
    }
    expect(encodePayload('😀'.repeat(1000), 1024 * 1024)).toHaveLength(2002);
  });
});
