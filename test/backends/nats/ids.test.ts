/**
 * Job ids' random part (names.ts newId): drawn from a pooled CSPRNG buffer, fresh for every new
 * millisecond. In a file of its own: ids made here move newId's clock 10 s ahead, which the ids of
 * other tests in the same module would inherit.
 */
import { expect, it } from 'vitest';
import { ID_RE, newId } from '../../../src/backends/nats/names.js';

it('draws a fresh random part for every new millisecond, across refills of the random pool', () => {
  // 600 ids of 600 milliseconds: 9,600 random bytes, more than two refills of the 4 KB pool
  const base = Date.now() + 10_000;
  const ids = Array.from({ length: 600 }, (_, i) => newId(base + i));
  for (const id of ids) expect(id).toMatch(ID_RE);
  expect([...ids].sort()).toEqual(ids);
  expect(new Set(ids.map((id) => id.slice(10))).size).toBe(ids.length);
  // every base-32 symbol shows up in the random parts (not a constant or an emptied pool)
  expect(new Set(ids.map((id) => id.slice(11)).join('')).size).toBe(32);
});
