import { cleanupNamespaces, trackNamespace } from '../backends/nats/helpers.js';
import { target } from './helpers.js';
import { e2eSuite } from './suite.js';

e2eSuite(target('nats'), async (namespaces) => {
  namespaces.forEach(trackNamespace);
  await cleanupNamespaces();
});
