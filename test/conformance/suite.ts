/**
 * THE behavioural suite every backend passes: SEMANTICS.md and docs/architecture.md, checked
 * through the Backend interface only (no SQL, no keys, no subjects).
 *
 * API — a backend test file is:
 *
 *   import { runConformanceSuite } from '../conformance/suite.js';
 *   runConformanceSuite({
 *     name: 'pg',
 *     async open() {
 *       const namespace = randomName();                       // FRESH namespace per call
 *       const backend = await open({ url, namespace, autoMigrate: true });
 *       return { backend, openAnother: () => open({ url, namespace }) };
 *     },
 *   });
 *
 * - `open()` is called before every test; it returns a ready-to-use backend (schema created)
 *   on a namespace no other test uses, as `{ backend, openAnother }`. `openAnother()` must open
 *   another INDEPENDENT handle (own connection / file handle) on the SAME namespace: the suite
 *   uses it for concurrent claimers and cross-handle wake-ups. Returning a bare `Backend`
 *   (the shape in docs/helpers-brief.md) is accepted too, but then the tests that need a
 *   second handle fail with a message saying so.
 * - The suite closes every backend it got (from open and openAnother) after each test;
 *   cleaning up the namespace itself (drop schema / delete keys / streams) is the target's job,
 *   e.g. in an afterAll of the test file.
 * - Each test uses its own random queue names and stays well under a second: stuck and
 *   orphaned jobs are seeded with tiny leases, tiny worker TTLs and tiny timeouts.
 * - A capability the backend lacks is not skipped: the suite asserts that the operation
 *   raises NotSupportedError.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { Backend } from '../../src/core/backend.js';
import { claimCases } from './cases/claims.js';
import { enqueueCases } from './cases/enqueue.js';
import { inspectCases } from './cases/inspect.js';
import { operatorCases } from './cases/operators.js';
import { outcomeCases } from './cases/outcomes.js';
import { registryCases } from './cases/registry.js';
import type { Ctx } from './helpers.js';

export interface OpenedBackend {
  backend: Backend;
  /** another independent handle on the same namespace as `backend` */
  openAnother(): Promise<Backend>;
}

export interface ConformanceTarget {
  /** shown in test names */
  name: string;
  /** a backend on a FRESH namespace, ready to use */
  open(): Promise<OpenedBackend | Backend>;
}

const isBackend = (x: OpenedBackend | Backend): x is Backend => typeof (x as Backend).claim === 'function';

export function runConformanceSuite(target: ConformanceTarget): void {
  describe(`conformance: ${target.name}`, () => {
    let opened: Backend[] = [];
    let current: OpenedBackend | null = null;

    const ctx: Ctx = {
      get b(): Backend {
        if (!current) throw new Error('no backend open');
        return current.backend;
      },
      async another(): Promise<Backend> {
        if (!current) throw new Error('no backend open');
        const b = await current.openAnother();
        opened.push(b);
        return b;
      },
    };

    beforeEach(async () => {
      const o = await target.open();
      if (isBackend(o)) {
        current = {
          backend: o,
          openAnother: () =>
            Promise.reject(
              new Error(`the ${target.name} conformance target must return { backend, openAnother } from open() for this test`),
            ),
        };
      } else {
        current = o;
      }
      opened = [current.backend];
    });

    afterEach(async () => {
      const list = opened;
      opened = [];
      current = null;
      await Promise.all(list.map((b) => b.close().catch(() => {})));
    });

    enqueueCases(ctx);
    claimCases(ctx);
    outcomeCases(ctx);
    operatorCases(ctx);
    inspectCases(ctx);
    registryCases(ctx);
  });
}
