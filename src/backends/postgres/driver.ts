/**
 * The `pg` driver, loaded once for the backend, without Node 20 loading its fetch
 * implementation on the way (see navigator-shim.ts, imported first on purpose).
 */
import { addedNavigator } from './navigator-shim.js';
import pg from 'pg';

if (addedNavigator) delete (globalThis as { navigator?: unknown }).navigator;

export const driver: typeof pg = pg;
