import { cleanupPrefixes, trackPrefix } from '../backends/redis/helpers.js';
import { target } from './helpers.js';
import { e2eSuite } from './suite.js';

e2eSuite(target('redis'), async (namespaces) => {
  namespaces.forEach(trackPrefix);
  await cleanupPrefixes();
});
