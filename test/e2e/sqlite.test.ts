import { target } from './helpers.js';
import { e2eSuite } from './suite.js';

e2eSuite(target('sqlite'));
