import type { Backend, BackendModule, BackendName, BackendOptions } from './backend.js';
import { NotSupportedError, UsageError } from './errors.js';

/** Backends are imported only when used, so `jobctl --help` loads no database driver. */
const loaders: Record<BackendName, () => Promise<BackendModule>> = {
  sqlite: () => import('../backends/sqlite/index.js'),
  pg: () => loadOptional(() => import('../backends/postgres/index.js'), 'postgres', 'pg'),
  redis: () => loadOptional(() => import('../backends/redis/index.js'), 'redis', 'redis'),
  nats: () => loadOptional(() => import('../backends/nats/index.js'), 'nats', 'nats'),
};

/**
 * The backend's module (a literal import() per backend, so that the bundler makes it a chunk);
 * a build without it (dist/backends/<dir>/ or the bundle's dist/app/backends/<dir>.js removed)
 * is a usage error, not a crash.
 */
async function loadOptional(load: () => Promise<BackendModule>, dir: string, name: string): Promise<BackendModule> {
  try {
    return await load();
  } catch (e) {
    const missing = new RegExp(`backends/${dir}[/.]`);
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && missing.test(String((e as Error).message))) {
      throw new UsageError(`the ${name} backend is not available in this build`, 'use --backend sqlite');
    }
    throw e;
  }
}

export async function openBackend(name: BackendName, options: BackendOptions): Promise<Backend> {
  const mod = await loaders[name]();
  return mod.open(options);
}

export function requireCapability(
  backend: Backend,
  capability: Parameters<Backend['capabilities']['has']>[0],
  hint?: string,
): void {
  if (!backend.capabilities.has(capability)) {
    throw new NotSupportedError(backend.name, capability, hint);
  }
}
