/**
 * NATS JetStream backend: the shared conformance suite against the machine's nats-server
 * (127.0.0.1:4222, or JOBCTL_TEST_NATS_URL), each handle on its own stream/bucket namespace,
 * deleted afterwards. NATS-only tests (S0 regression, names, wake-ups): test/backends/nats/.
 */
import { existsSync } from 'node:fs';
import { afterAll, it } from 'vitest';
import { open } from '../../src/backends/nats/index.js';
import { NATS_URL, cleanupNamespaces, openFresh, randomNs } from './nats/helpers.js';

afterAll(cleanupNamespaces);

const suitePath = new URL('../conformance/suite.ts', import.meta.url);
if (existsSync(suitePath)) {
  const { runConformanceSuite } = (await import(suitePath.href)) as typeof import('../conformance/suite.js');
  runConformanceSuite({
    name: 'nats',
    async open() {
      const namespace = randomNs();
      const backend = await openFresh(namespace);
      return { backend, openAnother: () => open({ url: NATS_URL, namespace }) };
    },
  });
} else {
  it.todo('conformance suite (test/conformance/suite.ts) not written yet');
}
