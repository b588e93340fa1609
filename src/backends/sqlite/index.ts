/** The embedded SQLite backend, loaded lazily by src/core/registry.ts. */
import type { Backend, BackendOptions } from '../../core/backend.js';
import { SqliteBackend } from './backend.js';

export { SqliteBackend } from './backend.js';
export { SCHEMA_VERSION } from './schema.js';

export function open(options: BackendOptions): Promise<Backend> {
  return SqliteBackend.open(options);
}
