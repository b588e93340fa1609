/**
 * NATS JetStream backend: the shared conformance suite against the machine's nats-server
 * (127.0.0.1:4222, or JOBCTL_TEST_NATS_URL), each handle on its own stream/bucket namespace,
 * deleted afterwards. NATS-only tests (S0 regression, names, wake-ups): test/backends/nats/.
 */
import { afterAll } from 'vitest';
import { open } from '../../src/backends/nats/index.js';
import { runConformanceSuite } from '../conformance/suite.js';
import { NATS_URL, cleanupNamespaces, openFresh, randomNs } from './nats/helpers.js';

afterAll(cleanupNamespaces);

runConformanceSuite({
  name: 'nats',
  async open() {
    const namespace = randomNs();
    const backend = await openFresh(namespace);
    return { backend, openAnother: () => open({ url: NATS_URL, namespace }) };
  },
});
