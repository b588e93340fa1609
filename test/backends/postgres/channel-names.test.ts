/**
 * NOTIFY channel names: the schema name when it is short, else a hash of it (node:crypto, loaded
 * only then: the CLI does not load it on every start). Existing databases listen on these names,
 * so they must not change.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { channelNames } from '../../../src/backends/postgres/connection.js';

describe('pg: channel names', () => {
  it('are the schema name up to 50 characters, else jc_ and 24 hex digits of its sha256', () => {
    expect(channelNames('jobctl')).toEqual({ work: 'jobctl:work', logs: 'jobctl:logs' });
    const long = 'a'.repeat(51);
    const base = `jc_${createHash('sha256').update(long).digest('hex').slice(0, 24)}`;
    expect(channelNames(long)).toEqual({ work: `${base}:work`, logs: `${base}:logs` });
    expect(base).toBe('jc_bfc5fe0e360152ca98c50fab');
  });
});
