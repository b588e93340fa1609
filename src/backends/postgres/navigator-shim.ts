/**
 * Imported by driver.ts just before `pg`. When pg loads it checks whether it runs in a
 * Cloudflare Worker; on Node 20 (no `navigator` global) that check touches the global
 * `Response`, which makes Node load its whole fetch implementation: 20-45 ms of every pg
 * command's start (`jobctl stats` has a 200 ms budget end to end). A `navigator` present
 * while pg's module body runs answers the check first; driver.ts removes it right after.
 * Node 21+ has its own `navigator` and is left alone. A module of its own because imports run
 * in order (also in the bundle, dist/app/): this one, then pg, then driver.ts's body.
 */
const g = globalThis as { navigator?: unknown };

/** True when this module added the global (driver.ts then removes it). */
export const addedNavigator = g.navigator === undefined;
if (addedNavigator) g.navigator = { userAgent: 'Node.js' };
