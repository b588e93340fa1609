import { describe, expect, it } from 'vitest';
import { hoistGlobalFlags } from '../../src/cli/argv.js';

describe('hoistGlobalFlags', () => {
  it('moves leading global flags after the command', () => {
    expect(hoistGlobalFlags(['--url', 'postgres://x', 'stats'])).toEqual(['stats', '--url', 'postgres://x']);
    expect(hoistGlobalFlags(['--json', '--backend=pg', 'jobs', 'list', '--state', 'failed'])).toEqual([
      'jobs',
      'list',
      '--state',
      'failed',
      '--json',
      '--backend=pg',
    ]);
    expect(hoistGlobalFlags(['--debug', 'logs', '7', '--', '-x'])).toEqual(['logs', '7', '--debug', '--', '-x']);
  });

  it('leaves everything else alone', () => {
    expect(hoistGlobalFlags(['stats', '--json'])).toEqual(['stats', '--json']);
    expect(hoistGlobalFlags(['--version'])).toEqual(['--version']);
    expect(hoistGlobalFlags(['--json'])).toEqual(['--json']);
    expect(hoistGlobalFlags(['--url'])).toEqual(['--url']);
    expect(hoistGlobalFlags(['--help', 'stats'])).toEqual(['--help', 'stats']);
    expect(hoistGlobalFlags([])).toEqual([]);
  });
});
