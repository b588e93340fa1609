import { dropSchemas, trackSchema } from '../backends/postgres/helpers.js';
import { target } from './helpers.js';
import { e2eSuite } from './suite.js';

e2eSuite(target('pg'), async (namespaces) => {
  namespaces.forEach(trackSchema);
  await dropSchemas();
});
